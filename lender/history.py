"""Row-history context (django-pghistory): who and what wrote a tracked row, set once per transaction.

`pghistory.context` prepends two `set_config` calls to every write statement it sees, so that
the rows' triggers can attach the context. The settings are transaction-local, so setting them
once, on the first statement run inside the context, gives the triggers the same context at a
fraction of the cost; on the partner API's hot path the per-statement form cost about a fifth of
each repayment. Inside a request that pghistory's middleware already tracks (the staff pages),
and outside any transaction, `history_context` simply defers to `pghistory.context`.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from contextvars import ContextVar

import pghistory
from django.db import connection
from pghistory import config
from pghistory.runtime import _tracker

_current: ContextVar[tuple[str, dict] | None] = ContextVar("history_context", default=None)
SET = "SELECT set_config('pghistory.context_id', {0}, true), set_config('pghistory.context_metadata', {0}, true); "


@contextlib.contextmanager
def history_context(**metadata):
    """Attach `metadata` (merged into any enclosing context) to the tracked rows written inside.

    None values say nothing (no acting user) and are left out; a context that adds nothing new to
    the enclosing one costs nothing, and one inside which nothing runs sends nothing.
    """
    metadata = {key: value for key, value in metadata.items() if value is not None}
    if hasattr(_tracker, "value") or not connection.in_atomic_block:
        with pghistory.context(**metadata):
            yield
        return
    outer = _current.get()
    context_id, merged = (outer[0], {**outer[1], **metadata}) if outer else (str(uuid.uuid4()), metadata)
    token = _current.set((context_id, merged))
    try:
        if merged == (outer[1] if outer else {}):
            yield
        else:
            with connection.execute_wrapper(_FirstStatement(context_id, merged)):
                yield
    finally:
        # The settings stay until the transaction ends: later writes in it keep the merged context.
        _current.reset(token)


class _FirstStatement:
    """An execute wrapper that sets the context in the same round trip as the first statement."""

    def __init__(self, context_id: str, metadata: dict):
        self.values = [context_id, json.dumps(metadata, cls=config.json_encoder())]

    def __call__(self, execute, sql, params, many, context):
        if self.values is None:
            return execute(sql, params, many, context)
        values, self.values = self.values, None
        if many or params is None:  # cannot share the statement: send the settings on their own
            context["cursor"].execute(SET.format("%s")[:-2], values)
            return execute(sql, params, many, context)
        if isinstance(params, dict):
            names = {"pgh_context_id": values[0], "pgh_context_metadata": values[1]}
            prefix = SET.replace("{0}", "%(pgh_context_id)s", 1).replace("{0}", "%(pgh_context_metadata)s", 1)
            result = execute(prefix + sql, {**params, **names}, many, context)
        else:
            result = execute(SET.format("%s") + sql, [*values, *params], many, context)
        while result is not None and result.nextset():  # on to the statement's own result
            pass
        return result
