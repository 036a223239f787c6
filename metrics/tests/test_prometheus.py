"""GET /metrics: access (token or allow-listed address), and the exposition format, checked
with prometheus_client's own parser on a small dataset whose figures are known exactly."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from cases.models import Case
from cases.tests.factories import CaseTypeFactory
from metrics.models import Alert, AlertMetric, AlertRule, RolledHour
from metrics.prometheus import Gauge, render
from metrics.rollups import hour_floor
from reviews.services import queue_claim_next, review_decide
from reviews.tests.factories import Intake, publish_default_policy, queue

pytestmark = pytest.mark.django_db

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FAMILIES = {
    "loopgate_escalation_rate",
    "loopgate_auto_approval_rate",
    "loopgate_override_rate",
    "loopgate_resolution_seconds",
    "loopgate_queue_wait_seconds",
    "loopgate_resolved_per_hour",
    "loopgate_sla_compliance",
    "loopgate_sla_breaches_24h",
    "loopgate_sla_at_risk",
    "loopgate_post_validation_error_rate",
    "loopgate_audit_sample_error_rate",
    "loopgate_queue_depth",
    "loopgate_queue_oldest_age_seconds",
    "loopgate_queue_breached",
    "loopgate_queue_at_risk",
    "loopgate_reviewer_decisions_24h",
    "loopgate_cases_received_24h",
    "loopgate_alerts_open",
}
QUEUES = {"audit", "expert", "fast-track", "generalist", "supervisor"}
DAY = {"window": "24h"}
QUERY_BOUND = 25  # two hours computed on read (about eight each), the rest constant


@pytest.fixture(autouse=True)
def _history_rolled_up(db: None) -> None:
    """The finished hours of the last two days rolled up, as the scheduled task leaves them
    (empty: the test data is all recent). The current and the previous hour stay computed on
    read, so data written just before an hour turns is still counted."""
    current = hour_floor(timezone.now())
    RolledHour.objects.bulk_create(
        [RolledHour(hour=current - timedelta(hours=n)) for n in range(2, 48)]
    )


def scrape(client: Any, **extra: Any) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """{family: {sorted label pairs: value}}, parsed by prometheus_client."""
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == CONTENT_TYPE
    parsed: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        assert family.type == "gauge", family.name
        samples = parsed.setdefault(family.name, {})
        for sample in family.samples:
            assert sample.name == family.name
            samples[tuple(sorted(sample.labels.items()))] = sample.value
    return parsed


def key(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


@pytest.fixture
def dataset(generalist: Any, expert: Any) -> None:
    """Four recent cases: one auto-approved (and audited: the auditor disagrees), three for
    the generalist queue, of which gina approves one and rejects one, each 3 s after claiming
    it and 100 s after it arrived. Two alerts, one of them acknowledged."""
    CaseTypeFactory(slug="refund")
    publish_default_policy(audit_sample_rate=1.0)
    intake = Intake("shop")
    intake.auto_approved_case()
    for _ in range(3):
        intake.generalist_case()
    for action, reason in (("approve", ""), ("reject", "wrong_amount")):
        # Clocks pinned so the durations are exact: 3 s to decide, after 100 s in the queue.
        claimed_at = timezone.now() - timedelta(seconds=3)
        entry = queue_claim_next(queue=queue("generalist"), reviewer=generalist, now=claimed_at)
        assert entry is not None
        decision = review_decide(
            case=entry.case,
            reviewer=generalist,
            action=action,
            reason_code=reason,
            now=claimed_at + timedelta(seconds=3),
        )
        Case.objects.filter(pk=entry.case_id).update(
            created_at=decision.created_at - timedelta(seconds=103)
        )
    audit = queue_claim_next(queue=queue("audit"), reviewer=expert)
    assert audit is not None
    review_decide(case=audit.case, reviewer=expert, action="reject", reason_code="wrong_amount")
    rule = AlertRule.objects.create(
        name="Too many breaches", metric=AlertMetric.SLA_BREACHES, threshold=3
    )
    now = timezone.now()
    Alert.objects.create(rule=rule, fired_at=now, value=5, message="5 breaches")
    Alert.objects.create(
        rule=rule, fired_at=now, value=4, message="4 breaches", acknowledged_at=now
    )


def test_exposition_parses_and_carries_exact_figures(client, dataset):
    metrics = scrape(client)

    assert set(metrics) == FAMILIES
    assert metrics["loopgate_cases_received_24h"] == {key(**DAY): 4.0}
    assert metrics["loopgate_escalation_rate"] == {key(**DAY): 0.75}
    assert metrics["loopgate_auto_approval_rate"] == {key(**DAY): 0.25}
    assert metrics["loopgate_override_rate"] == {key(**DAY): 0.5}
    # (1 auto-approved + 2 human decisions) / 24 hours
    assert metrics["loopgate_resolved_per_hour"] == {key(**DAY): 0.125}
    assert metrics["loopgate_sla_compliance"] == {key(**DAY): 1.0}
    assert metrics["loopgate_sla_breaches_24h"] == {key(**DAY): 0.0}
    assert metrics["loopgate_sla_at_risk"] == {(): 0.0}
    assert metrics["loopgate_audit_sample_error_rate"] == {key(**DAY): 1.0}
    # Log2 buckets, interpolated: both 3 s decisions in [2, 4), both 100 s waits in [64, 128).
    assert metrics["loopgate_resolution_seconds"] == {
        key(quantile="0.5", **DAY): 3.0,
        key(quantile="0.9", **DAY): pytest.approx(3.8),
    }
    assert metrics["loopgate_queue_wait_seconds"] == {
        key(quantile="0.5", **DAY): 96.0,
        key(quantile="0.9", **DAY): pytest.approx(121.6),
    }
    assert metrics["loopgate_queue_depth"] == {
        key(queue=slug): (1.0 if slug == "generalist" else 0.0) for slug in QUEUES
    }
    assert metrics["loopgate_queue_breached"] == {key(queue=slug): 0.0 for slug in QUEUES}
    assert metrics["loopgate_queue_at_risk"] == {key(queue=slug): 0.0 for slug in QUEUES}
    # Only a queue with an open entry has an oldest age.
    (age,) = metrics["loopgate_queue_oldest_age_seconds"].items()
    assert age[0] == key(queue="generalist")
    assert 0 <= age[1] < 60
    assert metrics["loopgate_reviewer_decisions_24h"] == {
        key(reviewer="gina", **DAY): 2.0,
        key(reviewer="eric", **DAY): 1.0,
    }
    assert metrics["loopgate_alerts_open"] == {(): 1.0}


def test_figures_without_data_have_no_sample_rather_than_nan(client, db):
    metrics = scrape(client)

    assert set(metrics) == FAMILIES  # every family is listed, even when empty
    for rate in (
        "loopgate_escalation_rate",
        "loopgate_override_rate",
        "loopgate_sla_compliance",
        "loopgate_post_validation_error_rate",
        "loopgate_audit_sample_error_rate",
        "loopgate_resolution_seconds",
        "loopgate_queue_wait_seconds",
        "loopgate_queue_oldest_age_seconds",
        "loopgate_reviewer_decisions_24h",
    ):
        assert metrics[rate] == {}, rate
    assert metrics["loopgate_cases_received_24h"] == {key(**DAY): 0.0}
    assert metrics["loopgate_resolved_per_hour"] == {key(**DAY): 0.0}
    assert metrics["loopgate_alerts_open"] == {(): 0.0}
    assert metrics["loopgate_queue_depth"] == {key(queue=slug): 0.0 for slug in QUEUES}
    assert "NaN" not in client.get("/metrics").content.decode()


def test_label_values_and_help_are_escaped():
    gauge = Gauge("loopgate_test", "Help with \\ and\na newline.", ("reviewer",))
    gauge.add(['o"brien\\x\ny'], 2)
    gauge.add(["nobody"], None)
    text = render([gauge])

    (family,) = text_string_to_metric_families(text)
    assert family.documentation == "Help with \\ and\na newline."
    assert [(s.labels, s.value) for s in family.samples] == [({"reviewer": 'o"brien\\x\ny'}, 2.0)]


def test_closed_to_other_addresses_without_a_token(client, db):
    response = client.get("/metrics", REMOTE_ADDR="10.9.9.9")

    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/plain")
    assert b"Forbidden" in response.content


def test_open_to_localhost_by_default(client, db):
    for address in ("127.0.0.1", "::1"):
        assert client.get("/metrics", REMOTE_ADDR=address).status_code == 200


def test_the_bearer_token_opens_it_from_anywhere(client, db, settings):
    settings.LOOPGATE_METRICS_TOKEN = "s3cret-scrape-token"

    response = client.get(
        "/metrics", REMOTE_ADDR="10.9.9.9", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token"
    )

    assert response.status_code == 200
    assert response["Content-Type"] == CONTENT_TYPE


@pytest.mark.parametrize(
    "authorization",
    ["Bearer wrong-token", "Bearer s3cret-scrape-token-and-more", "Token s3cret-scrape-token", ""],
)
def test_a_wrong_token_is_refused(client, db, settings, authorization):
    settings.LOOPGATE_METRICS_TOKEN = "s3cret-scrape-token"

    response = client.get("/metrics", REMOTE_ADDR="10.9.9.9", HTTP_AUTHORIZATION=authorization)

    assert response.status_code == 403


def test_an_empty_token_setting_never_matches(client, db, settings):
    settings.LOOPGATE_METRICS_TOKEN = ""

    assert (
        client.get("/metrics", REMOTE_ADDR="10.9.9.9", HTTP_AUTHORIZATION="Bearer ").status_code
        == 403
    )


def test_the_allow_list_takes_addresses_and_networks(client, db, settings):
    settings.LOOPGATE_METRICS_ALLOWED_IPS = ["192.0.2.7", "10.0.0.0/8"]

    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.9.9.9").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


def test_only_get(client, db):
    assert client.post("/metrics").status_code == 405


def test_a_scrape_runs_a_fixed_number_of_queries(client, dataset, django_assert_max_num_queries):
    with django_assert_max_num_queries(QUERY_BOUND):
        response = client.get("/metrics")

    assert response.status_code == 200
