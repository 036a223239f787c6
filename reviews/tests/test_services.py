"""The review workflow services: claim, release, lease expiry, decisions, four-eyes,
escalation, audit sampling and reassignment. Cases arrive through the ingestion API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from cases.errors import ImmutableRecord, InvalidInput
from cases.models import AuditEvent, Case
from cases.tests.factories import CaseTypeFactory
from reviews.errors import CaseAlreadyDecided, LeaseExpired, NotClaimed
from reviews.models import Decision
from reviews.services import (
    case_release,
    entry_reassign,
    leases_expire,
    queue_claim_next,
    review_decide,
)
from reviews.tests.factories import (
    AI_OUTPUT,
    OUTPUT_NOT_ALLOWED,
    UNKNOWN_ACTION,
    Intake,
    event_kinds,
    field_errors_match,
    live_entry,
    publish_default_policy,
    queue,
    world,
)
from routing.models import QueueEntry

pytestmark = pytest.mark.django_db

EDITED = {"decision": "refund", "amount": 40, "note": "partial refund"}


def can_decide(user: Any, case: Case) -> bool:
    """Asked on a fresh user object, so no permission cache can answer."""
    return get_user_model().objects.get(pk=user.pk).has_perm("cases.decide_case", case)


def claim(slug: str, reviewer: Any, **kwargs: Any) -> QueueEntry | None:
    return queue_claim_next(queue=queue(slug), reviewer=reviewer, **kwargs)


def claimed(slug: str, reviewer: Any, **kwargs: Any) -> QueueEntry:
    entry = claim(slug, reviewer, **kwargs)
    assert entry is not None
    return entry


def fresh(case: Case) -> Case:
    return Case.objects.get(pk=case.pk)


# --- claiming -------------------------------------------------------------------------------


def test_claim_order_is_fast_tracked_then_earliest_sla_then_priority_then_lowest_confidence(
    intake, expert
):
    # SLA minutes chosen so that a low-priority case is due before a high-priority one.
    publish_default_policy(sla_minutes={"low": 10, "normal": 240, "high": 120, "urgent": 15})
    start = timezone.now().replace(microsecond=0)
    later = (start + timedelta(minutes=90)).isoformat()
    # Posted in the reverse of the expected order, so insertion order cannot explain it.
    posted = {
        "normal-0.60": intake.expert_case(external_id="normal-0.60", confidence=0.6, due_at=later),
        "normal-0.50": intake.expert_case(external_id="normal-0.50", confidence=0.5, due_at=later),
        "high-0.65": intake.expert_case(
            external_id="high-0.65", confidence=0.65, priority="high", due_at=later
        ),
        "low-due-in-10": intake.expert_case(
            external_id="low-due-in-10", confidence=0.6, priority="low"
        ),
        "fast-tracked": intake.expert_case(
            external_id="fast-tracked",
            confidence=0.69,
            due_at=(start + timedelta(minutes=25)).isoformat(),
        ),
    }
    keys = {
        name: QueueEntry.objects.values_list(
            "queue__slug", "fast_tracked", "sla_due_at", "priority_rank", "confidence"
        ).get(case=case)
        for name, case in posted.items()
    }
    assert {k[0] for k in keys.values()} == {"expert"}
    # The fast-tracked case is due after the low-priority one, and goes first anyway.
    assert keys["fast-tracked"][1] is True
    assert keys["low-due-in-10"][2] < keys["fast-tracked"][2]
    # The last three share one deadline (their due_at) and differ in priority / confidence.
    assert keys["high-0.65"][2] == keys["normal-0.50"][2] == keys["normal-0.60"][2]
    assert keys["low-due-in-10"][2] < keys["high-0.65"][2]

    sequence = []
    while (entry := claim("expert", expert)) is not None:
        sequence.append(entry.case.external_id)
        review_decide(case=entry.case, reviewer=expert, action="approve")

    assert sequence == ["fast-tracked", "low-due-in-10", "high-0.65", "normal-0.50", "normal-0.60"]


def test_claim_takes_a_lease_sets_in_review_grants_decide_and_records_the_claim(
    intake, generalist, gail
):
    case = intake.generalist_case()
    now = timezone.now()

    entry = claimed("generalist", generalist, now=now)

    lease = now + timedelta(minutes=15)
    assert queue("generalist").lease_minutes == 15
    stored = QueueEntry.objects.get(pk=entry.pk)
    assert (stored.case_id, stored.state, stored.claimed_by_id) == (
        case.pk,
        "claimed",
        generalist.pk,
    )
    assert (stored.claimed_at, stored.lease_expires_at) == (now, lease)
    assert fresh(case).status == "in_review"
    assert can_decide(generalist, case) is True
    assert can_decide(gail, case) is False
    assert event_kinds(case) == ["case.received", "case.routed", "case.claimed"]
    event = AuditEvent.objects.get(case=case, kind="case.claimed")
    assert (event.actor_id, event.actor_label) == (generalist.pk, "gina")
    assert event.data == {
        "queue": "generalist",
        "entry": entry.pk,
        "lease_expires_at": lease.isoformat(),
    }


def test_lease_length_follows_the_queue(intake, generalist):
    intake.generalist_case()
    general = queue("generalist")
    general.lease_minutes = 7
    general.save()
    now = timezone.now()

    entry = claimed("generalist", generalist, now=now)

    assert QueueEntry.objects.get(pk=entry.pk).lease_expires_at == now + timedelta(minutes=7)


def test_claiming_again_returns_the_case_already_held_in_that_queue(intake, generalist):
    first = intake.generalist_case(confidence=0.75)
    second = intake.generalist_case(confidence=0.85)
    urgent = intake.fast_track_case()

    held = claimed("generalist", generalist)
    before = world()
    again = claimed("generalist", generalist)

    assert held.case_id == first.pk  # due first
    assert again.pk == held.pk
    assert world() == before  # no second claim, no second event
    assert live_entry(second).state == "open"
    # One claim per queue: a claim in another queue is a different case.
    other = claimed("fast-track", generalist)
    assert other.case_id == urgent.pk
    assert QueueEntry.objects.filter(claimed_by=generalist, state="claimed").count() == 2


def test_claim_on_an_empty_queue_returns_none_and_writes_nothing(intake, generalist):
    intake.expert_case()  # in another queue
    before = world()

    assert claim("generalist", generalist) is None
    assert world() == before


def test_release_reopens_the_entry_and_takes_back_the_decide_permission(intake, generalist, gail):
    case = intake.generalist_case()
    entry = claimed("generalist", generalist)

    case_release(case=case, reviewer=generalist)

    stored = QueueEntry.objects.get(pk=entry.pk)
    assert (stored.state, stored.claimed_by_id, stored.claimed_at, stored.lease_expires_at) == (
        "open",
        None,
        None,
        None,
    )
    assert fresh(case).status == "pending_review"
    assert can_decide(generalist, case) is False
    assert event_kinds(case)[-2:] == ["case.claimed", "case.released"]
    event = AuditEvent.objects.get(case=case, kind="case.released")
    assert (event.actor_id, event.reason) == (generalist.pk, "released by gina")
    assert event.data == {"queue": "generalist", "entry": entry.pk, "reviewer": "gina"}
    assert claimed("generalist", gail).pk == entry.pk


def test_release_without_a_claim_raises_not_claimed_and_changes_nothing(intake, generalist, gail):
    case = intake.generalist_case()
    claimed("generalist", generalist)
    before = world()

    with pytest.raises(NotClaimed):
        case_release(case=case, reviewer=gail)
    assert world() == before


# --- leases ---------------------------------------------------------------------------------


def test_an_expired_lease_goes_to_the_next_claimer_and_the_old_holder_is_not_claimed(
    intake, generalist, gail
):
    case = intake.generalist_case()
    an_hour_ago = timezone.now() - timedelta(hours=1)
    old = claimed("generalist", generalist, now=an_hour_ago)
    assert old.lease_expires_at == an_hour_ago + timedelta(minutes=15)

    new = claimed("generalist", gail)

    assert (new.pk, new.claimed_by_id) == (old.pk, gail.pk)
    assert fresh(case).status == "in_review"
    assert can_decide(generalist, case) is False
    assert can_decide(gail, case) is True
    assert event_kinds(case)[-3:] == ["case.claimed", "case.released", "case.claimed"]
    released = AuditEvent.objects.get(case=case, kind="case.released")
    assert (released.actor_id, released.actor_label) == (None, "system")
    assert released.reason == "the lease of gina expired"
    before = world()
    with pytest.raises(NotClaimed):
        review_decide(case=case, reviewer=generalist, action="approve")
    assert world() == before


def test_leases_expire_returns_expired_claims_to_their_queue(intake, generalist, gail):
    stale_case = intake.generalist_case()
    live_case = intake.fast_track_case()
    stale = claimed("generalist", generalist, now=timezone.now() - timedelta(hours=1))
    live = claimed("fast-track", gail)

    assert leases_expire() == 1

    assert QueueEntry.objects.get(pk=stale.pk).state == "open"
    assert QueueEntry.objects.get(pk=live.pk).state == "claimed"
    assert fresh(stale_case).status == "pending_review"
    assert fresh(live_case).status == "in_review"
    assert can_decide(generalist, stale_case) is False
    assert leases_expire() == 0
    before = world()
    with pytest.raises(NotClaimed):
        review_decide(case=stale_case, reviewer=generalist, action="approve")
    assert world() == before


def test_deciding_once_the_lease_ran_out_but_before_the_sweep_raises_lease_expired(
    intake, generalist
):
    case = intake.generalist_case()
    now = timezone.now()
    entry = claimed("generalist", generalist, now=now)
    before = world()

    for late in (timedelta(minutes=15), timedelta(minutes=15, seconds=1)):
        with pytest.raises(LeaseExpired):
            review_decide(case=case, reviewer=generalist, action="approve", now=now + late)
    assert world() == before
    assert QueueEntry.objects.get(pk=entry.pk).state == "claimed"

    # A moment before the lease ends the decision is accepted.
    review_decide(
        case=case,
        reviewer=generalist,
        action="approve",
        now=now + timedelta(minutes=14, seconds=59),
    )
    assert fresh(case).status == "approved"


# --- decisions ------------------------------------------------------------------------------


def test_approve_finalizes_with_the_ai_output_and_a_decision_snapshot(intake, generalist):
    case = intake.generalist_case()
    claimed_at = timezone.now()
    entry = claimed("generalist", generalist, now=claimed_at)
    decided_at = claimed_at + timedelta(seconds=90)

    decision = review_decide(
        case=case, reviewer=generalist, action="approve", comment="looks right", now=decided_at
    )

    case = fresh(case)
    assert case.status == "approved"
    assert case.final_output == AI_OUTPUT == case.ai_output
    assert case.decided_at == decided_at
    assert case.decision == {
        "id": decision.pk,
        "action": "approve",
        "reason_code": "",
        "comment": "looks right",
        "reviewer": "gina",
        "stage": "first_review",
        "decided_at": decided_at.isoformat(),
    }
    stored = Decision.objects.get()
    assert (stored.case_id, stored.entry_id, stored.queue.slug, stored.reviewer_id) == (
        case.pk,
        entry.pk,
        "generalist",
        generalist.pk,
    )
    assert (stored.role, stored.stage, stored.action, stored.reason_code) == (
        "generalist",
        "first_review",
        "approve",
        "",
    )
    assert (stored.final_output, stored.diff, stored.agrees_with_auto) == (None, [], None)
    assert stored.seconds_to_decide == 90.0
    done = QueueEntry.objects.get(pk=entry.pk)
    assert (done.state, done.closed_at) == ("done", decided_at)
    assert not QueueEntry.objects.filter(case=case, state__in=["open", "claimed"]).exists()
    assert can_decide(generalist, case) is False
    assert event_kinds(case)[-2:] == ["case.claimed", "case.decided"]
    event = AuditEvent.objects.get(case=case, kind="case.decided")
    assert (event.actor_id, event.reason) == (generalist.pk, "looks right")
    assert event.data == {
        "decision": decision.pk,
        "action": "approve",
        "final": True,
        "reason_code": "",
        "stage": "first_review",
        "policy_version": 1,
    }


def test_reject_finalizes_without_an_output(intake, generalist):
    case = intake.generalist_case()
    claimed("generalist", generalist)

    decision = review_decide(
        case=case, reviewer=generalist, action="reject", reason_code="policy_violation"
    )

    case = fresh(case)
    assert (case.status, case.final_output) == ("rejected", None)
    assert case.decision["action"] == "reject"
    assert case.decision["reason_code"] == "policy_violation"
    assert case.decision["id"] == decision.pk
    assert (decision.action, decision.reason_code, decision.final_output) == (
        "reject",
        "policy_violation",
        None,
    )


def test_edit_finalizes_with_the_edited_output_and_records_the_diff(intake, generalist):
    case = intake.generalist_case()
    claimed("generalist", generalist)

    decision = review_decide(
        case=case,
        reviewer=generalist,
        action="edit",
        reason_code="wrong_amount",
        final_output=EDITED,
    )

    case = fresh(case)
    assert (case.status, case.final_output) == ("edited", EDITED)
    assert case.ai_output == AI_OUTPUT  # the model's output is kept as it was
    assert case.decision["action"] == "edit"
    stored = Decision.objects.get(pk=decision.pk)
    assert stored.final_output == EDITED
    assert stored.diff == [
        {"path": "/amount", "op": "replace", "from": 42.5, "to": 40},
        {"path": "/note", "op": "add", "to": "partial refund"},
    ]


def test_escalation_climbs_generalist_to_expert_to_supervisor_and_stops_there(
    intake, generalist, expert, supervisor
):
    case = intake.generalist_case()
    first = claimed("generalist", generalist)

    decision = review_decide(
        case=case, reviewer=generalist, action="escalate", reason_code="other", comment="unsure"
    )

    assert (decision.action, decision.stage) == ("escalate", "first_review")
    assert QueueEntry.objects.get(pk=first.pk).state == "done"
    up = live_entry(case)
    assert (up.queue.slug, up.state, up.escalated) == ("expert", "open", True)
    assert (up.sla_due_at, up.fast_tracked) == (first.sla_due_at, first.fast_tracked)
    case = fresh(case)
    assert (case.status, case.final_output, case.decision) == ("escalated", None, None)
    assert event_kinds(case)[-2:] == ["case.claimed", "case.escalated"]
    event = AuditEvent.objects.get(case=case, kind="case.escalated")
    assert (event.actor_id, event.reason) == (generalist.pk, "unsure")
    assert event.data == {
        "from": "generalist",
        "to": "expert",
        "decision": decision.pk,
        "reason_code": "other",
    }

    # Released by an expert, it waits as escalated again.
    assert claimed("expert", expert).pk == up.pk
    case_release(case=case, reviewer=expert)
    assert fresh(case).status == "escalated"

    claimed("expert", expert)
    review_decide(case=case, reviewer=expert, action="escalate", reason_code="other")
    top = live_entry(case)
    assert (top.queue.slug, top.state, top.escalated) == ("supervisor", "open", True)
    assert fresh(case).status == "escalated"

    claimed("supervisor", supervisor)
    before = world()
    with pytest.raises(InvalidInput) as raised:
        review_decide(case=case, reviewer=supervisor, action="escalate", reason_code="other")
    assert raised.value.message == "Queue 'supervisor' has nowhere to escalate to."
    assert raised.value.fields == {"action": ["This queue has no escalation queue."]}
    assert world() == before

    final = review_decide(case=case, reviewer=supervisor, action="approve")
    assert (final.stage, final.role) == ("supervisor", "supervisor")
    assert fresh(case).status == "approved"


@pytest.mark.parametrize(
    ("action", "reason_code", "final_output", "field", "message"),
    [
        ("reject", "", None, "reason_code", "A reason code is required to reject."),
        ("edit", "", EDITED, "reason_code", "A reason code is required to edit."),
        ("escalate", "", None, "reason_code", "A reason code is required to escalate."),
        (
            "reject",
            "fraud",
            None,
            "reason_code",
            "'fraud' is not a reason code of 'refund': use one of wrong_amount, "
            "policy_violation, other.",
        ),
        (
            "approve",
            "fraud",
            None,
            "reason_code",
            "'fraud' is not a reason code of 'refund': use one of wrong_amount, "
            "policy_violation, other.",
        ),
        ("edit", "wrong_amount", None, "final_output", "The edited output is required to edit."),
        (
            "edit",
            "wrong_amount",
            dict(AI_OUTPUT),
            "final_output",
            "Nothing was changed: approve instead of editing.",
        ),
        ("approve", "", EDITED, "final_output", OUTPUT_NOT_ALLOWED),
        ("reject", "other", EDITED, "final_output", OUTPUT_NOT_ALLOWED),
        ("destroy", "", None, "action", UNKNOWN_ACTION),
    ],
)
def test_an_invalid_decision_names_the_field_and_writes_nothing(
    intake, generalist, action, reason_code, final_output, field, message
):
    case = intake.generalist_case()
    entry = claimed("generalist", generalist)
    before = world()

    with pytest.raises(InvalidInput) as raised:
        review_decide(
            case=case,
            reviewer=generalist,
            action=action,
            reason_code=reason_code,
            final_output=final_output,
        )

    assert field_errors_match(raised.value.fields, {field: [message]}), raised.value.fields
    assert world() == before
    assert QueueEntry.objects.get(pk=entry.pk).state == "claimed"
    assert can_decide(generalist, case) is True


def test_an_edit_must_match_the_output_schema(generalist):
    CaseTypeFactory(
        slug="refund",
        output_schema={
            "type": "object",
            "properties": {"amount": {"type": "number"}},
            "required": ["amount"],
        },
    )
    case = Intake("schema-bot").generalist_case()
    claimed("generalist", generalist)
    before = world()

    with pytest.raises(InvalidInput) as raised:
        review_decide(
            case=case,
            reviewer=generalist,
            action="edit",
            reason_code="wrong_amount",
            final_output={"amount": "forty"},
        )

    assert raised.value.fields == {"final_output": ["amount: 'forty' is not of type 'number'"]}
    assert world() == before


def test_an_edit_that_changes_only_a_json_type_is_an_edit(intake, generalist):
    case = intake.generalist_case(ai_output={"decision": "refund", "approved": 1})
    claimed("generalist", generalist)

    decision = review_decide(
        case=case,
        reviewer=generalist,
        action="edit",
        reason_code="other",
        final_output={"decision": "refund", "approved": True},
    )

    assert decision.diff == [{"path": "/approved", "op": "replace", "from": 1, "to": True}]


def test_deciding_an_already_decided_case_raises_case_already_decided(intake, generalist, gail):
    case = intake.generalist_case()
    claimed("generalist", generalist)
    review_decide(case=case, reviewer=generalist, action="approve")
    before = world()

    for person in (generalist, gail):
        with pytest.raises(CaseAlreadyDecided):
            review_decide(case=case, reviewer=person, action="reject", reason_code="other")
        with pytest.raises(CaseAlreadyDecided):
            case_release(case=case, reviewer=person)
    assert world() == before


def test_decisions_cannot_be_changed_or_deleted(intake, generalist):
    case = intake.generalist_case()
    claimed("generalist", generalist)
    decision = review_decide(case=case, reviewer=generalist, action="approve", comment="ok")

    decision.comment = "rewritten"
    with pytest.raises(ImmutableRecord):
        decision.save()
    with pytest.raises(ImmutableRecord):
        decision.delete()

    assert Decision.objects.get(pk=decision.pk).comment == "ok"


# --- four-eyes ------------------------------------------------------------------------------


@pytest.fixture
def four_eyes(intake: Any) -> Any:
    publish_default_policy(required_reviews=2)
    return intake


def test_four_eyes_needs_a_second_agreeing_reviewer(four_eyes, generalist, gail):
    case = four_eyes.generalist_case()
    assert case.routing["required_reviews"] == 2
    first_entry = claimed("generalist", generalist)

    first = review_decide(case=case, reviewer=generalist, action="approve")

    assert first.stage == "first_review"
    case = fresh(case)
    assert (case.status, case.final_output, case.decision) == ("pending_review", None, None)
    waiting = live_entry(case)
    assert waiting.pk != first_entry.pk
    assert (waiting.queue.slug, waiting.state, waiting.escalated) == ("generalist", "open", False)
    event = AuditEvent.objects.filter(case=case, kind="case.decided").get()
    assert event.data == {
        "decision": first.pk,
        "action": "approve",
        "stage": "first_review",
        "final": False,
        "awaiting_reviews": 1,
    }

    # The first reviewer is never offered the case again ...
    before = world()
    assert claim("generalist", generalist) is None
    assert world() == before
    # ... another generalist is.
    assert claimed("generalist", gail).pk == waiting.pk
    second = review_decide(case=case, reviewer=gail, action="approve")

    assert second.stage == "second_review"
    case = fresh(case)
    assert (case.status, case.final_output) == ("approved", AI_OUTPUT)
    assert (case.decision["reviewer"], case.decision["stage"]) == ("gail", "second_review")
    assert Decision.objects.filter(case=case).count() == 2


def test_four_eyes_disagreement_goes_to_the_supervisor_whose_decision_is_final(
    four_eyes, generalist, gail, supervisor
):
    case = four_eyes.generalist_case()
    claimed("generalist", generalist)
    first = review_decide(case=case, reviewer=generalist, action="approve")
    claimed("generalist", gail)

    second = review_decide(case=case, reviewer=gail, action="reject", reason_code="wrong_amount")

    case = fresh(case)
    assert (case.status, case.decision) == ("escalated", None)
    up = live_entry(case)
    assert (up.queue.slug, up.state, up.escalated) == ("supervisor", "open", True)
    event = AuditEvent.objects.get(case=case, kind="case.escalated")
    assert event.reason == "reviewers disagreed (gina: approve vs gail: reject)"
    assert event.data == {
        "from": "generalist",
        "to": "supervisor",
        "decision": second.pk,
        "disagreement": [first.pk, second.pk],
    }

    assert claimed("supervisor", supervisor).pk == up.pk
    final = review_decide(case=case, reviewer=supervisor, action="reject", reason_code="other")

    assert final.stage == "supervisor"
    case = fresh(case)
    assert (case.status, case.final_output) == ("rejected", None)
    assert (case.decision["reviewer"], case.decision["stage"]) == ("sam", "supervisor")
    assert not QueueEntry.objects.filter(case=case, state__in=["open", "claimed"]).exists()


def test_four_eyes_edits_agree_only_on_the_same_output(four_eyes, generalist, gail, supervisor):
    agreed = four_eyes.generalist_case(confidence=0.75)
    differed = four_eyes.generalist_case(confidence=0.85)
    for case in (agreed, differed):
        claimed("generalist", generalist)
        review_decide(
            case=case, reviewer=generalist, action="edit", reason_code="other", final_output=EDITED
        )
    claimed("generalist", gail)
    review_decide(
        case=agreed, reviewer=gail, action="edit", reason_code="other", final_output=dict(EDITED)
    )
    claimed("generalist", gail)
    review_decide(
        case=differed,
        reviewer=gail,
        action="edit",
        reason_code="other",
        final_output={**EDITED, "amount": 30},
    )

    assert (fresh(agreed).status, fresh(agreed).final_output) == ("edited", EDITED)
    assert fresh(differed).status == "escalated"
    assert live_entry(differed).queue.slug == "supervisor"


def test_a_reviewer_is_never_offered_a_case_they_submitted(intake, generalist, gail):
    case = intake.generalist_case(metadata={"submitted_by": "gina", "subject_id": "cust-7"})
    before = world()

    assert claim("generalist", generalist) is None
    assert world() == before
    assert claimed("generalist", gail).case_id == case.pk


# --- audit sampling -------------------------------------------------------------------------


def test_audit_sample_of_auto_approved_cases_records_agreement_and_keeps_the_status(intake, expert):
    publish_default_policy(audit_sample_rate=1.0)
    agreed = intake.auto_approved_case(external_id="agreed")
    disputed = intake.auto_approved_case(external_id="disputed")
    for case in (agreed, disputed):
        assert case.status == "auto_approved"
        entry = live_entry(case, kind="audit")
        assert (entry.queue.slug, entry.state) == ("audit", "open")
        assert not QueueEntry.objects.filter(case=case, kind="review").exists()

    outcomes = {}
    while (entry := claim("audit", expert)) is not None:
        assert fresh(entry.case).status == "auto_approved"  # claiming does not move it
        if entry.case_id == agreed.pk:
            outcomes["agreed"] = review_decide(case=entry.case, reviewer=expert, action="approve")
        else:
            outcomes["disputed"] = review_decide(
                case=entry.case, reviewer=expert, action="reject", reason_code="wrong_amount"
            )

    assert (outcomes["agreed"].stage, outcomes["agreed"].agrees_with_auto) == ("audit", True)
    assert (outcomes["disputed"].stage, outcomes["disputed"].agrees_with_auto) == ("audit", False)
    for case in (agreed, disputed):
        stored = fresh(case)
        assert (stored.status, stored.final_output, stored.decision) == (
            "auto_approved",
            AI_OUTPUT,
            None,
        )
        assert stored.decided_at == case.decided_at
        event = AuditEvent.objects.get(case=case, kind="case.decided")
        assert event.data["final"] is False
    assert AuditEvent.objects.get(case=disputed, kind="case.decided").data == {
        "decision": outcomes["disputed"].pk,
        "action": "reject",
        "stage": "audit",
        "final": False,
        "agrees_with_auto": False,
    }


# --- reassignment ---------------------------------------------------------------------------


def test_a_supervisor_reassigns_a_waiting_case_to_a_generalist(intake, supervisor, gail):
    case = intake.generalist_case()
    entry = live_entry(case)
    now = timezone.now()

    moved = entry_reassign(entry=entry, to_user=gail, actor=supervisor, now=now)

    assert (moved.pk, moved.state, moved.claimed_by_id) == (entry.pk, "claimed", gail.pk)
    assert (moved.claimed_at, moved.lease_expires_at) == (now, now + timedelta(minutes=15))
    assert fresh(case).status == "in_review"
    assert can_decide(gail, case) is True
    event = AuditEvent.objects.get(case=case, kind="case.reassigned")
    assert event.actor_id == supervisor.pk
    assert event.data == {"queue": "generalist", "from": None, "to": "gail"}
    review_decide(case=case, reviewer=gail, action="approve")
    assert fresh(case).status == "approved"


def test_reassigning_a_claimed_case_takes_it_from_its_holder(intake, supervisor, generalist, gail):
    case = intake.generalist_case()
    entry = claimed("generalist", generalist)

    entry_reassign(entry=entry, to_user=gail, actor=supervisor)

    assert QueueEntry.objects.get(pk=entry.pk).claimed_by_id == gail.pk
    assert fresh(case).status == "in_review"
    assert can_decide(generalist, case) is False
    assert can_decide(gail, case) is True
    event = AuditEvent.objects.get(case=case, kind="case.reassigned")
    assert event.data == {"queue": "generalist", "from": "gina", "to": "gail"}
    before = world()
    with pytest.raises(NotClaimed):
        review_decide(case=case, reviewer=generalist, action="approve")
    assert world() == before


def test_reassignment_to_someone_who_may_not_work_the_queue_is_refused(
    intake, supervisor, generalist, compliance_officer
):
    general = live_entry(intake.generalist_case())
    expert_entry = live_entry(intake.expert_case())
    before = world()

    with pytest.raises(InvalidInput) as raised:
        entry_reassign(entry=general, to_user=compliance_officer, actor=supervisor)
    assert raised.value.message == "cora may not work General review."
    assert raised.value.fields == {"reviewer": ["Not allowed to work this queue."]}
    with pytest.raises(InvalidInput) as raised:
        entry_reassign(entry=expert_entry, to_user=generalist, actor=supervisor)
    assert raised.value.fields == {"reviewer": ["Not allowed to work this queue."]}
    assert world() == before


def test_reassignment_to_a_reviewer_who_decided_or_submitted_the_case_is_refused(
    four_eyes, supervisor, generalist, gail
):
    decided = four_eyes.generalist_case()
    claimed("generalist", generalist)
    review_decide(case=decided, reviewer=generalist, action="approve")
    submitted = four_eyes.generalist_case(metadata={"submitted_by": "gail"})
    before = world()

    for entry, person in ((live_entry(decided), generalist), (live_entry(submitted), gail)):
        with pytest.raises(InvalidInput) as raised:
            entry_reassign(entry=entry, to_user=person, actor=supervisor)
        assert raised.value.fields == {"reviewer": ["Already involved in this case."]}
    assert world() == before


def test_reassignment_to_someone_already_holding_a_case_there_or_of_a_done_entry_is_refused(
    intake, supervisor, generalist, gail
):
    waiting = intake.generalist_case(confidence=0.85)
    held = claimed("generalist", generalist)
    assert held.case_id == waiting.pk
    other = live_entry(intake.generalist_case(confidence=0.75))
    before = world()

    with pytest.raises(InvalidInput) as raised:
        entry_reassign(entry=other, to_user=generalist, actor=supervisor)
    assert raised.value.fields == {"reviewer": ["Already holds a case in this queue."]}
    assert world() == before

    review_decide(case=waiting, reviewer=generalist, action="approve")
    before = world()
    with pytest.raises(InvalidInput) as raised:
        entry_reassign(entry=held, to_user=gail, actor=supervisor)
    assert raised.value.message == "This case is no longer waiting in the queue."
    assert world() == before


def test_reviewer_roles_are_recorded_as_acting_roles(intake, expert, admin_user):
    general = intake.generalist_case()
    expert_case = intake.expert_case()
    claimed("generalist", expert)
    by_expert = review_decide(case=general, reviewer=expert, action="approve")
    claimed("expert", admin_user)
    by_admin = review_decide(case=expert_case, reviewer=admin_user, action="approve")

    assert (by_expert.role, by_admin.role) == ("expert", "admin")


def test_a_personal_queue_grant_lets_someone_outside_the_roles_review(intake, outsider):
    from guardian.shortcuts import assign_perm

    case = intake.generalist_case()
    assign_perm("routing.work_queue", outsider, queue("generalist"))

    entry = claimed("generalist", outsider)
    decision = review_decide(case=case, reviewer=outsider, action="approve")

    assert entry.case_id == case.pk
    assert decision.role == "grant"
