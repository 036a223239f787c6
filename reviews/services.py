"""Every write in the review workflow: claim, release, decide, reassign, expire leases."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError
from django.utils import timezone
from guardian.models import UserObjectPermission

from cases import raw_rows
from cases.auditing import audit_event_record, audited_transaction
from cases.errors import InvalidInput
from cases.models import PRIORITY_RANK, Case, CaseStatus, CaseTypeKind, Priority
from cases.pairwise import candidate_ids, preference_errors
from cases.services import case_transition
from cases.validators import schema_errors
from cases.webhooks import webhooks_enqueue
from reviews.diffing import same_json
from reviews.errors import CaseAlreadyDecided, LeaseExpired, NotClaimed
from reviews.models import VERDICTS, Action, Decision, Stage
from reviews.roles import acting_role
from reviews.selectors import (
    DECIDE_CASE,
    case_decisions,
    current_claim,
    held_entry,
    next_claimable,
    object_permission,
)
from routing.models import EntryKind, EntryState, Queue, QueueEntry, QueueKind


def _claim_grant(user: User, case: Case) -> None:
    """Grant the per-claim permission to decide a case (guardian's object permission), in
    one statement where guardian's assign_perm takes five. django-auditlog does not see it
    (no model save): the claim's own events (case.claimed, case.released, case.decided)
    record it."""
    case_type, codename = object_permission(Case, DECIDE_CASE)
    raw_rows.execute(
        f"INSERT INTO {UserObjectPermission._meta.db_table} "  # noqa: S608
        "(permission_id, content_type_id, object_pk, user_id) "
        "SELECT p.id, p.content_type_id, %s, %s FROM auth_permission p "
        "WHERE p.content_type_id = %s AND p.codename = %s "
        "ON CONFLICT DO NOTHING",
        [str(case.pk), user.pk, case_type, codename],
    )


def _claim_revoke(user: User, case: Case) -> None:
    """Take the per-claim grant back: one DELETE, where guardian's remove_perm reads the rows
    and then deletes them. (Not seen by django-auditlog, like the grant.)"""
    case_type, codename = object_permission(Case, DECIDE_CASE)
    raw_rows.execute(
        f"DELETE FROM {UserObjectPermission._meta.db_table} "  # noqa: S608
        "WHERE user_id = %s AND content_type_id = %s AND object_pk = %s AND permission_id IN "
        "(SELECT id FROM auth_permission WHERE content_type_id = %s AND codename = %s)",
        [user.pk, case_type, str(case.pk), case_type, codename],
    )


OUTCOME_STATUS = {
    Action.APPROVE: CaseStatus.APPROVED,
    Action.REJECT: CaseStatus.REJECTED,
    Action.EDIT: CaseStatus.EDITED,
    # A comparison is the human's judgement of the model's candidates: they are approved
    # with the preference as the final output.
    Action.COMPARE: CaseStatus.APPROVED,
}


def _waiting_status(entry: QueueEntry) -> str:
    return CaseStatus.ESCALATED if entry.escalated else CaseStatus.PENDING_REVIEW


def _reopen(entry: QueueEntry, *, actor: User | None, reason: str) -> None:
    """Hand a claimed entry back to its queue (released, expired or reassigned away)."""
    holder = entry.claimed_by
    QueueEntry.objects.filter(pk=entry.pk).update(
        state=EntryState.OPEN, claimed_by=None, claimed_at=None, lease_expires_at=None
    )
    if entry.kind == EntryKind.REVIEW:
        case_transition(case=entry.case, to=_waiting_status(entry))
    if holder is not None:
        _claim_revoke(holder, entry.case)
    audit_event_record(
        kind="case.released",
        actor=actor,
        case=entry.case,
        reason=reason,
        data={
            "queue": entry.queue.slug,
            "entry": entry.pk,
            "reviewer": holder.get_username() if holder else None,
        },
    )


def _expire_leases(*, queue: Queue | None, now: datetime, limit: int) -> int:
    expired = QueueEntry.objects.filter(state=EntryState.CLAIMED, lease_expires_at__lte=now)
    if queue is not None:
        expired = expired.filter(queue=queue)
    entries = list(
        expired.select_for_update(skip_locked=True, of=("self",))
        .select_related("case", "claimed_by", "queue")
        .order_by("lease_expires_at")[:limit]
    )
    for entry in entries:
        holder = entry.claimed_by.get_username() if entry.claimed_by else "?"
        _reopen(entry, actor=None, reason=f"the lease of {holder} expired")
    return len(entries)


@audited_transaction()
def leases_expire(*, now: datetime | None = None, limit: int = 500) -> int:
    """Return every case whose claim lease ran out to its queue. Safe on many workers."""
    return _expire_leases(queue=None, now=now or timezone.now(), limit=limit)


def _claims_to_look_at(queue: Queue, reviewer: User, now: datetime) -> tuple[bool, bool]:
    """Whether the reviewer holds a claim in the queue, and whether any lease there ran out."""
    entries = QueueEntry._meta.db_table
    rows = raw_rows.fetch_all(  # plain SQL: every claim asks
        f"SELECT claimed_by_id = %s, lease_expires_at <= %s FROM {entries} "  # noqa: S608
        "WHERE queue_id = %s AND state = %s AND (claimed_by_id = %s OR lease_expires_at <= %s) "
        "LIMIT 100",
        [reviewer.pk, now, queue.pk, EntryState.CLAIMED, reviewer.pk, now],
    )
    return any(row[0] for row in rows), any(row[1] for row in rows)


ONE_CLAIM_PER_QUEUE = "queueentry_one_claim_per_reviewer_and_queue"


def queue_claim_next(
    *, queue: Queue, reviewer: User, now: datetime | None = None
) -> QueueEntry | None:
    """Claim the best open case of a queue for ``reviewer`` (None when nothing is left for
    them). On PostgreSQL the row is taken with FOR UPDATE SKIP LOCKED: two reviewers never
    get the same case and a claim never waits for another. A reviewer already holding a
    case in this queue gets that case back, also when two of their claims race (a double
    click): the database allows one claim per reviewer and queue, the second claim waits
    for the first to commit, fails on that constraint, and is answered with the first's."""
    try:
        return _claim_next(queue=queue, reviewer=reviewer, now=now)
    except IntegrityError as exc:
        if getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "") != (
            ONE_CLAIM_PER_QUEUE
        ):
            raise
    return _claim_next(queue=queue, reviewer=reviewer, now=now)


