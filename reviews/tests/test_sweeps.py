"""The SLA sweep, driven with a controlled clock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import connection

from cases.models import AuditEvent, Case
from cases.tests.factories import CaseTypeFactory, SourceFactory, case_payload
from reviews.models import Notification
from reviews.selectors import queue_get_for_user
from reviews.services import queue_claim_next
from reviews.sweeps import notifications_email, sla_sweep
from routing.models import EntryState, Queue, QueueEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def post(client_for: Any) -> Any:
    CaseTypeFactory(slug="refund")
    source = client_for(SourceFactory(name="shop").api_key)

    def post(external_id: str, confidence: float = 0.8, **extra: Any) -> Case:
        body = source.post(
            "/api/v1/cases/",
            case_payload(external_id=external_id, confidence=confidence, **extra),
            format="json",
        ).json()
        return Case.objects.get(pk=body["id"])

    return post


def _entry(case: Case) -> QueueEntry:
    return QueueEntry.objects.filter(case=case).order_by("-id")[0]


def test_at_risk_at_80_percent_moves_the_case_to_the_front(post):
    case = post("a")  # normal priority: 240 minutes
    entry = _entry(case)
    assert entry.sla_warn_at == case.created_at + timedelta(minutes=192)

    before = sla_sweep(now=case.created_at + timedelta(minutes=191))
    after = sla_sweep(now=case.created_at + timedelta(minutes=193))

    assert (before.at_risk, after.at_risk) == (0, 1)
    entry.refresh_from_db()
    assert entry.fast_tracked is True
    assert entry.warned_at is not None
    event = AuditEvent.objects.get(kind="sla.at_risk")
    assert event.case == case
    assert "moved to the front" in event.reason


def test_breach_escalates_a_waiting_case_to_the_supervisor_queue_and_alerts(post, supervisor):
    supervisor.email = "sam@example.org"
    supervisor.save(update_fields=["email"])
    case = post("b")
    result = sla_sweep(now=case.sla_due_at + timedelta(seconds=1))

    assert (result.breached, result.escalated) == (1, 1)
    case.refresh_from_db()
    assert case.status == "escalated"
    moved, new = QueueEntry.objects.filter(case=case).order_by("id")
    assert (moved.queue.slug, moved.state) == ("generalist", EntryState.MOVED)
    assert (new.queue.slug, new.state, new.escalated) == ("supervisor", "open", True)
    assert new.breached_at is not None
    event = AuditEvent.objects.get(kind="sla.breached")
    assert event.reason.endswith("moved from generalist to supervisor")
    note = Notification.objects.get(user=supervisor)
    assert "breached its SLA" in note.message
    assert notifications_email(notification_ids=[note.pk]) == 1
    assert mail.outbox[0].to == ["sam@example.org"]


def test_a_breach_of_a_claimed_case_alerts_but_does_not_take_it_away(post, generalist):
    case = post("c")
    queue_claim_next(
        queue=queue_get_for_user(generalist, "generalist"),
        reviewer=generalist,
        now=case.sla_due_at - timedelta(minutes=1),
    )
    result = sla_sweep(now=case.sla_due_at + timedelta(seconds=30))
    assert (result.breached, result.escalated, result.leases_expired) == (1, 0, 0)
    entry = _entry(case)
    assert (entry.state, entry.claimed_by) == (EntryState.CLAIMED, generalist)
    assert "while gina holds the case" in AuditEvent.objects.get(kind="sla.breached").reason


def test_expired_leases_go_back_to_their_queue(post, generalist):
    case = post("d")
    claimed_at = case.created_at + timedelta(minutes=1)
    queue_claim_next(
        queue=queue_get_for_user(generalist, "generalist"), reviewer=generalist, now=claimed_at
    )
    result = sla_sweep(now=claimed_at + timedelta(minutes=16))
    assert result.leases_expired == 1
    entry = _entry(case)
    assert (entry.state, entry.claimed_by) == (EntryState.OPEN, None)
    case.refresh_from_db()
    assert case.status == "pending_review"
    assert not generalist.has_perm("cases.decide_case", case)


def test_running_the_sweep_twice_changes_nothing_the_second_time(post):
    case = post("e")
    now = case.sla_due_at + timedelta(minutes=5)
    first = sla_sweep(now=now)
    events = AuditEvent.objects.count()
    second = sla_sweep(now=now)
    assert first.breached == 1
    assert (second.leases_expired, second.at_risk, second.breached, second.escalated) == (
        0,
        0,
        0,
        0,
    )
    assert AuditEvent.objects.count() == events


def test_business_hours_stop_the_sla_clock_outside_working_time():
    from cases.models import Case
    from routing.intake import PolicyRouter

    Queue.objects.filter(slug="generalist").update(
        business_hours={
            "timezone": "UTC",
            "days": [0, 1, 2, 3, 4],
            "start": "09:00",
            "end": "17:00",
        }
    )
    friday_late = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)  # a Friday
    case = Case(
        source=SourceFactory(name="shop"),
        case_type=CaseTypeFactory(slug="refund"),
        external_id="f",
        input={},
        ai_output={},
        confidence=0.8,
        created_at=friday_late,
    )
    PolicyRouter().route([case])

    assert case.routing["queue"] == "generalist"
    # 240 working minutes: 60 on Friday, 180 on Monday from 09:00.
    assert case.sla_due_at == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    # At risk after 80% = 192 working minutes: 60 on Friday, 132 from Monday 09:00.
    assert case.routing["sla_warn_at"] == "2026-11-23T11:12:00+00:00"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_handle_each_case_exactly_once(client_for):
    CaseTypeFactory(slug="refund")
    source = client_for(SourceFactory(name="shop").api_key)
    for i in range(30):
        source.post(
            "/api/v1/cases/", case_payload(external_id=f"s-{i}", confidence=0.8), format="json"
        )
    now = max(QueueEntry.objects.values_list("sla_due_at", flat=True)) + timedelta(minutes=1)
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def sweep() -> None:
        try:
            barrier.wait()
            results.append(sla_sweep(now=now, limit=20))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.breached for r in results) + sla_sweep(now=now).breached == 30
    assert AuditEvent.objects.filter(kind="sla.breached").count() == 30
    assert QueueEntry.objects.filter(queue__slug="supervisor").count() == 30
