"""The configuration cache: exact because the database changes the stamp on every change."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.config import cached_config, config_read, current_stamp
from cases.models import CaseType, ConfigStamp
from cases.tests.factories import CaseTypeFactory
from routing.models import PolicyVersion, Queue, RoutingPolicy

pytestmark = pytest.mark.django_db


class Loader:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.calls


def test_a_value_is_loaded_once_while_nothing_changes():
    load = Loader()
    assert cached_config("test-value", load) == 1
    assert cached_config("test-value", load) == 1
    assert load.calls == 1


def _change_case_type() -> None:
    CaseTypeFactory(slug="fresh")


def _update_case_types() -> None:
    CaseType.objects.update(description="bulk-edited behind the ORM's back")


def _retire_a_queue() -> None:
    Queue.objects.filter(slug="audit").update(is_active=False)


def _save_a_queue() -> None:
    queue = Queue.objects.get(slug="expert")
    queue.lease_minutes += 1
    queue.save()


def _touch_policies() -> None:
    CaseTypeFactory(slug="other")  # (a stamp change itself)
    before = current_stamp()
    RoutingPolicy.objects.create(case_type=CaseType.objects.get(slug="other"))
    assert current_stamp() != before


def _delete_a_draft() -> None:
    policy = RoutingPolicy.objects.get(is_default=True)
    PolicyVersion.objects.create(policy=policy).delete()


def _raw_sql() -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE routing_queue SET name = name || '!' WHERE slug = 'generalist'")


@pytest.mark.parametrize(
    "change",
    [
        _change_case_type,
        _update_case_types,
        _retire_a_queue,
        _save_a_queue,
        _touch_policies,
        _delete_a_draft,
        _raw_sql,
    ],
)
def test_any_change_to_the_configuration_tables_reloads(change: Any):
    CaseTypeFactory(slug="refund")
    load = Loader()
    cached_config("test-value", load)
    before = current_stamp()
    change()
    assert current_stamp() != before
    assert cached_config("test-value", load) == 2


def test_other_writes_keep_the_cache():
    from cases.tests.factories import CaseFactory

    case_type = CaseTypeFactory(slug="refund")
    load = Loader()
    cached_config("test-value", load)
    CaseFactory(case_type=case_type)
    assert cached_config("test-value", load) == 1


def test_without_a_stamp_nothing_is_cached():
    ConfigStamp.objects.all().delete()
    load = Loader()
    cached_config("test-value", load)
    cached_config("test-value", load)
    assert load.calls == 2


def test_a_block_reads_the_stamp_once():
    cached_config("a", Loader())
    cached_config("b", Loader())
    with CaptureQueriesContext(connection) as captured, config_read():
        cached_config("a", Loader())
        cached_config("b", Loader())
    assert len(captured) == 1


def test_ingestion_routes_by_a_policy_published_after_the_cache_was_filled(client_for):
    """End to end: the cached policies give way to a newly published version at once."""
    from cases.services import source_create
    from cases.tests.factories import case_payload
    from routing.services import policy_draft_create, policy_publish

    CaseTypeFactory(slug="refund")
    _source, key = source_create(name="cache-check")
    client = client_for(key)
    first = client.post("/api/v1/cases/", case_payload(external_id="one"), format="json").json()
    draft = policy_draft_create(
        case_type=None, actor=None, values={"auto_approve_threshold": 0.8}, note="lower"
    )
    policy_publish(version=draft, actor=None)
    second = client.post("/api/v1/cases/", case_payload(external_id="two"), format="json").json()
    assert second["routing"]["policy_version"] == first["routing"]["policy_version"] + 1
    assert first["status"] == "pending_review"  # confidence 0.82 was below 0.95
    assert second["status"] == "auto_approved"
