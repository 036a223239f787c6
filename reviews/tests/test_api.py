"""The reviewer API: who may claim, release, decide and read what, the response shapes, and
that every refused call leaves the database as it was."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from cases.models import Case
from cases.services import api_token_create
from cases.tests.factories import case_payload
from reviews.services import queue_claim_next, review_decide
from reviews.tests.factories import (
    AI_OUTPUT,
    OUTPUT_NOT_ALLOWED,
    field_errors_match,
    live_entry,
    publish_default_policy,
    queue,
    world,
)
from routing.models import QueueEntry

pytestmark = pytest.mark.django_db

SLUGS = ["generalist", "expert", "fast-track", "audit", "supervisor"]
PERSONAS = [
    "generalist",
    "expert",
    "supervisor",
    "compliance_officer",
    "admin_user",
    "outsider",
    "source",
    "anonymous",
]
# Which queues each person may work (role groups; admins are superusers).
WORKS = {
    "generalist": {"generalist", "fast-track"},
    "expert": {"generalist", "fast-track", "expert", "audit"},
    "supervisor": set(SLUGS),
    "compliance_officer": set(),
    "admin_user": set(SLUGS),
    "outsider": set(),
}
NOT_AUTHENTICATED = {
    "error": {
        "code": "not_authenticated",
        "message": "Authentication credentials were not provided.",
    }
}
SOURCES_REFUSED = {
    "error": {
        "code": "permission_denied",
        "message": "Only people (with a personal token or a session) may review cases.",
    }
}
CASE_FIELDS = {
    "id",
    "external_id",
    "case_type",
    "status",
    "queue",
    "routing",
    "priority",
    "confidence",
    "due_at",
    "sla_due_at",
    "fast_tracked",
    "final_output",
    "decided_at",
    "created_at",
    "updated_at",
    "input",
    "ai_output",
    "context",
    "risk_tags",
    "metadata",
    "decision",
    "decisions",
}
DECISION_FIELDS = {
    "id",
    "reviewer",
    "role",
    "queue",
    "stage",
    "action",
    "reason_code",
    "comment",
    "final_output",
    "diff",
    "seconds_to_decide",
    "agrees_with_auto",
    "created_at",
}


def claim_url(slug: str) -> str:
    return f"/api/v1/queues/{slug}/claim/"


def release_url(case: Case) -> str:
    return f"/api/v1/cases/{case.pk}/release/"


def decision_url(case: Case) -> str:
    return f"/api/v1/cases/{case.pk}/decision/"


def review_url(case: Case) -> str:
    return f"/api/v1/reviews/cases/{case.pk}/"


@pytest.fixture
def client_as(request: Any, client_for: Any, intake: Any) -> Any:
    """An API client for a persona by name: a person, the source's token, or nobody."""

    def make(name: str) -> Any:
        if name == "anonymous":
            return client_for(None)
        if name == "source":
            return client_for(intake.source.api_key)
        person = request.getfixturevalue(name)
        if person.api_key is None:  # the outsider: logged in with a token, but in no role
            person.api_key = api_token_create(user=person, name="test")
        return client_for(person.api_key)

    return make


@pytest.fixture
def stocked(intake: Any) -> dict[str, Case]:
    """One waiting case in each standard queue."""
    publish_default_policy(
        audit_sample_rate=1.0,
        rules=[
            {
                "name": "urgent-fast-track",
                "when": {"field": "priority", "op": "eq", "value": "urgent"},
                "then": {"route_to": "fast-track"},
            },
            {
                "name": "high-to-supervisor",
                "when": {"field": "priority", "op": "eq", "value": "high"},
                "then": {"route_to": "supervisor"},
            },
        ],
    )
    cases = {
        "generalist": intake.generalist_case(),
        "expert": intake.expert_case(),
        "fast-track": intake.fast_track_case(),
        "audit": intake.auto_approved_case(),
        "supervisor": intake.generalist_case(priority="high"),
    }
    for slug, case in cases.items():
        kind = "audit" if slug == "audit" else "review"
        assert live_entry(case, kind).queue.slug == slug
    return cases


# --- the claim matrix -----------------------------------------------------------------------


@pytest.mark.parametrize("slug", SLUGS)
@pytest.mark.parametrize("persona", PERSONAS)
def test_claim_matrix_with_a_case_waiting(client_as, stocked, persona, slug):
    client = client_as(persona)
    before = world()

    response = client.post(claim_url(slug))

    if persona == "anonymous":
        assert (response.status_code, response.json()) == (401, NOT_AUTHENTICATED)
    elif persona == "source":
        assert (response.status_code, response.json()) == (403, SOURCES_REFUSED)
    elif slug in WORKS[persona]:
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["case"]["id"] == str(stocked[slug].pk)
        assert body["lease"]["queue"] == slug
        entry = QueueEntry.objects.get(pk=body["lease"]["entry"])
        assert entry.state == "claimed"
        assert (
            entry.claimed_by.username
            == {
                "generalist": "gina",
                "expert": "eric",
                "supervisor": "sam",
                "admin_user": "ada",
            }[persona]
        )
        return
    else:
        assert response.status_code == 404
        assert response.json() == {"error": {"code": "not_found", "message": "No such queue."}}
    assert world() == before


