"""Reading the audit chain: verification, and streaming exports with a manifest."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import chain
from typing import Any, NamedTuple, cast

from django.db import connections, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from cases.auditing import GENESIS_HASH, record_hash
from cases.models import AuditEvent

EXPORT_FIELDS = [
    "seq",
    "occurred_at",
    "kind",
    "actor_id",
    "actor_label",
    "case_id",
    "reason",
    "data",
    "remote_addr",
    "prev_hash",
    "hash",
]
FORMATS = ("csv", "jsonl")


@dataclass(frozen=True)
class ChainReport:
    intact: bool
    count: int
    broken_seq: int | None = None
    problem: str = ""

    def __str__(self) -> str:
        if self.intact:
            return f"intact: {self.count} records"
        return f"broken at seq {self.broken_seq}: {self.problem} ({self.count} verified before it)"


# occurred_at exactly as datetime.isoformat(timespec="microseconds") writes it in UTC.
_PG_OCCURRED_AT = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""


class _Hashed(NamedTuple):
    """The fields ``cases.auditing.canonical`` reads, without building a model instance."""

    seq: int
    occurred_at: datetime
    kind: str
    actor_id: int | None
    actor_label: str
    case_id: Any
    reason: str
    data: Any
    remote_addr: str | None


_VERIFY_FIELDS = [*_Hashed._fields, "prev_hash", "hash"]


def _chain_rows(chunk_size: int) -> Generator[tuple[_Hashed, str, str], None, None]:
    """Every record in ``seq`` order as (hashed fields, prev_hash, hash), from one snapshot.
    On PostgreSQL a raw server-side cursor (timestamp and JSON parsed by C code, no ORM
    converters); elsewhere ``values_list`` (the same values the model instances would hold)."""
    events = AuditEvent.objects.order_by("seq")
    db = connections[events.db]
    if db.vendor != "postgresql":
        for values in events.values_list(*_VERIFY_FIELDS).iterator(chunk_size=chunk_size):
            yield _Hashed(*values[:9]), values[9], values[10]
        return
    columns = {
        "occurred_at": _PG_OCCURRED_AT.format("occurred_at"),
        "case_id": "case_id::text",
        "data": "data::text",
        "remote_addr": "abbrev(remote_addr)",  # the inet output function: no /32
    }
    select = ", ".join(columns.get(name, name) for name in _VERIFY_FIELDS)
    table = db.ops.quote_name(AuditEvent._meta.db_table)
    parse_time, parse_json = datetime.fromisoformat, json.loads
    # A server-side cursor needs a transaction (a savepoint inside an outer one).
    with transaction.atomic(using=events.db), db.chunked_cursor() as cursor:
        cursor.execute(f"SELECT {select} FROM {table} ORDER BY seq")  # noqa: S608 - constants
        while rows := cursor.fetchmany(chunk_size):
            for seq, at, kind, actor, label, case, reason, data, addr, prev, digest in rows:
                fields = _Hashed(
                    seq, parse_time(at), kind, actor, label, case, reason, parse_json(data), addr
                )
                yield fields, prev, digest


def audit_chain_verify(*, chunk_size: int = 5000) -> ChainReport:
    """Walk the whole chain in order and report the first broken link."""
    prev, expected_seq, count = GENESIS_HASH, 1, 0
    with closing(_chain_rows(chunk_size)) as rows:  # ends the cursor's transaction early
        for event, prev_hash, digest in rows:
            if event.seq != expected_seq:
                return ChainReport(
                    False, count, event.seq, f"expected seq {expected_seq}: a record is missing"
                )
            if prev_hash != prev:
                return ChainReport(
                    False, count, event.seq, "prev_hash does not match the record before it"
                )
            # record_hash reads only the attributes _Hashed has.
            if record_hash(prev, cast(AuditEvent, event)) != digest:
                return ChainReport(
                    False,
                    count,
                    event.seq,
                    "the record's content does not match its hash (changed after it was written)",
                )
            prev, expected_seq, count = digest, expected_seq + 1, count + 1
    return ChainReport(True, count)


@dataclass(frozen=True)
class ExportFilter:
    since: datetime | None = None
    until: datetime | None = None
    case: str | None = None
    source: str | None = None
    actor: str | None = None
    kinds: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> dict[str, Any]:
        values = asdict(self)
        for key in ("since", "until"):
            if values[key] is not None:
                values[key] = values[key].isoformat()
        values["kinds"] = list(self.kinds)
        return values


def audit_events_filtered(f: ExportFilter) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.all()
    if f.since is not None:
        events = events.filter(occurred_at__gte=f.since)
    if f.until is not None:
        events = events.filter(occurred_at__lt=f.until)
    if f.case:
        events = events.filter(case_id=f.case)
    if f.source:
        events = events.filter(Q(case__source__name=f.source) | Q(actor__source__name=f.source))
    if f.actor:
        events = events.filter(actor_label=f.actor)
    if f.kinds:
        events = events.filter(kind__in=f.kinds)
    return events.order_by("seq")


def _row(values: tuple[Any, ...]) -> dict[str, Any]:
    record = dict(zip(EXPORT_FIELDS, values, strict=True))
    record["occurred_at"] = record["occurred_at"].astimezone(UTC).isoformat(timespec="microseconds")
    record["case_id"] = str(record["case_id"]) if record["case_id"] else None
    return record


def _pg_csv_text(expression: str) -> str:
    """A CSV field, always quoted (quotes doubled): it may hold commas, quotes, newlines."""
    return f"""'"' || replace(coalesce({expression}, ''), '"', '""') || '"'"""


# The export's columns rendered by PostgreSQL, from the filtered query aliased as ``e``.
_PG_VALUES = {
    "seq": "e.seq",
    "occurred_at": _PG_OCCURRED_AT.format("e.occurred_at"),
    "kind": "e.kind",
    "actor_id": "e.actor_id",
    "actor_label": "e.actor_label",
    "case_id": "e.case_id::text",
    "reason": "e.reason",
    "data": "e.data",
    "remote_addr": "abbrev(e.remote_addr)",  # the inet output function: no /32
    "prev_hash": "e.prev_hash",
    "hash": "e.hash",
}
# A JSON Lines line: keys sorted; PostgreSQL escapes the strings.
_PG_JSONL = "SELECT row_to_json(r)::text || E'\\n' FROM (SELECT {} FROM ({}) e) r ORDER BY r.seq"
_PG_CSV = "SELECT {} || E'\\n' FROM ({}) e ORDER BY e.seq"
_PG_CSV_TEXT = {"kind", "actor_label", "reason", "data", "prev_hash", "hash"}


class AuditExport:
    """An export, line by line, in constant memory (a server-side cursor on PostgreSQL).
    The last line is the manifest, whose ``sha256`` covers every byte before that line;
    once iterated, ``manifest`` holds it too.

    On PostgreSQL, PostgreSQL itself renders each line (``row_to_json`` for JSON Lines, a
    quoting expression for CSV) and blocks of ``chunk_size`` lines are fetched from a
    server-side cursor in a transaction (a savepoint inside an outer one) and yielded as one
    bytes chunk each. The values are the same as on the Python path (used on other databases),
    but not always the bytes: JSON Lines are compact (``{"actor_id":null,...}``) with ``data``
    as PostgreSQL prints jsonb (its own key order); CSV text fields are always quoted and
    ``data`` is jsonb text too. Every record still parses with ``json.loads`` / ``csv`` and
    re-hashes to its ``hash`` with ``cases.auditing.record_hash``; the manifest is the same.
    """

    def __init__(self, f: ExportFilter, fmt: str, *, chunk_size: int = 5000) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}")
        self.filter, self.format, self.chunk_size = f, fmt, chunk_size
        self.manifest: dict[str, Any] | None = None
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n")

    def _csv_line(self, values: list[Any]) -> bytes:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow(values)
        return self._buffer.getvalue().encode()

    def _line(self, record: dict[str, Any]) -> bytes:
        if self.format == "jsonl":
            return (json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode()
        return self._csv_line(
            [
                json.dumps(record["data"], sort_keys=True, ensure_ascii=False)
                if name == "data"
                else ("" if record[name] is None else record[name])
                for name in EXPORT_FIELDS
            ]
        )

    def __iter__(self) -> Iterator[bytes]:
        digest = hashlib.sha256()
        tally: dict[str, Any] = {"count": 0, "first": None, "last": None}
        if self.format == "csv":
            header = self._csv_line(EXPORT_FIELDS)
            digest.update(header)
            yield header
        events = audit_events_filtered(self.filter)
        if connections[events.db].vendor == "postgresql":
            body = self._rendered_by_postgresql(events, tally)
        else:
            body = self._rendered_in_python(events, tally)
        for chunk in body:
            digest.update(chunk)
            yield chunk
        first, last = tally["first"], tally["last"]
        self.manifest = {
            "format": self.format,
            "generated_at": timezone.now().isoformat(),
            "filters": self.filter.describe(),
            "count": tally["count"],
            "first_seq": first["seq"] if first else None,
            "last_seq": last["seq"] if last else None,
            "first_prev_hash": first["prev_hash"] if first else None,
            "first_hash": first["hash"] if first else None,
            "last_hash": last["hash"] if last else None,
            "sha256": digest.hexdigest(),
            "hash_rule": "hash = sha256(prev_hash + canonical JSON of seq, occurred_at, kind, "
            "actor_id, actor_label, case_id, reason, data, remote_addr; keys sorted, no spaces)",
        }
        wrapped = json.dumps({"manifest": self.manifest}, sort_keys=True)
        if self.format == "jsonl":
            yield (wrapped + "\n").encode()
        else:
            yield self._csv_line(["#manifest", wrapped])

    def _rendered_in_python(
        self, events: QuerySet[AuditEvent], tally: dict[str, Any]
    ) -> Iterator[bytes]:
        rows = events.values_list(*EXPORT_FIELDS)
        for values in rows.iterator(chunk_size=self.chunk_size):
            record = _row(values)
            tally["count"] += 1
            tally["first"] = tally["first"] or record
            tally["last"] = record
            yield self._line(record)

    def _rendered_by_postgresql(
        self, events: QuerySet[AuditEvent], tally: dict[str, Any]
    ) -> Iterator[bytes]:
        # The filtered query as Django builds it (its parameters stay parameters), unordered:
        # ordering outside keeps it a plain index scan on seq.
        inner, params = events.order_by().values_list(*EXPORT_FIELDS).query.sql_with_params()
        if self.format == "jsonl":
            columns = ", ".join(f'{_PG_VALUES[name]} AS "{name}"' for name in sorted(EXPORT_FIELDS))
            sql = _PG_JSONL.format(columns, inner)
        else:
            fields = [
                _pg_csv_text(_PG_VALUES[name] + ("::text" if name == "data" else ""))
                if name in _PG_CSV_TEXT
                else f"coalesce(({_PG_VALUES[name]})::text, '')"
                for name in EXPORT_FIELDS
            ]
            sql = _PG_CSV.format(" || ',' || ".join(fields), inner)
        first_line = last_line = None
        # A server-side cursor needs a transaction: this generator holds one open while it is
        # consumed (after the view returned, for a StreamingHttpResponse) and ends it when
        # exhausted or closed (GeneratorExit rolls it back; the export only reads).
        with transaction.atomic(using=events.db), connections[events.db].chunked_cursor() as cur:
            cur.execute(sql, params)
            while rows := cur.fetchmany(self.chunk_size):
                tally["count"] += len(rows)
                first_line = first_line or rows[0][0]
                last_line = rows[-1][0]
                yield "".join(chain.from_iterable(rows)).encode()
        if first_line is not None and last_line is not None:
            tally["first"], tally["last"] = self._parsed(first_line), self._parsed(last_line)

    def _parsed(self, line: str) -> dict[str, Any]:
        """seq, prev_hash and hash of one rendered line (for the manifest)."""
        if self.format == "jsonl":
            record = json.loads(line)
        else:
            record = dict(zip(EXPORT_FIELDS, next(csv.reader(io.StringIO(line))), strict=True))
            record["seq"] = int(record["seq"])
        return {key: record[key] for key in ("seq", "prev_hash", "hash")}


def verify_export(content: bytes) -> dict[str, Any]:
    """Check an export offline: the manifest's SHA-256 and count against the lines before
    it. Returns the manifest; raises ValueError when it does not match."""
    body, _, manifest_line = content.rstrip(b"\n").rpartition(b"\n")
    body += b"\n" if body else b""
    text = manifest_line.decode()
    if text.startswith("#manifest,"):
        text = next(csv.reader([text]))[1]
    manifest = json.loads(text)["manifest"]
    if hashlib.sha256(body).hexdigest() != manifest["sha256"]:
        raise ValueError("the export's SHA-256 does not match its manifest")
    lines = body.count(b"\n") - (1 if manifest["format"] == "csv" else 0)
    if manifest["format"] == "jsonl" and lines != manifest["count"]:
        raise ValueError("the export's record count does not match its manifest")
    return manifest
