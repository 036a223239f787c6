"""The typed environment module: defaults, parsing, and loud failures naming the variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from config import env


def test_database_defaults_to_sqlite_in_wal_mode_with_immediate_transactions(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    config = env.database("DATABASE_URL", tmp_path / "db.sqlite3")
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(tmp_path / "db.sqlite3")
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]


def test_postgres_url_is_parsed_with_persistent_connections(monkeypatch, tmp_path):
    monkeypatch.setenv(
        "DATABASE_URL", "postgres://lg:p%40ss@db.internal:6543/loopgate?sslmode=require"
    )
    config = env.database("DATABASE_URL", tmp_path / "x")
    assert config == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "loopgate",
        "USER": "lg",
        "PASSWORD": "p@ss",
        "HOST": "db.internal",
        "PORT": "6543",
        "CONN_MAX_AGE": 600,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {"sslmode": "require"},
    }


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("mysql://x/y", "unsupported scheme 'mysql'"),
        ("postgres://host", "needs a database name"),
        ("postgres://host:port/db", "port is not a number"),
        ("sqlite://", "needs a file path"),
    ],
)
def test_bad_database_url_fails_naming_the_variable(monkeypatch, tmp_path, value, problem):
    monkeypatch.setenv("DATABASE_URL", value)
    with pytest.raises(env.ImproperlyConfiguredEnv, match=f"DATABASE_URL: .*{problem}"):
        env.database("DATABASE_URL", tmp_path / "x")


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("yes", True), ("off", False)])
def test_booleans(monkeypatch, value, expected):
    monkeypatch.setenv("DEBUG", value)
    assert env.boolean("DEBUG", not expected) is expected


def test_bad_boolean_and_integer_fail_loudly(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")
    monkeypatch.setenv("LOOPGATE_WORKERS", "two")
    with pytest.raises(env.ImproperlyConfiguredEnv, match="DEBUG"):
        env.boolean("DEBUG", False)
    with pytest.raises(env.ImproperlyConfiguredEnv, match="LOOPGATE_WORKERS"):
        env.integer("LOOPGATE_WORKERS", 2)


def test_file_variant_supplies_secrets(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("SECRET_KEY_FILE", str(secret))
    assert env.string("SECRET_KEY") == "from-a-file"


def test_redis_url_must_be_a_redis_url(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "http://localhost:6379")
    with pytest.raises(env.ImproperlyConfiguredEnv, match="REDIS_URL"):
        env.redis_url("REDIS_URL")


def test_redis_url_switches_the_django_q_broker():
    from config.django_q import q_cluster

    assert "orm" in q_cluster(redis_url=None, workers=2)
    redis = q_cluster(redis_url="redis://127.0.0.1:6379/0", workers=2)
    assert redis["redis"] == "redis://127.0.0.1:6379/0"
    assert "orm" not in redis


def _run_settings(module: str, **environ: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": module}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=Path(__file__).resolve().parents[2],
        env={**base, **environ},
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = _run_settings("config.settings.production", LOOPGATE_DATA_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_starts_with_a_real_secret_key(tmp_path):
    result = _run_settings(
        "config.settings.production", SECRET_KEY="x" * 50, LOOPGATE_DATA_DIR=str(tmp_path)
    )
    assert result.returncode == 0, result.stderr


def test_a_bad_value_stops_start_up_with_the_variables_name(tmp_path):
    result = _run_settings(
        "config.settings.local", DATABASE_URL="mysql://x/y", LOOPGATE_DATA_DIR=str(tmp_path)
    )
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr
