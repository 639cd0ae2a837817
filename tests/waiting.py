import time


def wait_for(predicate, seconds=60) -> bool:
    """Poll `predicate` until it is true (True) or `seconds` pass (False): for work done by a real worker."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False
