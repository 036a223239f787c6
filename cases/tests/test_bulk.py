"""bulk_insert: what bulk_create does, through COPY on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from cases.bulk import COPY_FROM, bulk_insert
from cases.models import AuditEvent, Case, CaseStatus, Priority
from cases.tests.factories import CaseTypeFactory, SourceFactory

pytestmark = pytest.mark.django_db


def _cases(n: int, **fields: object) -> list[Case]:
    source, case_type = SourceFactory(), CaseTypeFactory()
    return [
        Case(
            source=source,
            case_type=case_type,
            external_id=f"bulk-{n}-{i}",
            input={"text": "naïve \\ \t tab", "n": i, "nested": [None, True, 1.5]},
            ai_output=["a", {"b": None}],
            confidence=i / n,
            status=CaseStatus.PENDING_REVIEW,
            priority=Priority.HIGH,
            metadata={"quote": 'it\'s "quoted"', "newline": "a\nb"},
            payload_hash="0" * 64,
            **fields,
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("n", [3, COPY_FROM + 7])
def test_rows_read_back_as_they_were_written(n):
    cases = _cases(n)
    bulk_insert(Case, cases)
    assert all(not case._state.adding and case.created_at is not None for case in cases)
    stored = {case.pk: case for case in Case.objects.filter(external_id__startswith=f"bulk-{n}-")}
    assert len(stored) == n
    for case in cases:
        again = stored[case.pk]
        assert (again.input, again.ai_output, again.metadata) == (
            case.input,
            case.ai_output,
            case.metadata,
        )
        assert again.confidence == pytest.approx(case.confidence)
        assert (again.status, again.priority) == ("pending_review", "high")
        assert again.created_at == case.created_at
    if connection.vendor == "postgresql" and n >= COPY_FROM:  # COPY: one auto_now for the batch
        assert len({case.updated_at for case in cases}) == 1


@pytest.mark.postgres
def test_many_rows_go_through_copy_and_get_their_serial_ids():
    events = [
        AuditEvent(kind="test.copy", seq=10**9 + i, data={"i": i}, remote_addr="10.0.0.1")
        for i in range(COPY_FROM)
    ]
    with CaptureQueriesContext(connection) as captured:
        bulk_insert(AuditEvent, events)
    assert not any("INSERT" in q["sql"] for q in captured.captured_queries)  # COPY, not INSERT
    ids = [event.pk for event in events]
    assert None not in ids and len(set(ids)) == len(ids)
    stored = AuditEvent.objects.filter(pk__in=ids).values_list("pk", "data", "remote_addr")
    assert {row[0]: row[1:] for row in stored} == {
        event.pk: ({"i": i}, "10.0.0.1") for i, event in enumerate(events)
    }
    # The sequence moved on: the next ordinary insert does not collide.
    after = AuditEvent.objects.create(kind="test.after", seq=2 * 10**9)
    assert after.pk > max(ids)


def test_a_few_rows_go_in_one_insert_and_get_their_ids_in_order():
    events = [
        AuditEvent(kind="test.few", seq=10**9 + i, data={"i": i, "s": "ü\n"}) for i in range(3)
    ]
    with CaptureQueriesContext(connection) as captured:
        bulk_insert(AuditEvent, events)
    assert len(captured.captured_queries) == 1
    assert "RETURNING" in captured.captured_queries[0]["sql"]
    ids = [event.pk for event in events]
    assert None not in ids and ids == sorted(set(ids))
    assert all(not event._state.adding and event.occurred_at is not None for event in events)
    stored = AuditEvent.objects.filter(pk__in=ids).values_list("pk", "seq", "data", "occurred_at")
    assert {row[0]: row[1:] for row in stored} == {
        event.pk: (10**9 + i, {"i": i, "s": "ü\n"}, event.occurred_at)
        for i, event in enumerate(events)
    }


@pytest.mark.parametrize("n", [2, COPY_FROM])
def test_a_constraint_violation_is_an_integrity_error_and_writes_nothing(n):
    first = _cases(n)
    bulk_insert(Case, first[:1])
    again = _cases(n)
    for case in again:
        case.source, case.case_type = first[0].source, first[0].case_type
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk_insert(Case, again)  # the same external ids for the same source
    assert Case.objects.filter(source=first[0].source).count() == 1


def test_new_instance_builds_what_the_model_constructor_builds(django_assert_num_queries):
    from django.forms.models import model_to_dict

    from cases.bulk import new_instance

    source, case_type = SourceFactory(), CaseTypeFactory()
    values = {
        "source": source,
        "case_type": case_type,
        "external_id": "same",
        "input": {"a": 1},
        "ai_output": [1],
        "confidence": 0.25,
        "payload_hash": "0" * 64,
    }
    fast, slow = new_instance(Case, **values), Case(**values)
    assert model_to_dict(fast, exclude=["id"]) == model_to_dict(slow, exclude=["id"])
    assert fast.pk is not None and fast.pk != slow.pk  # a fresh default uuid each
    assert fast._state.adding and fast.status == slow.status == "received"
    with django_assert_num_queries(0):  # related objects given are cached, not re-read
        assert fast.case_type.slug == case_type.slug and fast.source == source
    by_id = new_instance(Case, source_id=source.pk, case_type_id=case_type.pk, external_id="x")
    assert (by_id.source_id, by_id.case_type_id) == (source.pk, case_type.pk)


def test_new_instance_refuses_unknown_fields():
    from cases.bulk import new_instance

    with pytest.raises(TypeError, match="no field"):
        new_instance(Case, external_id="x", colour="red")


def test_new_instance_goes_through_init_when_someone_listens():
    from django.db.models.signals import post_init

    from cases.bulk import new_instance

    seen: list[str] = []

    def listener(sender: type, instance: Case, **kwargs: object) -> None:
        seen.append(instance.external_id)

    post_init.connect(listener, sender=Case)
    try:
        case = new_instance(Case, external_id="heard", confidence=0.5)
    finally:
        post_init.disconnect(listener, sender=Case)
    assert seen == ["heard"] and case.confidence == 0.5 and case._state.adding


# --- insert_rows: tuples instead of instances --------------------------------------------

_EVENT_COLUMNS = ("kind", "seq", "data", "remote_addr", "case_id", "reason")


def _event_rows(n: int, base: int) -> list[tuple[object, ...]]:
    case = _cases(1)[0]
    bulk_insert(Case, [case])
    import json

    from cases.bulk import JsonText

    data = [{"i": i, "text": 'tab\t "quote" \\ naïve', "nested": [None, 1.5]} for i in range(n)]
    return [
        (
            "test.rows",
            base + i,
            JsonText(json.dumps(data[i])) if i % 4 == 0 else data[i],  # given encoded, or not
            "10.0.0.1" if i % 2 else None,
            case.pk if i % 3 else None,
            "why\nnot",
        )
        for i in range(n)
    ]


def _stored_events(seqs: list[int]) -> list[tuple[object, ...]]:
    fields = ("seq", "kind", "data", "remote_addr", "case_id", "reason", "actor_id")
    return list(AuditEvent.objects.filter(seq__in=seqs).order_by("seq").values_list(*fields))


@pytest.mark.parametrize("n", [3, COPY_FROM + 7])
def test_insert_rows_stores_what_bulk_insert_stores_for_instances_of_the_same_values(n):
    import json

    from cases.bulk import JsonText, insert_rows, new_instance

    rows = _event_rows(n, 10**9)
    insert_rows(AuditEvent, _EVENT_COLUMNS, rows)
    twins = [
        (kind, seq + 10**6, json.loads(data) if isinstance(data, JsonText) else data, *rest)
        for kind, seq, data, *rest in rows
    ]
    bulk_insert(
        AuditEvent,
        [new_instance(AuditEvent, **dict(zip(_EVENT_COLUMNS, row, strict=True))) for row in twins],
    )
    by_rows = _stored_events([row[1] for row in rows])
    by_instances = _stored_events([row[1] for row in twins])
    assert len(by_rows) == n
    assert [row[1:] for row in by_rows] == [row[1:] for row in by_instances]
    # Fields not given take their defaults; ids come from the database.
    stored = AuditEvent.objects.filter(seq__in=[row[1] for row in rows])
    assert all(e.pk and e.occurred_at and e.hash == "" and e.actor_label == "" for e in stored)


@pytest.mark.postgres
def test_insert_rows_goes_through_copy_and_refuses_unknown_columns():
    from cases.bulk import insert_rows

    rows = _event_rows(COPY_FROM, 2 * 10**9)
    with CaptureQueriesContext(connection) as captured:
        insert_rows(AuditEvent, _EVENT_COLUMNS, rows)
    assert not any("INSERT" in q["sql"] for q in captured.captured_queries)
    assert AuditEvent.objects.filter(kind="test.rows").count() == COPY_FROM
    with pytest.raises(TypeError, match="colour"):
        insert_rows(AuditEvent, ("kind", "colour"), [("x", "red")] * COPY_FROM)


@pytest.mark.parametrize("n", [3, COPY_FROM + 7])
def test_bulk_insert_encoded_stores_the_same_as_bulk_insert(n):
    import json

    from cases.bulk import bulk_insert_encoded

    cases = _cases(n)
    texts = [
        {"input": json.dumps(case.input), "metadata": json.dumps(case.metadata)} for case in cases
    ]
    bulk_insert_encoded(Case, cases, texts)
    assert all(not case._state.adding for case in cases)
    stored = {case.pk: case for case in Case.objects.filter(external_id__startswith=f"bulk-{n}-")}
    assert [(stored[c.pk].input, stored[c.pk].metadata) for c in cases] == [
        (c.input, c.metadata) for c in cases
    ]


@pytest.mark.postgres
def test_bulk_insert_encoded_writes_the_texts_as_they_are():
    from cases.bulk import bulk_insert_encoded

    cases = _cases(COPY_FROM)
    bulk_insert_encoded(Case, cases, [{"input": '{"given": "text"}'}] * COPY_FROM)
    stored = Case.objects.filter(pk__in=[case.pk for case in cases])
    assert {str(case.input) for case in stored} == {str({"given": "text"})}


def test_new_instance_makes_fresh_mutable_defaults_for_each_instance():
    from cases.bulk import new_instance

    first, second = new_instance(Case, external_id="a"), new_instance(Case, external_id="b")
    assert first.context == second.context == [] and first.context is not second.context
    assert first.metadata == {} and first.metadata is not second.metadata
    assert first.pk != second.pk and first.created_at is not None


@pytest.mark.postgres
def test_bulk_insert_encoded_writes_none_as_null_whatever_text_is_given():
    from cases.bulk import bulk_insert_encoded

    cases = _cases(COPY_FROM)
    for case in cases:
        case.final_output = None
    with pytest.raises(IntegrityError), transaction.atomic():  # input may not be NULL
        cases[0].input = None
        bulk_insert_encoded(Case, cases, [{"input": "null", "final_output": "1"}] * COPY_FROM)
    cases[0].input = {"back": True}
    bulk_insert_encoded(Case, cases, [{"final_output": "1"}] * COPY_FROM)
    assert not Case.objects.filter(pk__in=[c.pk for c in cases], final_output__isnull=False)
