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
from pghistory.runtime import _is_transaction_errored, _tracker

SET = "SELECT set_config('pghistory.context_id', {0}, true), set_config('pghistory.context_metadata', {0}, true)"


class _FirstStatement:
    """An execute wrapper that sets the context in the same round trip as the first statement."""

    def __init__(self, context_id: str, metadata: dict):
        self.values: list | None = None
        self.update(context_id, metadata)

    def update(self, context_id: str, metadata: dict) -> None:
        self.values = [context_id, json.dumps(metadata, cls=config.json_encoder())]

    @property
    def pending(self) -> bool:
        return self.values is not None

    def __call__(self, execute, sql, params, many, context):
        if self.values is None:
            return execute(sql, params, many, context)
        values, self.values = self.values, None
        cursor = context["cursor"]
        if many or params is None or not isinstance(sql, str) or getattr(cursor, "name", None):
            # A statement that cannot share the round trip (no parameters to extend, several
            # parameter sets, a named cursor, a composed query): the settings go on their own.
            if not _is_transaction_errored(cursor):
                with context["connection"].cursor() as own:
                    own.execute(SET.format("%s"), values)
            return execute(sql, params, many, context)
        if isinstance(params, dict):
            names = {"pgh_context_id": values[0], "pgh_context_metadata": values[1]}
            prefix = SET.replace("{0}", "%(pgh_context_id)s", 1).replace("{0}", "%(pgh_context_metadata)s", 1)
            result = execute(f"{prefix}; {sql}", {**params, **names}, many, context)
        else:
            result = execute(f"{SET.format('%s')}; {sql}", [*values, *params], many, context)
        while result is not None and result.nextset():  # on to the statement's own result
            pass
        return result


# The innermost context of this thread: its id, merged metadata and the wrapper that sends them.
_current: ContextVar[tuple[str, dict, _FirstStatement] | None] = ContextVar("history_context", default=None)


@contextlib.contextmanager
def history_context(**metadata):
    """Attach `metadata` (merged into any enclosing context) to the tracked rows written inside.

    None values say nothing (no acting user) and are left out. A context always sets its own
    settings when it is the outermost one, so nothing of an earlier context in the same
    transaction carries over; a nested one that adds nothing new costs nothing, and one that adds
    metadata before the enclosing one has sent anything joins that one's round trip.
    """
    metadata = {key: value for key, value in metadata.items() if value is not None}
    if hasattr(_tracker, "value") or not connection.in_atomic_block:
        with pghistory.context(**metadata):
            yield
        return
    outer = _current.get()
    if outer is None:
        context_id, merged = str(uuid.uuid4()), metadata
    else:
        context_id, merged = outer[0], {**outer[1], **metadata}
    if outer is not None and merged == outer[1]:
        token = _current.set(outer)
        try:
            yield
        finally:
            _current.reset(token)
        return
    if outer is not None and outer[2].pending:  # nothing sent yet: send the merged settings instead
        outer[2].update(context_id, merged)
        token = _current.set((context_id, merged, outer[2]))
        try:
            yield
        finally:
            _current.reset(token)
        return
    wrapper = _FirstStatement(context_id, merged)
    token = _current.set((context_id, merged, wrapper))
    try:
        with connection.execute_wrapper(wrapper):
            yield
    finally:
        # The settings stay until the transaction ends: later writes in it keep the merged context.
        _current.reset(token)
