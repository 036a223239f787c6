"""The tamper-evident audit trail: chain, trigger, verification, exports, manifest."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import UTC, timedelta, timezone
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone as django_timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.audit_chain import (
    FORMATS,
    AuditExport,
    ExportFilter,
    audit_chain_verify,
    verify_export,
)
from cases.auditing import GENESIS_HASH, audit_event_record, audited_transaction, record_hash
from cases.canonical_json import canonical_json
from cases.models import AuditEvent
from cases.tests.factories import CaseTypeFactory, SourceFactory, case_payload

pytestmark = pytest.mark.django_db


def _events(n: int, **kwargs: Any) -> list[AuditEvent]:
    return [
        audit_event_record(
            kind=kwargs.get("kind", "test.event"), actor=None, reason=f"number {i}", data={"i": i}
        )
        for i in range(n)
    ]


def test_each_record_chains_to_the_one_before_it():
    events = _events(3)
    first = AuditEvent.objects.order_by("seq").first()
    assert first.prev_hash == GENESIS_HASH
    for before, after in zip(events, events[1:], strict=False):
        assert after.seq == before.seq + 1
        assert after.prev_hash == before.hash
    for event in AuditEvent.objects.order_by("seq"):
        assert event.hash == record_hash(event.prev_hash, event)


def test_verify_reports_intact_with_the_count():
    _events(5)
    out = StringIO()
    call_command("audit_verify", stdout=out)
    total = AuditEvent.objects.count()
    assert out.getvalue().strip() == f"intact: {total} records"


def _tamper(sql: str, params: list[Any]) -> None:
    """Change a record behind the application's back (the trigger disabled on PostgreSQL)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # a superuser can switch triggers off
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = origin")


def test_verify_finds_a_record_changed_behind_its_back():
    events = _events(4)
    target = events[2]
    _tamper("UPDATE cases_auditevent SET reason = %s WHERE id = %s", ["rewritten", target.pk])

    report = audit_chain_verify()
    assert not report.intact
    assert report.broken_seq == target.seq
    assert "content does not match its hash" in report.problem
    err = StringIO()
    with pytest.raises(SystemExit) as caught:
        call_command("audit_verify", stderr=err)
    assert caught.value.code == 1
    assert f"broken at seq {target.seq}" in err.getvalue()


def test_verify_finds_a_deleted_record():
    events = _events(4)
    _tamper("DELETE FROM cases_auditevent WHERE id = %s", [events[1].pk])
    report = audit_chain_verify()
    assert (report.intact, report.broken_seq) == (False, events[2].seq)
    assert "missing" in report.problem


@pytest.mark.postgres
def test_the_database_refuses_update_and_delete_on_audit_records(admin_user):
    from auditlog.models import LogEntry

    from cases.services import case_type_create

    event = _events(1)[0]
    case_type_create(actor=admin_user, slug="refund", name="Refund")
    entry = LogEntry.objects.latest("pk")
    attempts = [
        ("UPDATE cases_auditevent SET reason = 'x' WHERE id = %s", event.pk),
        ("DELETE FROM cases_auditevent WHERE id = %s", event.pk),
        ("UPDATE auditlog_logentry SET object_repr = 'x' WHERE id = %s", entry.pk),
        ("DELETE FROM auditlog_logentry WHERE id = %s", entry.pk),
    ]
    for sql, pk in attempts:
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, [pk])
    assert AuditEvent.objects.get(pk=event.pk).reason == "number 0"
    assert LogEntry.objects.get(pk=entry.pk).object_repr == "refund"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_the_chain_intact():
    barrier = threading.Barrier(8)

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(25):
                with transaction.atomic():
                    audit_event_record(kind="test.concurrent", actor=None, data={"w": n, "i": i})
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert AuditEvent.objects.filter(kind="test.concurrent").count() == 200
    report = audit_chain_verify()
    assert report.intact, str(report)


def test_an_audited_transaction_chains_its_records_when_it_ends():
    before = AuditEvent.objects.count()
    with audited_transaction():
        first = audit_event_record(kind="test.deferred", actor=None, data={"n": 1})
        audit_event_record(kind="test.deferred", actor=None, data={"n": 2})
        assert AuditEvent.objects.count() == before  # held back until the block ends
        assert first.pk is None
    rows = list(AuditEvent.objects.filter(kind="test.deferred").order_by("seq"))
    assert [row.data["n"] for row in rows] == [1, 2]
    assert rows[1].seq == rows[0].seq + 1 and rows[1].prev_hash == rows[0].hash
    assert first.pk == rows[0].pk
    assert audit_chain_verify().intact


