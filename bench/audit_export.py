"""Audit export at scale: memory and throughput of ``manage.py audit_export`` over N records.

Run on demand, never as a test::

    .venv/bin/python bench/audit_export.py [--rows 1000000] [--keep-files]

The database named by BENCH_DATABASE_URL (default loopgate_bench_audit) is DROPPED and
recreated, migrated, and seeded with N chained audit records through COPY (hashes computed
by cases.auditing.record_hash itself). Then each export (jsonl, csv) runs in its own process
under /usr/bin/time -v, so the peak RSS is the export's own; the manifests are checked by
streaming SHA-256; and ``manage.py audit_verify`` is timed. On PostgreSQL the export lines
are rendered by the server, so the CPU time of the step's PostgreSQL backend is sampled too
(from /proc, when the server runs on this machine). The bench database is left in place for
inspection. Record the figures in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))  # see harness.py
from harness import ROOT, manage_env, reset_database  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/loopgate_bench_audit"
TARGET_RSS_MB, TARGET_RATE = 150.0, 50_000.0
COLUMNS = "seq occurred_at kind actor_id actor_label case_id reason data remote_addr prev_hash hash"
# One case's life in four events: (kind, actor_label, remote_addr, reason, data).
LIFECYCLE: list[tuple[str, str, str | None, str, dict[str, Any]]] = [
    ("case.received", "system", None, "Received from shop-api: refund request for a lost "
     "parcel, AI proposed a full refund.", {"source": "shop-api", "case_type": "refund"}),
    ("case.routed", "system", None, "Confidence 0.62 below the 0.80 threshold of policy v1: "
     "routed to the generalist queue.", {"queue": "generalist", "policy_version": 1}),
    ("case.claimed", "alice", "10.0.0.1", "Claimed from the generalist queue by the reviewer "
     "for a 15 minute lease.", {"queue": "generalist", "lease_minutes": 15}),
    ("case.decided", "alice", "10.0.0.1", "Approved as proposed: tracking shows no delivery "
     "scan for 14 days.", {"decision": "approve", "reason_code": "other", "edited": False}),
]  # fmt: skip


def seed(url: str, rows: int) -> tuple[int, float]:
    """COPY ``rows`` chained records after the existing tail; return (total, seconds)."""
    os.environ.update(manage_env(url))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from cases.auditing import GENESIS_HASH, record_hash
    from cases.models import AuditEvent

    event = AuditEvent(actor_id=None, case_id=None)  # never saved: only hashed
    datas = [json.dumps(spec[4], sort_keys=True) for spec in LIFECYCLE]
    base = datetime(2025, 1, 1, tzinfo=UTC)
    start = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT seq, hash FROM cases_auditevent ORDER BY seq DESC LIMIT 1")
        seq, prev = cur.fetchone() or (0, GENESIS_HASH)
        copy_sql = f"COPY cases_auditevent ({', '.join(COLUMNS.split())}) FROM STDIN"
        with cur.copy(copy_sql) as copy:
            for i in range(rows):
                kind, label, addr, reason, data = LIFECYCLE[i % 4]
                seq += 1
                event.seq, event.kind, event.actor_label = seq, kind, label
                event.reason, event.data, event.remote_addr = reason, data, addr
                event.occurred_at = base + timedelta(microseconds=i * 250_017)
                digest = record_hash(prev, event)
                copy.write_row(
                    (seq, event.occurred_at, kind, None, label, None, reason, datas[i % 4])
                    + (addr, prev, digest)
                )
                prev = digest
    seconds = time.perf_counter() - start
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE cases_auditevent")  # hint bits set: exports only read
    return seq, seconds


class BackendCpu:
    """Samples the CPU seconds (user + system, from /proc) of the other client backends on the
    bench database while a step runs; NaN when the server's processes are not visible here."""

    def __init__(self, url: str, interval: float = 0.1) -> None:
        self.url, self.interval = url, interval
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.visible = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _cpu(pid: int) -> float | None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _run(self) -> None:
        query = (
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.is_set():
                for (pid,) in conn.execute(query).fetchall():
                    cpu = self._cpu(pid)
                    if cpu is None:
                        self.visible = False
                        continue
                    self.first.setdefault(pid, 0.0)  # started during the step
                    self.last[pid] = cpu
                self._stop.wait(self.interval)

    def __enter__(self) -> BackendCpu:
        with psycopg.connect(self.url, autocommit=True) as conn:  # backends already there
            query = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            for (pid,) in conn.execute(query).fetchall():
                if (cpu := self._cpu(pid)) is not None:
                    self.first[pid] = cpu
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def seconds(self) -> float:
        """Under-counts by at most one interval of the last moments of each backend."""
        if not self.visible or not self.last:
            return float("nan")
        return sum(cpu - self.first.get(pid, 0.0) for pid, cpu in self.last.items())


def measured(env: dict[str, str], url: str, *args: str) -> tuple[float, float, float, float, str]:
    """Run manage.py in its own process; return (wall s, CPU s, PostgreSQL backend CPU s,
    peak RSS MB, stdout)."""
    timer = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else "")
    if timer:
        command = [timer, "-v", sys.executable, "manage.py", *args]
    else:  # no GNU time: a wrapper reporting its own peak RSS on the last stderr line
        code = (
            "import django,resource,sys;django.setup();from django.core.management import "
            "call_command;call_command(*sys.argv[1:]);"
            "u=resource.getrusage(resource.RUSAGE_SELF);print(f'User time (seconds): "
            "{u.ru_utime}\\nSystem time (seconds): {u.ru_stime}\\nMaximum resident set size "
            "(kbytes): {u.ru_maxrss}',file=sys.stderr)"
        )
        command = [sys.executable, "-c", code, *args]
    with BackendCpu(url) as backend:
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr[-4000:]}")
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    cpu = sum(map(float, re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", done.stderr)))
    rss = int(found.group(1)) / 1024 if found else float("nan")
    return seconds, cpu, backend.seconds, rss, done.stdout


def check_manifest(path: Path, fmt: str, total: int) -> dict[str, Any]:
    """Streaming equivalent of cases.audit_chain.verify_export (no whole-file read)."""
    digest, lines, pending = hashlib.sha256(), 0, b""
    with path.open("rb") as handle:
        for line in handle:
            if pending:
                digest.update(pending)
                lines += 1
            pending = line
    text = pending.rstrip(b"\n").decode()
    if fmt == "csv":
        text = next(csv.reader([text]))[1]
        lines -= 1  # the header line
    manifest = json.loads(text)["manifest"]
    sidecar = json.loads(path.with_name(path.name + ".manifest.json").read_text())
    assert manifest["sha256"] == digest.hexdigest() == sidecar["sha256"], f"{fmt}: sha256"
    assert manifest["count"] == lines == total, f"{fmt}: count {manifest['count']} != {total}"
    assert manifest["last_seq"] == total, f"{fmt}: last_seq {manifest['last_seq']}"
    return manifest


def machine(server_version: str) -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    cpu = model.group(1).strip() if model else platform.processor() or "unknown CPU"
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"PostgreSQL {server_version}, load average {os.getloadavg()[0]:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep-files", action="store_true", help="keep the export files")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    env = manage_env(url)
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M UTC}")
    server_version = reset_database(url)
    print(f"machine: {machine(server_version)}")
    migrate = [sys.executable, "manage.py", "migrate", "--noinput"]
    subprocess.run(migrate, cwd=ROOT, env=env, check=True, capture_output=True)
    total, seed_s = seed(url, args.rows)
    with psycopg.connect(url) as conn:
        size = conn.execute(
            "SELECT pg_table_size('cases_auditevent'), pg_total_relation_size('cases_auditevent')"
        ).fetchone()
    assert size is not None
    print(
        f"seeded {args.rows:,} records ({total:,} in the chain) in {seed_s:.1f}s: "
        f"{args.rows / seed_s:,.0f} rows/s; heap {size[0] / total:.0f} B/row, "
        f"table+indexes {size[1] / 2**20:,.0f} MB"
    )
    # step, wall s, CPU s (process), CPU s (PostgreSQL backend), peak RSS MB, note
    results: list[tuple[str, float, float, float, float, str]] = []
    files: list[Path] = []
    for fmt in ("jsonl", "csv"):
        out = Path(tempfile.gettempdir()) / f"loopgate-audit.{fmt}"  # /tmp on Linux
        files += [out, out.with_name(out.name + ".manifest.json")]
        wall, cpu, pg_cpu, rss, _ = measured(
            env, url, "audit_export", "--format", fmt, "--output", str(out)
        )
        file_mb = out.stat().st_size / 2**20
        print(
            f"export {fmt}: {wall:.1f}s, {total / wall:,.0f} rows/s ({cpu:.1f} CPU-s in the "
            f"export process, {pg_cpu:.1f} in its PostgreSQL backend), peak RSS {rss:.0f} MB, "
            f"file {file_mb:,.0f} MB"
        )
        start = time.perf_counter()
        check_manifest(out, fmt, total)
        check_s = time.perf_counter() - start
        print(f"  manifest {fmt}: sha256 and count == {total:,} OK ({check_s:.1f}s, streamed)")
        results.append((f"export {fmt}", wall, cpu, pg_cpu, rss, f"{file_mb:,.0f} MB"))
    wall, cpu, pg_cpu, rss, stdout = measured(env, url, "audit_verify")
    assert f"intact: {total} records" in stdout, stdout
    print(f"audit_verify: {stdout.strip()} in {wall:.1f}s: {total / wall:,.0f} rows/s")
    results.append(("audit_verify", wall, cpu, pg_cpu, rss, "-"))
    if not args.keep_files:
        for path in files:
            path.unlink(missing_ok=True)
    print(f"\ntargets (exports): peak RSS < {TARGET_RSS_MB:.0f} MB, > {TARGET_RATE:,.0f} rows/s")
    print(
        f"{'step':<13}{'wall s':>7}{'rows/s':>9}{'CPU s':>7}{'rows/CPU-s':>11}{'PG CPU s':>9}"
        f"{'peak RSS':>10}"
    )
    for name, wall, cpu, pg_cpu, rss_mb, note in results:
        line = f"{name:<13}{wall:>7.1f}{total / wall:>9,.0f}{cpu:>7.1f}{total / cpu:>11,.0f}"
        line += f"{pg_cpu:>9.1f}{rss_mb:>7.0f} MB  {note}"
        if name.startswith("export"):
            line += "  RSS " + ("met" if rss_mb < TARGET_RSS_MB else "MISSED")
            line += ", rate " + ("met" if total / wall > TARGET_RATE else "MISSED")
        print(line)
    print(f"\nmachine at the end: {machine(server_version)}")
    kept = "kept: " + ", ".join(map(str, files)) if args.keep_files else "temp files removed"
    print(f"bench database left in place: {urlsplit(url).path.lstrip('/')}; {kept}")


if __name__ == "__main__":
    main()
