"""compute_hour on a hand-built hour with known answers, and the stored rollups against it.

The hour under test is [2026-11-10 10:00, 11:00) UTC (half-open). Everything is built with
the ORM: cases with fixed created_at/decided_at, decisions and queue entries moved to fixed
times with queryset updates (both are auto_now_add), SLA breach events recorded with the clock
frozen (audit events are append-only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model

from cases.auditing import audit_event_record
from cases.models import Case
from cases.tests.factories import CaseTypeFactory, SourceFactory
from metrics.histograms import merge
from metrics.models import (
    CaseTypeDay,
    CaseTypeHour,
    QueueHour,
    ReviewerDay,
    ReviewerHour,
    RolledDay,
    RolledHour,
)
from metrics.rollups import (
    compute_hour,
    day_floor,
    hour_floor,
    rollup_days_catch_up,
    rollup_store,
    rollups_catch_up,
)
from metrics.tests.factories import decide, make_case
from routing.models import Queue, QueueEntry

pytestmark = pytest.mark.django_db

H = datetime(2026, 11, 10, 10, tzinfo=UTC)  # the hour under test
TINY = timedelta(microseconds=1)


def t(hh: int, mm: int = 0, ss: float = 0.0) -> datetime:
    """A moment on 2026-11-10 (UTC)."""
    return datetime(2026, 11, 10, hh, mm, tzinfo=UTC) + timedelta(seconds=ss)


# --- builders -------------------------------------------------------------------------------


def enqueue(
    case: Case,
    queue: Queue,
    created_at: datetime,
    *,
    state: str = "open",
    closed_at: datetime | None = None,
    claimed_by: Any = None,
) -> QueueEntry:
    entry = QueueEntry.objects.create(
        case=case,
        queue=queue,
        state=state,
        closed_at=closed_at,
        sla_due_at=created_at + timedelta(hours=4),
        confidence=0.5,
        claimed_by=claimed_by,
        claimed_at=created_at if claimed_by else None,
        lease_expires_at=created_at + timedelta(minutes=15) if claimed_by else None,
    )
    QueueEntry.objects.filter(pk=entry.pk).update(created_at=created_at)
    return entry


def event(kind: str, case: Case | None, when: datetime) -> None:
    with patch("django.utils.timezone.now", return_value=when):
        audit_event_record(kind=kind, actor=None, case=case)


def fields_of(row: Any) -> dict[str, Any]:
    """A rollup row's values, without its primary key."""
    return {f.attname: getattr(row, f.attname) for f in row._meta.concrete_fields if f.name != "id"}


def stored(hour: datetime) -> dict[str, dict[Any, dict[str, Any]]]:
    return {
        "case_types": {
            r.case_type_id: fields_of(r) for r in CaseTypeHour.objects.filter(hour=hour)
        },
        "queues": {r.queue_id: fields_of(r) for r in QueueHour.objects.filter(hour=hour)},
        "reviewers": {r.reviewer_id: fields_of(r) for r in ReviewerHour.objects.filter(hour=hour)},
    }


def computed(hour: datetime) -> dict[str, dict[Any, dict[str, Any]]]:
    rollup = compute_hour(hour)
    return {
        "case_types": {k: fields_of(v) for k, v in rollup.case_types.items()},
        "queues": {k: fields_of(v) for k, v in rollup.queues.items()},
        "reviewers": {k: fields_of(v) for k, v in rollup.reviewers.items()},
    }


# --- the hour -------------------------------------------------------------------------------


