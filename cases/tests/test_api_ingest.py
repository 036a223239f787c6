"""POST /api/v1/cases/ and /api/v1/cases/bulk/: idempotency, conflicts, bad input, limits."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import override_settings

from cases import services
from cases.api.case_io import when
from cases.models import AuditEvent, Case
from cases.tests.factories import CaseTypeFactory, SourceFactory, case_payload

pytestmark = pytest.mark.django_db

URL = "/api/v1/cases/"
BULK_URL = "/api/v1/cases/bulk/"


@pytest.fixture
def refund(db: None) -> Any:
    return CaseTypeFactory(slug="refund")


@pytest.fixture
def source(db: None) -> Any:
    return SourceFactory(name="billing-bot")


@pytest.fixture
def client(client_for: Any, source: Any) -> Any:
    return client_for(source.api_key)


def test_post_creates_case_with_201_and_everything_posted_is_stored(client, source, refund):
    payload = case_payload(due_at="2030-01-01T12:00:00Z", risk_tags=["vip"], priority="high")
    response = client.post(URL, payload, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["external_id"] == "order-1001"
    assert body["status"] == "pending_review"
    assert body["case_type"] == "refund"
    case = Case.objects.get(pk=body["id"])
    assert case.source == source
    assert case.input == payload["input"]
    assert case.ai_output == payload["ai_output"]
    assert case.confidence == 0.82
    assert case.context == payload["context"]
    assert case.risk_tags == ["vip"]
    assert case.priority == "high"
    assert case.metadata == payload["metadata"]
    assert case.due_at.isoformat() == "2030-01-01T12:00:00+00:00"
    assert list(AuditEvent.objects.filter(case=case).values_list("kind", flat=True)) == [
        "case.received",
        "case.routed",
    ]


def test_reposting_the_same_body_returns_the_existing_case_with_200(client, refund):
    first = client.post(URL, case_payload(), format="json")
    second = client.post(URL, case_payload(), format="json")

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert Case.objects.count() == 1
    assert AuditEvent.objects.filter(kind="case.received").count() == 1


def test_key_order_does_not_break_idempotency(client, refund):
    payload = case_payload(input={"a": 1, "b": 2})
    client.post(URL, payload, format="json")
    reordered = json.dumps({**payload, "input": {"b": 2, "a": 1}})
    response = client.post(URL, reordered, content_type="application/json")
    assert response.status_code == 200


def test_same_external_id_with_a_different_body_is_a_409(client, refund):
    client.post(URL, case_payload(), format="json")
    response = client.post(URL, case_payload(confidence=0.11), format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_conflict"
    assert "order-1001" in response.json()["error"]["message"]
    assert Case.objects.get().confidence == 0.82


def test_same_external_id_from_another_source_is_a_separate_case(client, client_for, refund):
    other = SourceFactory(name="other-bot")
    client.post(URL, case_payload(), format="json")
    response = client_for(other.api_key).post(URL, case_payload(confidence=0.3), format="json")
    assert response.status_code == 201
    assert Case.objects.count() == 2


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"case_type": "unknown-type"}, "case_type"),
        ({"confidence": 1.5}, "confidence"),
        ({"confidence": -0.01}, "confidence"),
        ({"confidence": "0.5"}, "confidence"),
        ({"confidence": True}, "confidence"),
        ({"external_id": 123}, "external_id"),
        ({"external_id": ""}, "external_id"),
        ({"external_id": "x" * 256}, "external_id"),
        ({"risk_tags": "legal"}, "risk_tags"),
        ({"risk_tags": [1, 2]}, "risk_tags"),
        ({"metadata": [1]}, "metadata"),
        ({"context": {"text": "not a list"}}, "context"),
        ({"context": [{"source": "no text"}]}, "context"),
        ({"context": [{"text": "t", "score": "high"}]}, "context"),
        ({"priority": "critical"}, "priority"),
        ({"due_at": "next tuesday"}, "due_at"),
        ({"input": None}, "input"),
        ({"confidance": 0.5}, "confidance"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(client, refund, override, field):
    response = client.post(URL, case_payload(**override), format="json")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert Case.objects.count() == 0
    assert AuditEvent.objects.filter(case__isnull=False).count() == 0


@pytest.mark.parametrize(
    "missing", ["external_id", "case_type", "input", "ai_output", "confidence"]
)
def test_missing_required_field_is_a_400(client, refund, missing):
    payload = case_payload()
    del payload[missing]
    response = client.post(URL, payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"][missing] == ["This field is required."]


@pytest.mark.parametrize(
    "body",
    ["{not json", "[1, 2]", '{"confidence": NaN}', '"a string"'],
)
def test_malformed_or_non_object_json_is_a_400(client, refund, body):
    response = client.post(URL, body, content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.json()
    assert Case.objects.count() == 0


def test_non_json_content_type_is_a_415(client, refund):
    response = client.post(URL, "external_id=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


@override_settings(LOOPGATE_MAX_CASE_BYTES=2048)
def test_body_over_the_size_limit_is_a_413(client, refund):
    response = client.post(URL, case_payload(input={"blob": "x" * 4000}), format="json")
    assert response.status_code == 413
    assert "2048" in response.json()["error"]["message"]
    assert Case.objects.count() == 0


def test_schema_of_the_case_type_is_enforced_on_input_and_output(client):
    CaseTypeFactory(
        slug="refund",
        input_schema={
            "type": "object",
            "required": ["order_id"],
            "properties": {"order_id": {"type": "integer"}},
        },
        output_schema={
            "type": "object",
            "required": ["decision"],
            "properties": {"decision": {"enum": ["refund", "deny"]}},
        },
    )
    ok = client.post(URL, case_payload(), format="json")
    bad = client.post(
        URL,
        case_payload(external_id="o-2", input={"order_id": "x"}, ai_output={"decision": "maybe"}),
        format="json",
    )

    assert ok.status_code == 201
    assert bad.status_code == 400
    fields = bad.json()["error"]["fields"]
    assert fields["input"] == ["order_id: 'x' is not of type 'integer'"]
    assert fields["ai_output"] == ["decision: 'maybe' is not one of ['refund', 'deny']"]
    assert Case.objects.count() == 1


def test_inactive_case_type_is_refused(client):
    CaseTypeFactory(slug="refund", is_active=False)
    response = client.post(URL, case_payload(), format="json")
    assert response.status_code == 400
    assert "case_type" in response.json()["error"]["fields"]


# --- bulk --------------------------------------------------------------------------------


def test_bulk_stores_valid_items_and_reports_each_item(client, refund):
    client.post(URL, case_payload(external_id="already"), format="json")
    items = [
        case_payload(external_id="b-1"),
        case_payload(external_id="b-2", confidence=7),
        case_payload(external_id="already"),
        case_payload(external_id="already", confidence=0.1),
        case_payload(external_id="b-3", case_type="nope"),
        "not an object",
        case_payload(external_id="b-4"),
    ]
    response = client.post(BULK_URL, {"cases": items}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["existing"], body["errors"]) == (2, 1, 4)
    results = [(r["index"], r["external_id"], r["result"]) for r in body["results"]]
    assert results == [
        (0, "b-1", "created"),
        (1, "b-2", "error"),
        (2, "already", "existing"),
        (3, "already", "error"),
        (4, "b-3", "error"),
        (5, None, "error"),
        (6, "b-4", "created"),
    ]
    assert "confidence" in body["results"][1]["error"]["fields"]
    assert body["results"][3]["error"]["code"] == "idempotency_conflict"
    assert "case_type" in body["results"][4]["error"]["fields"]
    assert body["results"][0]["case"]["status"] == "pending_review"
    assert set(Case.objects.values_list("external_id", flat=True)) == {"already", "b-1", "b-4"}
    assert AuditEvent.objects.filter(kind="case.received").count() == 3


def test_bulk_repeated_external_id_in_one_request(client, refund):
    items = [
        case_payload(external_id="dup"),
        case_payload(external_id="dup"),
        case_payload(external_id="dup", confidence=0.2),
    ]
    body = client.post(BULK_URL, {"cases": items}, format="json").json()
    assert [r["result"] for r in body["results"]] == ["created", "existing", "error"]
    assert body["results"][0]["case"]["id"] == body["results"][1]["case"]["id"]
    assert Case.objects.count() == 1


def test_bulk_is_idempotent_when_the_whole_request_is_retried(client, refund):
    items = [case_payload(external_id=f"r-{i}") for i in range(5)]
    first = client.post(BULK_URL, {"cases": items}, format="json").json()
    second = client.post(BULK_URL, {"cases": items}, format="json").json()
    assert first["created"] == 5
    assert (second["created"], second["existing"]) == (0, 5)
    assert Case.objects.count() == 5


def test_bulk_cases_of_one_request_arrive_together(client, refund):
    items = [case_payload(external_id=f"t-{i}", confidence=0.5) for i in range(60)]
    body = client.post(BULK_URL, {"cases": items}, format="json").json()
    rendered = {(r["case"]["created_at"], r["case"]["sla_due_at"]) for r in body["results"]}
    assert len(rendered) == 1  # one arrival, so one deadline for one queue and priority
    stored = set(Case.objects.values_list("created_at", "sla_due_at"))
    assert len(stored) == 1
    (created_at, sla_due_at) = stored.pop()
    assert rendered == {(when(created_at), when(sla_due_at))}


def test_bulk_over_1000_items_is_a_400_and_stores_nothing(client, refund):
    items = [case_payload(external_id=f"m-{i}") for i in range(1001)]
    response = client.post(BULK_URL, {"cases": items}, format="json")
    assert response.status_code == 400
    assert "1000" in response.json()["error"]["fields"]["cases"][0]
    assert Case.objects.count() == 0


@pytest.mark.parametrize("body", [{"cases": []}, {"cases": "x"}, {"items": []}, [1]])
def test_bulk_without_a_case_list_is_a_400(client, refund, body):
    response = client.post(BULK_URL, body, format="json")
    assert response.status_code == 400
    assert "cases" in response.json()["error"]["fields"]


def test_bulk_of_1000_uses_a_constant_number_of_queries(
    client, refund, is_postgres, django_assert_max_num_queries
):
    items = [case_payload(external_id=f"q-{i}") for i in range(1000)]
    # SQLite caps a statement at 999 parameters, so Django splits the same inserts into
    # more batches there; it is still a handful of statements, never one per case.
    with django_assert_max_num_queries(14 if is_postgres else 100):
        response = client.post(BULK_URL, {"cases": items}, format="json")
    assert response.json()["created"] == 1000


@override_settings(LOOPGATE_MAX_BULK_BYTES=4096)
def test_bulk_body_limit_is_its_own_setting(client, refund):
    items = [case_payload(external_id=f"s-{i}") for i in range(20)]
    response = client.post(BULK_URL, {"cases": items}, format="json")
    assert response.status_code == 413
    assert Case.objects.count() == 0


@override_settings(LOOPGATE_MAX_CASE_BYTES=2048)
def test_bulk_is_not_held_to_the_single_case_limit(client, refund):
    items = [case_payload(external_id=f"s-{i}") for i in range(20)]
    response = client.post(BULK_URL, {"cases": items}, format="json")
    assert response.status_code == 200
    assert response.json()["created"] == 20


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("same_body", [True, False])
def test_concurrent_posts_of_one_external_id_make_one_case(same_body):
    """Single POSTs insert first and answer repeats from the unique constraint: racing
    posts of one id create one case; the others see it (same body) or get a conflict."""
    import threading

    from django.db import connection

    from cases.audit_chain import audit_chain_verify
    from cases.errors import IdempotencyConflict
    from cases.services import CaseInput, case_ingest

    CaseTypeFactory(slug="refund")
    source = SourceFactory(name="racer")
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def post(n: int) -> None:
        body = case_payload(external_id="raced", confidence=0.5 if same_body else n / 10)
        try:
            barrier.wait()
            outcomes.append(case_ingest(source=source, data=CaseInput(**body)).outcome.value)
        except IdempotencyConflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == (
        ["created", *["existing"] * 5] if same_body else ["conflict"] * 5 + ["created"]
    )
    assert Case.objects.filter(source=source, external_id="raced").count() == 1
    assert AuditEvent.objects.filter(kind="case.received").count() == 1
    assert audit_chain_verify().intact


@pytest.mark.parametrize("path", [URL, "/api/v1/cases/bulk/"])
def test_a_number_too_large_for_a_float_is_a_400_not_a_stored_infinity(client, refund, path):
    """1e999 parses to infinity, which no JSON column can store: refused as malformed."""
    item = json.dumps(case_payload()).replace('"order_id": 1001', '"order_id": 1e999')
    body = item if path == URL else f'{{"cases": [{item}]}}'
    response = client.post(path, body, content_type="application/json")
    assert response.status_code == 400
    assert "out of range" in response.json()["error"]["message"]
    assert Case.objects.count() == 0


def test_bulk_pauses_garbage_collection_only_while_it_runs(client, refund, monkeypatch):
    import gc

    seen: list[bool] = []
    real = services.case_ingest_bulk

    def watched(**kwargs: object) -> object:
        seen.append(gc.isenabled())
        return real(**kwargs)

    monkeypatch.setattr(services, "case_ingest_bulk", watched)
    response = client.post(BULK_URL, {"cases": [case_payload()]}, format="json")
    assert response.status_code == 200 and seen == [False]
    assert gc.isenabled()
    response = client.post(BULK_URL, {"cases": "not a list"}, format="json")
    assert response.status_code == 400 and gc.isenabled()  # also after an error