@audited_transaction()
def _claim_next(*, queue: Queue, reviewer: User, now: datetime | None) -> QueueEntry | None:
    now = now or timezone.now()
    # Usually neither: one light query says whether to look further.
    mine, expired = _claims_to_look_at(queue, reviewer, now)
    if expired:
        _expire_leases(queue=queue, now=now, limit=50)
    if mine or expired:  # (the row list is capped: with expiries, look again to be sure)
        held = current_claim(queue=queue, reviewer=reviewer)
        if held is not None:
            return held
    for _attempt in range(3):
        entry = next_claimable(queue, reviewer)
        if entry is None:
            return None
        lease = now + timedelta(minutes=queue.lease_minutes)
        entry.state, entry.claimed_by, entry.claimed_at = EntryState.CLAIMED, reviewer, now
        entry.lease_expires_at = lease
        claim = ["state", "claimed_by", "claimed_at", "lease_expires_at"]
        if not raw_rows.update_row(entry, claim, where={"state": EntryState.OPEN}):
            continue  # only without row locks (SQLite): someone was faster
        if entry.kind == EntryKind.REVIEW:
            case_transition(case=entry.case, to=CaseStatus.IN_REVIEW)
        _claim_grant(reviewer, entry.case)
        audit_event_record(
            kind="case.claimed",
            actor=reviewer,
            case=entry.case,
            data={"queue": queue.slug, "entry": entry.pk, "lease_expires_at": lease.isoformat()},
        )
        return entry
    return None