@pytest.fixture
def hour_data(db: None) -> SimpleNamespace:
    source = SourceFactory(name="metrics-rollups")
    A = CaseTypeFactory(slug="refund")
    B = CaseTypeFactory(slug="kyc")
    User = get_user_model()
    alice, bob, carol = (User.objects.create_user(username=n) for n in ("alice", "bob", "carol"))
    G, E = Queue.objects.get(slug="generalist"), Queue.objects.get(slug="expert")
    S = Queue.objects.get(slug="supervisor")

    # Received: created_at in [10:00, 11:00).
    make_case(source, A, t(10), outcome="auto_approved", status="auto_approved")  # in
    make_case(source, A, t(10, 30), outcome="auto_approved", status="auto_approved")  # in
    make_case(source, A, t(11) - TINY, outcome="queued")  # in (10:59:59.999999)
    make_case(source, A, t(10, 15), outcome="queued")  # in
    make_case(source, A, t(10) - TINY, outcome="queued")  # out: the hour before
    make_case(source, A, t(11), outcome="auto_approved", status="auto_approved")  # out
    make_case(source, A, t(10, 20), status="received")  # in, not routed yet: neither outcome
    make_case(source, B, t(10, 5), outcome="queued")  # in
    # -> A: received 5, auto_approved 2, to_human 2; B: received 1, auto 0, to_human 1.

    # Decided: decided_at in [10:00, 11:00), human outcome (created the day's 08:00).
    d1 = make_case(source, A, t(8), status="approved", decided_at=t(10, 10), sla_due_at=t(10, 30))
    make_case(source, A, t(8), status="rejected", decided_at=t(10, 20), sla_due_at=t(10, 20))
    d3 = make_case(
        source, A, t(8), status="edited", decided_at=t(10, 40), sla_due_at=t(10, 40) - TINY
    )
    d4 = make_case(source, A, t(8), status="approved", decided_at=t(10, 50))  # no SLA
    make_case(source, A, t(8), status="auto_approved", decided_at=t(10, 30))  # machine: out
    make_case(source, A, t(8), status="approved", decided_at=t(11))  # out
    make_case(source, A, t(8), status="approved", decided_at=t(10) - TINY)  # out
    d7 = make_case(source, B, t(8), status="approved", decided_at=t(10), sla_due_at=t(12))
    # -> A: decided 4 (d1, d2, d3, d4), overrides 2 (rejected d2, edited d3),
    #       within_sla 2 (d1 before due; d2 exactly at due; d3 a microsecond late; d4 no SLA);
    #    B: decided 1, overrides 0, within_sla 1.

    # SLA breaches: "sla.breached" events with a case, occurred_at in the hour.
    event("sla.breached", d3, t(10, 15))  # A
    event("sla.breached", d4, t(10, 45))  # A
    event("sla.breached", d1, t(11))  # out
    event("sla.breached", d1, t(10) - TINY)  # out
    event("sla.warned", d1, t(10, 20))  # another kind: out
    event("sla.breached", None, t(10, 30))  # no case: out
    event("sla.breached", d7, t(10, 30))  # B
    # -> A: breaches 2; B: breaches 1.

    # Decisions in the hour. wait = decided - seconds_to_decide - case.created_at.
    w1 = make_case(source, A, t(9, 50))
    decide(w1, alice, action="approve", stage="first_review", seconds=30, at=t(10, 5))
    # wait: 10:04:30 - 09:50:00 = 870 s (bucket 10: [512, 1024))
    w2 = make_case(source, A, t(9))
    decide(w2, alice, action="reject", stage="first_review", seconds=3, at=t(10, 10))
    # wait: 10:09:57 - 09:00:00 = 4197 s (bucket 13: [4096, 8192))
    decide(w2, bob, action="approve", stage="second_review", seconds=10, at=t(10, 20))
    # second review contradicting the first (reject -> approve)
    w3 = make_case(source, A, t(9, 40))
    decide(w3, alice, action="approve", stage="first_review", seconds=0.5, at=t(10, 30))
    # wait: 10:29:59.5 - 09:40:00 = 2999.5 s (bucket 12: [2048, 4096))
    decide(w3, bob, action="approve", stage="second_review", seconds=7, at=t(10, 40))  # agrees
    w4 = make_case(source, A, t(7))
    decide(w4, alice, action="edit", stage="first_review", seconds=60, at=t(9, 30))  # out
    decide(w4, carol, action="edit", stage="supervisor", seconds=100, at=t(10, 50))
    # supervisor agreeing with a first review from the hour before: a validation, no wait
    w5 = make_case(source, A, t(9, 10))
    decide(w5, alice, action="escalate", stage="first_review", seconds=20, at=t(10, 10))
    decide(w5, carol, action="approve", stage="supervisor", seconds=40, at=t(10, 45))
    # escalation: no resolution, no wait, no reviewer decision; the supervisor's verdict has
    # no first verdict to validate
    w6 = make_case(source, A, t(9), outcome="auto_approved", status="auto_approved")
    decide(w6, bob, action="approve", stage="audit", seconds=12, at=t(10, 25), agrees=True)
    w7 = make_case(source, A, t(9), outcome="auto_approved", status="auto_approved")
    decide(w7, bob, action="reject", stage="audit", seconds=20, at=t(10, 35), agrees=False)
    x1 = make_case(source, B, t(9, 55))
    decide(x1, bob, action="approve", stage="first_review", seconds=2, at=t(10, 6))
    # wait: 10:05:58 - 09:55:00 = 658 s (bucket 10)
    x2 = make_case(source, B, t(9, 59))
    decide(x2, carol, action="compare", stage="first_review", seconds=9, at=t(10, 1))
    # wait: 10:00:51 - 09:59:00 = 111 s (bucket 7: [64, 128))
    x3 = make_case(source, B, t(9))
    decide(x3, bob, action="approve", stage="first_review", seconds=5, at=t(11))  # out
    x4 = make_case(source, B, t(9))
    decide(x4, carol, action="approve", stage="first_review", seconds=5, at=t(10) - TINY)  # out

    # Queue entries (each on its own case, created at 07:00).
    def entry_case() -> Case:
        return make_case(source, A, t(7))

    enqueue(entry_case(), G, t(10, 10))  # arrival, still open at 11:00
    enqueue(entry_case(), G, t(9), state="done", closed_at=t(10, 30))  # completion
    enqueue(entry_case(), G, t(9, 30), state="done", closed_at=t(11))  # open at 11:00 sharp
    enqueue(entry_case(), G, t(11))  # the next hour: nothing
    enqueue(entry_case(), G, t(10, 20), state="moved", closed_at=t(10, 40))  # arrival only
    enqueue(entry_case(), E, t(10, 40), state="claimed", claimed_by=alice)  # arrival, depth
    enqueue(entry_case(), E, t(8), state="done", closed_at=t(11) - TINY)  # completion
    enqueue(entry_case(), E, t(10) - TINY)  # depth only
    enqueue(entry_case(), E, t(10), state="done", closed_at=t(10))  # arrival and completion
    enqueue(entry_case(), S, t(8), state="done", closed_at=t(9))  # all before: no row
    # -> generalist: arrivals 2, completions 1, depth_end 2;
    #    expert: arrivals 2, completions 2, depth_end 2.

    return SimpleNamespace(
        A=A, B=B, alice=alice, bob=bob, carol=carol, G=G, E=E, S=S, source=source
    )


