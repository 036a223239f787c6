"""Fixtures for review tests (personas come from the root conftest)."""

from __future__ import annotations

from typing import Any

import pytest

from cases.roles import Role
from cases.tests.factories import CaseTypeFactory
from reviews.tests.factories import Intake, make_reviewer


@pytest.fixture
def refund(db: None) -> Any:
    """The case type the ingestion payloads use; reason codes wrong_amount,
    policy_violation and other."""
    return CaseTypeFactory(slug="refund")


@pytest.fixture
def intake(refund: Any) -> Intake:
    return Intake("billing-bot")


@pytest.fixture
def gail(db: None) -> Any:
    """A second generalist."""
    return make_reviewer("gail", Role.GENERALIST)


@pytest.fixture
def erin(db: None) -> Any:
    """A second expert."""
    return make_reviewer("erin", Role.EXPERT)
