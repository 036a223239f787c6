"""Configuration that every ingestion reads (case types, routing policies, queues), cached
per process and kept exact by the configuration stamp.

Triggers on the configuration tables give ``ConfigStamp.stamp`` a new random value in the
same transaction as any change to them: saves, admin edits, ``QuerySet.update()``, raw SQL.
A cached value is used only while the stamp it was loaded under is still the stamp in the
database, so a change is seen by every process from the first request after its commit. The
stamp is random, not a counter, so a rolled-back change can never make an old cache entry
look current. Without a stamp row (a freshly flushed test database) nothing is cached."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from django.db import connection

T = TypeVar("T")

# Tables whose changes change the stamp.
WATCHED = {
    "cases": ["cases_casetype"],
    "routing": ["routing_queue", "routing_routingpolicy", "routing_policyversion"],
}
_UNREAD = object()
_stamp_var: ContextVar[Any] = ContextVar("loopgate_config_stamp", default=_UNREAD)
_cache: dict[str, tuple[tuple[str, str], Any]] = {}
_lock = threading.Lock()


def current_stamp() -> str | None:
    from cases.models import ConfigStamp

    stamp = _stamp_var.get()
    if stamp is _UNREAD:
        stamp = ConfigStamp.objects.filter(pk=1).values_list("stamp", flat=True).first()
    return stamp


@contextmanager
def config_read() -> Iterator[None]:
    """Read the stamp once for the whole block (one query, however many cached values)."""
    token = _stamp_var.set(current_stamp())
    try:
        yield
    finally:
        _stamp_var.reset(token)


def cached_config(name: str, load: Callable[[], T]) -> T:
    """``load()``'s result, loaded again only when the configuration changed. Names must
    include anything else the value depends on (a setting, say)."""
    stamp = current_stamp()
    if stamp is None:
        return load()
    key = (connection.alias, stamp)
    hit = _cache.get(name)
    if hit is not None and hit[0] == key:
        return hit[1]
    value = load()
    with _lock:
        _cache[name] = (key, value)
    return value


# --- triggers (used by the migrations) ------------------------------------------------------

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION loopgate_config_changed() RETURNS trigger AS $$
BEGIN
    UPDATE cases_configstamp SET stamp = md5(random()::text || clock_timestamp()::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""
SQLITE_NEW_STAMP = "UPDATE cases_configstamp SET stamp = lower(hex(randomblob(16)));"


def create_triggers(schema_editor: Any, tables: list[str]) -> None:
    vendor = schema_editor.connection.vendor
    for table in tables:
        if vendor == "postgresql":
            schema_editor.execute(PG_FUNCTION)
            schema_editor.execute(
                f"CREATE TRIGGER {table}_config_changed AFTER INSERT OR UPDATE OR DELETE "
                f"OR TRUNCATE ON {table} FOR EACH STATEMENT "
                "EXECUTE FUNCTION loopgate_config_changed()"
            )
        elif vendor == "sqlite":
            for operation in ("INSERT", "UPDATE", "DELETE"):
                schema_editor.execute(
                    f"CREATE TRIGGER {table}_config_{operation.lower()} AFTER {operation} "
                    f"ON {table} BEGIN {SQLITE_NEW_STAMP} END"
                )


def drop_triggers(schema_editor: Any, tables: list[str]) -> None:
    vendor = schema_editor.connection.vendor
    for table in tables:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_config_changed ON {table}")
        elif vendor == "sqlite":
            for operation in ("insert", "update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_config_{operation}")