@pytest.mark.parametrize("slug", SLUGS)
@pytest.mark.parametrize("persona", PERSONAS)
def test_claim_matrix_on_empty_queues(client_as, intake, persona, slug):
    client = client_as(persona)
    before = world()

    response = client.post(claim_url(slug))

    expected = {"anonymous": 401, "source": 403}.get(persona) or (
        204 if slug in WORKS[persona] else 404
    )
    assert response.status_code == expected
    if expected == 204:
        assert response.content == b""
    assert world() == before


@pytest.mark.parametrize("persona", ["generalist", "supervisor", "admin_user"])
def test_claiming_an_unknown_or_inactive_queue_is_not_found(client_as, stocked, persona):
    general = queue("generalist")
    general.is_active = False
    general.save()
    client = client_as(persona)
    before = world()

    assert client.post(claim_url("no-such-queue")).status_code == 404
    assert client.post(claim_url("generalist")).status_code == 404
    assert world() == before


def test_claim_response_has_the_case_and_its_lease(client_for, generalist, intake):
    payload = case_payload(external_id="order-77", confidence=0.8)
    case_id = intake.client.post("/api/v1/cases/", payload, format="json").json()["id"]

    response = client_for(generalist.api_key).post(claim_url("generalist"))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"case", "lease"}
    case = body["case"]
    assert set(case) == CASE_FIELDS
    assert case["id"] == case_id
    assert case["external_id"] == "order-77"
    assert case["status"] == "in_review"
    assert case["input"] == payload["input"]
    assert case["ai_output"] == payload["ai_output"]
    assert case["context"] == payload["context"]
    assert case["metadata"] == payload["metadata"]
    assert case["queue"] == "generalist"
    assert case["routing"]["queue"] == "generalist"
    assert case["routing"]["reason"] == (
        "confidence 0.80 is between the expert threshold 0.70 and the auto-approve threshold 0.95"
    )
    assert (case["decision"], case["decisions"]) == (None, [])
    lease = body["lease"]
    entry = live_entry(Case.objects.get(pk=case_id))
    assert set(lease) == {"entry", "queue", "kind", "claimed_at", "expires_at"}
    assert (lease["entry"], lease["queue"], lease["kind"]) == (entry.pk, "generalist", "review")
    assert parse_datetime(lease["claimed_at"]) == entry.claimed_at
    assert parse_datetime(lease["expires_at"]) == entry.lease_expires_at
    assert entry.lease_expires_at - entry.claimed_at == timedelta(minutes=15)

    again = client_for(generalist.api_key).post(claim_url("generalist"))
    assert (again.status_code, again.json()["lease"]["entry"]) == (200, entry.pk)


# --- release, decide and read a case someone else holds -------------------------------------


@pytest.fixture
def held_by_others(intake: Any, gail: Any, erin: Any) -> dict[str, Case]:
    """A generalist case claimed by gail and an expert case claimed by erin."""
    cases = {"generalist": intake.generalist_case(), "expert": intake.expert_case()}
    assert (
        queue_claim_next(queue=queue("generalist"), reviewer=gail).case_id == cases["generalist"].pk
    )
    assert queue_claim_next(queue=queue("expert"), reviewer=erin).case_id == cases["expert"].pk
    return cases


# Who can see a case in each queue: reviewers of that queue, supervisors, compliance, admins.
SEES = {
    "generalist": {"generalist", "expert", "supervisor", "compliance_officer", "admin_user"},
    "expert": {"expert", "supervisor", "compliance_officer", "admin_user"},
}


# People who work no queue at all (compliance is read-only) may not release or decide: 403
# before any case is looked up.
NOT_REVIEWERS = {"compliance_officer", "outsider"}
NOT_A_REVIEWER = {
    "error": {
        "code": "permission_denied",
        "message": "Only reviewers may claim, release or decide cases.",
    }
}


def _expected(persona: str, visible: bool, allowed: int) -> int:
    return {"anonymous": 401, "source": 403}.get(persona) or (allowed if visible else 404)


