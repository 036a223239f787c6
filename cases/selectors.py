"""Reads in the case domain."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from django.db import connection

from cases.errors import NotFound
from cases.models import Case, CaseQuerySet, CaseType, Source


def case_get_for_source(*, source: Source, case_id: str) -> Case:
    """A source sees only its own cases; anything else does not exist for it."""
    case = Case.objects.for_source(source).select_related("case_type").filter(pk=case_id).first()
    if case is None:
        raise NotFound("No such case.")
    return case


def cases_by_external_id(*, source: Source, external_ids: Collection[str]) -> dict[str, Case]:
    """The source's cases with any of ``external_ids`` (with their case types), by external
    id. A bulk ingestion asks about a thousand ids that are mostly new: on PostgreSQL one
    plain query with an array finds which exist first, where the ORM would build, and psycopg
    quote, an ``IN`` list of a thousand parameters to find nothing."""
    if connection.vendor == "postgresql":
        table = Case._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT external_id FROM {table} "  # noqa: S608 - the model's table
                "WHERE source_id = %s AND external_id = ANY(%s)",
                [source.pk, list(external_ids)],
            )
            external_ids = [external_id for (external_id,) in cursor.fetchall()]
        if not external_ids:
            return {}
    cases = Case.objects.filter(source=source, external_id__in=external_ids)
    return {case.external_id: case for case in cases.select_related("case_type")}


def case_list_for_source(
    *, source: Source, statuses: list[str] | None = None, updated_since: datetime | None = None
) -> CaseQuerySet:
    cases = Case.objects.for_source(source).select_related("case_type")
    if statuses:
        cases = cases.with_status(*statuses)
    if updated_since is not None:
        cases = cases.filter(updated_at__gt=updated_since)
    return cases


def case_type_get(*, slug: str) -> CaseType:
    case_type = CaseType.objects.filter(slug=slug).first()
    if case_type is None:
        raise NotFound("No such case type.")
    return case_type