def _held_entry(case: Case, reviewer: User) -> QueueEntry:
    """The reviewer's claim on the case, with the entry and the case row locked (not the
    case type, the source or the queue: that would serialize every decision sharing them)."""
    entry = held_entry(case.pk, reviewer)
    if entry is None:
        fresh = Case.objects.get(pk=case.pk)
        if fresh.is_final and fresh.status != CaseStatus.AUTO_APPROVED:
            raise CaseAlreadyDecided("This case has already been decided.")
        raise NotClaimed("You do not hold a claim on this case: claim it from its queue first.")
    return entry


@audited_transaction()
def case_release(*, case: Case, reviewer: User) -> None:
    entry = _held_entry(case, reviewer)
    _reopen(entry, actor=reviewer, reason=f"released by {reviewer.get_username()}")


def _validate(
    case: Case, action: str, reason_code: str, final_output: Any, *, has_output: bool
) -> None:
    fields: dict[str, list[str]] = {}
    pairwise = case.case_type.kind == CaseTypeKind.PAIRWISE
    if action not in Action.values:
        fields["action"] = [f"Must be one of {', '.join(Action.values)}."]
    elif pairwise and action not in (Action.COMPARE, Action.ESCALATE):
        fields["action"] = ["This is a pairwise case: compare the candidates or escalate."]
    elif not pairwise and action == Action.COMPARE:
        fields["action"] = ["Only pairwise cases are compared."]
    allowed = case.case_type.reason_codes or []
    needs_reason = (Action.REJECT, Action.EDIT, Action.ESCALATE, Action.COMPARE)
    if action in needs_reason and not reason_code:
        fields["reason_code"] = [f"A reason code is required to {action}."]
    elif reason_code and allowed and reason_code not in allowed:
        fields["reason_code"] = [
            f"{reason_code!r} is not a reason code of {case.case_type.slug!r}: "
            f"use one of {', '.join(allowed)}."
        ]
    if action == Action.EDIT:
        if not has_output or final_output is None:
            fields["final_output"] = ["The edited output is required to edit."]
        elif same_json(final_output, case.ai_output):
            fields["final_output"] = ["Nothing was changed: approve instead of editing."]
        elif problems := schema_errors(case.case_type.output_schema, final_output):
            fields["final_output"] = problems
    elif action == Action.COMPARE and pairwise:
        if not has_output or final_output is None:
            fields["final_output"] = ["The preference is required to compare."]
        elif problems := preference_errors(final_output, candidate_ids(case.ai_output)):
            fields["final_output"] = problems
    elif has_output and final_output is not None and action in Action.values:
        fields["final_output"] = ["Only an edit or a comparison carries a final output."]
    if fields:
        raise InvalidInput("The decision is invalid.", fields=fields)


def _earlier_verdicts(case: Case) -> list[Decision]:
    """Approvals, rejections, edits and comparisons of the case's first and second reviews."""
    reviews = (Stage.FIRST_REVIEW, Stage.SECOND_REVIEW)
    return [d for d in case_decisions(case) if d.action in VERDICTS and d.stage in reviews]


def _stage(entry: QueueEntry, earlier: list[Decision]) -> str:
    if entry.kind == EntryKind.AUDIT:
        return Stage.AUDIT
    if entry.queue.kind == QueueKind.SUPERVISOR:
        return Stage.SUPERVISOR
    return Stage.SECOND_REVIEW if earlier else Stage.FIRST_REVIEW


def _enqueue(case: Case, queue: Queue, *, like: QueueEntry, escalated: bool) -> QueueEntry:
    return QueueEntry.objects.create(
        case=case,
        queue=queue,
        kind=like.kind,
        escalated=escalated,
        fast_tracked=like.fast_tracked,
        sla_due_at=like.sla_due_at,
        sla_warn_at=like.sla_warn_at,
        warned_at=like.warned_at,
        breached_at=like.breached_at,
        priority_rank=PRIORITY_RANK[Priority(case.priority)],
        confidence=case.confidence,
        uncertainty=like.uncertainty,
    )


def _supervisor_queue() -> Queue:
    queue = Queue.objects.filter(kind=QueueKind.SUPERVISOR, is_active=True).order_by("id").first()
    if queue is None:
        raise InvalidInput("There is no supervisor queue to send this case to.")
    return queue


