"""Ingestion throughput: Loopgate's case API under gunicorn against raw PostgreSQL limits.

Run on demand, never as a test::

    make bench-ingest                                   # defaults
    make bench-ingest BENCH_ARGS="--seconds 20 --worker-class sync --workers 4"
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/other .venv/bin/python bench/ingest.py

The database named by BENCH_DATABASE_URL is DROPPED and recreated, then migrated. The run
starts gunicorn (production settings) on a free loopback port, measures single-case POSTs at
1 and 8 clients and bulk POSTs of 1,000 cases at 1 and 2 clients, then the raw limits of the
same database (one-row INSERT transactions from 8 threads; executemany of 10,000 rows), and
prints a summary with ratios and targets. Record the figures in docs/benchmarks.md.

Besides wall-clock rates it prints the CPU each run cost per item (gunicorn workers and the
PostgreSQL backends, read from /proc) and the share of the host's CPUs the run got: on a
shared machine the rates drop but the CPU cost per item stays comparable.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import platform
import random
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

sys.path.insert(0, str(Path(__file__).resolve().parent))  # see harness.py
from harness import drop_database, gunicorn, manage, reset_database  # noqa: E402

NCPU = len(os.sched_getaffinity(0))  # what nproc prints
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/loopgate_bench"
TARGET_SINGLE, TARGET_BULK = 200.0, 10_000.0
WORDS = "refund parcel never arrived customer order late damaged box courier tracking".split()
MESSAGES = [" ".join(random.choices(WORDS, k=90))[:600] for _ in range(64)]
_ids = itertools.count()
_run = secrets.token_hex(4)
CASE_TYPE_CODE = (
    "from cases.services import case_type_create; "
    "case_type_create(actor=None, slug='refund', name='Refund', reason_codes=['other'])"
)


def case_body() -> dict[str, Any]:
    """One case of about 1 KB of JSON, with a unique external id."""
    n = next(_ids)
    amount = round(random.uniform(1, 500), 2)
    return {
        "external_id": f"bench-{_run}-{n}",
        "case_type": "refund",
        "input": {"order_id": n, "customer_message": random.choice(MESSAGES)},
        "ai_output": {"decision": "refund", "amount": 12.5},
        "confidence": random.random(),
        "context": [{"text": "Lost parcels are refunded in full.", "source": "kb", "score": 0.9}],
        "metadata": {"amount": amount},
    }


# --- set-up -------------------------------------------------------------------------------


def create_fixtures(env: dict[str, str]) -> str:
    """Migrate, create the source and the case type; return the source token."""
    manage(env, "migrate", "--noinput")
    token = manage(env, "create_source", "bench-src").strip().splitlines()[-1].strip()
    manage(env, "shell", "-c", CASE_TYPE_CODE)
    return token


# --- load ---------------------------------------------------------------------------------

Meter = Callable[[], tuple[float, float, float]]


def cpu_meter(database: str, gunicorn_pid: int = 0) -> Meter:
    """CPU seconds used so far by gunicorn's workers, by the PostgreSQL backends of
    ``database`` and by this process (the clients). Counts what the run itself costs, which
    stays meaningful when other work shares the host."""
    hz, title = os.sysconf("SC_CLK_TCK"), f" {database} ".encode()

    def sample() -> tuple[float, float, float]:
        app = db = 0
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            ticks = int(stat[11]) + int(stat[12])  # utime + stime
            if gunicorn_pid and int(stat[1]) == gunicorn_pid:
                app += ticks
            elif cmdline.startswith(b"postgres: ") and title in cmdline:
                db += ticks
        return app / hz, db / hz, time.process_time()

    return sample


@dataclass
class Result:
    requests: int = 0
    items: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cpu: tuple[float, float, float] = (0.0, 0.0, 0.0)  # app, db, clients: seconds

    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


Client = Callable[[Result, Callable[[], AbstractContextManager[None]]], None]


def run_clients(clients: int, client: Client, meter: Meter) -> Result:
    """Run ``client`` in ``clients`` threads. Each prepares, then enters ``timed()``: the
    clock and the CPU meter run from when all have entered until all have left (before
    anyone closes a connection). Stops the benchmark if any request failed."""
    barrier = threading.Barrier(clients + 1)
    parts = [Result() for _ in range(clients)]

    @contextmanager
    def timed() -> Iterator[None]:
        barrier.wait()
        yield
        barrier.wait()  # all done: the main thread samples ...
        barrier.wait()  # ... then everyone may clean up

    def guarded(part: Result) -> None:
        try:
            client(part, timed)
        except Exception as exc:  # a dead client is a failure, reported after the join
            part.errors.append(f"{type(exc).__name__}: {exc}")
            barrier.abort()

    threads = [threading.Thread(target=guarded, args=(p,)) for p in parts]
    for thread in threads:
        thread.start()
    with suppress(threading.BrokenBarrierError):
        barrier.wait()
    start, before = time.perf_counter(), meter()
    with suppress(threading.BrokenBarrierError):
        barrier.wait()
    seconds, after = time.perf_counter() - start, meter()
    with suppress(threading.BrokenBarrierError):
        barrier.wait()
    for thread in threads:
        thread.join()
    errors = [e for p in parts for e in p.errors]
    if errors:
        sys.exit(f"FAILED: {len(errors)} failed request(s); first: {errors[0]}")
    return Result(
        requests=sum(p.requests for p in parts),
        items=sum(p.items for p in parts),
        seconds=seconds,
        latencies=[x for p in parts for x in p.latencies],
        cpu=(after[0] - before[0], after[1] - before[1], after[2] - before[2]),
    )


def http_load(
    port: int, token: str, meter: Meter, clients: int, batch: int, seconds: float, requests: int
) -> Result:
    """Each client POSTs on its own keep-alive connection, one request at a time: single
    cases (``batch`` 0, expect 201) for ``seconds``, or ``requests`` prepared bulk bodies of
    ``batch`` cases (expect 200 and every case created)."""
    path = "/api/v1/cases/bulk/" if batch else "/api/v1/cases/"
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def client(part: Result, timed: Callable[[], AbstractContextManager[None]]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        bodies: Iterable[bytes] = (json.dumps(case_body()).encode() for _ in itertools.count())
        if batch:
            cases = ([case_body() for _ in range(batch)] for _ in range(requests))
            bodies = [json.dumps({"cases": items}).encode() for items in cases]
        with timed():
            deadline = time.perf_counter() + seconds if not batch else float("inf")
            for body in bodies:
                if (start := time.perf_counter()) >= deadline:
                    break
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                status, reply = response.status, response.read()
                part.latencies.append(time.perf_counter() - start)
                part.requests += 1
                if not batch and status == 201:
                    part.items += 1
                elif batch and status == 200 and orjson.loads(reply).get("created") == batch:
                    part.items += batch
                else:
                    part.errors.append(f"HTTP {status}: {reply[:300]!r}")
        conn.close()

    return run_clients(clients, client, meter)


# --- raw PostgreSQL limits ----------------------------------------------------------------

RAW_TABLE = """CREATE TABLE bench_raw (id bigserial PRIMARY KEY, external_id text,
    body jsonb, created_at timestamptz DEFAULT now())"""
RAW_INSERT = "INSERT INTO bench_raw (external_id, body) VALUES (%s, %s)"


def raw_row() -> tuple[str, Jsonb]:
    body = case_body()
    return body["external_id"], Jsonb(body)


def raw_inserts(url: str, meter: Meter, clients: int, seconds: float) -> Result:
    """One INSERT per transaction (autocommit: one round trip, one WAL flush per row)."""

    def client(part: Result, timed: Callable[[], AbstractContextManager[None]]) -> None:
        with psycopg.connect(url, autocommit=True) as conn, timed():
            deadline = time.perf_counter() + seconds
            while (start := time.perf_counter()) < deadline:
                conn.execute(RAW_INSERT, raw_row())
                part.latencies.append(time.perf_counter() - start)
                part.requests += 1
                part.items += 1

    return run_clients(clients, client, meter)


def raw_executemany(url: str, meter: Meter, rows: int, repeats: int) -> Result:
    """``rows`` INSERTs in one transaction with executemany (pipelined by psycopg 3)."""

    def client(part: Result, timed: Callable[[], AbstractContextManager[None]]) -> None:
        batches = [[raw_row() for _ in range(rows)] for _ in range(repeats)]
        with psycopg.connect(url) as conn, timed():
            for params in batches:
                start = time.perf_counter()
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(RAW_INSERT, params)
                part.latencies.append(time.perf_counter() - start)
                part.requests += 1
                part.items += rows

    return run_clients(1, client, meter)


# --- the data model's floor -----------------------------------------------------------------

# The rows one ingested case writes, table by table, in the order ingestion writes them.
FLOOR_TABLES = (
    ("cases_case", "SELECT * FROM cases_case WHERE id = ANY({ids}) ORDER BY created_at, id"),
    (
        "routing_queueentry",
        "SELECT * FROM routing_queueentry WHERE case_id = ANY({ids}) ORDER BY id",
    ),
    ("cases_auditevent", "SELECT * FROM cases_auditevent WHERE case_id = ANY({ids}) ORDER BY seq"),
)


def floor_batches(url: str, cases: int, size: int) -> list[list[bytes]]:
    """The COPY text of the rows that the last ``cases`` ingested cases wrote (the case, its
    queue entries, its audit events), in batches of ``size`` cases."""
    batches = []
    with psycopg.connect(url) as conn:
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM cases_case ORDER BY created_at DESC, id LIMIT %s", [cases]
            )
        ]
        for start in range(0, len(ids), size):
            chunk, texts = ids[start : start + size], []
            for _table, query in FLOOR_TABLES:
                select = sql.SQL(query).format(ids=sql.Literal(chunk))
                statement = sql.SQL("COPY ({}) TO STDOUT").format(select)
                with conn.cursor().copy(statement) as copy:
                    texts.append(b"".join(bytes(data) for data in copy))
            batches.append(texts)
    return batches


def floor_copy(url: str, meter: Meter, clients: int, batches: list[list[bytes]]) -> Result:
    """The same rows again, into a copy of the database as it was before the load: one
    transaction per batch, COPY per table, ``clients`` connections taking batches in turn.
    What PostgreSQL alone needs to store ingested cases (every index and foreign-key check
    included), with nothing computed per case: the schema's limit."""
    todo = iter(batches)
    lock = threading.Lock()

    def client(part: Result, timed: Callable[[], AbstractContextManager[None]]) -> None:
        with psycopg.connect(url) as conn, timed():
            while True:
                with lock:
                    batch = next(todo, None)
                if batch is None:
                    return
                start = time.perf_counter()
                with conn.transaction():
                    for (table, _), text in zip(FLOOR_TABLES, batch, strict=True):
                        with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                            copy.write(text)
                part.latencies.append(time.perf_counter() - start)
                part.requests += 1
                part.items += batch[0].count(b"\n")

    return run_clients(clients, client, meter)


