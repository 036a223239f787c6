"""The simulator runs end to end, through the API, at a small size."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from cases.models import Case
from reviews.models import Decision

pytestmark = pytest.mark.django_db


def test_simulate_prints_rounds_and_the_comparison():
    out = StringIO()
    call_command("simulate", "--cases", "60", "--rounds", "2", "--calibrate-every", "1", stdout=out)
    text = out.getvalue()
    assert text.count("round  1") == 2 and text.count("round  2") == 2
    for label in (
        "escalation rate",
        "post-automation error",
        "override rate",
        "human minutes",
        "final threshold",
    ):
        assert label in text
    assert Case.objects.filter(case_type__slug__startswith="sim-").count() == 120
    # every case that needed a human got a decision through the API
    waiting = Case.objects.filter(status__in=["pending_review", "in_review", "escalated"])
    assert waiting.count() == 0
    assert Decision.objects.count() > 0