def _escalation_target(entry: QueueEntry) -> Queue:
    target = entry.queue.escalates_to
    if target is None or not target.is_active or target.pk == entry.queue_id:
        raise InvalidInput(
            f"Queue {entry.queue.slug!r} has nowhere to escalate to.",
            fields={"action": ["This queue has no escalation queue."]},
        )
    return target


def _finalize(case: Case, decision: Decision, *, now: datetime) -> None:
    final_output = {
        Action.APPROVE: case.ai_output,
        Action.REJECT: None,
        Action.EDIT: decision.final_output,
        Action.COMPARE: decision.final_output,
    }[Action(decision.action)]
    case_transition(
        case=case,
        to=OUTCOME_STATUS[Action(decision.action)],
        final_output=final_output,
        decided_at=now,
        decision={
            "id": decision.pk,
            "action": decision.action,
            "reason_code": decision.reason_code,
            "comment": decision.comment,
            "reviewer": decision.reviewer.get_username(),
            "stage": decision.stage,
            "decided_at": now.isoformat(),
        },
    )
    webhooks_enqueue([case])
    _record_decided(
        case,
        decision,
        final=True,
        reason_code=decision.reason_code,
        policy_version=(case.routing or {}).get("policy_version"),
    )


def _record_decided(case: Case, decision: Decision, *, final: bool, **details: Any) -> None:
    """The ``case.decided`` audit record of a decision, final or on the way (an audit
    judgement, a first of two reviews)."""
    audit_event_record(
        kind="case.decided",
        actor=decision.reviewer,
        case=case,
        reason=decision.comment,
        data={
            "decision": decision.pk,
            "action": decision.action,
            "stage": decision.stage,
            "final": final,
            **details,
        },
    )


def _escalate(
    case: Case, entry: QueueEntry, target: Queue, *, actor: User, reason: str, data: dict[str, Any]
) -> None:
    _enqueue(case, target, like=entry, escalated=True)
    if entry.kind == EntryKind.REVIEW:
        case_transition(case=case, to=CaseStatus.ESCALATED)
    audit_event_record(
        kind="case.escalated",
        actor=actor,
        case=case,
        reason=reason,
        data={"from": entry.queue.slug, "to": target.slug, **data},
    )


@audited_transaction()
def review_decide(
    *,
    case: Case,
    reviewer: User,
    action: str,
    reason_code: str = "",
    comment: str = "",
    final_output: Any = None,
    has_output: bool | None = None,
    now: datetime | None = None,
) -> Decision:
    """Record a reviewer's decision on the case they hold, and move the case on: to its
    outcome, to a second reviewer (four-eyes), or up the escalation chain."""
    now = now or timezone.now()
    entry = _held_entry(case, reviewer)
    assert entry.lease_expires_at is not None and entry.claimed_at is not None
    if entry.lease_expires_at <= now:
        raise LeaseExpired("Your claim on this case expired; claim it again to decide.")
    case = entry.case
    _validate(
        case,
        action,
        reason_code,
        final_output,
        has_output=final_output is not None if has_output is None else has_output,
    )
    from reviews.diffing import json_diff

    earlier = _earlier_verdicts(case)
    stage = _stage(entry, earlier)
    decision = Decision.objects.create(
        case=case,
        entry=entry,
        queue=entry.queue,
        reviewer=reviewer,
        role=acting_role(reviewer, entry.queue),
        action=action,
        reason_code=reason_code,
        comment=comment,
        final_output=final_output if action in (Action.EDIT, Action.COMPARE) else None,
        diff=json_diff(case.ai_output, final_output) if action == Action.EDIT else [],
        seconds_to_decide=max(0.0, (now - entry.claimed_at).total_seconds()),
        stage=stage,
        agrees_with_auto=(action == Action.APPROVE) if stage == Stage.AUDIT else None,
    )
    entry.state, entry.closed_at = EntryState.DONE, now
    raw_rows.update_row(entry, ["state", "closed_at"])
    _claim_revoke(reviewer, case)

    if action == Action.ESCALATE:
        _escalate(
            case,
            entry,
            _escalation_target(entry),
            actor=reviewer,
            reason=comment,
            data={"decision": decision.pk, "reason_code": reason_code},
        )
        return decision
    if stage == Stage.AUDIT:
        _record_decided(case, decision, final=False, agrees_with_auto=decision.agrees_with_auto)
        return decision
    if stage == Stage.SUPERVISOR:
        _finalize(case, decision, now=now)
        return decision

    required = int((case.routing or {}).get("required_reviews") or 1)
    verdicts = [*earlier, decision] if decision.action in VERDICTS else earlier
    if len(verdicts) < required:
        _enqueue(case, entry.queue, like=entry, escalated=entry.escalated)
        case_transition(case=case, to=_waiting_status(entry))
        _record_decided(case, decision, final=False, awaiting_reviews=required - len(verdicts))
        return decision
    deciding = verdicts[-required:]
    if all(
        d.action == decision.action and same_json(d.final_output, decision.final_output)
        for d in deciding
    ):
        _finalize(case, decision, now=now)
        return decision
    summary = " vs ".join(f"{d.reviewer.get_username()}: {d.action}" for d in deciding)
    _escalate(
        case,
        entry,
        _supervisor_queue(),
        actor=reviewer,
        reason=f"reviewers disagreed ({summary})",
        data={"decision": decision.pk, "disagreement": [d.pk for d in deciding]},
    )
    return decision


