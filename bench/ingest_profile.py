"""Bulk ingestion in-process: CPU per case in Django and in PostgreSQL, and a cProfile.

Run on demand, never as a test::

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/other .venv/bin/python \\
        bench/ingest_profile.py --requests 20 --profile 5

The database named by BENCH_DATABASE_URL is DROPPED and recreated, then migrated, with the
same source and case type as ``bench/ingest.py``. Then, in one ``manage.py shell`` process
(production settings), bulk bodies of ``--bulk-size`` cases (``ingest.case_body``) go through
the Django test client to ``POST /api/v1/cases/bulk/``: the CPU time of this process and of
its PostgreSQL backend (``/proc``) per case, mean over ``--requests`` requests after two
for warm-up and ``gc.freeze()`` as ``config/wsgi.py`` does (``--no-gc-freeze``: without it);
then cProfile (CPU-time clock) over ``--profile`` more, by own time and by
cumulative time. Quicker and steadier than a full ``bench/ingest.py`` run for comparing two
versions of the code: the figures do not depend on what else the host is doing as much as
wall-clock rates do.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # see harness.py
from harness import manage, reset_database  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/loopgate_bench_profile"


def in_django(
    token: str, size: int, requests: int, profiled: int, top: int, save: str, freeze: bool
) -> None:
    import cProfile
    import gc
    import io
    import pstats
    import time

    import ingest  # type: ignore[import-not-found]
    from django.db import connection
    from django.test import Client

    client = Client(SERVER_NAME="localhost", HTTP_AUTHORIZATION=f"Token {token}")
    bodies = [
        json.dumps({"cases": [ingest.case_body() for _ in range(size)]}).encode()
        for _ in range(requests + profiled + 2)
    ]
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    hz = os.sysconf("SC_CLK_TCK")

    def backend_cpu() -> float:
        stat = Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(stat[11]) + int(stat[12])) / hz

    def post(body: bytes) -> Any:
        return client.post("/api/v1/cases/bulk/", body, content_type="application/json")

    def check(response: Any) -> None:
        assert response.status_code == 200, response.content[:300]
        assert json.loads(response.content)["created"] == size

    for body in bodies[:2]:
        check(post(body))
    if freeze:
        gc.freeze()  # as config/wsgi.py does once the application is loaded
    app_ms, db_ms = [], []
    for body in bodies[2 : 2 + requests]:
        cpu, db = time.process_time(), backend_cpu()
        response = post(body)
        app_ms.append((time.process_time() - cpu) * 1000 / size)
        db_ms.append((backend_cpu() - db) * 1000 / size)
        check(response)
    # Means: what throughput depends on (collections of the oldest generation are rare but long).
    app, db = statistics.mean(app_ms), statistics.mean(db_ms)
    print(
        f"{requests} requests of {size} cases: Django CPU {app:.3f} ms/case (median "
        f"{statistics.median(app_ms):.3f}, min {min(app_ms):.3f}, max {max(app_ms):.3f}), "
        f"PostgreSQL backend {db:.3f} ms/case; "
        f"CPU ceiling on {len(os.sched_getaffinity(0))} CPUs: "
        f"{len(os.sched_getaffinity(0)) / (app + db) * 1000:,.0f} cases/s"
    )
    if not profiled:
        return
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    responses = []
    for body in bodies[2 + requests :]:
        responses.append(post(body))
    profile.disable()
    for response in responses:
        check(response)
    if save:
        profile.dump_stats(save)
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(order).print_stats(top)
        text = out.getvalue()
        print(text[text.find("   ncalls") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bulk-size", type=int, default=1000, help="cases per bulk POST")
    parser.add_argument("--requests", type=int, default=20, help="timed requests")
    parser.add_argument("--profile", type=int, default=5, help="profiled requests (0: none)")
    parser.add_argument("--top", type=int, default=40, help="functions listed per order")
    parser.add_argument("--save", default="", help="also write the profile (pstats) here")
    parser.add_argument(
        "--no-gc-freeze", action="store_true", help="leave out config/wsgi.py's gc.freeze()"
    )
    args = parser.parse_args()
    db_url = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DB
    reset_database(db_url)
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(64)[:50],
        "SECURE_COOKIES": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
    }
    import ingest  # type: ignore[import-not-found]

    token = ingest.create_fixtures(env)
    call = json.dumps(
        [token, args.bulk_size, args.requests, args.profile, args.top, args.save]
        + [not args.no_gc_freeze]
    )
    code = (
        "import json, os, runpy, sys; "
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
        f"f = runpy.run_path({str(Path(__file__))!r}, run_name='bench_profile')['in_django']; "
        "f(*json.loads(os.environ['BENCH_CALL_ARGS']))"
    )
    print(manage({**env, "BENCH_CALL_ARGS": call}, "shell", "-c", code), end="")


if __name__ == "__main__":
    main()