# --- report -------------------------------------------------------------------------------


def machine(pg_version: str) -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    return (
        f"{NCPU} CPUs ({models[0] if models else platform.processor()}), "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}; "
        f"PostgreSQL {pg_version}; Django {version('django')}; gunicorn {version('gunicorn')}"
    )


def row(name: str, result: Result, unit: str) -> Result:
    """One line of the table: throughput, latency, CPU ms per item (app: gunicorn workers,
    or the psycopg client in raw runs; db: PostgreSQL backends), and share: CPU used by the
    run (app, db and clients) over its wall time and all CPUs. Well under 100% on a
    CPU-bound run means other work on the host took the rest."""
    app, db, clients = result.cpu
    per_item = 1000 / max(1, result.items)
    share = (app + db + clients) / (result.seconds * NCPU)
    print(
        f"| {name:<34} | {result.requests:>8} | {result.rate():>8,.0f} {unit:<7} "
        f"| {result.pct(0.50):>7.1f} | {result.pct(0.99):>7.1f} "
        f"| {(app or clients) * per_item:>6.2f} | {db * per_item:>6.2f} | {share:>5.0%} |",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="length of each timed run")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--worker-class", choices=["sync", "gthread"], default="sync")
    parser.add_argument("--threads", type=int, default=2, help="threads per gthread worker")
    parser.add_argument("--bulk-requests", type=int, default=20, help="bulk POSTs per client")
    parser.add_argument("--bulk-size", type=int, default=1000, help="cases per bulk POST")
    parser.add_argument("--raw-rows", type=int, default=10_000, help="rows per executemany")
    parser.add_argument("--raw-repeats", type=int, default=3, help="executemany repetitions")
    parser.add_argument(
        "--floor-cases", type=int, default=20_000, help="ingested cases replayed for the floor"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))  # run finally

    db_url = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DB
    database = urlsplit(db_url).path.lstrip("/")
    pg_version = reset_database(db_url)
    token = create_fixtures({**os.environ, "DATABASE_URL": db_url})
    # Copies of the database before any load, for the floor runs to store the same rows again.
    floors = {n: f"{database}_floor{n}" for n in (1, 2)}
    floor_urls = {
        n: urlsplit(db_url)._replace(path=f"/{name}").geturl() for n, name in floors.items()
    }
    for floor_url in floor_urls.values():
        reset_database(floor_url, template=database)
    threads = f" --threads {args.threads}" if args.worker_class == "gthread" else ""
    print(f"# Loopgate ingestion benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine(pg_version)}")
    print(
        f"server: gunicorn -w {args.workers} --worker-class {args.worker_class}{threads}; "
        f"case body {len(json.dumps(case_body()))} bytes; {args.seconds:g} s per timed run\n"
    )
    print(
        f"| {'run':<34} | requests | {'rate':>16} | p50 ms  | p99 ms  | app ms | db ms  | share |"
    )
    print(f"| {'-' * 34} | -------: | {'-' * 15}: | ------: | ------: | -----: | -----: | ----: |")

    runs: dict[str, Result] = {}
    with gunicorn(db_url, args.workers, args.worker_class, args.threads) as (port, pid):
        meter = cpu_meter(database, pid)
        http_load(port, token, meter, 8, 0, 2, 0)  # warm-up: each worker's first requests
        for n in (1, 8):
            result = http_load(port, token, meter, n, 0, args.seconds, 0)
            runs[f"single{n}"] = row(f"single POST, {n} client(s)", result, "req/s")
        for n in (1, 2):
            result = http_load(port, token, meter, n, args.bulk_size, 0, args.bulk_requests)
            name = f"bulk POST x{args.bulk_size}, {n} client(s)"
            runs[f"bulk{n}"] = row(name, result, "cases/s")

    batches = floor_batches(db_url, args.floor_cases, args.bulk_size)
    try:
        for n, floor_url in floor_urls.items():
            result = floor_copy(floor_url, cpu_meter(floors[n]), n, batches)
            runs[f"floor{n}"] = row(f"floor: same rows by COPY, {n} conn", result, "cases/s")
    finally:
        for floor_url in floor_urls.values():
            drop_database(floor_url)

    meter = cpu_meter(database)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(RAW_TABLE)
    try:
        result = raw_inserts(db_url, meter, 8, args.seconds)
        runs["raw1"] = row("raw INSERT, 1 row/txn, 8 threads", result, "rows/s")
        result = raw_executemany(db_url, meter, args.raw_rows, args.raw_repeats)
        runs["rawN"] = row(f"raw executemany x{args.raw_rows}, 1 txn", result, "rows/s")
    finally:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("DROP TABLE bench_raw")

    print("\n| figure | measured | raw limit | ratio | target | met | CPU ceiling |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: |")
    for name, ours, raw, target in (
        ("single POSTs/s, 8 clients", "single8", "raw1", TARGET_SINGLE),
        ("bulk cases/s, 1 client", "bulk1", "rawN", TARGET_BULK),
        ("bulk cases/s, 2 clients", "bulk2", "rawN", TARGET_BULK),
    ):
        measured, limit = runs[ours].rate(), runs[raw].rate()
        ceiling = NCPU * runs[ours].items / max(1e-9, runs[ours].cpu[0] + runs[ours].cpu[1])
        print(
            f"| {name} | {measured:,.0f} | {limit:,.0f} | {measured / limit:.1%} "
            f"| >= {target:,.0f} | {'yes' if measured >= target else 'NO'} | {ceiling:,.0f} |"
        )
    print(
        f"\nCPU ceiling: items per second if gunicorn and PostgreSQL had all {NCPU} CPUs to "
        "themselves at the CPU cost measured (no clients, no waiting): an upper bound, not a "
        "measurement."
    )
    floor = runs["floor2"]
    db_per_case = floor.cpu[1] / max(1, floor.items)
    app_per_case = runs["bulk2"].cpu[0] / max(1, runs["bulk2"].items)
    budget = NCPU / TARGET_BULK - db_per_case
    print(
        f"\nFloor: the rows of the last {floor.items:,} ingested cases stored again by COPY, "
        f"{args.bulk_size:,} cases per transaction, with nothing computed per case (every "
        f"index and foreign-key check included): {floor.rate():,.0f} cases/s at 2 connections, "
        f"PostgreSQL {db_per_case * 1000:.3f} ms of CPU per case. At {TARGET_BULK:,.0f} "
        f"cases/s that leaves {budget * 1000:.3f} ms of CPU per case for everything else on "
        f"{NCPU} CPUs (HTTP, JSON, validation, routing, hashing, the clients); the bulk "
        f"endpoint's workers used {app_per_case * 1000:.3f} ms."
    )


if __name__ == "__main__":
    main()