def test_a_nested_audited_transaction_that_rolls_back_drops_its_records():
    with audited_transaction():
        audit_event_record(kind="test.kept", actor=None)
        with pytest.raises(RuntimeError), audited_transaction():
            audit_event_record(kind="test.dropped", actor=None)
            raise RuntimeError("roll back the inner block")
        with audited_transaction():
            audit_event_record(kind="test.kept", actor=None)
    assert AuditEvent.objects.filter(kind="test.kept").count() == 2
    assert not AuditEvent.objects.filter(kind="test.dropped").exists()
    assert audit_chain_verify().intact


def test_an_audited_transaction_that_fails_writes_nothing():
    with pytest.raises(RuntimeError), audited_transaction():
        audit_event_record(kind="test.failed", actor=None)
        raise RuntimeError("roll back")
    assert not AuditEvent.objects.filter(kind="test.failed").exists()
    audit_event_record(kind="test.after", actor=None)  # not held back any more
    assert AuditEvent.objects.filter(kind="test.after").exists()


@pytest.mark.postgres
def test_an_audited_transaction_takes_the_chain_lock_only_at_its_end():
    from django.test.utils import CaptureQueriesContext

    from cases.auditing import CHAIN_LOCK_KEY

    with CaptureQueriesContext(connection) as captured, audited_transaction():
        audit_event_record(kind="test.early", actor=None)
        AuditEvent.objects.filter(kind="test.early").exists()  # more work after the record
        CaseTypeFactory()
    sqls = [q["sql"] for q in captured.captured_queries]
    lock = next(i for i, sql in enumerate(sqls) if str(CHAIN_LOCK_KEY) in sql)
    # The lock, the chain's tail and the INSERT close the block; nothing runs after them.
    assert lock == len(sqls) - 4 and sqls[-2].startswith('INSERT INTO "cases_auditevent"')


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_audited_transactions_keep_the_chain_intact():
    barrier = threading.Barrier(6)

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(20):
                with audited_transaction():
                    audit_event_record(kind="test.deferred_concurrent", actor=None, data={"i": i})
                    audit_event_record(kind="test.deferred_concurrent", actor=None, data={"w": n})
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert AuditEvent.objects.filter(kind="test.deferred_concurrent").count() == 240
    report = audit_chain_verify()
    assert report.intact, str(report)


def test_django_auditlog_changes_join_the_chain(admin_user):
    from cases.services import case_type_create

    case_type_create(actor=admin_user, slug="refund", name="Refund")
    record = AuditEvent.objects.filter(kind="record.created", data__model="cases.casetype").get()
    assert record.actor == admin_user
    assert record.data["changes"]["slug"] == ["None", "refund"]
    assert audit_chain_verify().intact


# --- export ------------------------------------------------------------------------------


@pytest.fixture
def trail(client_for: Any) -> dict[str, Any]:
    CaseTypeFactory(slug="refund")
    shop, other = SourceFactory(name="shop"), SourceFactory(name="other")
    a = (
        client_for(shop.api_key)
        .post("/api/v1/cases/", case_payload(external_id="a"), format="json")
        .json()
    )
    b = (
        client_for(other.api_key)
        .post("/api/v1/cases/", case_payload(external_id="b"), format="json")
        .json()
    )
    return {"a": a["id"], "b": b["id"]}


def _export(f: ExportFilter, fmt: str) -> bytes:
    return b"".join(AuditExport(f, fmt))


def test_jsonl_export_parses_and_its_manifest_verifies(trail):
    content = _export(ExportFilter(), "jsonl")
    lines = content.decode().splitlines()
    records = [json.loads(line) for line in lines[:-1]]
    manifest = json.loads(lines[-1])["manifest"]
    assert manifest["count"] == len(records) == AuditEvent.objects.count()
    assert [r["seq"] for r in records] == sorted(r["seq"] for r in records)
    assert manifest["first_hash"] == records[0]["hash"]
    assert manifest["last_hash"] == records[-1]["hash"]
    assert verify_export(content)["sha256"] == manifest["sha256"]
    # every record can be re-hashed offline from the exported fields alone
    for record in records:
        event = AuditEvent(**{k: v for k, v in record.items() if k not in {"hash", "prev_hash"}})
        event.occurred_at = django_timezone.datetime.fromisoformat(record["occurred_at"])
        assert record_hash(record["prev_hash"], event) == record["hash"]