# --- compute_hour ---------------------------------------------------------------------------


def test_received_auto_approved_and_to_human_by_routing_outcome(hour_data):
    rollup = compute_hour(H)
    a, b = rollup.case_types[hour_data.A.pk], rollup.case_types[hour_data.B.pk]
    assert (a.received, a.auto_approved, a.to_human) == (5, 2, 2)
    assert (b.received, b.auto_approved, b.to_human) == (1, 0, 1)
    assert set(rollup.case_types) == {hour_data.A.pk, hour_data.B.pk}


def test_compute_hour_accepts_any_moment_within_the_hour(hour_data):
    a = compute_hour(t(10, 37, 12.5)).case_types[hour_data.A.pk]
    assert compute_hour(t(10, 37)).hour == H
    assert (a.hour, a.received, a.decided) == (H, 5, 4)


def test_decided_overrides_and_within_sla(hour_data):
    rollup = compute_hour(H)
    a, b = rollup.case_types[hour_data.A.pk], rollup.case_types[hour_data.B.pk]
    assert (a.decided, a.overrides, a.within_sla) == (4, 2, 2)
    assert (b.decided, b.overrides, b.within_sla) == (1, 0, 1)


def test_breaches_from_sla_breached_events(hour_data):
    rollup = compute_hour(H)
    assert rollup.case_types[hour_data.A.pk].breaches == 2
    assert rollup.case_types[hour_data.B.pk].breaches == 1


def test_audit_judged_and_disagreed(hour_data):
    rollup = compute_hour(H)
    a, b = rollup.case_types[hour_data.A.pk], rollup.case_types[hour_data.B.pk]
    assert (a.audit_judged, a.audit_disagreed) == (2, 1)  # w6 agrees, w7 disagrees
    assert (b.audit_judged, b.audit_disagreed) == (0, 0)


def test_validations_and_contradictions(hour_data):
    rollup = compute_hour(H)
    a, b = rollup.case_types[hour_data.A.pk], rollup.case_types[hour_data.B.pk]
    # w2 second review contradicts, w3 second review agrees, w4 supervisor agrees (edit/edit);
    # w5's supervisor verdict follows an escalation, not a first verdict: not a validation.
    assert (a.validations, a.contradicted) == (3, 1)
    assert (b.validations, b.contradicted) == (0, 0)


