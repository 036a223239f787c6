"""What every benchmark script needs around its measurements: a fresh PostgreSQL database,
``manage.py`` in a subprocess, and gunicorn on a free loopback port.

The scripts import it as a sibling (``from harness import ...``): they are run as files
(``python bench/claim.py``), so this directory is on ``sys.path``; each script puts it there
itself as well, for when a ``manage.py shell`` process runs parts of it with ``runpy``."""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent


def reset_database(url: str, template: str | None = None) -> str:
    """Drop and recreate the database, empty or as a copy of database ``template`` (to which
    nobody may be connected); return the server version."""
    drop_database(url)
    maintenance, name = _maintenance(url)
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(create)
        return str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]


def drop_database(url: str) -> None:
    maintenance, name = _maintenance(url)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _maintenance(url: str) -> tuple[str, str]:
    """The URL of the server's maintenance database, and the name of ``url``'s database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/")


def manage_env(url: str) -> dict[str, str]:
    """The environment for ``manage.py`` against the benchmark database."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }


def manage(env: dict[str, str], *args: str) -> str:
    """Run ``manage.py`` and return its output; stop the benchmark if it fails."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr[-4000:]}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn(
    db_url: str, workers: int, worker_class: str = "sync", threads: int = 1
) -> Iterator[tuple[int, int]]:
    """Run gunicorn (production settings) on a free loopback port until the block ends;
    yield its port and pid."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(64)[:50],
        "SECURE_COOKIES": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": db_url,
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}"]
    command += ["-w", str(workers), "--worker-class", worker_class]
    if worker_class == "gthread":  # with sync, --threads > 1 would switch to gthread
        command += ["--threads", str(threads)]
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
        )
        try:
            wait_ready(proc, port, log)
            yield port, proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def wait_ready(proc: subprocess.Popen[Any], port: int, log: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            sys.exit(f"gunicorn exited with {proc.returncode}:\n{log.read()[-4000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/schema/")
            conn.getresponse().read()
            conn.close()
            return
        except (OSError, http.client.HTTPException):
            time.sleep(0.2)
    raise TimeoutError(f"gunicorn did not answer on port {port} within {timeout:.0f}s")
