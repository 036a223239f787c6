"""Shared fixtures: personas with roles, API clients, and the PostgreSQL-only marker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from cases.roles import Role

CHROMIUM = "/usr/bin/chromium"


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    import os

    from django.conf import settings

    on_postgres = "postgresql" in settings.DATABASES["default"]["ENGINE"]
    no_pg = pytest.mark.skip(reason="needs PostgreSQL (row locks, concurrency); set DATABASE_URL")
    no_browser = pytest.mark.skip(reason=f"needs Debian's chromium at {CHROMIUM}")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(no_pg)
        if "browser" in item.keywords and not os.path.exists(CHROMIUM):
            item.add_marker(no_browser)


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def make_person(db: None) -> Callable[..., Any]:
    from cases.services import reviewer_create

    def make(username: str, role: Role | None) -> Any:
        if role is None:
            from django.contrib.auth import get_user_model

            user = get_user_model().objects.create_user(username=username, password="pw-12345678")
            user.api_key = None
            return user
        user, key = reviewer_create(username=username, role=role, password="pw-12345678")
        user.api_key = key
        return user

    return make


@pytest.fixture
def generalist(make_person: Callable[..., Any]) -> Any:
    return make_person("gina", Role.GENERALIST)


@pytest.fixture
def expert(make_person: Callable[..., Any]) -> Any:
    return make_person("eric", Role.EXPERT)


@pytest.fixture
def supervisor(make_person: Callable[..., Any]) -> Any:
    return make_person("sam", Role.SUPERVISOR)


@pytest.fixture
def compliance_officer(make_person: Callable[..., Any]) -> Any:
    return make_person("cora", Role.COMPLIANCE)


@pytest.fixture
def admin_user(make_person: Callable[..., Any]) -> Any:
    return make_person("ada", Role.ADMIN)


@pytest.fixture
def outsider(make_person: Callable[..., Any]) -> Any:
    """Logged in, but in no role at all."""
    return make_person("olly", None)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for() -> Callable[[str | None], APIClient]:
    """An API client sending ``Authorization: Token <key>``."""

    def make(key: str | None) -> APIClient:
        client = APIClient()
        if key:
            client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client

    return make


INSTALLED_DATA_MIGRATIONS = (
    ("cases.migrations.0002_role_groups", "create_groups"),
    ("cases.migrations.0011_config_stamp", "create_stamp"),
    ("routing.migrations.0002_standard_queues_and_default_policy", "forwards"),
    ("reviews.migrations.0003_scheduled_sweeps", "forwards"),
    ("metrics.migrations.0002_rollup_schedule", "forwards"),
    ("metrics.migrations.0003_alert_schedule", "forwards"),
)


@pytest.fixture(autouse=True)
def _installed_data_for_transactional_tests(request: Any) -> None:
    """A transactional test flushes the database when it ends, taking the groups, queues and
    default policy that migrations install with it. pytest-django runs transactional tests
    last, so each of them puts that data back first (the data migrations are idempotent)."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        return
    request.getfixturevalue("transactional_db")
    from importlib import import_module

    from django.apps import apps

    for module, function in INSTALLED_DATA_MIGRATIONS:
        getattr(import_module(module), function)(apps, None)


@pytest.fixture(autouse=True)
def _metrics_cache_cleared() -> None:
    """The metrics summary caches stored rollups per process, stamped by their rolled hours.
    Each test's database starts over (rolled back), which no real database does, and a frozen
    clock can give two tests the same stamp: every test starts with an empty cache."""
    from metrics.cache import stored_clear

    stored_clear()
