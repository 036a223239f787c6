"""Reads in the case domain."""

from __future__ import annotations

from datetime import datetime

from cases.errors import NotFound
from cases.models import Case, CaseQuerySet, CaseType, Source


def case_get_for_source(*, source: Source, case_id: str) -> Case:
    """A source sees only its own cases; anything else does not exist for it."""
    case = Case.objects.for_source(source).select_related("case_type").filter(pk=case_id).first()
    if case is None:
        raise NotFound("No such case.")
    return case


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
