"""The audit trail: named business events written by services in their own transaction,
chained with SHA-256 so that any change behind the application's back shows; plus which
models django-auditlog watches (their field changes join the same chain)."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from cases import raw_rows
from cases.bulk import JsonText, bulk_insert, insert_rows, new_instance
from cases.canonical_json import canonical_json, canonical_scalar
from cases.models import AuditEvent, Case

GENESIS_HASH = "0" * 64
# Key of the PostgreSQL advisory lock that serializes chain appends (until commit).
CHAIN_LOCK_KEY = 0x4C6F6F70  # "Loop"


def register_models() -> None:
    from auditlog.models import LogEntry
    from auditlog.registry import auditlog
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db.models.signals import post_save

    from cases.models import CaseType, Source

    auditlog.register(Source, exclude_fields=["signing_secret"])
    auditlog.register(CaseType)
    auditlog.register(
        Case,
        # Never payload fields: audit records are immutable, personal data must be redactable.
        include_fields=[
            "status",
            "priority",
            "sla_due_at",
            "fast_tracked",
            "decided_at",
            "redacted_at",
        ],
    )
    auditlog.register(Group, m2m_fields={"permissions"})
    from guardian.models import GroupObjectPermission, UserObjectPermission

    # Object permission grants (who may work which queue). The short-lived per-claim grants
    # are made with auditlog disabled: case.claimed / case.released events record those.
    auditlog.register(GroupObjectPermission)
    auditlog.register(UserObjectPermission)
    auditlog.register(
        get_user_model(),
        include_fields=["username", "email", "is_active", "is_staff", "is_superuser"],
        m2m_fields={"groups"},
    )
    post_save.connect(_chain_log_entry, sender=LogEntry, dispatch_uid="loopgate-chain-logentry")


def _chain_log_entry(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """Each django-auditlog field change also becomes a chained audit record."""
    if not created:
        return
    actions = {0: "created", 1: "updated", 2: "deleted", 3: "accessed"}
    actor = instance.actor if instance.actor_id else None
    model = f"{instance.content_type.app_label}.{instance.content_type.model}"
    case_id = instance.object_pk if model == "cases.case" else None
    audit_event_record(
        kind=f"record.{actions.get(instance.action, 'changed')}",
        actor=actor,
        case=Case(pk=case_id) if case_id else None,
        data={
            "model": model,
            "object_pk": str(instance.object_pk),
            "object": instance.object_repr,
            "changes": instance.changes_dict,
            "logentry": instance.pk,
        },
        remote_addr=instance.remote_addr,
    )


@contextmanager
def acting_as(actor: User | None) -> Iterator[None]:
    """Attribute django-auditlog entries to ``actor``, keeping the request's address."""
    from auditlog.context import auditlog_value, set_actor

    try:
        current = auditlog_value.get()
    except LookupError:
        current = {}
    with set_actor(
        actor, remote_addr=current.get("remote_addr"), remote_port=current.get("remote_port")
    ):
        yield


def _request_addr() -> str | None:
    from auditlog.context import auditlog_value

    try:
        return auditlog_value.get().get("remote_addr")
    except LookupError:
        return None


@dataclass(frozen=True)
class EventSpec:
    kind: str
    case: Case | None = None
    reason: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class AuditRow:
    """A record of a bulk write, chained like any other but inserted without building a model
    instance (there can be thousands): the fields of an AuditEvent but its id."""

    occurred_at: datetime
    kind: str
    actor_id: int | None
    actor_label: str
    case_id: Any
    reason: str
    data: dict[str, Any]
    remote_addr: str | None
    data_json: str  # data as the canonical encoder writes it: hashed and stored
    seq: int = 0
    prev_hash: str = ""
    hash: str = ""
    # The canonical bytes up to the seq, made with the row: chaining, which holds the chain
    # lock, then only adds the seq and hashes.
    unsequenced: bytes = field(init=False, default=b"")

    def __post_init__(self) -> None:
        head, occurred, addr = _batch_json(
            self.actor_id, self.actor_label, self.occurred_at, self.remote_addr
        )
        case_id = str(self.case_id) if self.case_id else None
        j = canonical_scalar
        self.unsequenced = (
            f'{head}"case_id":{j(case_id)},"data":{self.data_json},"kind":{j(self.kind)},'
            f'"occurred_at":{occurred},"reason":{j(self.reason)},"remote_addr":{addr},"seq":'
        ).encode()

    def values(self) -> tuple[Any, ...]:
        """The values of ``ROW_COLUMNS``."""
        return (
            self.occurred_at,
            self.kind,
            self.actor_id,
            self.actor_label,
            self.case_id,
            self.reason,
            JsonText(self.data_json),
            self.remote_addr,
            self.seq,
            self.prev_hash,
            self.hash,
        )

    def canonical(self) -> bytes:
        """``canonical(self)`` assembled from the JSON of its fields, ``data`` encoded once
        for the hash and the insert: the same bytes, which a test holds it to."""
        return self.unsequenced + canonical_scalar(self.seq).encode() + b"}"


