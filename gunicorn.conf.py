"""gunicorn settings; gunicorn reads ./gunicorn.conf.py by itself when started from the project root."""

import gc


def post_worker_init(worker):
    # What start-up imported (Django, DRF, xgboost, numpy) lives as long as the worker: freezing it
    # keeps the garbage collector to what requests allocate (about 6% of a repayment's CPU, and
    # no full collections over the whole heap in the middle of a request).
    gc.freeze()
