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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connection, models
from django.db.models import signals
from django.db.models.base import ModelState
from django.utils import timezone

M = TypeVar("M", bound=models.Model)

# Below this many rows the plain INSERT is as quick and keeps its SQL visible in query logs.
COPY_FROM = 50
_AUTO_FIELDS = (models.AutoField, models.BigAutoField, models.SmallAutoField)


@dataclass(frozen=True)
class _InitPlan:
    template: dict[str, Any]  # every attname, in field order, with the constant defaults
    values: list[tuple[str, str]]  # (attname, key) given as values
    objects: list[tuple[str, str]]  # (attname, name) foreign keys given as objects
    made: list[tuple[str, Callable[[], Any]]]  # defaults made anew for each instance


@functools.cache
def _init_plan(model: type[models.Model], keys: tuple[str, ...]) -> _InitPlan:
    template: dict[str, Any] = {}
    plan = _InitPlan(template, [], [], [])
    used = set()
    for field in model._meta.concrete_fields:
        template[field.attname] = None
        if field.many_to_one and field.name in keys:
            plan.objects.append((field.attname, field.name))
            used.add(field.name)
        elif field.attname in keys or field.name in keys:
            key = field.attname if field.attname in keys else field.name
            plan.values.append((field.attname, key))
            used.add(key)
        elif field.has_default() and not callable(field.default):
            template[field.attname] = field.default  # the same object each time, as Django
        elif field.has_default() or field.has_db_default():
            plan.made.append((field.attname, field.get_default))
        else:
            template[field.attname] = field.get_default()  # None or ""
    if unknown := set(keys) - used:
        raise TypeError(f"{model.__name__} has no field(s) {sorted(unknown)}")
    return plan


def new_instance(model: type[M], **values: Any) -> M:
    """What ``model(**values)`` builds, several times cheaper per instance, which counts when
    an ingestion builds thousands: the field values go straight into the instance, as
    ``Model.__init__`` would put them (it runs only where something listens to its
    pre_init/post_init signals). Foreign keys may be given as objects (by field name, cached
    on the instance as the descriptor would) or as ids (by attname); missing fields take
    their defaults."""
    plan = _init_plan(model, tuple(values))
    data = plan.template.copy()
    for attname, key in plan.values:
        data[attname] = values[key]
    related: dict[str, Any] = {}
    for attname, name in plan.objects:
        target = related[name] = values[name]
        data[attname] = None if target is None else target.pk
    for attname, make in plan.made:
        data[attname] = make()
    if signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
        instance = model(**data)
    else:
        instance = model.__new__(model)
        instance._state = ModelState()
        instance.__dict__.update(data)
    if related:
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
    auto = isinstance(pk, _AUTO_FIELDS)
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
    return _saved(objs)


def _saved(objs: Sequence[M]) -> Sequence[M]:
    """Mark inserted instances as loaded from the database, as bulk_create does."""
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias
    return objs


def bulk_insert_encoded(
    model: type[M], objs: Sequence[M], encoded: Sequence[Mapping[str, str]]
) -> Sequence[M]:
    """``bulk_insert``, with JSON values the caller has already encoded: ``encoded[i]`` maps
    attnames of JSON fields to the JSON text of ``objs[i]``'s value (in any key order or
    spacing: PostgreSQL stores the same jsonb), which COPY writes as it is instead of
    encoding the value again."""
    if connection.vendor == "postgresql" and len(objs) >= COPY_FROM:
        return _copy(model, objs, encoded)
    return bulk_insert(model, objs)


class JsonText(str):
    """The value of a JSON column for ``insert_rows`` given as its JSON, encoded already."""


