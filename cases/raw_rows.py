"""Model instances from rows of hand-written SQL, for the few queries every request runs
(the ORM takes longer to build them than the database takes to answer).

The column list comes from the model's fields and each value goes through the converters the
ORM would apply (JSON, dates on SQLite, ...), so the instances are what a queryset returns.

On PostgreSQL these queries run as prepared statements (``cursor()``): planning a join of a
few tables took PostgreSQL longer than running it, on every request."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Model


@dataclass(frozen=True)
class RowShape:
    """One model's columns in a query, and how to turn their values into an instance."""

    model: type[Model]
    fields: list[str]
    converters: list[list[Any]]
    pk_at: int  # where the primary key is among ``fields``

    def build(self, values: Sequence[Any]) -> Any:
        converted = []
        for value, field_converters in zip(values, self.converters, strict=True):
            for convert, expression in field_converters:
                value = convert(value, expression, connection)
            converted.append(value)
        return self.model.from_db(connection.alias, self.fields, converted)


def row_shape(model: type[Model], alias: str) -> tuple[RowShape, str]:
    """The shape of ``model``'s rows and the SQL column list (``alias."column", ...``)."""
    fields = model._meta.concrete_fields
    converters = []
    for field in fields:
        column = field.get_col(alias)
        found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        converters.append([(convert, column) for convert in found])
    names = [field.attname for field in fields]
    pk = model._meta.pk
    assert pk is not None
    shape = RowShape(model, names, converters, names.index(pk.attname))
    return shape, ", ".join(f'{alias}."{field.column}"' for field in fields)


@dataclass(frozen=True)
class JoinedShape:
    """Several models' columns side by side in one row: a ``select_related`` by hand."""

    shapes: tuple[RowShape, ...]

    def build(self, row: Sequence[Any]) -> list[Any]:
        """One instance per shape, in order; None for a LEFT JOIN that found no row."""
        instances: list[Any] = []
        start = 0
        for shape in self.shapes:
            values = row[start : start + len(shape.fields)]
            instances.append(None if values[shape.pk_at] is None else shape.build(values))
            start += len(shape.fields)
        return instances


def joined_shape(*parts: tuple[type[Model], str]) -> tuple[JoinedShape, str]:
    """The shape of rows joining ``(model, alias)`` parts, and their SQL column list."""
    shapes, columns = zip(*(row_shape(model, alias) for model, alias in parts), strict=True)
    return JoinedShape(tuple(shapes)), ", ".join(columns)


def link(instance: Model, name: str, related: Model | None) -> None:
    """Cache ``related`` as ``instance.<name>`` (a forward foreign key or one-to-one), as
    ``select_related`` does, so that reading it costs no query."""
    instance._meta.get_field(name).set_cached_value(instance, related)  # type: ignore[union-attr]


@contextmanager
def cursor() -> Iterator[Any]:
    """``connection.cursor()``, whose statements PostgreSQL prepares: each distinct SQL text
    is planned once per connection, not at every run (psycopg names and caches them). For
    fixed SQL with parameters only, the hot queries of this module's callers. Queries still
    go through Django's cursor wrapper (query logging, ``execute_wrapper``, error mapping).

    Off with ``DATABASE_PREPARED_STATEMENTS=false`` (behind a pooler in transaction mode that
    does not track prepared statements), and never on SQLite."""
    if connection.vendor != "postgresql" or not settings.LOOPGATE_PREPARED_STATEMENTS:
        with connection.cursor() as plain:
            yield plain
        return
    connection.ensure_connection()
    with connection.wrap_database_errors:
        prepared = _preparing_cursor_class()(connection.connection)
    # Django's own wrapping, as connection.cursor() does it.
    wrapped = connection._prepare_cursor(prepared)  # type: ignore[attr-defined]
    with wrapped:
        yield wrapped


def fetch_one(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    """The first row of a hot query run through ``cursor()``, or None."""
    with cursor() as running:
        running.execute(sql, params)
        return running.fetchone()


def fetch_all(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Every row of a hot query run through ``cursor()``."""
    with cursor() as running:
        running.execute(sql, params)
        return running.fetchall()


def execute(sql: str, params: Sequence[Any]) -> int:
    """Run a hot statement through ``cursor()``; the number of rows it changed."""
    with cursor() as running:
        running.execute(sql, params)
        return int(running.rowcount)


def pk_param(model: type[Model], value: Any) -> Any:
    """``value`` as a parameter compared with ``model``'s primary key column (a UUID is
    text on SQLite, for one)."""
    pk = model._meta.pk
    assert pk is not None
    return pk.get_db_prep_value(value, connection)


class _Logged:
    """The statement with its values, as Django logs client-side bound queries; composed
    only when read (with query logging on: DEBUG, tests)."""

    def __init__(self, sql: str, params: Any) -> None:
        self.sql, self.params = sql, params

    @property
    def query(self) -> bytes:
        from psycopg import ClientCursor

        return ClientCursor(connection.connection).mogrify(self.sql, self.params).encode()


@functools.cache
def _preparing_cursor_class() -> type:
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparingCursor(ServerBindingCursor):
        """Server-side binding, and every statement prepared (psycopg's own cache)."""

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            done = super().execute(query, params, prepare=True, **kwargs)  # type: ignore[misc]
            # What Django's query log reads (psycopg keeps none for prepared runs).
            self._query = _Logged(query, params)
            return done

    return PreparingCursor


@functools.cache
def _update_sql(model: type[Model], fields: tuple[str, ...], where: tuple[str, ...]) -> str:
    opts, quote = model._meta, connection.ops.quote_name
    assert opts.pk is not None
    columns = [str(opts.get_field(name).column) for name in (*fields, *where)]  # type: ignore[union-attr]
    sets = ", ".join(f"{quote(column)} = %s" for column in columns[: len(fields)])
    conditions = [f"{quote(str(opts.pk.column))} = %s"]
    conditions += [f"{quote(column)} = %s" for column in columns[len(fields) :]]
    return f"UPDATE {quote(opts.db_table)} SET {sets} WHERE {' AND '.join(conditions)}"  # noqa: S608


def update_row(instance: Model, fields: Sequence[str], where: dict[str, Any] | None = None) -> int:
    """``instance.save(update_fields=fields)`` as one plain, prepared UPDATE by primary key:
    values go in as ``save()`` sends them (``pre_save``, so ``auto_now`` stamps, then
    ``get_db_prep_save``), without building a query or sending model signals. With
    ``where``, only while those columns still hold those values; returns the rows updated
    (0 or 1). Without ``where``, a row that is not there is an error, as for ``save()``."""
    where = where or {}
    opts = instance._meta
    sql = _update_sql(type(instance), tuple(fields), tuple(where))
    params = []
    for name in fields:
        field = opts.get_field(name)
        value = field.pre_save(instance, False)  # type: ignore[union-attr]
        params.append(field.get_db_prep_save(value, connection))  # type: ignore[union-attr]
    params.append(pk_param(type(instance), instance.pk))
    for name, value in where.items():
        params.append(opts.get_field(name).get_db_prep_value(value, connection))  # type: ignore[union-attr]
    count = execute(sql, params)
    if not count and not where:
        raise DatabaseError(f"{opts.object_name} {instance.pk} is not there to update.")
    return count
