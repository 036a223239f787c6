"""metrics_summary on hand-built data with a fixed ``now``: every figure computed by hand.

The busy hour is [2026-11-10 10:00, 11:00) UTC; ``now`` is 11:30, so the 24h window is
2026-11-09 12:00 .. 2026-11-10 11:59 (24 hours, the last one computed on read) and the
previous window is 2026-11-08 12:00 .. 2026-11-09 11:59."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from cases.auditing import audit_event_record
from cases.models import Case
from cases.tests.factories import CaseTypeFactory, SourceFactory
from metrics.cache import stored_clear
from metrics.models import CaseTypeDay, ReviewerDay, RolledDay, RolledHour
from metrics.rollups import rollup_store, rollups_catch_up
from metrics.selectors import metrics_summary
from metrics.tests.factories import decide, make_case
from reviews.models import Decision
from routing.models import Queue, QueueEntry

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 10, 11, 30, tzinfo=UTC)
# wilson(1, 3) at z = 1.959963984540054: z^2 = 3.8414588; denominator = 1 + z^2/3 = 2.2804863;
# centre = (1/3 + z^2/6) / 2.2804863 = 0.4269166; half = z * sqrt((1/3)(2/3)/3 + z^2/36)
# / 2.2804863 = 0.3654247 -> (0.0614919, 0.7923413)
WILSON_1_OF_3 = (0.06149194472039621, 0.7923403991979522)


def t(hh: int, mm: int = 0, ss: float = 0.0, day: int = 10) -> datetime:
    return datetime(2026, 11, day, hh, mm, tzinfo=UTC) + timedelta(seconds=ss)


# --- builders -------------------------------------------------------------------------------


def first_review(case: Case, reviewer: Any, action: str, seconds: float, wait: float) -> None:
    """A first review whose queue wait (decided - seconds - received) is ``wait`` seconds."""
    at = case.created_at + timedelta(seconds=wait + seconds)
    decide(case, reviewer, action=action, stage="first_review", seconds=seconds, at=at)


def enqueue(case: Case, queue: Queue, created_at: datetime, **fields: Any) -> QueueEntry:
    fields.setdefault("sla_due_at", created_at + timedelta(hours=4))
    entry = QueueEntry.objects.create(case=case, queue=queue, confidence=0.5, **fields)
    QueueEntry.objects.filter(pk=entry.pk).update(created_at=created_at)
    return entry


def breach(case: Case, when: datetime) -> None:
    with patch("django.utils.timezone.now", return_value=when):
        audit_event_record(kind="sla.breached", actor=None, case=case)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


# --- the dataset ----------------------------------------------------------------------------


@pytest.fixture
def source(db: None) -> Any:
    return SourceFactory(name="metrics-selectors")


@pytest.fixture
def loop(source: Any) -> SimpleNamespace:
    A, B = CaseTypeFactory(slug="refund"), CaseTypeFactory(slug="kyc")
    User = get_user_model()
    alice, bob, carol = (User.objects.create_user(username=n) for n in ("alice", "bob", "carol"))

    # Type A: 12 auto-approved + 8 sent to humans, all received 10:00-10:11.
    auto = [
        make_case(
            source,
            A,
            t(10, i),
            outcome="auto_approved",
            status="auto_approved",
            decided_at=t(10, i),
        )
        for i in range(12)
    ]
    final = ["approved"] * 5 + ["edited", "rejected", "approved"]  # q1..q8
    q = [
        make_case(
            source,
            A,
            t(10, i),
            outcome="queued",
            status=final[i],
            decided_at=t(10, 45),
            sla_due_at=t(11) if i < 6 else t(10, 30),  # q7, q8 decided after their SLA
        )
        for i in range(8)
    ]
    # Resolution seconds (non-escalate review decisions) and first-review waits:
    first_review(q[0], alice, "approve", 1.2, wait=20)
    first_review(q[1], alice, "approve", 1.8, wait=25)
    first_review(q[2], alice, "approve", 2.0, wait=100)
    first_review(q[3], alice, "reject", 3.0, wait=110)
    decide(q[3], bob, action="approve", stage="second_review", seconds=4.0, at=t(10, 40))
    first_review(q[4], bob, "approve", 5.0, wait=120)
    decide(q[4], alice, action="approve", stage="second_review", seconds=6.0, at=t(10, 41))
    first_review(q[5], bob, "edit", 7.9, wait=300)
    decide(q[5], carol, action="edit", stage="supervisor", seconds=15.0, at=t(10, 42))
    decide(q[6], bob, action="escalate", stage="first_review", seconds=1000, at=t(10, 25))
    decide(q[6], carol, action="reject", stage="supervisor", seconds=9.0, at=t(10, 43))
    first_review(q[7], alice, "approve", 2.5, wait=600)
    # Audit sample of three auto-approvals: one disagreement.
    decide(auto[0], carol, action="approve", stage="audit", seconds=20, at=t(10, 50), agrees=True)
    decide(auto[1], carol, action="approve", stage="audit", seconds=30, at=t(10, 51), agrees=True)
    decide(auto[2], carol, action="reject", stage="audit", seconds=40, at=t(10, 52), agrees=False)
    breach(q[6], t(10, 20))
    breach(q[7], t(10, 40))

    # Type B: one to a human (rejected, 50 s, waited 1000 s), one auto-approved.
    b1 = make_case(
        source,
        B,
        t(10, 30),
        outcome="queued",
        status="rejected",
        decided_at=t(10, 50),
        sla_due_at=t(11),
    )
    first_review(b1, bob, "reject", 50, wait=1000)
    make_case(
        source, B, t(10, 31), outcome="auto_approved", status="auto_approved", decided_at=t(10, 31)
    )

    # The previous window: 2026-11-09 09:00, type A: 1 auto, 3 queued, 2 approved, 1 breach.
    make_case(
        source,
        A,
        t(9, day=9),
        outcome="auto_approved",
        status="auto_approved",
        decided_at=t(9, day=9),
    )
    for minute in (1, 2):
        make_case(
            source,
            A,
            t(9, minute, day=9),
            outcome="queued",
            status="approved",
            decided_at=t(9, 30, day=9),
            sla_due_at=t(10, day=9),
        )
    late = make_case(source, A, t(9, 3, day=9), outcome="queued")
    breach(late, t(9, 40, day=9))

    # Live queues at 11:30.
    G, E = Queue.objects.get(slug="generalist"), Queue.objects.get(slug="expert")
    enqueue(q[0], G, t(10), sla_due_at=t(12), warned_at=t(11))  # at risk
    enqueue(q[1], G, t(10, 30), sla_due_at=t(11), warned_at=t(10, 50))  # breached
    enqueue(q[2], G, t(11), sla_due_at=t(13))  # neither
    enqueue(
        q[3],
        G,
        t(9),
        sla_due_at=t(12),
        state="claimed",
        claimed_by=alice,
        claimed_at=t(11),
        lease_expires_at=t(11, 45),
    )  # claimed: not waiting
    enqueue(q[4], G, t(8), state="done", closed_at=t(10, 40))
    enqueue(b1, E, t(11, 20), sla_due_at=NOW)  # due right now: breached

    return SimpleNamespace(A=A, B=B, alice=alice, bob=bob, carol=carol)


# --- figures --------------------------------------------------------------------------------


def test_figures_for_the_24h_window(loop):
    f = metrics_summary(window="24h", now=NOW)["figures"]
    assert f["received"] == 22  # A 20 + B 2
    assert f["escalation_rate"] == 9 / 22  # to humans: A 8 + B 1
    assert f["auto_approval_rate"] == 13 / 22  # A 12 + B 1
    # decided 9 (A 8, B 1); overrides: A edited + rejected, B rejected = 3 -> 0.333 > 0.30
    assert f["override_rate"] == 3 / 9
    assert f["override_flag"] == "high"
    # resolution seconds: A 1.2 1.8 | 2 2.5 3 | 4 5 6 7.9 | 9 15 and B 50: counts
    # [0, 2, 3, 4, 2, 0, 1], n = 12. p50: rank 6, 5 before bucket [4, 8) of 4:
    # 4 + 4 * (6 - 5) / 4 = 5.0. p90: rank 10.8, 9 before [8, 16) of 2: 8 + 8 * 1.8 / 2 = 15.2
    assert f["resolution_seconds_p50"] == 5.0
    assert f["resolution_seconds_p90"] == pytest.approx(15.2)
    # waits: 20 25 | 100 110 120 | 300 | 600 1000: counts b5=2, b7=3, b9=1, b10=2, n = 8.
    # p50: rank 4, 2 before [64, 128) of 3: 64 + 64 * 2 / 3 = 106.67.
    # p90: rank 7.2, 6 before [512, 1024) of 2: 512 + 512 * 1.2 / 2 = 819.2
    assert f["queue_wait_seconds_p50"] == pytest.approx(64 + 64 * 2 / 3)
    assert f["queue_wait_seconds_p90"] == pytest.approx(819.2)
    assert f["resolved_per_hour"] == 22 / 24  # (13 auto + 9 human) / 24 h
    assert f["machine_per_hour"] == 13 / 24
    assert f["arrivals_per_hour"] == 22 / 24
    assert f["sla_compliance"] == 7 / 9  # A 6 of 8 (q7, q8 late), B 1 of 1
    assert f["sla_breaches"] == 2
    # validations: q4 second review contradicts, q5 second review agrees, q6 supervisor agrees
    assert f["post_validation_error"] == 1 / 3
    audit = f["audit_sample"]
    assert (audit["judged"], audit["disagreed"], audit["error_rate"]) == (3, 1, 1 / 3)
    assert (audit["error_lower"], audit["error_upper"]) == pytest.approx(WILSON_1_OF_3)


def test_figures_for_one_case_type(loop):
    f = metrics_summary(window="24h", case_type_id=loop.A.pk, now=NOW)["figures"]
    assert f["received"] == 20
    assert f["escalation_rate"] == 0.4  # 8 / 20
    assert f["auto_approval_rate"] == 0.6  # 12 / 20
    assert f["override_rate"] == 0.25  # 2 / 8: inside the band
    assert f["override_flag"] is None
    # [0, 2, 3, 4, 2]: p50 rank 5.5 -> 4 + 4 * 0.5 / 4 = 4.5; p90 rank 9.9 -> 8 + 8 * 0.9 / 2
    assert f["resolution_seconds_p50"] == 4.5
    assert f["resolution_seconds_p90"] == pytest.approx(11.6)
    # waits b5=2, b7=3, b9=1, b10=1 (n = 7): p50 rank 3.5 -> 64 + 64 * 1.5 / 3 = 96;
    # p90 rank 6.3 -> 512 + 512 * 0.3 / 1 = 665.6
    assert f["queue_wait_seconds_p50"] == 96.0
    assert f["queue_wait_seconds_p90"] == pytest.approx(665.6)
    assert f["resolved_per_hour"] == 20 / 24
    assert f["machine_per_hour"] == 0.5
    assert f["arrivals_per_hour"] == 20 / 24
    assert f["sla_compliance"] == 0.75
    assert f["sla_breaches"] == 2
    assert f["post_validation_error"] == 1 / 3
    assert f["audit_sample"]["judged"] == 3

    b = metrics_summary(window="24h", case_type_id=loop.B.pk, now=NOW)["figures"]
    assert (b["received"], b["escalation_rate"], b["auto_approval_rate"]) == (2, 0.5, 0.5)
    assert (b["override_rate"], b["override_flag"]) == (1.0, "high")
    # one 50 s resolution (bucket [32, 64)): p50 = 32 + 32 * 0.5 = 48, p90 = 32 + 32 * 0.9
    assert b["resolution_seconds_p50"] == 48.0
    assert b["resolution_seconds_p90"] == pytest.approx(60.8)
    # one 1000 s wait ([512, 1024)): p50 = 768, p90 = 512 + 512 * 0.9 = 972.8
    assert b["queue_wait_seconds_p50"] == 768.0
    assert b["queue_wait_seconds_p90"] == pytest.approx(972.8)
    assert (b["sla_compliance"], b["sla_breaches"], b["post_validation_error"]) == (1.0, 0, None)
    assert b["audit_sample"] == {
        "judged": 0,
        "disagreed": 0,
        "error_rate": None,
        "error_lower": 0.0,
        "error_upper": 1.0,
    }


def test_previous_window_holds_the_window_before(loop):
    summary = metrics_summary(window="24h", now=NOW)
    p = summary["previous"]
    # 2026-11-09 09:00: 1 auto + 3 queued; 2 approved within SLA; 1 breach
    assert p["received"] == 4
    assert (p["escalation_rate"], p["auto_approval_rate"]) == (0.75, 0.25)
    assert (p["override_rate"], p["override_flag"]) == (0.0, "low")  # 0 < 0.02
    assert p["resolved_per_hour"] == 3 / 24
    assert (p["sla_compliance"], p["sla_breaches"]) == (1.0, 1)
    assert p["resolution_seconds_p50"] is None  # no decisions recorded then
    assert p["post_validation_error"] is None
    assert summary["figures"]["received"] == 22  # the current window does not include it


def test_one_hour_window(loop):
    # now 10:59: the window is the busy hour itself, the previous one is 09:00 (empty).
    summary = metrics_summary(window="1h", now=t(10, 59))
    assert summary["from"] == _iso(t(10))
    f = summary["figures"]
    assert f["received"] == 22
    assert (f["resolved_per_hour"], f["machine_per_hour"], f["arrivals_per_hour"]) == (
        22.0,
        13.0,
        22.0,
    )
    assert summary["previous"]["received"] == 0
    assert summary["previous"]["escalation_rate"] is None
    # now 11:30: the window is 11:00 (nothing yet), the previous one the busy hour.
    later = metrics_summary(window="1h", now=NOW)
    assert later["figures"]["received"] == 0
    assert later["previous"]["received"] == 22
    assert later["previous"]["override_flag"] == "high"


def test_window_bounds_and_series(loop):
    summary = metrics_summary(window="24h", now=NOW)
    assert summary["window"] == "24h"
    assert summary["from"] == _iso(t(12, day=9))
    assert summary["until"] == _iso(NOW)
    series = summary["series"]
    assert [s["hour"] for s in series] == [
        _iso(t(12, day=9) + timedelta(hours=n)) for n in range(24)
    ]
    busy, current = series[-2], series[-1]
    assert busy == {
        "hour": _iso(t(10)),
        "received": 22,
        "escalation_rate": 9 / 22,
        "override_rate": 3 / 9,
        "resolution_seconds_p50": 5.0,
        # open at 11:00: generalist q1 (10:00), q2 (10:30), q4 (claimed, 09:00)
        "queue_depth": 3,
    }
    # 11:00 (computed on read): nothing received; q1..q4 and b1 (11:20) still in queues
    assert current == {
        "hour": _iso(t(11)),
        "received": 0,
        "escalation_rate": None,
        "override_rate": None,
        "resolution_seconds_p50": None,
        "queue_depth": 5,
    }
    # 09:00 on the 10th: q4's entry (09:00) and q5's (08:00, closed 10:40)
    assert series[-3]["queue_depth"] == 2
    assert series[0]["queue_depth"] == 0


@pytest.mark.parametrize(
    ("window", "rolled"),
    [
        ("1h", False),
        ("24h", False),
        ("24h", True),
        # Long windows read empty rolled hours (computing 336 or 1440 empty hours on read
        # works too, but takes a minute on SQLite).
        ("7d", True),
        ("30d", True),
    ],
)
def test_empty_windows(db, window, rolled):
    if rolled:
        hours = {"1h": 1, "24h": 24, "7d": 168, "30d": 720}[window] * 2
        RolledHour.objects.bulk_create(
            RolledHour(hour=t(11) - timedelta(hours=n)) for n in range(1, hours)
        )
    summary = metrics_summary(window=window, now=NOW)
    for figures in (summary["figures"], summary["previous"]):
        assert figures == {
            "received": 0,
            "escalation_rate": None,
            "auto_approval_rate": None,
            "override_rate": None,
            "override_flag": None,
            "resolution_seconds_p50": None,
            "resolution_seconds_p90": None,
            "queue_wait_seconds_p50": None,
            "queue_wait_seconds_p90": None,
            "resolved_per_hour": 0.0,
            "machine_per_hour": 0.0,
            "arrivals_per_hour": 0.0,
            "sla_compliance": None,
            "sla_breaches": 0,
            "post_validation_error": None,
            "audit_sample": {
                "judged": 0,
                "disagreed": 0,
                "error_rate": None,
                "error_lower": 0.0,
                "error_upper": 1.0,
            },
        }
    assert summary["reviewers"] == []
    assert summary["sla_at_risk_now"] == 0
    assert all(q["depth"] == 0 and q["oldest_age_seconds"] is None for q in summary["queues"])
    assert len(summary["series"]) == {"1h": 1, "24h": 24, "7d": 168, "30d": 720}[window]


@pytest.mark.parametrize(
    ("decided", "overrides", "flag"),
    [
        (10, 4, "high"),  # 0.40 > 0.30
        (10, 3, None),  # exactly 0.30: inside the band
        (50, 1, None),  # exactly 0.02: inside the band
        (51, 1, "low"),  # 0.0196 < 0.02
        (10, 0, "low"),
    ],
)
def test_override_flag_band(source, decided, overrides, flag):
    A = CaseTypeFactory(slug="refund")
    for n in range(decided):
        make_case(
            source,
            A,
            t(10, n % 60),
            outcome="queued",
            status="rejected" if n < overrides else "approved",
            decided_at=t(10, 30),
        )
    f = metrics_summary(window="24h", now=NOW)["figures"]
    assert f["override_rate"] == overrides / decided
    assert f["override_flag"] == flag


def test_no_decisions_means_no_override_flag(source):
    make_case(source, CaseTypeFactory(slug="refund"), t(10), outcome="queued")
    f = metrics_summary(window="24h", now=NOW)["figures"]
    assert (f["received"], f["escalation_rate"]) == (1, 1.0)
    assert (f["override_rate"], f["override_flag"], f["sla_compliance"]) == (None, None, None)


def test_stored_rollups_and_on_read_give_identical_summaries(loop):
    variants: list[dict[str, Any]] = [
        {"window": "1h"},
        {"window": "24h"},
        {"window": "7d"},
        {"window": "24h", "case_type_id": loop.A.pk},
        {"window": "24h", "case_type_id": loop.B.pk},
        {"window": "24h", "reviewer_id": loop.bob.pk},
    ]
    on_read = [metrics_summary(now=NOW, **v) for v in variants]
    assert not RolledHour.objects.exists()
    # The first case was received 2026-11-09 09:00; every hour up to 2026-11-10 10:00 is rolled.
    assert rollups_catch_up(now=NOW) == 26
    assert RolledHour.objects.filter(hour=t(10)).exists()
    from_rollups = [metrics_summary(now=NOW, **v) for v in variants]
    for variant, before, after in zip(variants, on_read, from_rollups, strict=True):
        assert after == before, variant
    assert from_rollups[1]["figures"]["received"] == 22


# --- reviewers ------------------------------------------------------------------------------


def test_reviewer_table(loop):
    rows = metrics_summary(window="24h", now=NOW)["reviewers"]
    assert [r["reviewer"] for r in rows] == ["alice", "bob", "carol"]  # by name
    alice, bob, carol = rows
    # alice: approve 1.2, 1.8, 2.0, 2.5, reject 3.0, second review approve 6.0 (agrees with
    # bob's first approve on q5). Buckets [0, 2, 3, 1]: median rank 3, 2 before [2, 4) of 3:
    # 2 + 2 * 1 / 3
    assert alice == {
        "reviewer_id": loop.alice.pk,
        "reviewer": "alice",
        "decisions": 6,
        "decisions_per_hour": 6 / 24,
        "median_seconds": pytest.approx(2 + 2 / 3),
        "approval_share": 5 / 6,
        "override_rate": 1 / 6,
        "peer_agreement": 1.0,
        "rubber_stamp": False,
    }
    # bob: second review approve 4.0 (contradicts alice's reject on q4), first approve 5.0,
    # edit 7.9, reject 50 (kyc); the escalation does not count. Buckets: [4, 8) x3, [32, 64)
    # x1: median rank 2 -> 4 + 4 * 2 / 3
    assert bob == {
        "reviewer_id": loop.bob.pk,
        "reviewer": "bob",
        "decisions": 4,
        "decisions_per_hour": 4 / 24,
        "median_seconds": pytest.approx(4 + 8 / 3),
        "approval_share": 0.5,
        "override_rate": 0.5,
        "peer_agreement": 0.0,
        "rubber_stamp": False,
    }
    # carol: supervisor edit 15, reject 9; audits approve 20, 30, reject 40. Buckets [8, 16)
    # x2, [16, 32) x2, [32, 64) x1: median rank 2.5 -> 16 + 16 * 0.5 / 2 = 20; no second
    # reviews: no peer agreement
    assert carol == {
        "reviewer_id": loop.carol.pk,
        "reviewer": "carol",
        "decisions": 5,
        "decisions_per_hour": 5 / 24,
        "median_seconds": 20.0,
        "approval_share": 0.4,
        "override_rate": 0.6,
        "peer_agreement": None,
        "rubber_stamp": False,
    }


def test_reviewer_filter_keeps_one_row(loop):
    rows = metrics_summary(window="24h", now=NOW, reviewer_id=loop.bob.pk)["reviewers"]
    assert [r["reviewer"] for r in rows] == ["bob"]
    nobody = get_user_model().objects.create_user(username="nobody")
    assert metrics_summary(window="24h", now=NOW, reviewer_id=nobody.pk)["reviewers"] == []


def _many_decisions(case: Case, reviewer: Any, seconds: float, n: int, rejects: int = 0) -> None:
    queue = Queue.objects.get(slug="generalist")
    Decision.objects.bulk_create(
        Decision(
            case=case,
            queue=queue,
            reviewer=reviewer,
            role="generalist",
            action="reject" if i < rejects else "approve",
            reason_code="other" if i < rejects else "",
            seconds_to_decide=seconds,
            stage="first_review",
        )
        for i in range(n)
    )


@pytest.mark.parametrize(
    ("fast_n", "fast_rejects", "fast_seconds", "flag"),
    [
        # Everyone: 20 x 0.5 s (bucket [0, 1)) + 100 x 100 s ([64, 128)); median rank 60:
        # 64 + 64 * 40 / 100 = 89.6; 0.3 x 89.6 = 26.88. Fast median: 0.5 < 26.88; 0 overrides.
        (20, 0, 0.5, True),
        (19, 0, 0.5, False),  # fewer than 20 decisions
        (20, 1, 0.5, False),  # 5% overrides
        (51, 1, 0.5, True),  # 1/51 = 1.96% < 2% (norm: rank 75.5 -> 64 + 64 * 24.5 / 100)
        (50, 1, 0.5, False),  # exactly 2%: not below it
        # 20 x 60 s ([32, 64)): median 48 vs norm 64 + 64 * 40 / 100 = 89.6 -> 48 > 26.88
        (20, 0, 60.0, False),
    ],
)
def test_rubber_stamp_flag(source, fast_n, fast_rejects, fast_seconds, flag):
    User = get_user_model()
    fast, slow = (
        User.objects.create_user(username="fast"),
        User.objects.create_user(username="slow"),
    )
    case = make_case(source, CaseTypeFactory(slug="refund"), t(10), outcome="queued")
    _many_decisions(case, fast, fast_seconds, fast_n, fast_rejects)
    _many_decisions(case, slow, 100.0, 100)
    Decision.objects.update(created_at=t(10, 30))
    rows = {r["reviewer"]: r for r in metrics_summary(window="24h", now=NOW)["reviewers"]}
    assert rows["fast"]["decisions"] == fast_n
    assert rows["fast"]["rubber_stamp"] is flag
    assert rows["slow"]["rubber_stamp"] is False  # slow, and no faster than everyone


# --- queues ---------------------------------------------------------------------------------


def test_queue_table(loop):
    summary = metrics_summary(window="24h", now=NOW)
    queues = {q["queue"]: q for q in summary["queues"]}
    assert [q["queue"] for q in summary["queues"]] == [
        "audit",
        "expert",
        "fast-track",
        "generalist",
        "supervisor",
    ]
    assert queues["generalist"] == {
        "queue": "generalist",
        "name": "General review",
        "depth": 3,  # q1, q2, q3 open; q4 claimed; q5 done
        "at_risk": 1,  # q1: warned, due 12:00
        "breached": 1,  # q2: due 11:00
        "oldest_age_seconds": 5400.0,  # q1 waiting since 10:00
        # entries created in the window: 08:00, 09:00, 10:00, 10:30, 11:00; one done at 10:40
        "arrivals_per_hour": 5 / 24,
        "completions_per_hour": 1 / 24,
    }
    assert queues["expert"] == {
        "queue": "expert",
        "name": "Expert review",
        "depth": 1,
        "at_risk": 0,
        "breached": 1,  # due exactly now
        "oldest_age_seconds": 600.0,  # since 11:20
        "arrivals_per_hour": 1 / 24,
        "completions_per_hour": 0.0,
    }
    for slug in ("audit", "fast-track", "supervisor"):
        assert (queues[slug]["depth"], queues[slug]["oldest_age_seconds"]) == (0, None)
        assert (queues[slug]["at_risk"], queues[slug]["breached"]) == (0, 0)
    assert summary["sla_at_risk_now"] == 1


def test_inactive_queues_are_left_out(loop):
    Queue.objects.filter(slug="audit").update(is_active=False)
    slugs = [q["queue"] for q in metrics_summary(window="1h", now=NOW)["queues"]]
    assert "audit" not in slugs
    assert "generalist" in slugs


# --- day rollups: windows that hold whole days, cross midnight or end part-way into a day ---

DAY_ONE = datetime(2026, 11, 7, tzinfo=UTC)


@pytest.fixture
def days(source: Any) -> SimpleNamespace:
    """Traffic from 2026-11-07 00:00 to 2026-11-10 11:20: a case every 47-53 minutes, both
    types, auto-approved or queued; first reviews (alice fast, bob slower), some second
    reviews that contradict, queue entries done or still open, SLA breaches."""
    A, B = CaseTypeFactory(slug="refund"), CaseTypeFactory(slug="kyc")
    User = get_user_model()
    alice, bob = (User.objects.create_user(username=n) for n in ("alice", "bob"))
    G = Queue.objects.get(slug="generalist")
    moment, n = DAY_ONE, 0
    while moment < t(11, 20):
        case_type = B if n % 3 == 0 else A
        if n % 4 == 0:
            make_case(
                source,
                case_type,
                moment,
                outcome="auto_approved",
                status="auto_approved",
                decided_at=moment,
            )
        else:
            action = ("approve", "approve", "reject", "edit", "approve")[n % 5]
            status = {"approve": "approved", "reject": "rejected", "edit": "edited"}[action]
            decided = n % 4 != 3
            case = make_case(
                source,
                case_type,
                moment,
                outcome="queued",
                status=status if decided else "pending_review",
                decided_at=moment + timedelta(minutes=40) if decided else None,
                sla_due_at=moment + timedelta(minutes=30 if n % 7 == 0 else 120),
            )
            if decided:
                first, other = (alice, bob) if n % 2 else (bob, alice)
                seconds = 1.5 + (n % 11) if first is alice else 30.0 + 7 * (n % 13)
                first_review(case, first, action, seconds, wait=60.0 * (n % 29))
                if n % 6 == 1:
                    again = "approve" if action != "approve" else "reject"
                    decide(
                        case,
                        other,
                        action=again if n % 12 == 1 else action,
                        stage="second_review",
                        seconds=12.0,
                        at=moment + timedelta(minutes=45),
                    )
            if n % 5 == 0:
                done = n % 10 == 0
                enqueue(
                    case,
                    G,
                    moment,
                    state="done" if done else "open",
                    closed_at=moment + timedelta(minutes=40) if done else None,
                )
            if n % 9 == 0:
                breach(case, moment + timedelta(hours=3))
        moment += timedelta(minutes=47 + n % 7)
        n += 1
    return SimpleNamespace(A=A, B=B, alice=alice, bob=bob)


def _variants(days: SimpleNamespace) -> list[dict[str, Any]]:
    return [
        {"window": "24h"},
        {"window": "7d"},
        {"window": "24h", "case_type_id": days.B.pk},
        {"window": "7d", "case_type_id": days.A.pk},
    ]


@pytest.mark.parametrize(
    "now",
    [
        t(11, 30),  # windows end part-way into the 10th; 7d holds the 7th, 8th and 9th whole
        t(0, 30),  # the current hour is the 10th's first: the 24h window is the 9th's last 23
        t(23, 30, day=9),  # the 24h window is the whole 9th; the window before, the whole 8th
        t(12, 0, day=8),  # windows before the first case, and ones crossing midnight
    ],
)
def test_day_rollups_change_no_figure(days, now):
    variants = _variants(days)
    on_read = [metrics_summary(now=now, **v) for v in variants]
    rollups_catch_up(now=now, max_hours=24 * 5)
    assert RolledDay.objects.exists()
    from_days = [metrics_summary(now=now, **v) for v in variants]
    # The same hours without their day rows (as before day rollups existed):
    RolledDay.objects.all().delete()
    stored_clear()
    from_hours = [metrics_summary(now=now, **v) for v in variants]
    for variant, read, with_days, hours_only in zip(
        variants, on_read, from_days, from_hours, strict=True
    ):
        assert with_days == read, variant
        assert hours_only == read, variant
    assert on_read[1]["figures"]["received"] > 0
    assert on_read[1]["reviewers"]


def test_whole_days_are_read_from_day_rows(days):
    now = t(23, 30, day=9)
    rollups_catch_up(now=now, max_hours=24 * 5)
    before = metrics_summary(window="24h", now=now)
    week = metrics_summary(window="7d", now=now)
    eighth, seventh = t(0, day=8), t(0, day=7)
    assert set(RolledDay.objects.values_list("day", flat=True)) == {seventh, eighth}
    # Mark the day rows: the window before the 24h one is exactly the 8th, and the 7d
    # window holds the 7th and the 8th whole (the 9th's 23:00 is not rolled yet).
    CaseTypeDay.objects.filter(day=eighth, case_type=days.A).update(received=F("received") + 1000)
    ReviewerDay.objects.filter(day=seventh, reviewer=days.alice).update(
        decisions=F("decisions") + 100
    )
    stored_clear()
    assert metrics_summary(window="24h", now=now)["previous"]["received"] == (
        before["previous"]["received"] + 1000
    )
    marked = metrics_summary(window="7d", now=now)["reviewers"]
    decisions = {r["reviewer"]: r["decisions"] for r in week["reviewers"]}
    assert {r["reviewer"]: r["decisions"] for r in marked} == {
        "alice": decisions["alice"] + 100,
        "bob": decisions["bob"],
    }


# --- the cache of stored figures -----------------------------------------------------------


def _late_decision(days: SimpleNamespace, at: datetime) -> None:
    """A first review written after its hour was rolled up, but stamped inside it."""
    carol = get_user_model().objects.create_user(username="carol")
    case = make_case(Case.objects.first().source, days.A, at - timedelta(minutes=5))
    decide(case, carol, action="approve", stage="first_review", seconds=3, at=at)


def test_stored_rollups_are_read_once_per_window_and_hour(days):
    rollups_catch_up(now=NOW, max_hours=24 * 5)
    with CaptureQueriesContext(connection) as first:
        summary = metrics_summary(window="7d", now=NOW)
    with CaptureQueriesContext(connection) as again:
        assert metrics_summary(window="7d", now=NOW) == summary
    rollup_tables = ("metrics_casetypehour", "metrics_casetypeday", "metrics_reviewer")
    assert any(table in q["sql"] for q in first.captured_queries for table in rollup_tables)
    assert not any(table in q["sql"] for q in again.captured_queries for table in rollup_tables)
    # the current hour is still computed from the raw tables on every read
    assert any("reviews_decision" in q["sql"] for q in again.captured_queries)
    assert len(again.captured_queries) < len(first.captured_queries)


def test_a_new_case_in_the_current_hour_counts_at_once(days, source):
    rollups_catch_up(now=NOW, max_hours=24 * 5)
    received = metrics_summary(window="24h", now=NOW)["figures"]["received"]
    make_case(source, days.A, t(11, 25), outcome="queued")
    assert metrics_summary(window="24h", now=NOW)["figures"]["received"] == received + 1


@pytest.mark.parametrize("same_process", [True, False])
def test_rolling_an_hour_again_refreshes_cached_figures(days, same_process):
    rollups_catch_up(now=NOW, max_hours=24 * 5)
    cached = metrics_summary(window="7d", now=NOW)
    assert "carol" not in [r["reviewer"] for r in cached["reviewers"]]
    _late_decision(days, t(9, 20))
    # Until 09:00 is rolled again, its stored rows (without carol) are what count.
    assert metrics_summary(window="7d", now=NOW) == cached
    if same_process:
        rollup_store(t(9))
    else:
        # Rolled by the task's process: this process's entries are not cleared, the stamp
        # (the hour's new rolled_at) makes them miss.
        with patch("metrics.rollups.stored_clear"):
            rollup_store(t(9))
    refreshed = metrics_summary(window="7d", now=NOW)
    assert [r["decisions"] for r in refreshed["reviewers"] if r["reviewer"] == "carol"] == [1]
    assert refreshed["figures"]["received"] == cached["figures"]["received"] + 1
    stored_clear()
    # Everything on read again (the day marks stay, but stand for hours no longer stored):
    RolledHour.objects.all().delete()
    assert metrics_summary(window="7d", now=NOW) == refreshed