@functools.lru_cache(maxsize=16, typed=True)
def _batch_json(
    actor_id: int | None, actor_label: str, occurred_at: datetime, remote_addr: str | None
) -> tuple[str, str, str]:
    """The JSON of the fields every record of a batch shares (the canonical object's head,
    ``occurred_at`` and ``remote_addr``), made once per batch."""
    j = canonical_scalar
    occurred = occurred_at.astimezone(UTC).isoformat(timespec="microseconds")
    return (
        f'{{"actor_id":{j(actor_id)},"actor_label":{j(actor_label)},',
        j(occurred),
        j(remote_addr),
    )


ROW_COLUMNS = (
    "occurred_at",
    "kind",
    "actor_id",
    "actor_label",
    "case_id",
    "reason",
    "data",
    "remote_addr",
    "seq",
    "prev_hash",
    "hash",
)
Record = TypeVar("Record", bound=AuditEvent | AuditRow)


def canonical(event: AuditEvent | AuditRow) -> bytes:
    """The bytes a record's hash covers: every field but the hash itself."""
    if type(event) is AuditRow:
        return event.canonical()
    occurred = event.occurred_at.astimezone(UTC).isoformat(timespec="microseconds")
    return canonical_json(
        {
            "seq": event.seq,
            "occurred_at": occurred,
            "kind": event.kind,
            "actor_id": event.actor_id,
            "actor_label": event.actor_label,
            "case_id": str(event.case_id) if event.case_id else None,
            "reason": event.reason,
            "data": event.data,
            "remote_addr": event.remote_addr,
        }
    ).encode()


def record_hash(prev_hash: str, event: AuditEvent | AuditRow) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(event)).hexdigest()


_SCALARS = frozenset((str, int, bool, type(None)))


def _normalized(data: dict[str, Any]) -> Any:
    # Store exactly what was hashed: JSON in, JSON out, whatever the database does to it.
    # A flat object of strings, integers, booleans and nulls (most events, and every one an
    # ingestion writes) is already that; anything else makes the round trip.
    if _flat(data):
        return dict(data)
    return json.loads(json.dumps(data, default=str, sort_keys=True))


def _flat(data: dict[str, Any]) -> bool:
    return all(type(key) is str and type(value) in _SCALARS for key, value in data.items())


def _normalized_json(data: dict[str, Any]) -> tuple[Any, str]:
    """``_normalized(data)`` and its canonical JSON. A flat object of strings, integers,
    booleans and nulls holds no float, the one thing orjson writes otherwise than
    canonical_json, so orjson writes it (or refuses it: an integer beyond 64 bits, a lone
    surrogate, and then canonical_json does)."""
    if _flat(data):
        try:
            return dict(data), orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()
        except TypeError:
            return dict(data), canonical_json(data)
    normalized = _normalized(data)
    return normalized, canonical_json(normalized)


def _chain_tail() -> tuple[int, str]:
    """Take the chain for this transaction and return its last (seq, hash)."""
    table = AuditEvent._meta.db_table
    with raw_rows.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        # Plain SQL: every write of every request runs this.
        cursor.execute(f"SELECT seq, hash FROM {table} ORDER BY seq DESC LIMIT 1")  # noqa: S608
        last = cursor.fetchone()
    return (int(last[0]), str(last[1])) if last else (0, GENESIS_HASH)


