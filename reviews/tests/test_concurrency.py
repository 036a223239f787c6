"""Claims and decisions from many threads at once, on PostgreSQL (FOR UPDATE SKIP LOCKED).

Every thread uses its own database connection and closes it when done. The tests commit for
real (transaction=True), and the tables are flushed after each one, taking the rows the data
migrations installed (role groups, standard queues and their permissions, the default
policy) with them: ``installed_defaults`` puts them back, idempotently, before each test."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from importlib import import_module
from typing import Any

import pytest
from django.db import IntegrityError, connection

from cases.models import Case
from cases.roles import Role
from reviews.errors import CaseAlreadyDecided
from reviews.models import Decision
from reviews.services import queue_claim_next, review_decide
from reviews.tests.factories import make_reviewer, queue
from routing.models import QueueEntry

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REVIEWERS = 20
CASES = 50


@pytest.fixture(autouse=True)
def installed_defaults(transactional_db: None) -> None:
    """What the data migrations install, re-run with today's models (get_or_create)."""
    from django.apps import apps

    import_module("cases.migrations.0002_role_groups").create_groups(apps, None)
    import_module("routing.migrations.0002_standard_queues_and_default_policy").forwards(apps, None)


class DoubleClaimCrashed(Exception):
    pass


def run_in_threads(count: int, work: Callable[[int], Any], *, timeout: float = 120) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released together by a barrier; re-raise the
    first error of any thread."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


def test_twenty_reviewers_claim_and_drain_a_queue_of_fifty_without_overlap(intake):
    cases = {intake.generalist_case().pk for _ in range(CASES)}
    reviewers = [make_reviewer(f"reviewer-{n:02d}", Role.GENERALIST) for n in range(REVIEWERS)]
    general = queue("generalist")

    # Phase 1: everybody claims at the same moment.
    def claim_once(index: int) -> tuple[int, Any]:
        entry = queue_claim_next(queue=general, reviewer=reviewers[index])
        assert entry is not None
        return entry.pk, entry.case_id

    first = run_in_threads(REVIEWERS, claim_once)

    entry_ids = [entry_id for entry_id, _ in first]
    case_ids = [case_id for _, case_id in first]
    assert len(set(entry_ids)) == REVIEWERS
    assert len(set(case_ids)) == REVIEWERS
    assert QueueEntry.objects.filter(queue=general, state="open").count() == CASES - REVIEWERS
    assert QueueEntry.objects.filter(queue=general, state="claimed").count() == REVIEWERS
    holders = dict(
        QueueEntry.objects.filter(pk__in=entry_ids).values_list("pk", "claimed_by__username")
    )
    assert [holders[entry_id] for entry_id in entry_ids] == [r.username for r in reviewers]
    assert Case.objects.filter(pk__in=case_ids, status="in_review").count() == REVIEWERS

    # Phase 2: everybody decides what they hold and keeps claiming until nothing is left.
    def drain(index: int) -> list[Any]:
        reviewer, decided = reviewers[index], []
        while (entry := queue_claim_next(queue=general, reviewer=reviewer)) is not None:
            review_decide(case=entry.case, reviewer=reviewer, action="approve")
            decided.append(entry.case_id)
        return decided

    handled = run_in_threads(REVIEWERS, drain)

    everything = [case_id for per_thread in handled for case_id in per_thread]
    assert len(everything) == CASES
    assert set(everything) == cases
    assert [per_thread[0] for per_thread in handled] == case_ids  # held cases decided first
    assert Decision.objects.count() == CASES
    assert set(Counter(Decision.objects.values_list("case_id", flat=True)).values()) == {1}
    assert set(Case.objects.values_list("status", flat=True)) == {"approved"}
    assert not QueueEntry.objects.filter(state__in=["open", "claimed"]).exists()
    by_reviewer = Counter(Decision.objects.values_list("reviewer__username", flat=True))
    assert {r.username: by_reviewer[r.username] for r in reviewers} == {
        r.username: len(per_thread) for r, per_thread in zip(reviewers, handled, strict=True)
    }


def test_the_same_decision_sent_twice_at_once_is_recorded_once(intake, generalist):
    case = intake.generalist_case()
    assert queue_claim_next(queue=queue("generalist"), reviewer=generalist) is not None

    def decide(_index: int) -> str:
        try:
            review_decide(case=case, reviewer=generalist, action="approve")
        except CaseAlreadyDecided:
            return "already decided"
        return "decided"

    outcomes = run_in_threads(2, decide)

    assert sorted(outcomes) == ["already decided", "decided"]
    assert Decision.objects.filter(case=case).count() == 1
    assert Case.objects.get(pk=case.pk).status == "approved"


def _wait_for_a_lock_wait(timeout: float = 10) -> bool:
    """True once another backend of this database waits for a lock."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.02)
    return False


def test_a_double_claim_by_one_reviewer_returns_the_same_case(intake, generalist, monkeypatch):
    intake.generalist_case()
    intake.generalist_case()
    general = queue("generalist")
    import reviews.services

    original = reviews.services.audit_event_record
    first_claimed, let_first_finish = threading.Event(), threading.Event()

    def paused_record(**kwargs: Any) -> Any:
        # The first claim stops after taking its entry (uncommitted) until told to go on.
        if kwargs["kind"] == "case.claimed" and threading.current_thread().name == "first":
            first_claimed.set()
            assert let_first_finish.wait(timeout=30)
        return original(**kwargs)

    monkeypatch.setattr(reviews.services, "audit_event_record", paused_record)
    results: dict[str, Any] = {}
    errors: list[BaseException] = []

    def claim(name: str) -> None:
        try:
            entry = queue_claim_next(queue=general, reviewer=generalist)
            results[name] = entry.pk if entry else None
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    first = threading.Thread(target=claim, args=("first",), name="first")
    second = threading.Thread(target=claim, args=("second",), name="second")
    first.start()
    assert first_claimed.wait(timeout=30)
    second.start()
    _wait_for_a_lock_wait()  # the second claim waits on the first's uncommitted claim
    let_first_finish.set()
    first.join(timeout=60)
    second.join(timeout=60)
    if errors and isinstance(errors[0], IntegrityError):
        raise DoubleClaimCrashed(str(errors[0])) from errors[0]
    assert not errors, errors

    assert results["first"] == results["second"] is not None
    assert QueueEntry.objects.filter(claimed_by=generalist, state="claimed").count() == 1