def test_csv_export_parses_with_the_standard_library(trail):
    content = _export(ExportFilter(case=trail["a"]), "csv")
    rows = list(csv.reader(io.StringIO(content.decode())))
    header, body, manifest_row = rows[0], rows[1:-1], rows[-1]
    assert header[:3] == ["seq", "occurred_at", "kind"]
    assert manifest_row[0] == "#manifest"
    assert json.loads(manifest_row[1])["manifest"]["count"] == len(body)
    assert {row[header.index("case_id")] for row in body} == {trail["a"]}
    assert [row[2] for row in body] == ["case.received", "case.routed"]
    assert verify_export(content)["format"] == "csv"


def test_a_changed_export_fails_verification(trail):
    content = _export(ExportFilter(), "jsonl").replace(b"case.routed", b"case.rooted", 1)
    with pytest.raises(ValueError, match="SHA-256"):
        verify_export(content)


def test_export_filters(trail, admin_user):
    now = django_timezone.now()
    audit_event_record(kind="policy.published", actor=admin_user)

    def kinds(**kwargs: Any) -> list[str]:
        lines = _export(ExportFilter(**kwargs), "jsonl").decode().splitlines()[:-1]
        return [json.loads(line)["kind"] for line in lines]

    assert kinds(kinds=("policy.published",)) == ["policy.published"]
    assert kinds(actor="ada") == ["policy.published"]
    assert set(kinds(source="other")) >= {"case.received", "case.routed"}
    assert "case.received" not in kinds(source="nobody")
    assert kinds(since=now + timedelta(hours=1)) == []
    assert kinds(until=now - timedelta(days=1)) == []


def test_export_command_writes_the_file_and_its_manifest(trail, tmp_path):
    target = tmp_path / "audit.jsonl"
    call_command("audit_export", "--format", "jsonl", "--output", str(target), stderr=StringIO())
    manifest = json.loads((tmp_path / "audit.jsonl.manifest.json").read_text())
    assert verify_export(target.read_bytes())["sha256"] == manifest["sha256"]
    assert manifest["count"] == AuditEvent.objects.count()


def test_verify_finds_a_bad_prev_hash():
    events = _events(4)
    _tamper("UPDATE cases_auditevent SET prev_hash = %s WHERE id = %s", ["f" * 64, events[2].pk])
    report = audit_chain_verify(chunk_size=2)
    assert (report.intact, report.broken_seq, report.count) == (
        False,
        events[2].seq,
        events[2].seq - 1,
    )
    assert "prev_hash does not match" in report.problem


# --- export on PostgreSQL: lines rendered by the database --------------------------------

TRICKY_REASON = 'quote " comma , newline \n cr \r tab \t backslash \\ ctrl \x01 é ✓ \u2028 end'
TRICKY_DATA = {"b": 1, "a": {"z": [1, 2.5, None, True], "é": 'x"y\\z\n'}, "aa": "long", "": 0}


@pytest.fixture
def tricky(trail, admin_user) -> list[AuditEvent]:
    from cases.models import Case

    return [
        audit_event_record(
            kind="test.tricky",
            actor=admin_user,
            case=Case(pk=trail["a"]),
            reason=TRICKY_REASON,
            data=TRICKY_DATA,
            remote_addr="2001:db8::1",
        ),
        audit_event_record(kind="test.tricky", actor=None, reason="", remote_addr="10.0.0.1"),
    ]