def test_resolution_buckets_from_non_escalate_review_decisions(hour_data):
    rollup = compute_hour(H)
    # A: 30 (b5), 3 (b2), 10 (b4), 0.5 (b0), 7 (b3), 100 (b7), 40 (b6); not the escalation
    # (20 s), not the audits (12, 20 s), not the 09:30 first review (60 s).
    assert rollup.case_types[hour_data.A.pk].resolution_buckets == [1, 0, 1, 1, 1, 1, 1, 1]
    # B: 2 (b2), 9 (b4, a pairwise comparison); not the 11:00 or 09:59:59.999999 ones.
    assert rollup.case_types[hour_data.B.pk].resolution_buckets == [0, 0, 1, 0, 1]


def test_wait_buckets_from_first_reviews(hour_data):
    rollup = compute_hour(H)
    # A: 870 s (b10), 4197 s (b13), 2999.5 s (b12); no waits for second reviews,
    # supervisors, escalations or audits.
    assert rollup.case_types[hour_data.A.pk].wait_buckets == [0] * 10 + [1, 0, 1, 1]
    # B: 658 s (b10), 111 s (b7)
    assert rollup.case_types[hour_data.B.pk].wait_buckets == [0] * 7 + [1, 0, 0, 1]


def test_queue_arrivals_completions_and_depth(hour_data):
    queues = compute_hour(H).queues
    assert set(queues) == {hour_data.G.pk, hour_data.E.pk}  # nothing for the supervisor queue
    g, e = queues[hour_data.G.pk], queues[hour_data.E.pk]
    assert (g.arrivals, g.completions, g.depth_end) == (2, 1, 2)
    assert (e.arrivals, e.completions, e.depth_end) == (2, 2, 2)
    assert g.hour == e.hour == H


def test_reviewer_rows(hour_data):
    people = compute_hour(H).reviewers
    assert set(people) == {hour_data.alice.pk, hour_data.bob.pk, hour_data.carol.pk}
    alice, bob, carol = (people[p.pk] for p in (hour_data.alice, hour_data.bob, hour_data.carol))
    # alice: approve 30, reject 3, approve 0.5 (the escalation is not a decision here)
    assert (alice.decisions, alice.approvals, alice.overrides, alice.seconds) == (3, 2, 1, 33.5)
    assert (alice.second_reviews, alice.agreed) == (0, 0)
    assert alice.seconds_buckets == [1, 0, 1, 0, 0, 1]  # 0.5 (b0), 3 (b2), 30 (b5)
    # bob: second reviews approve 10 (contradicts) and 7 (agrees), audits approve 12 and
    # reject 20, first review approve 2
    assert (bob.decisions, bob.approvals, bob.overrides, bob.seconds) == (5, 4, 1, 51.0)
    assert (bob.second_reviews, bob.agreed) == (2, 1)
    assert bob.seconds_buckets == [0, 0, 1, 1, 2, 1]  # 2 (b2), 7 (b3), 10, 12 (b4), 20 (b5)
    # carol: supervisor edit 100, supervisor approve 40, compare 9 (not her 09:59 decision)
    assert (carol.decisions, carol.approvals, carol.overrides, carol.seconds) == (3, 1, 1, 149.0)
    assert (carol.second_reviews, carol.agreed) == (0, 0)
    assert carol.seconds_buckets == [0, 0, 0, 0, 1, 0, 1, 1]  # 9 (b4), 40 (b6), 100 (b7)


def test_an_empty_hour_has_no_rows(db):
    rollup = compute_hour(H)
    assert (rollup.hour, rollup.case_types, rollup.queues, rollup.reviewers) == (H, {}, {}, {})


def test_validation_against_a_first_review_from_an_earlier_hour(hour_data):
    # The first review of w4 is at 09:30; the supervisor's agreeing edit at 10:50 counts.
    rollup = compute_hour(t(9))
    a = rollup.case_types[hour_data.A.pk]
    assert (a.validations, a.contradicted) == (0, 0)
    assert rollup.reviewers[hour_data.alice.pk].decisions == 1  # the 09:30 edit


# --- stored rollups -------------------------------------------------------------------------


def test_rollup_store_stores_what_compute_hour_computes(hour_data):
    expected = computed(H)
    rollup_store(H)
    assert stored(H) == expected
    assert len(expected["case_types"]) == 2
    assert len(expected["queues"]) == 2
    assert len(expected["reviewers"]) == 3
    assert list(RolledHour.objects.values_list("hour", flat=True)) == [H]


def test_rollup_store_is_idempotent(hour_data):
    rollup_store(H)
    first = stored(H)
    rollup_store(t(10, 30))  # any moment of the hour is the same hour
    assert stored(H) == first
    assert CaseTypeHour.objects.count() == 2
    assert QueueHour.objects.count() == 2
    assert ReviewerHour.objects.count() == 3
    assert RolledHour.objects.count() == 1


