"""Training data out: the exact records for known decisions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cases.models import Case
from cases.services import api_token_create
from cases.tests.factories import CaseTypeFactory, SourceFactory, case_payload
from reviews.selectors import queue_get_for_user
from reviews.services import queue_claim_next, review_decide
from routing.services import policy_edit_and_publish

pytestmark = pytest.mark.django_db
URL = "/api/v1/feedback/export"


@pytest.fixture
def decided(client_for: Any, generalist: Any, expert: Any, admin_user: Any) -> dict[str, Case]:
    """Three decided cases: approved, edited, rejected; and an audited auto-approval."""
    CaseTypeFactory(slug="refund")
    policy_edit_and_publish(actor=admin_user, case_type=None, values={"audit_sample_rate": 1.0})
    bot = client_for(SourceFactory(name="shop").api_key)
    ids = {}
    for name, confidence in (("ok", 0.8), ("fix", 0.81), ("no", 0.82), ("auto", 0.99)):
        body = bot.post(
            "/api/v1/cases/",
            case_payload(external_id=name, confidence=confidence, input={"q": name}),
            format="json",
        ).json()
        ids[name] = body["id"]
    queue = queue_get_for_user(generalist, "generalist")
    for action, extra in (
        ("approve", {}),
        (
            "edit",
            {"reason_code": "wrong_amount", "final_output": {"decision": "refund", "amount": 10}},
        ),
        ("reject", {"reason_code": "policy_violation"}),
    ):
        entry = queue_claim_next(queue=queue, reviewer=generalist)
        review_decide(case=entry.case, reviewer=generalist, action=action, **extra)
    audit = queue_claim_next(queue=queue_get_for_user(expert, "audit"), reviewer=expert)
    review_decide(case=audit.case, reviewer=expert, action="reject", reason_code="other")
    return {name: Case.objects.get(pk=pk) for name, pk in ids.items()}


def _export(client: Any, **params: Any) -> list[dict[str, Any]]:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/x-ndjson"
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def test_labels_one_record_per_human_decision(client_for, admin_user, decided):
    records = _export(client_for(admin_user.api_key), kind="labels")
    by_case = {(r["external_id"], r["stage"]): r for r in records}
    assert set(by_case) == {
        ("ok", "first_review"),
        ("fix", "first_review"),
        ("no", "first_review"),
        ("auto", "audit"),
    }
    assert by_case[("fix", "first_review")] == {
        "case_id": str(decided["fix"].pk),
        "external_id": "fix",
        "case_type": "refund",
        "input": {"q": "fix"},
        "model_output": {"decision": "refund", "amount": 42.5},
        "human_output": {"decision": "refund", "amount": 10},
        "label": "edit",
        "reason_code": "wrong_amount",
        "overrode": True,
        "confidence": 0.81,
        "policy_version": 2,
        "stage": "first_review",
        "decided_at": decided["fix"].decided_at.isoformat(),
    }
    assert (
        by_case[("ok", "first_review")]["label"],
        by_case[("ok", "first_review")]["overrode"],
    ) == ("approve", False)
    assert by_case[("no", "first_review")]["human_output"] is None
    assert by_case[("auto", "audit")]["label"] == "reject"
    assert by_case[("auto", "audit")]["overrode"] is True


def test_edits_are_input_to_corrected_output_pairs(client_for, admin_user, decided):
    assert _export(client_for(admin_user.api_key), kind="edits") == [
        {
            "case_id": str(decided["fix"].pk),
            "case_type": "refund",
            "input": {"q": "fix"},
            "output": {"decision": "refund", "amount": 10},
            "model_output": {"decision": "refund", "amount": 42.5},
        }
    ]


def test_preferences_prefer_the_human_edit(client_for, admin_user, decided):
    assert _export(client_for(admin_user.api_key), kind="preferences") == [
        {
            "prompt": '{"q": "fix"}',
            "chosen": '{"amount": 10, "decision": "refund"}',
            "rejected": '{"amount": 42.5, "decision": "refund"}',
            "case_id": str(decided["fix"].pk),
            "case_type": "refund",
            "source": "edit",
        }
    ]


def test_filters_by_case_type_and_date(client_for, admin_user, decided):
    client = client_for(admin_user.api_key)
    assert _export(client, kind="labels", case_type="other") == []
    assert _export(client, kind="labels", since="2999-01-01T00:00:00Z") == []
    assert len(_export(client, kind="labels", until="2999-01-01T00:00:00Z")) == 4


def test_a_feedback_scoped_token_may_export_and_others_may_not(client_for, generalist, decided):
    scoped = api_token_create(user=generalist, scopes=["feedback"])
    assert client_for(scoped).get(URL, {"kind": "labels"}).status_code == 200
    assert client_for(generalist.api_key).get(URL, {"kind": "labels"}).status_code == 403
    source = SourceFactory(name="other")
    assert client_for(source.api_key).get(URL, {"kind": "labels"}).status_code == 403


def test_bad_kind_is_a_400(client_for, admin_user):
    response = client_for(admin_user.api_key).get(URL, {"kind": "everything"})
    assert response.status_code == 400
    assert "kind" in response.json()["error"]["fields"]


def test_export_command_writes_the_same_records(admin_user, decided, tmp_path):
    from django.core.management import call_command

    target = tmp_path / "labels.jsonl"
    call_command("feedback_export", "--kind", "labels", "--output", str(target))
    assert len(target.read_text().splitlines()) == 4
