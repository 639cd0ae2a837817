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