def notifications_mark_read(*, user: User, now: datetime | None = None) -> int:
    from reviews.models import Notification

    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=now or timezone.now()
    )


@audited_transaction()
def entry_reassign(
    *, entry: QueueEntry, to_user: User, actor: User, now: datetime | None = None
) -> QueueEntry:
    """A supervisor hands a waiting or claimed case to a reviewer who may work the queue."""
    from reviews.selectors import queues_for_user

    now = now or timezone.now()
    entry = (
        QueueEntry.objects.select_for_update(of=("self",))
        .select_related("case", "queue", "claimed_by")
        .get(pk=entry.pk)
    )
    if entry.state not in (EntryState.OPEN, EntryState.CLAIMED):
        raise InvalidInput("This case is no longer waiting in the queue.")
    if not queues_for_user(to_user).filter(pk=entry.queue_id).exists():
        raise InvalidInput(
            f"{to_user.get_username()} may not work {entry.queue.name}.",
            fields={"reviewer": ["Not allowed to work this queue."]},
        )
    if (
        Decision.objects.filter(case=entry.case, reviewer=to_user).exists()
        or (entry.case.metadata or {}).get("submitted_by") == to_user.get_username()
    ):
        raise InvalidInput(
            "Four-eyes: that reviewer already decided or submitted this case.",
            fields={"reviewer": ["Already involved in this case."]},
        )
    if (
        QueueEntry.objects.filter(queue=entry.queue, claimed_by=to_user, state=EntryState.CLAIMED)
        .exclude(pk=entry.pk)
        .exists()
    ):
        raise InvalidInput(
            f"{to_user.get_username()} already holds a case in this queue.",
            fields={"reviewer": ["Already holds a case in this queue."]},
        )
    previous = entry.claimed_by
    if previous is not None:
        _claim_revoke(previous, entry.case)
    lease = now + timedelta(minutes=entry.queue.lease_minutes)
    QueueEntry.objects.filter(pk=entry.pk).update(
        state=EntryState.CLAIMED, claimed_by=to_user, claimed_at=now, lease_expires_at=lease
    )
    if entry.state == EntryState.OPEN and entry.kind == EntryKind.REVIEW:
        case_transition(case=entry.case, to=CaseStatus.IN_REVIEW)
    _claim_grant(to_user, entry.case)
    audit_event_record(
        kind="case.reassigned",
        actor=actor,
        case=entry.case,
        data={
            "queue": entry.queue.slug,
            "from": previous.get_username() if previous else None,
            "to": to_user.get_username(),
        },
    )
    entry.refresh_from_db()
    return entry
