"""Active-learning queues hand out the cases closest to a decision threshold first."""

from __future__ import annotations

import pytest

from cases.tests.factories import CaseTypeFactory, SourceFactory, case_payload
from reviews.selectors import queue_get_for_user
from reviews.services import queue_claim_next, review_decide
from routing.models import Queue

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("ordering", "expected"),
    # standard: the earliest SLA deadline first, i.e. the order they were posted in;
    # uncertainty: the closest to a threshold first
    [("standard", [0.82, 0.94, 0.75]), ("uncertainty", [0.94, 0.75, 0.82])],
)
def test_claim_order_follows_the_queue_ordering(client_for, generalist, ordering, expected):
    CaseTypeFactory(slug="refund")
    Queue.objects.filter(slug="generalist").update(ordering=ordering)
    bot = client_for(SourceFactory(name="shop").api_key)
    for confidence in (0.82, 0.94, 0.75):  # distance to 0.70 / 0.95: 0.12, 0.01, 0.05
        bot.post(
            "/api/v1/cases/",
            case_payload(external_id=str(confidence), confidence=confidence),
            format="json",
        )
    queue = queue_get_for_user(generalist, "generalist")
    seen = []
    for _ in expected:
        entry = queue_claim_next(queue=queue, reviewer=generalist)
        seen.append(entry.case.confidence)
        review_decide(case=entry.case, reviewer=generalist, action="approve")
    assert seen == expected