# Records waiting for the end of the innermost audited_transaction() block, if any.
_pending: ContextVar[list[AuditEvent | AuditRow] | None] = ContextVar(
    "loopgate_audit_pending", default=None
)


@contextmanager
def audited_transaction() -> Iterator[None]:
    """``transaction.atomic()`` whose audit records are chained when the block ends.

    Chaining takes the chain lock until COMMIT, and every writer waits for it. Records made
    inside the block (by services, and django-auditlog's field changes mirrored into the
    chain) are held back and appended in one INSERT as the block's last statement, so the
    lock is held for that INSERT and the COMMIT only, not for the whole transaction. Usable
    as a decorator. Nested blocks hand their records to the enclosing one when they succeed
    and drop them when they roll back, like the rest of their writes."""
    rows: list[AuditEvent | AuditRow] = []
    outer = _pending.get()
    token = _pending.set(rows)
    reset = False
    try:
        with transaction.atomic():
            yield
            _pending.reset(token)
            reset = True
            if outer is not None:
                outer.extend(rows)
            elif rows:
                _append(rows)
    finally:
        if not reset:
            _pending.reset(token)


def _record(rows: list[Record]) -> list[Record]:
    """Chain now, or at the end of the enclosing audited_transaction()."""
    pending = _pending.get()
    if pending is None:
        return _append(rows)
    pending.extend(rows)
    return rows


def _append(rows: list[Record]) -> list[Record]:
    # No savepoint: the chain lock must be held by the caller's transaction until it commits.
    with transaction.atomic(savepoint=False):
        seq, prev = _chain_tail()
        for row in rows:
            seq += 1
            row.seq, row.prev_hash = seq, prev
            row.hash = prev = record_hash(prev, row)
        _insert(rows)
        return rows


def _insert(rows: Sequence[AuditEvent | AuditRow]) -> None:
    light = [row.values() for row in rows if isinstance(row, AuditRow)]
    if len(light) == len(rows):
        insert_rows(AuditEvent, ROW_COLUMNS, light)
    else:
        bulk_insert(
            AuditEvent,
            [
                new_instance(
                    AuditEvent,
                    **{**dict(zip(ROW_COLUMNS, row.values(), strict=True)), "data": row.data},
                )
                if isinstance(row, AuditRow)
                else row
                for row in rows
            ],
        )


def _actor_fields(actor: User | None) -> dict[str, Any]:
    if actor is None:
        return {"actor": None, "actor_label": "system"}
    return {"actor": actor, "actor_label": actor.get_username()}


def audit_event_record(
    *,
    kind: str,
    actor: User | None,
    case: Case | None = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
    remote_addr: str | None = None,
) -> AuditEvent:
    event = new_instance(
        AuditEvent,
        kind=kind,
        case=case,
        reason=reason,
        data=_normalized(data or {}),
        occurred_at=timezone.now(),
        remote_addr=remote_addr or _request_addr(),
        **_actor_fields(actor),
    )
    return _record([event])[0]


def audit_events_record_many(*, actor: User | None, events: Iterable[EventSpec]) -> list[AuditRow]:
    """Many events, one lock and one INSERT (bulk ingestion)."""
    now = timezone.now()
    actor_id, label = (None, "system") if actor is None else (actor.pk, actor.get_username())
    addr = _request_addr()
    rows = []
    for spec in events:
        data, data_json = _normalized_json(spec.data)
        rows.append(
            AuditRow(
                occurred_at=now,
                kind=spec.kind,
                actor_id=actor_id,
                actor_label=label,
                case_id=spec.case.pk if spec.case is not None else None,
                reason=spec.reason,
                data=data,
                remote_addr=addr,
                data_json=data_json,
            )
        )
    return _record(rows)


def case_access_record(*, case: Case, user: User, channel: str) -> None:
    """Who looked at a case's detail, when, from where, and through what (ui, api, admin,
    compliance). Only people are recorded; systems reading their own cases are not."""
    if getattr(user, "source", None) is not None:
        return
    audit_event_record(kind="case.viewed", actor=user, case=case, data={"channel": channel})