def _python_rendered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make AuditExport render every line in Python, whatever the database."""
    monkeypatch.setattr(AuditExport, "_rendered_by_postgresql", AuditExport._rendered_in_python)


def _rehashed(record: dict[str, Any]) -> str:
    event = AuditEvent(**{k: v for k, v in record.items() if k not in {"hash", "prev_hash"}})
    event.occurred_at = django_timezone.datetime.fromisoformat(record["occurred_at"])
    return record_hash(record["prev_hash"], event)


def _csv_records(content: bytes) -> list[dict[str, Any]]:
    rows = list(csv.reader(io.StringIO(content.decode())))
    header, body = rows[0], rows[1:-1]
    records = []
    for row in body:
        record: dict[str, Any] = dict(zip(header, row, strict=True))
        record["seq"] = int(record["seq"])
        record["actor_id"] = int(record["actor_id"]) if record["actor_id"] else None
        record["case_id"] = record["case_id"] or None
        record["remote_addr"] = record["remote_addr"] or None
        record["data"] = json.loads(record["data"])
        records.append(record)
    return records


def _jsonl_records(content: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in content.decode().split("\n")[:-2]]


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_has_the_same_records_and_manifest_as_the_python_rendering(tricky, fmt, monkeypatch):
    parse = _csv_records if fmt == "csv" else _jsonl_records
    fast = AuditExport(ExportFilter(), fmt, chunk_size=3)
    fast_content = b"".join(fast)
    _python_rendered(monkeypatch)
    slow = AuditExport(ExportFilter(), fmt)
    slow_content = b"".join(slow)

    records = parse(fast_content)
    assert records == parse(slow_content)
    assert len(records) == AuditEvent.objects.count()
    assert records[-2]["reason"] == TRICKY_REASON and records[-2]["data"] == TRICKY_DATA
    assert records[-2]["remote_addr"] == "2001:db8::1"
    assert records[-1]["remote_addr"] == "10.0.0.1"
    for record in records:
        assert _rehashed(record) == record["hash"]
    assert fast.manifest is not None and slow.manifest is not None
    skip = {"sha256", "generated_at"}
    assert {k: v for k, v in fast.manifest.items() if k not in skip} == {
        k: v for k, v in slow.manifest.items() if k not in skip
    }
    assert verify_export(fast_content) == fast.manifest
    assert fast.manifest["first_prev_hash"] == GENESIS_HASH
    assert fast.manifest["last_hash"] == tricky[-1].hash


@pytest.mark.postgres
def test_postgresql_renders_the_lines_and_the_records_rehash(tricky):
    content = _export(ExportFilter(kinds=("test.tricky", "case.routed")), "jsonl")
    lines = content.decode().split("\n")
    assert lines[0].startswith('{"actor_id":')  # compact: rendered by row_to_json
    records = _jsonl_records(content)
    assert [r["kind"] for r in records] == ["case.routed", "case.routed", *["test.tricky"] * 2]
    assert all(_rehashed(record) == record["hash"] for record in records)
    manifest = verify_export(content)
    assert manifest["count"] == 4
    assert (manifest["first_seq"], manifest["last_seq"]) == (records[0]["seq"], tricky[-1].seq)
    assert manifest["first_prev_hash"] == records[0]["prev_hash"]

    csv_content = _export(ExportFilter(case=str(tricky[0].case_id)), "csv")
    rows = _csv_records(csv_content)
    assert [r["kind"] for r in rows] == ["case.received", "case.routed", "test.tricky"]
    assert all(_rehashed(record) == record["hash"] for record in rows)
    assert verify_export(csv_content)["count"] == 3


def test_empty_export_has_a_manifest_only(tricky):
    for fmt in FORMATS:
        export = AuditExport(ExportFilter(kinds=("nothing.here",)), fmt)
        content = b"".join(export)
        manifest = verify_export(content)
        assert manifest == export.manifest
        assert manifest["count"] == 0
        assert manifest["first_seq"] is manifest["last_hash"] is None


def test_an_export_stopped_early_leaves_the_connection_usable(tricky):
    export = iter(AuditExport(ExportFilter(), "jsonl", chunk_size=1))
    assert next(export).startswith(b"{")
    was_atomic = connection.in_atomic_block
    export.close()  # a client that went away: StreamingHttpResponse closes the generator
    assert connection.in_atomic_block == was_atomic
    assert AuditEvent.objects.filter(kind="test.tricky").count() == 2
    assert audit_chain_verify().intact


@pytest.mark.django_db(transaction=True)
def test_export_and_verify_outside_a_transaction(trail, tmp_path):
    """The management commands' situation: autocommit, no outer atomic block."""
    assert connection.get_autocommit() and not connection.in_atomic_block
    target = tmp_path / "audit.csv"
    call_command("audit_export", "--format", "csv", "--output", str(target), stderr=StringIO())
    assert connection.get_autocommit() and not connection.in_atomic_block
    manifest = verify_export(target.read_bytes())
    assert manifest["count"] == AuditEvent.objects.count()
    assert audit_chain_verify(chunk_size=2).intact
    assert connection.get_autocommit() and not connection.in_atomic_block