def test_rollups_catch_up_stores_every_finished_hour_since_the_first_case(hour_data):
    # The first case was created at 07:00 (the entries' cases and w4); now is 11:30.
    assert rollups_catch_up(now=t(11, 30)) == 4
    hours = [t(7), t(8), t(9), t(10)]
    assert list(RolledHour.objects.order_by("hour").values_list("hour", flat=True)) == hours
    for hour in hours:
        assert stored(hour) == computed(hour), hour
    # The current hour is computed on read, never stored.
    assert not CaseTypeHour.objects.filter(hour__gte=t(11)).exists()
    assert not QueueHour.objects.filter(hour__gte=t(11)).exists()
    assert not ReviewerHour.objects.filter(hour__gte=t(11)).exists()
    assert stored(H)["case_types"][hour_data.A.pk]["received"] == 5


def test_rollups_catch_up_with_nothing_to_do(db):
    assert rollups_catch_up(now=t(11, 30)) == 0
    assert not RolledHour.objects.exists()


def test_rollups_catch_up_backfills_oldest_first_a_bounded_number_of_hours_per_run(hour_data):
    first = datetime(2026, 11, 1, tzinfo=UTC)
    make_case(hour_data.source, hour_data.A, first)
    assert rollups_catch_up(now=t(11, 30), max_hours=3) == 3
    rolled = list(RolledHour.objects.order_by("hour").values_list("hour", flat=True))
    assert rolled == [first, first + timedelta(hours=1), first + timedelta(hours=2)]
    # the next run goes on from the last rolled hour (rolled again: late writes count)
    assert rollups_catch_up(now=t(11, 30), max_hours=3) == 3
    assert RolledHour.objects.order_by("-hour").first().hour == first + timedelta(hours=4)


def test_a_late_decision_is_counted_by_the_next_catch_up(hour_data):
    assert rollups_catch_up(now=t(11, 30)) == 4
    dave = get_user_model().objects.create_user(username="dave")
    late = make_case(hour_data.source, hour_data.A, t(10, 50))
    # Written after the 10:00 hour was rolled, but stamped inside it.
    decide(late, dave, action="approve", stage="first_review", seconds=4, at=t(10, 55))
    assert dave.pk not in stored(H)["reviewers"]
    assert stored(H)["case_types"][hour_data.A.pk]["received"] == 5

    # The next run (still in the 11:00 hour) rolls the last rolled hour again.
    assert rollups_catch_up(now=t(11, 40)) == 1
    after = stored(H)
    assert after == computed(H)
    assert after["reviewers"][dave.pk]["decisions"] == 1
    assert after["reviewers"][dave.pk]["seconds_buckets"] == [0, 0, 0, 1]  # 4 s: [4, 8)
    a = after["case_types"][hour_data.A.pk]
    assert a["received"] == 6
    # A's resolution gains 4 s (b3): [1, 0, 1, 1, 1, 1, 1, 1] -> [1, 0, 1, 2, 1, 1, 1, 1]
    assert a["resolution_buckets"] == [1, 0, 1, 2, 1, 1, 1, 1]
    # its wait: 10:54:56 - 10:50:00 = 296 s (b9)
    assert a["wait_buckets"] == [0] * 9 + [1, 1, 0, 1, 1]

    # An hour later the run rolls 10:00 again and 11:00, and stops before 12:00.
    assert rollups_catch_up(now=t(12, 5)) == 2
    assert RolledHour.objects.filter(hour=t(11)).exists()
    assert not RolledHour.objects.filter(hour=t(12)).exists()


def test_hour_floor():
    assert hour_floor(t(10, 59, 59.999999)) == H
    assert hour_floor(H) == H


# --- day rollups ----------------------------------------------------------------------------


def day_rows(day: datetime) -> dict[str, dict[Any, dict[str, Any]]]:
    def without_day(row: Any) -> dict[str, Any]:
        values = fields_of(row)
        del values["day"]
        return values

    return {
        "case_types": {r.case_type_id: without_day(r) for r in CaseTypeDay.objects.filter(day=day)},
        "reviewers": {r.reviewer_id: without_day(r) for r in ReviewerDay.objects.filter(day=day)},
    }


