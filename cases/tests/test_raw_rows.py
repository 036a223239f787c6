"""Hand-written hot queries: instances as the ORM builds them, prepared on PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext, override_settings

from cases import raw_rows
from cases.models import Case, CaseType, Source
from cases.tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


def _prepared(fragment: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            [f"%{fragment}%"],
        )
        return int(cursor.fetchone()[0])


def test_a_joined_row_builds_each_model_and_none_for_a_missing_left_join():
    case = CaseFactory(metadata={"k": [1, "ü"]})
    shape, columns = raw_rows.joined_shape((Case, "c"), (CaseType, "t"), (Source, "s"))
    with raw_rows.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM cases_case c JOIN cases_casetype t ON t.id = c.case_type_id "  # noqa: S608
            "LEFT JOIN cases_source s ON s.id = c.source_id AND 1 = 0 WHERE c.id = %s",
            [Case._meta.pk.get_db_prep_value(case.pk, connection)],
        )
        built, of_type, source = shape.build(cursor.fetchone())
    assert source is None
    assert (built, of_type) == (case, case.case_type)
    assert (built.metadata, built.created_at, built.confidence) == (
        {"k": [1, "ü"]},
        case.created_at,
        case.confidence,
    )
    assert not built._state.adding


@pytest.mark.postgres
def test_hot_queries_are_prepared_once_per_connection_and_logged_with_their_values():
    sql = "SELECT %s::int + 40 AS loopgate_prepared_probe"
    with CaptureQueriesContext(connection) as captured:
        for n in (1, 2):
            with raw_rows.cursor() as cursor:
                cursor.execute(sql, [n])
                assert cursor.fetchone() == (40 + n,)
    assert _prepared("loopgate_prepared_probe") == 1
    assert [q["sql"] for q in captured.captured_queries] == [
        "SELECT 1::int + 40 AS loopgate_prepared_probe",
        "SELECT 2::int + 40 AS loopgate_prepared_probe",
    ]


@pytest.mark.postgres
def test_django_queries_are_never_prepared():
    for _ in range(10):
        Case.objects.filter(external_id="loopgate-never-prepared").exists()
    assert _prepared("loopgate-never-prepared") == 0


@pytest.mark.postgres
@override_settings(LOOPGATE_PREPARED_STATEMENTS=False)
def test_prepared_statements_can_be_turned_off():
    for _ in range(3):
        with raw_rows.cursor() as cursor:
            cursor.execute("SELECT %s::int AS loopgate_unprepared_probe", [1])
    assert _prepared("loopgate_unprepared_probe") == 0


def test_update_row_writes_the_given_fields_as_save_does_and_nothing_else():
    case = CaseFactory(status="pending_review", metadata={"keep": True})
    stale = Case.objects.get(pk=case.pk)
    Case.objects.filter(pk=case.pk).update(metadata={"changed": "elsewhere"})
    before = stale.updated_at
    stale.status, stale.final_output, stale.metadata = "in_review", {"x": [1]}, {"lost": 1}

    assert raw_rows.update_row(stale, ["status", "final_output", "updated_at"]) == 1

    stored = Case.objects.get(pk=case.pk)
    assert (stored.status, stored.final_output) == ("in_review", {"x": [1]})
    assert stored.metadata == {"changed": "elsewhere"}  # not in the list: not written
    assert stored.updated_at == stale.updated_at > before  # auto_now stamped, as save() does


def test_update_row_with_a_condition_changes_nothing_when_it_no_longer_holds():
    case = CaseFactory(status="pending_review")
    case.status = "in_review"
    assert raw_rows.update_row(case, ["status"], where={"status": "approved"}) == 0
    assert Case.objects.get(pk=case.pk).status == "pending_review"
    assert raw_rows.update_row(case, ["status"], where={"status": "pending_review"}) == 1
    assert Case.objects.get(pk=case.pk).status == "in_review"


def test_update_row_of_a_row_that_is_not_there_is_an_error():
    ghost = CaseFactory()
    ghost.pk = uuid.uuid4()
    with pytest.raises(DatabaseError):
        raw_rows.update_row(ghost, ["status"])