@pytest.mark.parametrize("where", ["generalist", "expert"])
@pytest.mark.parametrize("persona", PERSONAS)
def test_release_and_decision_on_a_case_someone_else_holds(
    client_as, held_by_others, persona, where
):
    case = held_by_others[where]
    client = client_as(persona)
    visible = persona in SEES[where]
    before = world()

    released = client.post(release_url(case))
    decided = client.post(decision_url(case), {"action": "approve"}, format="json")

    for response in (released, decided):
        if persona in NOT_REVIEWERS:
            assert (response.status_code, response.json()) == (403, NOT_A_REVIEWER)
            continue
        assert response.status_code == _expected(persona, visible, 409)
        if response.status_code == 409:
            assert response.json() == {
                "error": {
                    "code": "not_claimed",
                    "message": "You do not hold a claim on this case: claim it from its queue "
                    "first.",
                }
            }
        elif response.status_code == 404:
            assert response.json() == {"error": {"code": "not_found", "message": "No such case."}}
    assert world() == before


@pytest.mark.parametrize("where", ["generalist", "expert"])
@pytest.mark.parametrize("persona", PERSONAS)
def test_reading_a_case_for_review(client_as, held_by_others, persona, where):
    case = held_by_others[where]
    client = client_as(persona)
    before = world()

    response = client.get(review_url(case))

    assert response.status_code == _expected(persona, persona in SEES[where], 200)
    after = world()
    if response.status_code == 200:
        assert response.json()["id"] == str(case.pk)
        assert response.json()["status"] == "in_review"
        # A permitted read is recorded as an access, and changes nothing else.
        assert after.pop("events")[len(before["events"]) :] == [("case.viewed", case.pk)]
        before.pop("events")
    assert after == before


def test_an_unknown_case_is_not_found(client_for, supervisor, intake):
    client = client_for(supervisor.api_key)
    missing = "00000000-0000-0000-0000-000000000000"
    before = world()

    assert client.post(f"/api/v1/cases/{missing}/release/").status_code == 404
    assert client.post(f"/api/v1/cases/{missing}/decision/", {"action": "approve"}).status_code == (
        404
    )
    assert client.get(f"/api/v1/reviews/cases/{missing}/").status_code == 404
    assert world() == before


# --- deciding through the API ---------------------------------------------------------------


@pytest.fixture
def gina_holds(client_for: Any, generalist: Any, intake: Any) -> tuple[Any, Case]:
    case = intake.generalist_case()
    client = client_for(generalist.api_key)
    assert client.post(claim_url("generalist")).status_code == 200
    return client, case


