"""GET /api/v1/metrics/summary: who sees what, input errors, and a query bound that does not
grow with the window. The clock is frozen at 2026-11-10 11:30 UTC for every request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.models import Case
from cases.roles import Role
from cases.services import api_token_create
from cases.tests.factories import CaseFactory, CaseTypeFactory, SourceFactory
from metrics.models import CaseTypeHour, RolledHour
from metrics.rollups import rollups_catch_up
from reviews.models import Decision
from routing.models import Queue, QueueEntry

pytestmark = pytest.mark.django_db

URL = "/api/v1/metrics/summary"
NOW = datetime(2026, 11, 10, 11, 30, tzinfo=UTC)
FIGURE_KEYS = {
    "window",
    "from",
    "until",
    "figures",
    "previous",
    "sla_at_risk_now",
    "queues",
    "reviewers",
    "series",
}


def t(hh: int, mm: int = 0, day: int = 10) -> datetime:
    return datetime(2026, 11, day, hh, mm, tzinfo=UTC)


@pytest.fixture
def frozen() -> Iterator[None]:
    with patch("django.utils.timezone.now", return_value=NOW):
        yield


def make_case(source: Any, case_type: Any, created_at: datetime, **fields: Any) -> Case:
    outcome = fields.pop("outcome", None)
    return CaseFactory(
        source=source,
        case_type=case_type,
        created_at=created_at,
        routing={"outcome": outcome} if outcome else None,
        **fields,
    )


def decide(case: Case, reviewer: Any, action: str, seconds: float, at: datetime) -> None:
    decision = Decision.objects.create(
        case=case,
        queue=Queue.objects.get(slug="generalist"),
        reviewer=reviewer,
        role="generalist",
        action=action,
        reason_code="" if action == "approve" else "other",
        seconds_to_decide=seconds,
        stage="first_review",
    )
    Decision.objects.filter(pk=decision.pk).update(created_at=at)


@pytest.fixture
def source(db: None) -> Any:
    return SourceFactory(name="metrics-api")


@pytest.fixture
def dataset(source: Any, generalist: Any, expert: Any) -> SimpleNamespace:
    """Decisions by gina, eric and rita over three hours (08:00, 09:00, 10:00)."""
    refund = CaseTypeFactory(slug="refund")
    kyc = CaseTypeFactory(slug="kyc")
    rita = get_user_model().objects.create_user(username="rita")
    for hour, reviewer, action in (
        (8, generalist, "approve"),
        (9, expert, "reject"),
        (10, generalist, "approve"),
        (10, rita, "approve"),
    ):
        case = make_case(
            source,
            refund,
            t(hour),
            outcome="queued",
            status="approved" if action == "approve" else "rejected",
            decided_at=t(hour, 30),
        )
        decide(case, reviewer, action, 10.0, t(hour, 30))
    make_case(source, refund, t(10, 5), outcome="auto_approved", status="auto_approved")
    make_case(source, kyc, t(10, 6), outcome="queued")
    # -> 24h: received 6 (refund 5, kyc 1), auto 1; decided 4, overrides 1
    return SimpleNamespace(refund=refund, kyc=kyc, rita=rita)


def _key(request: Any, persona: str) -> str:
    user = request.getfixturevalue(persona)
    return user.api_key or api_token_create(user=user)


# --- who sees what --------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["supervisor", "admin_user", "compliance_officer"])
def test_supervisors_admins_and_compliance_see_everything(
    request, client_for, dataset, frozen, persona
):
    response = client_for(_key(request, persona)).get(URL, {"window": "24h"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == FIGURE_KEYS
    assert body["window"] == "24h"
    assert body["from"] == "2026-11-09T12:00:00+00:00"
    assert body["until"] == "2026-11-10T11:30:00+00:00"
    assert body["figures"]["received"] == 6
    assert body["figures"]["auto_approval_rate"] == pytest.approx(1 / 6)
    assert body["figures"]["override_rate"] == 0.25
    assert [r["reviewer"] for r in body["reviewers"]] == ["eric", "gina", "rita"]
    assert {r["decisions"] for r in body["reviewers"] if r["reviewer"] == "gina"} == {2}
    assert len(body["series"]) == 24
    assert [q["queue"] for q in body["queues"]][:2] == ["audit", "expert"]


@pytest.mark.parametrize(
    ("persona", "name", "decisions"), [("generalist", "gina", 2), ("expert", "eric", 1)]
)
def test_reviewers_see_only_their_own_row(
    request, client_for, dataset, frozen, persona, name, decisions
):
    user = request.getfixturevalue(persona)
    response = client_for(user.api_key).get(URL, {"window": "24h"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"window", "from", "until", "reviewers"}
    assert "figures" not in body and "previous" not in body and "queues" not in body
    assert body["window"] == "24h"
    assert body["from"] == "2026-11-09T12:00:00+00:00"
    assert len(body["reviewers"]) == 1
    row = body["reviewers"][0]
    assert (row["reviewer_id"], row["reviewer"], row["decisions"]) == (user.pk, name, decisions)
    others = {"gina", "eric", "rita"} - {name}
    assert not others & {r["reviewer"] for r in body["reviewers"]}
    assert dataset.rita.pk not in {r["reviewer_id"] for r in body["reviewers"]}


def test_a_reviewer_without_decisions_gets_an_empty_table(client_for, dataset, frozen, make_person):
    newcomer = make_person("nina", Role.GENERALIST)
    body = client_for(newcomer.api_key).get(URL).json()
    assert body["reviewers"] == []
    assert "figures" not in body


def test_a_person_without_a_role_sees_an_empty_reviewer_list(client_for, dataset, frozen, outsider):
    response = client_for(api_token_create(user=outsider)).get(URL)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "window": "24h",
        "from": "2026-11-09T12:00:00+00:00",
        "until": "2026-11-10T11:30:00+00:00",
        "reviewers": [],
    }


def test_sources_are_refused(client_for, source, frozen):
    response = client_for(source.api_key).get(URL)
    assert response.status_code == 403
    assert "figures" not in response.json()


def test_anonymous_is_refused(client_for, db, frozen):
    response = client_for(None).get(URL)
    assert response.status_code == 401
    assert "figures" not in response.json()


def test_the_window_defaults_to_24h(client_for, supervisor, dataset, frozen):
    body = client_for(supervisor.api_key).get(URL).json()
    assert body["window"] == "24h"
    assert len(body["series"]) == 24


def test_one_case_type(client_for, supervisor, dataset, frozen):
    client = client_for(supervisor.api_key)
    refund = client.get(URL, {"window": "24h", "case_type": "refund"}).json()["figures"]
    kyc = client.get(URL, {"window": "24h", "case_type": "kyc"}).json()["figures"]
    assert (refund["received"], refund["escalation_rate"]) == (5, 0.8)
    assert (kyc["received"], kyc["escalation_rate"], kyc["override_rate"]) == (1, 1.0, None)


# --- input errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("window", ["2h", "1d", "24H", "all"])
def test_a_bad_window_is_a_field_error(client_for, supervisor, frozen, window):
    response = client_for(supervisor.api_key).get(URL, {"window": window})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == ["window"]


def test_an_unknown_case_type_is_a_field_error(client_for, supervisor, dataset, frozen):
    response = client_for(supervisor.api_key).get(URL, {"case_type": "nope"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["fields"] == {"case_type": ["No such type."]}


def test_a_malformed_case_type_is_a_field_error(client_for, supervisor, frozen):
    response = client_for(supervisor.api_key).get(URL, {"case_type": "not a slug!"})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["case_type"]


def test_reviewers_get_the_same_input_errors(client_for, generalist, frozen):
    client = client_for(generalist.api_key)
    assert client.get(URL, {"window": "90d"}).status_code == 400
    response = client.get(URL, {"case_type": "nope"})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["case_type"]


# --- queries --------------------------------------------------------------------------------


def _queries(client: Any, params: dict[str, str]) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def _entries(source: Any, case_type: Any) -> None:
    for n, slug in enumerate(("generalist", "generalist", "expert")):
        case = make_case(source, case_type, t(9, n), outcome="queued")
        entry = QueueEntry.objects.create(
            case=case, queue=Queue.objects.get(slug=slug), sla_due_at=t(12), confidence=0.5
        )
        QueueEntry.objects.filter(pk=entry.pk).update(created_at=t(9, n))


def test_query_count_does_not_grow_with_the_window(
    client_for, supervisor, generalist, source, dataset, django_assert_max_num_queries
):
    _entries(source, dataset.refund)
    # The first case 15 days back, so every hour of both windows and of the windows before
    # them (7d + 7d = 336 hours) is rolled up; only the current hour is computed on read.
    make_case(source, dataset.refund, NOW - timedelta(days=15), outcome="auto_approved")
    assert rollups_catch_up(now=NOW, max_hours=24 * 15) == 15 * 24
    assert CaseTypeHour.objects.filter(hour=t(10)).exists()
    with patch("django.utils.timezone.now", return_value=NOW):
        boss, gina = client_for(supervisor.api_key), client_for(generalist.api_key)
        one_hour, day, week = (_queries(boss, {"window": w}) for w in ("1h", "24h", "7d"))
        assert day == week
        # (the 1h window has no reviewers in its one hour, so no query for their names)
        assert one_hour <= day
        assert _queries(boss, {"window": "7d", "case_type": "refund"}) == week + 1  # the slug
        assert _queries(gina, {"window": "24h"}) == _queries(gina, {"window": "7d"})
        # auth (token, roles) + rolled hours, 3 row tables + the current hour computed
        # (at most 8) + names, queue slugs, live queues
        with django_assert_max_num_queries(20):
            response = boss.get(URL, {"window": "7d"})
    # the dataset's 6 and the entries' 3; the 15-days-old case is outside the window
    assert response.json()["figures"]["received"] == 9


def test_query_count_after_the_regular_catch_up_on_a_young_install(
    client_for, supervisor, source, dataset
):
    make_case(source, dataset.refund, NOW - timedelta(days=2), outcome="auto_approved")
    rollups_catch_up(now=NOW)  # the scheduled task's call
    assert RolledHour.objects.count() == 48
    with patch("django.utils.timezone.now", return_value=NOW):
        boss = client_for(supervisor.api_key)
        assert _queries(boss, {"window": "7d"}) == _queries(boss, {"window": "24h"})