def summed_hours(day: datetime) -> dict[str, dict[Any, dict[str, Any]]]:
    """The day's stored hour rows added up field by field (histograms bucket by bucket)."""
    sums: dict[str, dict[Any, dict[str, Any]]] = {"case_types": {}, "reviewers": {}}
    for n in range(24):
        for part, key in (("case_types", "case_type_id"), ("reviewers", "reviewer_id")):
            for row in stored(day + timedelta(hours=n))[part].values():
                row = {k: v for k, v in row.items() if k != "hour"}
                total = sums[part].setdefault(row[key], {k: 0 for k in row} | {key: row[key]})
                for name, value in row.items():
                    if name == key:
                        continue
                    if isinstance(value, list):
                        total[name] = merge([total[name] or [], value])
                    else:
                        total[name] += value
    return sums


def test_a_day_is_rolled_when_its_last_hour_is(hour_data):
    # Cases from 07:00 on the 10th: the catch-up at 23:30 stores 07:00..22:00, not the day.
    assert rollups_catch_up(now=t(23, 30)) == 16
    assert not RolledDay.objects.exists()
    assert not CaseTypeDay.objects.exists()
    # Hours before the first case are never stored by the catch-up; stored, they complete it.
    for hh in range(7):
        rollup_store(t(hh))
    assert not RolledDay.objects.exists()
    rollup_store(t(23))
    assert list(RolledDay.objects.values_list("day", flat=True)) == [t(0)]


def test_a_day_row_is_the_sum_of_its_hours(hour_data):
    for hh in range(24):
        rollup_store(t(hh))
    expected = summed_hours(t(0))
    assert day_rows(t(0)) == expected
    a = expected["case_types"][hour_data.A.pk]
    # Every A case of the fixture arrived on the 10th (31); human outcomes: the 10:00 hour's
    # four, and the ones at 09:59:59.999999 and 11:00. A's review decisions add the 09:30
    # first review (60 s, bucket 6) to the 10:00 hour's resolution histogram.
    assert (a["received"], a["decided"], a["validations"]) == (31, 6, 3)
    assert a["resolution_buckets"] == [1, 0, 1, 1, 1, 1, 2, 1]
    alice = expected["reviewers"][hour_data.alice.pk]
    assert (alice["decisions"], alice["seconds"]) == (4, 93.5)  # 3 at 10:00, the 09:30 edit
    assert alice["seconds_buckets"] == [1, 0, 1, 0, 0, 1, 1]


def test_rolling_an_hour_again_rolls_its_day_again(hour_data):
    for hh in range(24):
        rollup_store(t(hh))
    dave = get_user_model().objects.create_user(username="dave")
    late = make_case(hour_data.source, hour_data.A, t(10, 50))
    decide(late, dave, action="approve", stage="first_review", seconds=4, at=t(10, 55))
    assert dave.pk not in day_rows(t(0))["reviewers"]

    rollup_store(H)
    after = day_rows(t(0))
    assert after == summed_hours(t(0))
    assert after["reviewers"][dave.pk]["decisions"] == 1
    assert after["case_types"][hour_data.A.pk]["received"] == 31 + 1
    assert RolledDay.objects.count() == 1


def test_days_stored_before_day_rollups_are_rolled_by_the_catch_up(hour_data):
    for hh in range(-24, 24):  # the 9th (no cases: empty rows) and the 10th
        rollup_store(H + timedelta(hours=hh - 10))
    expected = day_rows(t(0))

    def forget_days() -> None:  # as on an install that stored hours before day rollups
        RolledDay.objects.all().delete()
        CaseTypeDay.objects.all().delete()
        ReviewerDay.objects.all().delete()

    forget_days()
    assert rollup_days_catch_up() == 2
    assert list(RolledDay.objects.order_by("day").values_list("day", flat=True)) == [
        t(0) - timedelta(days=1),
        t(0),
    ]
    assert day_rows(t(0)) == expected
    assert rollup_days_catch_up() == 0  # nothing left to do

    forget_days()
    # The scheduled catch-up rolls 23:00 again (and so the 10th) and backfills the 9th.
    assert rollups_catch_up(now=datetime(2026, 11, 11, 0, 30, tzinfo=UTC)) == 1
    assert RolledDay.objects.count() == 2
    assert day_rows(t(0)) == expected


def test_day_floor_is_midnight_utc():
    assert day_floor(t(23, 59, 59.999999)) == t(0)
    assert day_floor(t(0)) == t(0)
    paris = ZoneInfo("Europe/Paris")
    assert day_floor(datetime(2026, 11, 11, 0, 30, tzinfo=paris)) == t(0)  # 23:30 UTC
    assert day_floor(t(0)).tzinfo == UTC
