"""Pairwise comparison cases end to end: ingestion, the review page, the decision, and the
preference pairs they export."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cases.models import Case
from cases.services import case_type_create
from cases.tests.factories import SourceFactory
from reviews.selectors import candidates_for, queue_get_for_user
from reviews.services import queue_claim_next, review_decide

pytestmark = pytest.mark.django_db
CANDIDATES = {
    "candidates": [
        {"id": "model-a", "output": "Short answer."},
        {"id": "model-b", "output": "A longer, kinder answer."},
        {"id": "model-c", "output": "No."},
    ]
}


@pytest.fixture
def pairwise(client_for: Any) -> Any:
    case_type_create(
        actor=None,
        slug="chat-pref",
        name="Chat preference",
        kind="pairwise",
        reason_codes=["helpful", "accurate", "other"],
    )
    bot = client_for(SourceFactory(name="lab").api_key)

    def post(external_id: str, ai_output: Any = CANDIDATES) -> Any:
        return bot.post(
            "/api/v1/cases/",
            {
                "external_id": external_id,
                "case_type": "chat-pref",
                "input": {"prompt": "How do I reset my password?"},
                "ai_output": ai_output,
                "confidence": 0.5,
            },
            format="json",
        )

    return post


def test_pairwise_cases_need_two_candidates_with_unique_ids(pairwise):
    bad = pairwise("bad", {"candidates": [{"id": "a", "output": 1}]})
    dupes = pairwise("dupes", {"candidates": [{"id": "a", "output": 1}, {"id": "a", "output": 2}]})
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"]["ai_output"] == [
        "A pairwise case needs at least two candidates."
    ]
    assert "used twice" in dupes.json()["error"]["fields"]["ai_output"][0]


def test_candidates_are_shuffled_per_reviewer_and_labels_hidden(
    pairwise, generalist, expert, client
):
    case = Case.objects.get(pk=pairwise("p1").json()["id"])
    orders = {candidates_for(case, user)[0]["id"] for user in (generalist, expert)}
    assert [c["position"] for c in candidates_for(case, generalist)] == [1, 2, 3]
    assert candidates_for(case, generalist) == candidates_for(case, generalist)  # stable
    assert orders <= {"model-a", "model-b", "model-c"}
    client.force_login(expert)
    claim = client.post("/queues/expert/next/")
    page = client.get(claim["Location"]).content.decode()
    assert "Response 1" in page and "Response 3" in page
    assert "model-a" not in page.split('id="decision-form"')[0].split("Candidates")[1]


def test_the_reviewer_picks_the_better_one_on_the_page(pairwise, expert, client):
    case_id = pairwise("p2").json()["id"]
    client.force_login(expert)
    client.post("/queues/expert/next/")
    case = Case.objects.get(pk=case_id)
    shown = candidates_for(case, expert)
    second = next(c for c in shown if c["position"] == 2)
    response = client.post(
        f"/cases/{case_id}/decide/",
        {"action": "compare", "preference": "2", "reason_code": "helpful"},
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.status, case.final_output) == ("approved", {"choice": second["id"]})


def test_ranking_and_tie_through_the_service(pairwise, expert):
    ids = [pairwise(f"r{i}").json()["id"] for i in range(2)]
    queue = queue_get_for_user(expert, "expert")
    entry = queue_claim_next(queue=queue, reviewer=expert)
    review_decide(
        case=entry.case,
        reviewer=expert,
        action="compare",
        reason_code="accurate",
        final_output={"ranking": ["model-b", "model-a", "model-c"]},
    )
    entry = queue_claim_next(queue=queue, reviewer=expert)
    review_decide(
        case=entry.case,
        reviewer=expert,
        action="compare",
        reason_code="other",
        final_output={"tie": True},
    )
    outputs = sorted((Case.objects.get(pk=pk).final_output for pk in ids), key=str)
    assert outputs == [{"ranking": ["model-b", "model-a", "model-c"]}, {"tie": True}]


@pytest.mark.parametrize(
    ("action", "output", "field"),
    [
        ("approve", None, "action"),
        ("compare", None, "final_output"),
        ("compare", {"choice": "model-z"}, "final_output"),
        ("compare", {"ranking": ["model-a"]}, "final_output"),
        ("compare", {"tie": "yes"}, "final_output"),
    ],
)
def test_invalid_comparisons_are_refused(pairwise, expert, action, output, field):
    from cases.errors import InvalidInput

    pairwise("v")
    entry = queue_claim_next(queue=queue_get_for_user(expert, "expert"), reviewer=expert)
    with pytest.raises(InvalidInput) as caught:
        review_decide(
            case=entry.case,
            reviewer=expert,
            action=action,
            reason_code="other",
            final_output=output,
        )
    assert field in caught.value.fields


def test_comparisons_export_as_preference_pairs(pairwise, expert, client_for, admin_user):
    pairwise("x")
    entry = queue_claim_next(queue=queue_get_for_user(expert, "expert"), reviewer=expert)
    review_decide(
        case=entry.case,
        reviewer=expert,
        action="compare",
        reason_code="helpful",
        final_output={"ranking": ["model-b", "model-a", "model-c"]},
    )
    response = client_for(admin_user.api_key).get(
        "/api/v1/feedback/export", {"kind": "preferences"}
    )
    pairs = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert [(p["chosen_id"], p["rejected_id"]) for p in pairs] == [
        ("model-b", "model-a"),
        ("model-b", "model-c"),
        ("model-a", "model-c"),
    ]
    assert pairs[0]["prompt"] == '{"prompt": "How do I reset my password?"}'
    assert (pairs[0]["chosen"], pairs[0]["rejected"]) == (
        "A longer, kinder answer.",
        "Short answer.",
    )
    assert {p["source"] for p in pairs} == {"pairwise"}
