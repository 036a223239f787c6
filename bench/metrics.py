"""Metrics at scale: dashboard and summary API timings with 1,000,000 cases in PostgreSQL.

Run on demand, never as a test::

    .venv/bin/python bench/metrics.py [--cases 1000000] [--days 30]

The database named by BENCH_DATABASE_URL (default loopgate_bench_metrics) is DROPPED and
recreated and migrated; N cases spread over the last D days are seeded with COPY (a third
decided by people, with their decisions), then the hourly rollups are computed (timed), and
the summary API and the dashboard are timed in-process through the full Django stack
(URL routing, auth, view, JSON / template), cold, warm (stored rollups cached) and as cache
misses (stored rollups read again, as after each re-roll). Targets: dashboard < 300 ms,
summary API < 100 ms. Record the figures in docs/benchmarks.md.

With ``--reuse`` a database seeded by an earlier run is kept (only migrated, and its rollups
caught up), so iterating costs no reseed; its cases age, so reseed for figures to record.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))  # see harness.py
from harness import ROOT, manage, manage_env, reset_database  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/loopgate_bench_metrics"


def seeded(url: str) -> bool:
    """Whether the database exists and holds cases from an earlier run."""
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT EXISTS (SELECT 1 FROM cases_case)").fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0])


def seed(url: str, cases: int, days: int, rng: random.Random) -> float:
    """COPY cases (and decisions for the decided third); returns seconds."""
    setup = manage(
        manage_env(url),
        "shell",
        "-c",
        (
            "from cases.services import source_create, case_type_create, reviewer_create;"
            "from cases.roles import Role;"
            "s,_=source_create(name='bench'); t=case_type_create(actor=None,slug='refund',"
            "name='Refund',reason_codes=['other']);"
            "u,_=reviewer_create(username='rev',role=Role.GENERALIST,password=None);"
            "from routing.models import Queue; q=Queue.objects.get(slug='generalist');"
            "print(s.pk,t.pk,u.pk,q.pk)"
        ),
    )
    source_id, type_id, reviewer_id, queue_id = map(int, setup.split()[-4:])
    now = datetime.now(UTC)
    started = time.perf_counter()
    decisions: list[tuple[uuid.UUID, datetime, str, float]] = []
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY cases_case (id, source_id, external_id, case_type_id, input, ai_output, "
            "confidence, context, risk_tags, priority, metadata, payload_hash, status, routing, "
            "sla_due_at, fast_tracked, final_output, decided_at, decision, created_at, "
            "updated_at) FROM STDIN"
        ) as copy:
            for n in range(cases):
                created = now - timedelta(seconds=rng.uniform(0, days * 86400))
                confidence = round(rng.betavariate(5, 1.5), 3)
                auto = confidence >= 0.95
                action = rng.choice(["approve"] * 8 + ["reject", "edit"])
                decided = not auto and n % 3 == 0
                decided_at = None
                if decided:
                    decided_at = created + timedelta(minutes=rng.uniform(5, 300))
                elif auto:
                    decided_at = created
                status = "pending_review"
                if auto:
                    status = "auto_approved"
                elif decided:
                    status = {"approve": "approved", "reject": "rejected", "edit": "edited"}[action]
                routing = {
                    "outcome": "auto_approved" if auto else "queued",
                    "queue": None if auto else "generalist",
                    "policy_version": 1,
                }
                case_id = uuid.uuid4()
                copy.write_row(
                    (
                        case_id,
                        source_id,
                        f"e-{n}",
                        type_id,
                        '{"q": 1}',
                        '{"a": 1}',
                        confidence,
                        "[]",
                        "[]",
                        "normal",
                        "{}",
                        "0" * 64,
                        status,
                        json.dumps(routing),
                        created + timedelta(hours=4),
                        False,
                        None,
                        decided_at,
                        json.dumps({"action": action}) if decided else None,
                        created,
                        created,
                    )
                )
                if decided and decided_at is not None:
                    decisions.append((case_id, decided_at, action, rng.uniform(20, 400)))
        with cur.copy(
            "COPY reviews_decision (case_id, queue_id, reviewer_id, role, action, reason_code, "
            "comment, final_output, diff, seconds_to_decide, stage, created_at) FROM STDIN"
        ) as copy:
            for case_id, decided_at, action, seconds in decisions:
                copy.write_row(
                    (
                        case_id,
                        queue_id,
                        reviewer_id,
                        "generalist",
                        action,
                        "" if action == "approve" else "other",
                        "",
                        None,
                        "[]",
                        seconds,
                        "first_review",
                        decided_at,
                    )
                )
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the database if an earlier run seeded it (timings then see its cases, "
        "which age: reseed for figures to record)",
    )
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    print(
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    if args.reuse and seeded(url):
        manage(manage_env(url), "migrate", "--noinput")
        print("reusing the seeded database (--reuse)")
    else:
        reset_database(url)
        manage(manage_env(url), "migrate", "--noinput")
        seconds = seed(url, args.cases, args.days, random.Random(1))
        print(f"seeded {args.cases:,} cases in {seconds:.1f}s ({args.cases / seconds:,.0f}/s)")

    os.environ.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from cases.roles import Role, role_group
    from metrics.rollups import rollups_catch_up

    started = time.perf_counter()
    hours = rollups_catch_up(max_hours=args.days * 24 + 24)
    print(f"rolled up {hours} hours in {time.perf_counter() - started:.1f}s")

    user, _ = get_user_model().objects.get_or_create(username="bench-sup")
    user.groups.add(role_group(Role.SUPERVISOR))
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    from metrics.cache import stored_clear

    print(
        f"{'request':<28}{'cold ms':>9}{'p50 ms':>9}{'max ms':>9}{'miss p50':>10}{'miss max':>10}"
        "  target"
    )
    for label, url_path, target in (
        ("summary API 24h", "/api/v1/metrics/summary?window=24h", 100),
        ("summary API 7d", "/api/v1/metrics/summary?window=7d", 100),
        ("summary API 30d", "/api/v1/metrics/summary?window=30d", 100),
        ("dashboard 24h", "/dashboard/?window=24h", 300),
        ("dashboard 30d", "/dashboard/?window=30d", 300),
    ):
        stored_clear()
        timings, misses = [], []
        for _ in range(args.repeats + 1):
            started = time.perf_counter()
            response = client.get(url_path)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url_path, response.status_code)
        # A miss reads the stored rollups again (after each re-roll, every 10 minutes).
        for _ in range(args.repeats):
            stored_clear()
            started = time.perf_counter()
            response = client.get(url_path)
            misses.append((time.perf_counter() - started) * 1000)
        warm = timings[1:]
        worst = max(statistics.median(warm), statistics.median(misses))
        verdict = "met" if worst < target else "MISSED"
        print(
            f"{label:<28}{timings[0]:>9.1f}{statistics.median(warm):>9.1f}{max(warm):>9.1f}"
            f"{statistics.median(misses):>10.1f}{max(misses):>10.1f}  < {target} ms {verdict}"
        )


if __name__ == "__main__":
    main()
