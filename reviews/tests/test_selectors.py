"""Reads for reviewers: the queue overview and which cases a person may see or decide."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.errors import NotFound
from cases.tests.factories import CaseFactory, SourceFactory, UserFactory
from reviews.models import Decision
from reviews.selectors import (
    case_get_for_user,
    next_claimable,
    queue_overview_for_user,
    queues_for_user,
    review_context,
)
from reviews.services import case_release, entry_reassign, queue_claim_next, review_decide
from reviews.tests.factories import Intake, live_entry, publish_default_policy, queue
from routing.models import Queue, QueueEntry
from routing.services import queue_save

pytestmark = pytest.mark.django_db

ALL_QUEUES = ["audit", "expert", "fast-track", "generalist", "supervisor"]


def overview(user: Any, **kwargs: Any) -> list[tuple[str, int, int, int]]:
    return [
        (q.slug, q.depth, q.breached, q.claimed) for q in queue_overview_for_user(user, **kwargs)
    ]


@pytest.fixture
def busy(intake: Any, supervisor: Any, gail: Any, expert: Any) -> dict[str, Any]:
    """generalist: a high-priority case (due in 60 min) and a normal one waiting, one claimed,
    one decided; fast-track: an urgent case (due in 15 min); expert: one normal case."""
    start = timezone.now()
    cases = {
        "high": intake.generalist_case(priority="high"),
        "waiting": intake.generalist_case(),
        "claimed": intake.generalist_case(),
        "decided": intake.generalist_case(),
        "urgent": intake.fast_track_case(),
        "expert": intake.expert_case(),
    }
    entry_reassign(entry=live_entry(cases["claimed"]), to_user=gail, actor=supervisor)
    entry_reassign(entry=live_entry(cases["decided"]), to_user=expert, actor=supervisor)
    review_decide(case=cases["decided"], reviewer=expert, action="approve")
    return {"start": start, **cases}


def test_overview_counts_depth_breaches_and_claims_of_permitted_queues_only(
    busy, generalist, expert, supervisor, compliance_officer, admin_user, outsider
):
    two_hours_later = busy["start"] + timedelta(hours=2)

    assert overview(generalist, now=two_hours_later) == [
        ("fast-track", 1, 1, 0),
        ("generalist", 2, 1, 1),
    ]
    assert overview(expert, now=two_hours_later) == [
        ("audit", 0, 0, 0),
        ("expert", 1, 0, 0),
        ("fast-track", 1, 1, 0),
        ("generalist", 2, 1, 1),
    ]
    everything = [
        ("audit", 0, 0, 0),
        ("expert", 1, 0, 0),
        ("fast-track", 1, 1, 0),
        ("generalist", 2, 1, 1),
        ("supervisor", 0, 0, 0),
    ]
    assert overview(supervisor, now=two_hours_later) == everything
    assert overview(admin_user, now=two_hours_later) == everything
    assert overview(compliance_officer, now=two_hours_later) == []
    assert overview(outsider, now=two_hours_later) == []
    # Nothing is late yet right after arrival.
    assert overview(generalist, now=busy["start"]) == [
        ("fast-track", 1, 0, 0),
        ("generalist", 2, 0, 1),
    ]


def test_overview_oldest_is_the_oldest_waiting_entry(busy, generalist):
    by_slug = {q.slug: q for q in queue_overview_for_user(generalist)}

    assert by_slug["generalist"].oldest_at == live_entry(busy["high"]).created_at
    assert by_slug["fast-track"].oldest_at == live_entry(busy["urgent"]).created_at


def test_overview_stops_counting_at_the_cap_and_says_so(busy, generalist, monkeypatch):
    from django.test import Client

    later = busy["start"] + timedelta(hours=5)  # both waiting generalist cases breached
    by_slug = {q.slug: q for q in queue_overview_for_user(generalist, now=later, cap=1)}
    waiting = by_slug["generalist"]
    assert (waiting.depth, waiting.depth_more, waiting.breached, waiting.breached_more) == (
        1,
        True,
        1,
        True,
    )
    fast = by_slug["fast-track"]
    assert (fast.depth, fast.depth_more, fast.breached, fast.breached_more) == (1, False, 1, False)

    monkeypatch.setattr("reviews.selectors.OVERVIEW_CAP", 1)
    browser = Client()
    browser.force_login(generalist)
    page = browser.get("/").content.decode()
    assert '<td class="num">1+</td>' in page


def test_breached_entries_are_counted_whether_fast_tracked_or_not(intake, generalist):
    publish_default_policy()
    normal, rushed = intake.generalist_case(), intake.generalist_case()
    QueueEntry.objects.filter(case=rushed).update(fast_tracked=True)
    QueueEntry.objects.filter(case=normal).update(sla_due_at=timezone.now() - timedelta(hours=1))
    QueueEntry.objects.filter(case=rushed).update(sla_due_at=timezone.now() - timedelta(hours=2))
    by_slug = {q.slug: q for q in queue_overview_for_user(generalist)}
    assert (by_slug["generalist"].depth, by_slug["generalist"].breached) == (2, 2)


def test_overview_takes_a_constant_number_of_queries(
    busy, intake, generalist, django_assert_max_num_queries
):
    def fresh_user() -> Any:
        return type(generalist).objects.get(pk=generalist.pk)

    queue_overview_for_user(fresh_user())  # warms Django's content type cache
    user = fresh_user()
    with CaptureQueriesContext(connection) as baseline:
        assert len(queue_overview_for_user(user)) == 2
    assert len(baseline.captured_queries) == 1  # "in one query whatever the number of queues"

    generalists = Group.objects.get(name="generalist")
    for number in range(10):
        extra = queue_save(
            queue=Queue(slug=f"extra-{number}", name=f"Extra {number}", role=generalists),
            actor=None,
        )
        for _ in range(number % 3):
            case = CaseFactory(source=intake.source)
            QueueEntry.objects.create(
                case=case,
                queue=extra,
                sla_due_at=timezone.now() + timedelta(hours=1),
                confidence=case.confidence,
            )

    user = fresh_user()
    with django_assert_max_num_queries(1):
        queues = queue_overview_for_user(user)
    assert len(queues) == 12
    assert {q.slug: q.depth for q in queues if q.slug.startswith("extra-")} == {
        f"extra-{n}": n % 3 for n in range(10)
    }


def test_overview_includes_queues_granted_to_one_person(busy, outsider):
    assign_perm("routing.work_queue", outsider, queue("expert"))

    assert overview(outsider) == [("expert", 1, 0, 0)]


@pytest.mark.parametrize(
    "persona",
    ["generalist", "expert", "supervisor", "compliance_officer", "admin_user", "outsider"],
)
def test_queues_for_user_answers_as_guardian_does(request, persona):
    """The hand-written permission query against guardian's own, over group grants,
    personal grants, other permissions on a queue, an inactive queue and superusers."""
    from guardian.shortcuts import get_objects_for_user

    publish_default_policy()
    user = request.getfixturevalue(persona)
    assign_perm("routing.change_queue", user, queue("audit"))  # not the right to work it
    assign_perm("routing.work_queue", user, queue("fast-track"))
    retired = queue("expert")
    retired.is_active = False
    retired.save(update_fields=["is_active"])

    guardian_says = get_objects_for_user(
        user,
        "routing.work_queue",
        klass=Queue.objects.filter(is_active=True),
        accept_global_perms=False,
    )
    ours = queues_for_user(user)
    assert sorted(q.slug for q in ours) == sorted(q.slug for q in guardian_says)
    assert "fast-track" in {q.slug for q in ours} and "expert" not in {q.slug for q in ours}


@pytest.mark.parametrize(
    "persona",
    ["generalist", "expert", "supervisor", "compliance_officer", "admin_user", "outsider"],
)
def test_queue_get_for_user_agrees_with_queues_for_user(request, persona):
    from reviews.selectors import queue_get_for_user, works_a_queue

    publish_default_policy()
    user = request.getfixturevalue(persona)
    assert works_a_queue(user) == queues_for_user(user).exists()  # the outsider: none
    assign_perm("routing.work_queue", user, queue("audit"))
    assign_perm("routing.change_queue", user, queue("fast-track"))  # not the right to work it
    retired = queue("expert")
    retired.is_active = False
    retired.save(update_fields=["is_active"])
    permitted = {q.slug: q for q in queues_for_user(user)}
    assert works_a_queue(user) == bool(permitted)
    for slug in [*ALL_QUEUES, "no-such-queue"]:
        if slug in permitted:
            found = queue_get_for_user(user, slug)
            assert (found.pk, found.slug, found.lease_minutes, found.sla_minutes) == (
                permitted[slug].pk,
                permitted[slug].slug,
                permitted[slug].lease_minutes,
                permitted[slug].sla_minutes,
            )
            assert found.business_hours == permitted[slug].business_hours
        else:
            with pytest.raises(NotFound):
                queue_get_for_user(user, slug)


def test_an_inactive_person_works_no_queue(generalist):
    publish_default_policy()
    assert queues_for_user(generalist).exists()
    generalist.is_active = False
    assert not queues_for_user(generalist).exists()


# --- case_get_for_user ----------------------------------------------------------------------


@pytest.fixture
def two_cases(intake: Any) -> dict[str, Any]:
    return {"generalist": intake.generalist_case(), "expert": intake.expert_case()}


def test_a_generalist_sees_cases_of_their_queues_only(two_cases, generalist):
    assert case_get_for_user(generalist, two_cases["generalist"].pk) == two_cases["generalist"]
    with pytest.raises(NotFound):
        case_get_for_user(generalist, two_cases["expert"].pk)
    with pytest.raises(NotFound):
        case_get_for_user(generalist, str(two_cases["expert"].pk))


@pytest.mark.parametrize("persona", ["expert", "supervisor", "compliance_officer", "admin_user"])
def test_experts_supervisors_compliance_and_admins_see_both(request, two_cases, persona):
    person = request.getfixturevalue(persona)
    for case in two_cases.values():
        assert case_get_for_user(person, case.pk) == case


def test_someone_without_a_role_sees_nothing(two_cases, outsider):
    for case in two_cases.values():
        with pytest.raises(NotFound):
            case_get_for_user(outsider, case.pk)


@pytest.mark.parametrize(
    "case_id", ["not-a-uuid", "", None, "00000000-0000-0000-0000-000000000000"]
)
def test_a_malformed_or_unknown_id_is_not_found(two_cases, supervisor, case_id):
    with pytest.raises(NotFound):
        case_get_for_user(supervisor, case_id)


def test_deciding_requires_holding_the_claim(two_cases, generalist, supervisor):
    case = two_cases["generalist"]
    with pytest.raises(NotFound):
        case_get_for_user(generalist, case.pk, "decide")
    with pytest.raises(NotFound):
        case_get_for_user(supervisor, case.pk, "decide")  # seeing everything is not deciding

    queue_claim_next(queue=queue("generalist"), reviewer=generalist)
    assert case_get_for_user(generalist, case.pk, "decide") == case
    with pytest.raises(NotFound):
        case_get_for_user(supervisor, case.pk, "decide")

    case_release(case=case, reviewer=generalist)
    with pytest.raises(NotFound):
        case_get_for_user(generalist, case.pk, "decide")


@pytest.mark.parametrize("persona", ["generalist", "supervisor", "admin_user", "outsider"])
def test_deciding_answers_as_guardian_does(request, two_cases, generalist, persona):
    from reviews.selectors import DECIDE_CASE

    user = request.getfixturevalue(persona)
    held, other = two_cases["generalist"], two_cases["expert"]
    queue_claim_next(queue=queue("generalist"), reviewer=generalist)
    for case in (held, other):
        for active in (True, False):
            user.is_active = active  # guardian refuses inactive people everything
            try:
                ours = case_get_for_user(user, str(case.pk).upper(), "decide") == case
            except NotFound:
                ours = False
            assert ours == user.has_perm(DECIDE_CASE, case), (persona, case, active)
    if persona == "generalist":
        user.is_active = True
        assert case_get_for_user(user, held.pk, "decide") == held


def test_a_reviewer_still_sees_a_case_they_decided_after_losing_the_queue(two_cases, outsider):
    decided, other = two_cases["generalist"], two_cases["expert"]
    assign_perm("routing.work_queue", outsider, queue("generalist"))
    queue_claim_next(queue=queue("generalist"), reviewer=outsider)
    review_decide(case=decided, reviewer=outsider, action="approve")
    remove_perm("routing.work_queue", outsider, queue("generalist"))

    assert case_get_for_user(outsider, decided.pk) == decided
    with pytest.raises(NotFound):
        case_get_for_user(outsider, other.pk)


# --- review_context -------------------------------------------------------------------------


def test_review_context_has_decisions_subject_history_thresholds_and_the_claim(
    intake, supervisor, generalist, gail, django_assert_max_num_queries
):
    publish_default_policy(required_reviews=2)
    earlier = intake.generalist_case(metadata={"subject_id": "cust-9"})
    intake.generalist_case(metadata={"subject_id": "cust-1"})
    Intake("other-bot").generalist_case(metadata={"subject_id": "cust-9"})  # another source
    case = intake.generalist_case(metadata={"subject_id": "cust-9"})
    entry_reassign(entry=live_entry(case), to_user=generalist, actor=supervisor)
    first = review_decide(case=case, reviewer=generalist, action="approve")
    held = entry_reassign(entry=live_entry(case), to_user=gail, actor=supervisor)
    case.refresh_from_db()

    with django_assert_max_num_queries(3):
        context = review_context(case=case, reviewer=gail)

    assert context.case == case
    assert context.entry == held
    assert context.decisions == [first]
    assert context.subject_history == [earlier]
    assert context.thresholds == {"auto_approve": 0.95, "expert": 0.7}
    assert review_context(case=case, reviewer=generalist).entry is None


# --- the claim query --------------------------------------------------------------------------

_spec = st.fixed_dictionaries(
    {
        "state": st.sampled_from(["open", "open", "open", "claimed", "done"]),
        "fast_tracked": st.booleans(),
        "due_in": st.integers(0, 2),  # few values: ties go to the next key
        "priority_rank": st.integers(0, 3),
        "confidence": st.sampled_from([0.55, 0.6, 0.65]),
        "uncertainty": st.sampled_from([0.05, 0.1]),
        "involved": st.sampled_from(["no", "no", "decided", "submitted"]),
        "metadata": st.sampled_from(
            [{}, {"submitted_by": "someone"}, {"submitted_by": 7}, {"submitted_by": None}]
        ),
    }
)


def _claim_key(ordering: str, entry: QueueEntry) -> tuple[Any, ...]:
    if ordering == "uncertainty":
        return (not entry.fast_tracked, entry.uncertainty, entry.sla_due_at, entry.pk)
    return (
        not entry.fast_tracked,
        entry.sla_due_at,
        -entry.priority_rank,
        entry.confidence,
        entry.pk,
    )


@settings(
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=st.lists(_spec, max_size=6), ordering=st.sampled_from(["standard", "uncertainty"]))
def test_the_claim_query_takes_the_first_entry_in_queue_order_the_reviewer_may_take(
    refund, generalist, specs, ordering
):
    start = timezone.now()
    with transaction.atomic():
        generalists = queue("generalist")
        generalists.ordering = ordering
        source = SourceFactory()
        takeable = []
        for spec in specs:
            mine = spec["involved"] == "submitted"
            case = CaseFactory(
                source=source,
                case_type=refund,
                metadata={"submitted_by": generalist.username} if mine else spec["metadata"],
            )
            entry = QueueEntry.objects.create(
                case=case,
                queue=generalists,
                state=spec["state"],
                fast_tracked=spec["fast_tracked"],
                sla_due_at=start + timedelta(minutes=spec["due_in"]),
                priority_rank=spec["priority_rank"],
                confidence=spec["confidence"],
                uncertainty=spec["uncertainty"],
                **(
                    {"claimed_by": UserFactory(), "claimed_at": start, "lease_expires_at": start}
                    if spec["state"] == "claimed"
                    else {}
                ),
            )
            if spec["involved"] == "decided":
                Decision.objects.create(
                    case=case,
                    queue=generalists,
                    reviewer=generalist,
                    role="generalist",
                    action="approve",
                    seconds_to_decide=1.0,
                    stage="first_review",
                )
            elif spec["state"] == "open" and not mine:
                takeable.append(entry)
        expected = min(takeable, key=lambda e: _claim_key(ordering, e), default=None)

        found = next_claimable(generalists, generalist)

        if expected is None:
            assert found is None
        else:
            assert found is not None and found.pk == expected.pk
            assert (found.case, found.case.case_type, found.queue) == (
                expected.case,
                refund,
                generalists,
            )
            assert found.case.metadata == expected.case.metadata
        transaction.set_rollback(True)
