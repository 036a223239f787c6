"""Model instances from rows of hand-written SQL, for the few queries every request runs
(the ORM takes longer to build them than the database takes to answer).

The column list comes from the model's fields and each value goes through the converters the
ORM would apply (JSON, dates on SQLite, ...), so the instances are what a queryset returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Model


@dataclass(frozen=True)
class RowShape:
    """One model's columns in a query, and how to turn their values into an instance."""

    model: type[Model]
    fields: list[str]
    converters: list[list[Any]]

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
    shape = RowShape(model, [field.attname for field in fields], converters)
    return shape, ", ".join(f'{alias}."{field.column}"' for field in fields)
