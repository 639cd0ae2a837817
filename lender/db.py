"""Model reads on hot paths without the ORM's per-call query compilation.

The partner API answers hundreds of calls a second per worker, and compiling a QuerySet costs
several times more CPU than the database spends on a primary-key or unique-key read. `fetch`
builds the SELECT of a model's concrete columns once per (model, condition) and returns real
model instances (`Model.from_db`, with the same field converters as the ORM), so the callers keep
working with models. Use it only for simple keyed reads; everything else stays on the ORM.
"""

from __future__ import annotations

from functools import lru_cache

from django.db import connection


@lru_cache(maxsize=64)
def _select(model, where: str, suffix: str) -> tuple[str, tuple[str, ...], tuple]:
    fields = model._meta.concrete_fields
    table = model._meta.db_table
    quote = connection.ops.quote_name
    columns = ", ".join(f"{quote(table)}.{quote(f.column)}" for f in fields)
    converters = tuple(
        (col, tuple(connection.ops.get_db_converters(col) + col.get_db_converters(connection)))
        for col in (f.get_col(table) for f in fields)
    )
    sql = f"SELECT {columns} FROM {quote(table)} WHERE {where}{suffix}"
    return sql, tuple(f.attname for f in fields), converters


def fetch(model, where: str, params, *, suffix: str = "") -> list:
    """Instances of `model` matching a literal SQL condition (`"code" = %s`), with `suffix` (` FOR UPDATE`)."""
    sql, names, converters = _select(model, where, suffix)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    found = []
    for row in rows:
        values = list(row)
        for i, (col, chain) in enumerate(converters):
            for convert in chain:
                values[i] = convert(values[i], col, connection)
        found.append(model.from_db(connection.alias, names, values))
    return found


def fetch_one(model, where: str, params, *, suffix: str = ""):
    """The one instance matching, or None."""
    found = fetch(model, where, params, suffix=suffix)
    return found[0] if found else None


@lru_cache(maxsize=64)
def _insert(model, conflict: str | None) -> tuple[str, tuple]:
    quote = connection.ops.quote_name
    fields = tuple(f for f in model._meta.concrete_fields if not f.primary_key)
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    tail = f" ON CONFLICT ({quote(model._meta.get_field(conflict).column)}) DO NOTHING" if conflict else ""
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders}){tail} "
        f"RETURNING {quote(model._meta.pk.column)}"
    )
    return sql, fields


def insert(instance, *, unless_exists: str | None = None) -> bool:
    """INSERT one new instance (its database-generated id set on it); the ORM's `save()` compiled once.

    With `unless_exists` (a unique field), nothing is inserted if a row already has that value, and
    False is returned: no error, so no savepoint is needed around it. Field defaults and
    `auto_now_add` apply as in `save()`; model signals are not sent (use `save()` for models that
    have receivers).
    """
    sql, fields = _insert(type(instance), unless_exists)
    params = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    instance.pk = row[0]
    instance._state.adding, instance._state.db = False, connection.alias
    return True


def execute_without_flush(sql: str, params) -> tuple | None:
    """Run one statement whose commit need not wait for the WAL to reach the disk; its first row.

    For bookkeeping rows whose loss in a database crash is harmless: PostgreSQL's WAL is one
    sequence, so the row is on disk as soon as any later commit is, and a crash loses at most
    the last fraction of a second (`synchronous_commit = off` never corrupts). In autocommit the
    two statements run as one implicit transaction. Inside a transaction the statement runs
    plainly: the setting would weaken the whole transaction's commit.
    """
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            cursor.execute(sql, params)
        else:
            cursor.execute("SELECT set_config('synchronous_commit', 'off', true); " + sql, params)
            cursor.nextset()  # past set_config's result, to the statement's
        return cursor.fetchone() if cursor.description else None
