"""Hand-written hot queries: instances as the ORM builds them, prepared on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection
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
