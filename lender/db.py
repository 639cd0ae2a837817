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


def _columns(model) -> tuple[list[str], tuple[str, ...], tuple]:
    fields = model._meta.concrete_fields
    table = model._meta.db_table
    quote = connection.ops.quote_name
    columns = [f"{quote(table)}.{quote(f.column)}" for f in fields]
    converters = tuple(
        (col, tuple(connection.ops.get_db_converters(col) + col.get_db_converters(connection)))
        for col in (f.get_col(table) for f in fields)
    )
    return columns, tuple(f.attname for f in fields), converters


@lru_cache(maxsize=64)
def _select(model, where: str, suffix: str, related: str | None) -> tuple[str, tuple]:
    quote = connection.ops.quote_name
    parts = [(model, *_columns(model))]
    source = quote(model._meta.db_table)
    if related:
        field = model._meta.get_field(related)
        target = field.related_model
        # An inner join without aliases, locking both rows under FOR UPDATE: say so rather than surprise.
        if field.null or target is model or "FOR UPDATE" in suffix.upper():
            raise ValueError(f"fetch(related={related!r}) takes a non-null key to another model, without a lock")
        parts.append((target, *_columns(target)))
        source += (f" JOIN {quote(target._meta.db_table)} ON {quote(target._meta.db_table)}."
                   f"{quote(field.target_field.column)} = {quote(model._meta.db_table)}.{quote(field.column)}")  # fmt: skip
    columns = ", ".join(c for _, cols, _, _ in parts for c in cols)
    return f"SELECT {columns} FROM {source} WHERE {where}{suffix}", tuple((m, n, c) for m, _, n, c in parts)


def _instance(model, names, converters, values):
    for i, (col, chain) in enumerate(converters):
        for convert in chain:
            values[i] = convert(values[i], col, connection)
    return model.from_db(connection.alias, names, values)


def fetch(model, where: str, params, *, suffix: str = "", related: str | None = None) -> list:
    """Instances of `model` matching a literal SQL condition (`"code" = %s`), with `suffix` (` FOR UPDATE`).

    With `related` (a foreign key's name) the row it points to comes in the same statement, joined,
    and is set on each instance; qualify the condition's columns with their table then.
    """
    sql, parts = _select(model, where, suffix, related)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    found = []
    for row in rows:
        start, instances = 0, []
        for part_model, names, converters in parts:
            instances.append(_instance(part_model, names, converters, list(row[start : start + len(names)])))
            start += len(names)
        if related:
            setattr(instances[0], related, instances[1])
        found.append(instances[0])
    return found


def fetch_one(model, where: str, params, *, suffix: str = "", related: str | None = None):
    """The one instance matching, or None."""
    found = fetch(model, where, params, suffix=suffix, related=related)
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