def test_the_api_streams_an_export_that_verifies(tricky, client_for, compliance_officer):
    for fmt in FORMATS:
        response = client_for(compliance_officer.api_key).get(
            "/api/v1/audit/export", {"format": fmt}
        )
        assert response.status_code == 200
        content = b"".join(response.streaming_content)
        assert verify_export(content)["count"] == AuditEvent.objects.count()


@pytest.mark.parametrize(
    "data",
    [
        {"a": "x", "n": 3, "ok": True, "none": None},
        {"float": 1.5},
        {"nested": {"b": [1, 2]}},
        {"when": django_timezone.now()},
        {1: "int key"},
        {"big": 2**70},
        {"text": "naïve \u2028 \x1f 😀", "z": None, "a": -(2**63), "b": False},
    ],
)
def test_event_data_is_stored_as_the_json_it_was_hashed_as(data):
    from cases.auditing import _normalized, _normalized_json

    expected = json.loads(json.dumps(data, default=str, sort_keys=True))
    assert _normalized(data) == expected
    assert _normalized_json(data) == (expected, canonical_json(expected))
    event = audit_event_record(kind="test.normalized", actor=None, data=data)
    assert AuditEvent.objects.get(pk=event.pk).data == expected
    assert audit_chain_verify().intact


def test_event_data_json_is_canonical_json_where_orjson_refuses_it():
    from cases.auditing import _normalized_json

    for data in ({"lone": "\ud800"}, {"big": -(2**64)}):
        assert _normalized_json(data) == (data, canonical_json(data))


@pytest.mark.parametrize("with_instance", [False, True])
@pytest.mark.parametrize("n", [2, 60])
def test_many_records_at_once_chain_and_verify_with_or_without_model_instances(
    n, with_instance, admin_user
):
    """audit_events_record_many writes light rows (through COPY when there are many); mixed
    with records that are model instances they are inserted as instances. Either way the
    chain is the same."""
    from cases.auditing import EventSpec, audit_events_record_many
    from cases.bulk import COPY_FROM

    assert 2 < COPY_FROM <= 60  # the larger batch goes through COPY on PostgreSQL
    specs = [EventSpec(kind="test.many", data={"i": i, "who": "naïve"}) for i in range(n)]
    with audited_transaction():
        if with_instance:
            single = audit_event_record(kind="test.single", actor=admin_user, data={"n": 1})
        rows = audit_events_record_many(actor=admin_user, events=specs)
    stored = list(AuditEvent.objects.filter(kind="test.many").order_by("seq"))
    assert [(e.seq, e.hash, e.prev_hash) for e in stored] == [
        (r.seq, r.hash, r.prev_hash) for r in rows
    ]
    assert [e.data for e in stored] == [{"i": i, "who": "naïve"} for i in range(n)]
    assert {(e.actor_id, e.actor_label) for e in stored} == {(admin_user.pk, admin_user.username)}
    if with_instance:
        assert single.pk is not None and rows[0].prev_hash == single.hash
    for event in stored:
        assert event.hash == record_hash(event.prev_hash, event)
    assert audit_chain_verify().intact


_text = st.text(max_size=8) | st.sampled_from(["naïve", "\u2028", '"q"\\', "😀", "\x00\n"])


@settings(deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    actor_id=st.none() | st.integers(min_value=1, max_value=2**40),
    actor_label=_text,
    case_id=st.none() | st.uuids(),
    kind=_text,
    reason=_text,
    data=st.dictionaries(
        _text, st.none() | st.booleans() | st.integers() | st.floats() | _text, max_size=4
    ),
    remote_addr=st.none() | st.sampled_from(["10.0.0.1", "::1"]),
    seq=st.integers(min_value=1, max_value=2**62),
    occurred_at=st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3))])),
)
def test_a_light_rows_canonical_bytes_are_those_of_the_record_it_stands_for(**fields):
    """AuditRow assembles its canonical JSON itself; it must hash as an AuditEvent would."""
    from cases.auditing import AuditRow, canonical

    data = fields["data"]
    row = AuditRow(**fields, data_json=canonical_json(data))
    event = AuditEvent(**fields)
    assert canonical(row) == canonical(event)
