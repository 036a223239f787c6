"""Typed access to the process environment.

Every setting that comes from the environment is read here, through helpers that
fail at start-up with a message naming the variable, never later with a confusing
error somewhere else. A ``NAME_FILE`` variable (a path) may stand in for ``NAME``
so that secrets can come from mounted files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit


class ImproperlyConfiguredEnv(Exception):
    """An environment variable holds a value Loopgate cannot use."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"Environment variable {name}: {problem}")
        self.name = name


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def raw(name: str) -> str | None:
    """The variable's value, read from ``NAME_FILE`` when that is set instead."""
    file_var = f"{name}_FILE"
    if file_var in os.environ:
        path = Path(os.environ[file_var])
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise ImproperlyConfiguredEnv(file_var, f"cannot read {path}: {exc}") from exc
    return os.environ.get(name)


def string(name: str, default: str | None = None) -> str | None:
    value = raw(name)
    return default if value is None else value


def boolean(name: str, default: bool) -> bool:
    value = raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfiguredEnv(name, f"expected true/false, got {value!r}")


def integer(name: str, default: int, *, minimum: int | None = None) -> int:
    value = raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfiguredEnv(name, f"expected an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfiguredEnv(name, f"must be at least {minimum}, got {number}")
    return number


def string_list(name: str, default: list[str]) -> list[str]:
    value = raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def database(name: str, default_sqlite_path: Path) -> dict[str, Any]:
    """A Django DATABASES entry from a URL: ``postgres://`` or ``sqlite:///path``.

    Without the variable, an SQLite file in WAL mode with immediate transactions:
    one writer at a time never deadlocks on a lock upgrade.
    """
    url = raw(name)
    if url is None or url == "":
        return _sqlite(default_sqlite_path)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in {"postgres", "postgresql", "pgsql"}:
        if not parts.path.strip("/"):
            raise ImproperlyConfiguredEnv(name, "a PostgreSQL URL needs a database name")
        options = dict(parse_qsl(parts.query))
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfiguredEnv(name, "the port is not a number") from None
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(port or ""),
            "CONN_MAX_AGE": integer("DATABASE_CONN_MAX_AGE", 600, minimum=0),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    if scheme == "sqlite":
        # sqlite:///relative/path or sqlite:////absolute/path
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not path:
            raise ImproperlyConfiguredEnv(name, "an SQLite URL needs a file path")
        return _sqlite(Path(path))
    raise ImproperlyConfiguredEnv(
        name, f"unsupported scheme {scheme!r}: use postgres://... or sqlite:///path"
    )


def _sqlite(path: Path) -> dict[str, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                "PRAGMA foreign_keys=ON;"
                "PRAGMA busy_timeout=20000;"
            ),
        },
    }


def redis_url(name: str) -> str | None:
    url = raw(name)
    if not url:
        return None
    scheme = urlsplit(url).scheme
    if scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfiguredEnv(name, f"expected a redis:// URL, got scheme {scheme!r}")
    return url


def fraction(name: str, default: float) -> float:
    """A number from 0 to 1."""
    value = raw(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfiguredEnv(
            name, f"expected a number from 0 to 1, got {value!r}"
        ) from None
    if not 0 <= number <= 1:
        raise ImproperlyConfiguredEnv(name, f"must be from 0 to 1, got {number}")
    return number


def optional_integer(name: str, *, minimum: int | None = None) -> int | None:
    if raw(name) in (None, ""):
        return None
    return integer(name, 0, minimum=minimum)
