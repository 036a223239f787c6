"""Inserting many rows at once: ``bulk_create``, through COPY on PostgreSQL.

Django's ``bulk_create`` on PostgreSQL sends one INSERT ... SELECT * FROM UNNEST(...) whose
arrays psycopg quotes in Python, value by value (client-side binding); for a bulk ingestion
of 1,000 cases that quoting cost more than everything else the database did. COPY streams the
same rows through psycopg's C writer instead. The result is the same as ``bulk_create``'s:
auto fields and ``auto_now_add`` stamps set on the objects, which are then saved instances;
constraint violations raise ``django.db.IntegrityError`` inside the caller's transaction."""

from __future__ import annotations

import enum
import functools
import json
import operator
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import connection, models
from django.db.models import signals
from django.db.models.base import ModelState

M = TypeVar("M", bound=models.Model)

# Below this many rows the plain INSERT is as quick and keeps its SQL visible in query logs.
COPY_FROM = 50


@functools.cache
def _init_plan(model: type[models.Model]) -> list[tuple[str, str, bool, Callable[[], Any]]]:
    return [
        (field.attname, field.name, bool(field.many_to_one), field.get_default)
        for field in model._meta.concrete_fields
    ]


def new_instance(model: type[M], **values: Any) -> M:
    """What ``model(**values)`` builds, several times cheaper per instance, which counts when
    an ingestion builds thousands: the field values go straight into the instance, as
    ``Model.__init__`` would put them (it runs only where something listens to its
    pre_init/post_init signals). Foreign keys may be given as objects (by field name, cached
    on the instance as the descriptor would) or as ids (by attname); missing fields take
    their defaults."""
    plan = _init_plan(model)
    data: dict[str, Any] = {}
    related: dict[str, Any] = {}
    used = 0
    for attname, name, is_foreign_key, default in plan:
        if is_foreign_key and name in values:
            target = values[name]
            data[attname] = None if target is None else target.pk
            related[name] = target
            used += 1
        elif attname in values:
            data[attname] = values[attname]
            used += 1
        elif name in values:
            data[attname] = values[name]
            used += 1
        else:
            data[attname] = default()
    if used != len(values):
        known = {name for _, name, _, _ in plan} | {attname for attname, _, _, _ in plan}
        raise TypeError(f"{model.__name__} has no field(s) {sorted(set(values) - known)}")
    if signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
        instance = model(**data)
    else:
        instance = model.__new__(model)
        instance._state = ModelState()
        instance.__dict__.update(data)
    instance._state.fields_cache.update(related)
    return instance


def bulk_insert(model: type[M], objs: Sequence[M]) -> Sequence[M]:
    """Insert ``objs`` (new instances of ``model``) in one go, in the caller's transaction."""
    if not objs:
        return objs
    if connection.vendor == "postgresql" and len(objs) >= COPY_FROM:
        return _copy(model, objs)
    if len(objs) < COPY_FROM and connection.features.can_return_rows_from_bulk_insert:
        return _insert(model, objs)
    return model._default_manager.bulk_create(objs, batch_size=1000)


@functools.cache
def _insert_plan(model: type[models.Model], vendor: str) -> tuple[str, list[Any], bool]:
    """The INSERT's head, its fields, and whether the database numbers the rows (an auto
    primary key left out of the column list and read back with RETURNING)."""
    opts = model._meta
    pk = opts.pk
    assert pk is not None
    auto = isinstance(pk, models.AutoField | models.BigAutoField | models.SmallAutoField)
    fields = [field for field in opts.concrete_fields if not (auto and field is pk)]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(field.column)) for field in fields)
    head = f"INSERT INTO {quote(opts.db_table)} ({columns})"
    return head, fields, auto


def _insert(model: type[M], objs: Sequence[M]) -> Sequence[M]:
    """A few rows in one ``INSERT ... VALUES ... RETURNING``, valued as ``bulk_create``
    values them (``pre_save``, then ``get_db_prep_save``): what ``bulk_create`` sends, without
    building and compiling a query for it (every claim and decision inserts a few rows)."""
    head, fields, auto = _insert_plan(model, connection.vendor)
    numbered = auto and all(obj.pk is None for obj in objs)
    if auto and not numbered:
        return model._default_manager.bulk_create(objs, batch_size=1000)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = f"{head} VALUES {', '.join([row] * len(objs))}"
    pk = model._meta.pk
    assert pk is not None
    if numbered:
        sql += f" RETURNING {connection.ops.quote_name(str(pk.column))}"
    params = [
        field.get_db_prep_save(field.pre_save(obj, True), connection)
        for obj in objs
        for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if numbered:
            for obj, (number,) in zip(objs, cursor.fetchall(), strict=True):
                obj.pk = number
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias
    return objs


def _reader(field: models.Field[Any, Any]) -> Callable[[Any], Any]:
    """How to get a field's database value out of a new instance, as bulk_create would:
    ``pre_save`` where it does something (auto_now stamps), else the attribute itself."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return lambda obj: field.pre_save(obj, True)
    read = operator.attrgetter(field.attname)
    if isinstance(field, models.JSONField):
        from psycopg.types.json import Jsonb

        dumps = functools.partial(json.dumps, cls=field.encoder) if field.encoder else json.dumps

        def json_value(obj: Any) -> Any:
            value = read(obj)
            return None if value is None else Jsonb(value, dumps=dumps)

        return json_value
    if field.choices:  # a TextChoices member goes in as its value
        return lambda obj: _plain(read(obj))
    return read


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _copy(model: type[M], objs: Sequence[M]) -> Sequence[M]:
    from psycopg import sql

    opts = model._meta
    pk = opts.pk
    assert pk is not None
    fields = list(opts.concrete_fields)
    connection.ensure_connection()
    raw = connection.connection
    with connection.wrap_database_errors:
        if isinstance(pk, models.AutoField | models.BigAutoField | models.SmallAutoField):
            missing = [obj for obj in objs if obj.pk is None]
            if missing:
                with raw.cursor() as cursor:
                    cursor.execute(
                        "SELECT nextval(pg_get_serial_sequence(%s, %s)) "
                        "FROM generate_series(1, %s)",
                        [opts.db_table, pk.column, len(missing)],
                    )
                    for obj, (next_id,) in zip(missing, cursor.fetchall(), strict=True):
                        obj.pk = next_id
        readers = [_reader(field) for field in fields]
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(opts.db_table),
            sql.SQL(", ").join([sql.Identifier(str(field.column)) for field in fields]),
        )
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for obj in objs:
                copy.write_row([read(obj) for read in readers])
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias
    return objs