def insert_rows(
    model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert rows of ``model`` given as tuples of values for ``columns`` (attnames), in the
    caller's transaction: what ``bulk_insert`` stores for instances made of them, without
    making the instances where COPY takes the rows. For rows nobody reads back: their ids
    are not returned. Values are as on an instance (JSON columns as Python values, or as
    JsonText); fields not named take their defaults (through COPY, ``auto_now`` and
    ``auto_now_add`` fields take one timestamp for the whole batch, as a single statement's
    ``now()`` would)."""
    if not rows:
        return
    if connection.vendor != "postgresql" or len(rows) < COPY_FROM:
        bulk_insert(
            model,
            [
                new_instance(
                    model,
                    **{
                        column: json.loads(value) if type(value) is JsonText else value
                        for column, value in zip(columns, row, strict=True)
                    },
                )
                for row in rows
            ],
        )
        return
    opts = model._meta
    by_attname = {field.attname: field for field in opts.concrete_fields}
    if unknown := set(columns) - set(by_attname):
        raise TypeError(f"{model.__name__} has no field(s) {sorted(unknown)}")
    given = [by_attname[name] for name in columns]
    converters = [(i, convert) for i, field in enumerate(given) if (convert := _db_value(field))]
    # Fields not given: the database's identity for an auto primary key, else the default.
    defaults: list[models.Field[Any, Any]] = []
    fixed: list[Any] = []
    per_row: list[tuple[models.Field[Any, Any], Callable[[], Any], Callable[[Any], Any]]] = []
    now = timezone.now()
    for field in opts.concrete_fields:
        if field.attname in columns or (field.primary_key and isinstance(field, _AUTO_FIELDS)):
            continue
        convert = _db_value(field) or _same
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            defaults.append(field)
            fixed.append(now)
        elif field.has_default() and callable(field.default):
            per_row.append((field, field.get_default, convert))
        else:
            defaults.append(field)
            fixed.append(convert(field.get_default()))
    fields = [*given, *defaults, *(field for field, _, _ in per_row)]
    connection.ensure_connection()
    with (
        connection.wrap_database_errors,
        connection.connection.cursor() as cursor,
        cursor.copy(_copy_statement(opts.db_table, fields)) as copy,
    ):
        for row in rows:
            values = [*row, *fixed]
            for i, convert in converters:
                values[i] = convert(values[i])
            for _, make, convert in per_row:
                values.append(convert(make()))
            copy.write_row(values)


def _copy_statement(table: str, fields: Sequence[models.Field[Any, Any]]) -> Any:
    from psycopg import sql

    return sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table),
        sql.SQL(", ").join([sql.Identifier(str(field.column)) for field in fields]),
    )


def _same(value: Any) -> Any:
    return value


def _db_value(field: models.Field[Any, Any]) -> Callable[[Any], Any] | None:
    """How a value on an instance goes into COPY, where that is not as it is: JSON as its
    text (None is SQL NULL, as Django stores it; JsonText as it is), a choices member as its
    value."""
    if isinstance(field, models.JSONField):
        encode = (
            json.JSONEncoder(separators=(",", ":")).encode
            if field.encoder is None
            else field.encoder(separators=(",", ":")).encode
        )

        def json_text(value: Any) -> Any:
            if value is None or type(value) is JsonText:
                return value
            return encode(value)

        return json_text
    if field.choices:
        return _plain
    return None


def _stamps(fields: Sequence[models.Field[Any, Any]]) -> list[tuple[int, models.Field[Any, Any]]]:
    """The fields whose value bulk_create takes from ``pre_save`` (auto_now stamps), by
    position; every other value is the instance's attribute."""
    return [
        (i, field)
        for i, field in enumerate(fields)
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    ]


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _copy(
    model: type[M], objs: Sequence[M], encoded: Sequence[Mapping[str, str]] | None = None
) -> Sequence[M]:
    opts = model._meta
    pk = opts.pk
    assert pk is not None
    fields = list(opts.concrete_fields)
    connection.ensure_connection()
    raw = connection.connection
    with connection.wrap_database_errors:
        if isinstance(pk, _AUTO_FIELDS):
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
        read = operator.attrgetter(*(field.attname for field in fields))  # one tuple per row
        stamps = _stamps(fields)
        converters = [
            (i, field.attname, convert)
            for i, field in enumerate(fields)
            if (convert := _db_value(field))
        ]
        no_texts: Mapping[str, str] = {}
        # One stamp for the batch, as a single statement's now() would give (and as
        # insert_rows does); pre_save of the first instance makes it, the others take it.
        stamped = [(i, field.attname, field.pre_save(objs[0], True)) for i, field in stamps]
        with raw.cursor() as cursor, cursor.copy(_copy_statement(opts.db_table, fields)) as copy:
            for obj, texts in zip(objs, encoded or [no_texts] * len(objs), strict=True):
                row = list(read(obj))
                for i, attname, stamp in stamped:
                    row[i] = stamp
                    setattr(obj, attname, stamp)
                for i, attname, convert in converters:
                    value = row[i]
                    if value is not None:  # None stays SQL NULL, encoded or not
                        text = texts.get(attname)
                        row[i] = convert(value) if text is None else text
                copy.write_row(row)
    return _saved(objs)