def test_decision_returns_201_with_the_recorded_decision(gina_holds):
    client, case = gina_holds
    edited = {"decision": "refund", "amount": 40}

    response = client.post(
        decision_url(case),
        {
            "action": "edit",
            "reason_code": "wrong_amount",
            "comment": "partial",
            "final_output": edited,
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == DECISION_FIELDS
    assert body["seconds_to_decide"] >= 0
    assert parse_datetime(body["created_at"]) is not None
    del body["seconds_to_decide"], body["created_at"]
    stored = case.decisions.get()
    assert body == {
        "id": stored.pk,
        "reviewer": "gina",
        "role": "generalist",
        "queue": "generalist",
        "stage": "first_review",
        "action": "edit",
        "reason_code": "wrong_amount",
        "comment": "partial",
        "final_output": edited,
        "diff": [{"path": "/amount", "op": "replace", "from": 42.5, "to": 40}],
        "agrees_with_auto": None,
    }
    case.refresh_from_db()
    assert (case.status, case.final_output) == ("edited", edited)

    review = client.get(review_url(case)).json()
    assert review["status"] == "edited"
    assert review["decision"]["id"] == stored.pk
    assert [d["id"] for d in review["decisions"]] == [stored.pk]


@pytest.mark.parametrize(
    ("body", "message", "fields"),
    [
        ({}, "Invalid input.", {"action": ["This field is required."]}),
        ({"action": "bogus"}, "Invalid input.", {"action": ['"bogus" is not a valid choice.']}),
        (
            {"action": "reject"},
            "The decision is invalid.",
            {"reason_code": ["A reason code is required to reject."]},
        ),
        (
            {"action": "reject", "reason_code": "fraud"},
            "The decision is invalid.",
            {
                "reason_code": [
                    "'fraud' is not a reason code of 'refund': use one of wrong_amount, "
                    "policy_violation, other."
                ]
            },
        ),
        (
            {"action": "edit", "reason_code": "wrong_amount"},
            "The decision is invalid.",
            {"final_output": ["The edited output is required to edit."]},
        ),
        (
            {"action": "edit", "reason_code": "wrong_amount", "final_output": None},
            "The decision is invalid.",
            {"final_output": ["The edited output is required to edit."]},
        ),
        (
            {"action": "edit", "reason_code": "wrong_amount", "final_output": AI_OUTPUT},
            "The decision is invalid.",
            {"final_output": ["Nothing was changed: approve instead of editing."]},
        ),
        (
            {"action": "approve", "final_output": {"decision": "deny"}},
            "The decision is invalid.",
            {"final_output": [OUTPUT_NOT_ALLOWED]},
        ),
    ],
)
def test_a_bad_decision_is_a_400_naming_the_field(gina_holds, body, message, fields):
    client, case = gina_holds
    before = world()

    response = client.post(decision_url(case), body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields"}
    assert (error["code"], error["message"]) == ("invalid", message)
    assert field_errors_match(error["fields"], fields), error["fields"]
    assert world() == before
    assert live_entry(case).state == "claimed"


def test_release_through_the_api(gina_holds):
    client, case = gina_holds

    response = client.post(release_url(case))

    assert (response.status_code, response.content) == (204, b"")
    entry = live_entry(case)
    assert (entry.state, entry.claimed_by) == ("open", None)
    assert Case.objects.get(pk=case.pk).status == "pending_review"


def test_deciding_after_the_lease_ran_out_is_a_409(client_for, generalist, intake):
    case = intake.generalist_case()
    queue_claim_next(
        queue=queue("generalist"), reviewer=generalist, now=timezone.now() - timedelta(hours=1)
    )
    before = world()

    response = client_for(generalist.api_key).post(
        decision_url(case), {"action": "approve"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "lease_expired"
    assert world() == before


def test_deciding_a_decided_case_is_a_409(gina_holds, client_for, gail):
    client, case = gina_holds
    assert client.post(decision_url(case), {"action": "approve"}, format="json").status_code == 201
    before = world()

    for person_client in (client, client_for(gail.api_key)):
        response = person_client.post(
            decision_url(case), {"action": "reject", "reason_code": "other"}, format="json"
        )
        assert response.status_code == 409
        assert response.json() == {
            "error": {"code": "already_decided", "message": "This case has already been decided."}
        }
        assert person_client.post(release_url(case)).status_code == 409
    assert world() == before


# --- what the source sees -------------------------------------------------------------------


@pytest.fixture
def decided(gina_holds: tuple[Any, Case]) -> Case:
    client, case = gina_holds
    response = client.post(
        decision_url(case),
        {"action": "reject", "reason_code": "policy_violation", "comment": "not eligible"},
        format="json",
    )
    assert response.status_code == 201
    return case


def test_the_source_sees_the_outcome_of_a_final_decision(intake, decided):
    response = intake.client.get(f"/api/v1/cases/{decided.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["final_output"]) == ("rejected", None)
    assert parse_datetime(body["decided_at"]) == Case.objects.get(pk=decided.pk).decided_at


def test_the_source_sees_the_decision_that_made_the_outcome(intake, decided):
    body = intake.client.get(f"/api/v1/cases/{decided.pk}/").json()

    assert body["decision"]["action"] == "reject"
    assert body["decision"]["reason_code"] == "policy_violation"
    assert body["decision"]["comment"] == "not eligible"
    assert body["decision"]["reviewer"] == "gina"


def test_review_decide_service_and_api_agree_on_the_snapshot(intake, generalist, client_for):
    case = intake.generalist_case()
    queue_claim_next(queue=queue("generalist"), reviewer=generalist)
    review_decide(case=case, reviewer=generalist, action="approve")

    body = client_for(generalist.api_key).get(review_url(case)).json()

    assert body["decision"] == Case.objects.get(pk=case.pk).decision
    assert body["final_output"] == AI_OUTPUT


def test_plain_claim_and_decision_bodies_are_what_the_serializers_render(
    intake, generalist, expert
):
    """The claim and decision responses are built as plain dicts for speed; they must stay
    exactly what ClaimSerializer and DecisionSerializer (the documented schema) render."""
    from reviews.api.serializers import ClaimSerializer, DecisionSerializer, decision_out

    case = intake.generalist_case(due_at=(timezone.now() + timedelta(hours=3)).isoformat())
    entry = queue_claim_next(queue=queue("generalist"), reviewer=generalist)
    assert entry is not None
    first = ClaimSerializer.of(entry)
    assert first == ClaimSerializer({"case": entry.case, "lease": entry}).data
    edited = review_decide(
        case=case,
        reviewer=generalist,
        action="escalate",
        reason_code=case.case_type.reason_codes[0],
        comment="needs an expert",
    )
    assert decision_out(edited) == DecisionSerializer(edited).data

    entry = queue_claim_next(queue=queue("expert"), reviewer=expert)
    assert entry is not None and entry.case_id == case.pk
    claim = ClaimSerializer.of(entry)
    assert len(claim["case"]["decisions"]) == 1  # the escalation, with its reviewer and queue
    assert claim == ClaimSerializer({"case": entry.case, "lease": entry}).data
    final = review_decide(
        case=case,
        reviewer=expert,
        action="edit",
        reason_code=case.case_type.reason_codes[0],
        final_output={**AI_OUTPUT, "amount": 1},
    )
    assert final.diff and decision_out(final) == DecisionSerializer(final).data
