"""Model files: written once, verified by hash when loaded, cached per process."""

import hashlib
import threading
from pathlib import Path

import xgboost as xgb
from django.conf import settings

_cache: dict[str, xgb.Booster] = {}
_lock = threading.Lock()


class ModelFileError(RuntimeError):
    pass


def model_path(version: str) -> Path:
    return Path(settings.MODEL_DIR) / f"{version}.ubj"


def model_write(version: str, data: bytes) -> Path:
    path = model_path(version)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def booster_for(file_path: str, sha256: str) -> xgb.Booster:
    """The booster in `file_path`, checked against its registered hash; single-threaded predictions."""
    booster = _cache.get(sha256)
    if booster is not None:
        return booster
    with _lock:
        if sha256 not in _cache:
            try:
                data = Path(file_path).read_bytes()
            except FileNotFoundError:
                raise ModelFileError(f"model file {file_path} is missing") from None
            if hashlib.sha256(data).hexdigest() != sha256:
                raise ModelFileError(f"model file {file_path} does not match its registered hash")
            booster = xgb.Booster()
            booster.load_model(bytearray(data))
            # One row at a time: many threads are slower, not faster.
            booster.set_param({"nthread": 1})
            _cache[sha256] = booster
    return _cache[sha256]
