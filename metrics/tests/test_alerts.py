"""Alert rules evaluated on stored hourly rollups with a controlled clock; cool-down,
acknowledgement, notifications (e-mail, a real webhook receiver) and the admin."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone
from django_q.models import Schedule

from cases.models import AuditEvent
from cases.tests.factories import CaseTypeFactory
from cases.tests.receiver import closed_port_url, receiver
from metrics import alerts as alerts_module
from metrics.alerts import alert_acknowledge, alerts_evaluate
from metrics.models import Alert, AlertMetric, AlertRule, CaseTypeHour, QueueHour, RolledHour
from metrics.tasks import alerts_check
from routing.models import Queue

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 12, 5, tzinfo=UTC)
LAST_HOUR = datetime(2026, 3, 10, 11, tzinfo=UTC)  # the last full hour at NOW
WEEK = 7 * 24


def hours_back(n: int, *, last: datetime = LAST_HOUR) -> datetime:
    return last - timedelta(hours=n)


def case_type_hours(case_type: Any, hours: list[datetime], **counts: Any) -> None:
    """Stored rollup rows (and the RolledHour marks that make them count as stored)."""
    for hour in hours:
        RolledHour.objects.get_or_create(hour=hour)
    CaseTypeHour.objects.bulk_create(
        CaseTypeHour(hour=hour, case_type=case_type, **counts) for hour in hours
    )


def queue_hours(queue: Queue, hours: list[datetime], **counts: Any) -> None:
    for hour in hours:
        RolledHour.objects.get_or_create(hour=hour)
    QueueHour.objects.bulk_create(QueueHour(hour=hour, queue=queue, **counts) for hour in hours)


def baseline_hours() -> list[datetime]:
    """The 7 days before the last full hour."""
    return [hours_back(n) for n in range(1, WEEK + 1)]


def rule(metric: str, threshold: float, **fields: Any) -> AlertRule:
    return AlertRule.objects.create(
        name=fields.pop("name", f"{metric} {threshold}"),
        metric=metric,
        threshold=threshold,
        **fields,
    )


@pytest.fixture
def refund() -> Any:
    return CaseTypeFactory(slug="refund")


@pytest.fixture
def claims() -> Any:
    return CaseTypeFactory(slug="claims")


@pytest.fixture
def queue() -> Queue:
    return Queue.objects.create(slug="alerting", name="Alerting")


# --- each metric: fires on known data, not just below its threshold -----------------------


@pytest.fixture
def escalation_doubled(refund: Any) -> None:
    """20% escalated all week, 40% in the last hour: a rise of exactly +100%."""
    case_type_hours(refund, baseline_hours(), received=10, to_human=2)
    case_type_hours(refund, [LAST_HOUR], received=10, to_human=4)


@pytest.mark.parametrize(("threshold", "fires"), [(0.95, True), (1.05, False)])
def test_escalation_spike_against_its_7_day_baseline(escalation_doubled, threshold, fires):
    spike = rule(AlertMetric.ESCALATION_SPIKE, threshold)

    fired = alerts_evaluate(now=NOW)

    assert [a.rule for a in fired] == ([spike] if fires else [])
    if fires:
        assert fired[0].value == pytest.approx(1.0)
        assert fired[0].fired_at == NOW
        assert "40.0%" in fired[0].message and "20.0%" in fired[0].message


def test_escalation_spike_needs_cases_in_the_last_hour_and_the_baseline(refund):
    case_type_hours(refund, [LAST_HOUR], received=10, to_human=9)
    rule(AlertMetric.ESCALATION_SPIKE, 0.2)

    assert alerts_evaluate(now=NOW) == []


def test_escalation_spike_respects_the_rules_case_type(escalation_doubled, refund, claims):
    case_type_hours(claims, baseline_hours(), received=10, to_human=2)
    case_type_hours(claims, [LAST_HOUR], received=10, to_human=2)
    for_refund = rule(AlertMetric.ESCALATION_SPIKE, 0.6, case_type=refund, name="refund")
    rule(AlertMetric.ESCALATION_SPIKE, 0.6, case_type=claims, name="claims")
    rule(AlertMetric.ESCALATION_SPIKE, 0.6, name="all")  # 30% vs 20%: +50%

    fired = alerts_evaluate(now=NOW)

    assert [a.rule for a in fired] == [for_refund]
    assert "for refund" in fired[0].message


@pytest.fixture
def resolution_doubled(refund: Any) -> None:
    """Median 24 s all week (log2 bucket [16, 32)), 48 s in the last hour ([32, 64))."""
    case_type_hours(refund, baseline_hours(), decided=10, resolution_buckets=[0] * 5 + [10])
    case_type_hours(refund, [LAST_HOUR], decided=10, resolution_buckets=[0] * 6 + [10])


@pytest.mark.parametrize(("threshold", "fires"), [(2.0, True), (2.05, False)])
def test_resolution_slowdown_fires_once_the_median_has_grown_by_the_factor(
    resolution_doubled, threshold, fires
):
    rule(AlertMetric.RESOLUTION_SLOWDOWN, threshold)

    fired = alerts_evaluate(now=NOW)

    assert len(fired) == (1 if fires else 0)
    if fires:
        assert fired[0].value == pytest.approx(2.0)


@pytest.mark.parametrize(("hours", "fires"), [(3, True), (4, False)])
def test_queue_growth_needs_arrivals_above_completions_in_each_of_the_last_n_hours(
    queue, hours, fires
):
    queue_hours(queue, [hours_back(n) for n in range(3)], arrivals=5, completions=3, depth_end=9)
    queue_hours(queue, [hours_back(3)], arrivals=4, completions=4, depth_end=3)
    rule(AlertMetric.QUEUE_GROWTH, hours, queue=queue)

    fired = alerts_evaluate(now=NOW)

    assert len(fired) == (1 if fires else 0)
    if fires:
        assert fired[0].value == 6
        assert "9 waiting" in fired[0].message


def test_queue_growth_watches_only_its_queue(queue):
    other = Queue.objects.create(slug="other", name="Other")
    queue_hours(other, [hours_back(n) for n in range(2)], arrivals=5, completions=0)
    rule(AlertMetric.QUEUE_GROWTH, 2, queue=queue)

    assert alerts_evaluate(now=NOW) == []


@pytest.mark.parametrize(
    ("threshold", "only_refund", "fires", "value"),
    [(4, False, True, 5), (5, False, False, None), (2, True, True, 3), (3, True, False, None)],
)
def test_sla_breaches_in_the_last_hour_above_a_count(
    refund, claims, threshold, only_refund, fires, value
):
    case_type_hours(refund, [LAST_HOUR], breaches=3)
    case_type_hours(claims, [LAST_HOUR], breaches=2)
    case_type_hours(refund, [hours_back(1)], breaches=50)  # an older hour does not count
    rule(AlertMetric.SLA_BREACHES, threshold, case_type=refund if only_refund else None)

    fired = alerts_evaluate(now=NOW)

    assert [a.value for a in fired] == ([value] if fires else [])


@pytest.mark.parametrize(
    ("high", "low", "fires"),
    [
        (0.45, None, True),  # 50% is above the band
        (0.55, 0.4, False),  # inside
        (0.9, 0.55, True),  # below the band
        (0.9, 0.45, False),
    ],
)
def test_override_band(refund, high, low, fires):
    case_type_hours(refund, [LAST_HOUR], decided=10, overrides=5)
    rule(AlertMetric.OVERRIDE_BAND, high, threshold_low=low)

    fired = alerts_evaluate(now=NOW)

    assert [a.value for a in fired] == ([0.5] if fires else [])


def test_override_band_needs_a_decision(refund):
    case_type_hours(refund, [LAST_HOUR], received=10)
    rule(AlertMetric.OVERRIDE_BAND, 0.3, threshold_low=0.02)

    assert alerts_evaluate(now=NOW) == []


@pytest.mark.parametrize(("threshold", "fires"), [(0.09, True), (0.11, False)])
def test_audit_error_estimate_over_the_last_7_days(refund, threshold, fires):
    week = [hours_back(n) for n in range(0, WEEK, 24)]  # one audited hour a day
    case_type_hours(refund, week, audit_judged=10, audit_disagreed=1)
    case_type_hours(refund, [hours_back(WEEK)], audit_judged=10, audit_disagreed=10)  # 8th day
    rule(AlertMetric.AUDIT_ERROR, threshold)

    fired = alerts_evaluate(now=NOW)

    assert [a.value for a in fired] == ([pytest.approx(0.1)] if fires else [])


def test_hours_not_rolled_up_are_computed_from_the_raw_tables(refund):
    """Without RolledHour marks the rows above are ignored: the raw tables (empty) count."""
    CaseTypeHour.objects.create(hour=LAST_HOUR, case_type=refund, breaches=9)
    rule(AlertMetric.SLA_BREACHES, 0)

    assert alerts_evaluate(now=NOW) == []


def test_inactive_rules_are_not_evaluated(refund):
    case_type_hours(refund, [LAST_HOUR], breaches=3)
    rule(AlertMetric.SLA_BREACHES, 0, is_active=False)

    assert alerts_evaluate(now=NOW) == []


# --- firing: the record, the audit event, the cool-down ---------------------------------


@pytest.fixture
def breaching(refund: Any) -> AlertRule:
    case_type_hours(refund, [LAST_HOUR], breaches=3)
    return rule(AlertMetric.SLA_BREACHES, 0, cooldown_minutes=20, name="breaches")


def test_firing_records_the_alert_and_an_audit_event(breaching):
    [alert] = alerts_evaluate(now=NOW)

    assert Alert.objects.get() == alert
    event = AuditEvent.objects.get(kind="alert.fired")
    assert event.actor is None
    assert event.reason == alert.message
    assert event.data["alert"] == alert.pk
    assert event.data["rule"] == "breaches"
    assert event.data["value"] == 3


def test_cool_down_keeps_a_persisting_condition_from_firing_again(breaching):
    assert len(alerts_evaluate(now=NOW)) == 1
    assert alerts_evaluate(now=NOW) == []
    assert alerts_evaluate(now=NOW + timedelta(minutes=19)) == []

    [again] = alerts_evaluate(now=NOW + timedelta(minutes=21))

    assert again.fired_at == NOW + timedelta(minutes=21)
    assert Alert.objects.filter(rule=breaching).count() == 2
    assert AuditEvent.objects.filter(kind="alert.fired").count() == 2


def test_cool_down_is_per_rule(breaching, refund):
    other = rule(AlertMetric.SLA_BREACHES, 1, cooldown_minutes=20, name="other")
    alerts_evaluate(now=NOW)
    Alert.objects.filter(rule=other).delete()

    assert [a.rule for a in alerts_evaluate(now=NOW + timedelta(minutes=1))] == [other]


def test_a_broken_rule_does_not_silence_the_others(breaching, monkeypatch):
    def broken(rule: AlertRule, window: Any) -> None:
        raise RuntimeError("boom")

    rule(AlertMetric.AUDIT_ERROR, 0.1, name="broken")
    monkeypatch.setitem(alerts_module.READERS, AlertMetric.AUDIT_ERROR, broken)

    assert [a.rule for a in alerts_evaluate(now=NOW)] == [breaching]


def test_a_clock_in_another_time_zone_reads_the_same_utc_hours(breaching):
    india = timezone.get_fixed_timezone(330)  # +05:30: local hours start at :30 UTC

    [alert] = alerts_evaluate(now=NOW.astimezone(india))

    assert alert.fired_at == NOW


def test_rules_share_one_read_of_the_rollups(refund, queue, django_assert_max_num_queries):
    case_type_hours(refund, baseline_hours(), received=10, to_human=2, audit_judged=1)
    case_type_hours(refund, [LAST_HOUR], received=10, to_human=2, decided=4)
    queue_hours(queue, [hours_back(n) for n in range(WEEK)], arrivals=1, completions=1)
    for metric in AlertMetric.values:
        for n in range(3):
            rule(metric, 1, name=f"{metric}-{n}", queue=queue, case_type=refund if n else None)

    # includes one query for the hour of the first case (hours before it are empty)
    with django_assert_max_num_queries(15):
        assert alerts_evaluate(now=NOW) == []


def test_evaluate_refuses_a_naive_clock():
    with pytest.raises(ValueError, match="timezone-aware"):
        alerts_evaluate(now=datetime(2026, 3, 10, 12, 5))  # noqa: DTZ001


def test_alerts_check_task_uses_the_real_clock(refund):
    last = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    case_type_hours(refund, [last], breaches=2)
    rule(AlertMetric.SLA_BREACHES, 1)

    assert alerts_check() == 1
    assert alerts_check() == 0  # cooling down


def test_the_alert_schedule_is_installed():
    schedule = Schedule.objects.get(name="loopgate: alerts")
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "metrics.tasks.alerts_check",
        "I",
        5,
        -1,
    )


# --- acknowledgement ----------------------------------------------------------------------


def test_acknowledging_an_alert_is_recorded_once(breaching, supervisor):
    [alert] = alerts_evaluate(now=NOW)

    acknowledged = alert_acknowledge(alert=alert, actor=supervisor)
    again = alert_acknowledge(alert=alert, actor=supervisor)

    assert acknowledged.acknowledged_by == supervisor
    assert acknowledged.acknowledged_at is not None
    assert again.acknowledged_at == acknowledged.acknowledged_at
    event = AuditEvent.objects.get(kind="alert.acknowledged")
    assert event.actor == supervisor
    assert event.data["alert"] == alert.pk


# --- notifications ------------------------------------------------------------------------


def test_email_goes_to_every_address_after_commit(breaching, django_capture_on_commit_callbacks):
    breaching.notify_email = "ops@example.org, lead@example.org"
    breaching.save()

    with django_capture_on_commit_callbacks(execute=True):
        [alert] = alerts_evaluate(now=NOW)

    [message] = mail.outbox
    assert message.to == ["ops@example.org", "lead@example.org"]
    assert message.subject == "[Loopgate] Alert: breaches"
    assert alert.message in message.body


def test_nothing_is_sent_before_commit(breaching, django_capture_on_commit_callbacks):
    breaching.notify_email = "ops@example.org"
    breaching.save()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        alerts_evaluate(now=NOW)

    assert len(callbacks) == 1
    assert mail.outbox == []


def test_webhook_receives_slack_compatible_json(breaching, django_capture_on_commit_callbacks):
    with receiver() as hook:
        breaching.notify_webhook = hook.url
        breaching.save()
        with django_capture_on_commit_callbacks(execute=True):
            [alert] = alerts_evaluate(now=NOW)

    [request] = hook.requests
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    assert set(body) == {"text"}
    assert "breaches" in body["text"] and alert.message in body["text"]


def test_a_failing_webhook_still_leaves_the_alert_and_the_email(
    breaching, django_capture_on_commit_callbacks, caplog
):
    breaching.notify_webhook = closed_port_url()
    breaching.notify_email = "ops@example.org"
    breaching.save()

    with caplog.at_level(logging.ERROR, logger="metrics.alerts"):
        with django_capture_on_commit_callbacks(execute=True):
            [alert] = alerts_evaluate(now=NOW)

    assert Alert.objects.filter(pk=alert.pk).exists()
    assert len(mail.outbox) == 1
    assert "webhook" in caplog.text


def test_a_webhook_answering_500_is_logged(breaching, django_capture_on_commit_callbacks, caplog):
    with receiver() as hook:
        hook.statuses.append(500)
        breaching.notify_webhook = hook.url
        breaching.save()
        with caplog.at_level(logging.ERROR, logger="metrics.alerts"):
            with django_capture_on_commit_callbacks(execute=True):
                alerts_evaluate(now=NOW)

    assert len(hook.requests) == 1
    assert Alert.objects.count() == 1
    assert "webhook" in caplog.text


def test_a_failing_mail_server_still_leaves_the_alert_and_the_webhook(
    breaching, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    def refuse(*args: Any, **kwargs: Any) -> int:
        raise ConnectionRefusedError("no mail server")

    monkeypatch.setattr(alerts_module, "send_mail", refuse)
    with receiver() as hook:
        breaching.notify_webhook = hook.url
        breaching.notify_email = "ops@example.org"
        breaching.save()
        with caplog.at_level(logging.ERROR, logger="metrics.alerts"):
            with django_capture_on_commit_callbacks(execute=True):
                alerts_evaluate(now=NOW)

    assert Alert.objects.count() == 1
    assert len(hook.requests) == 1
    assert "e-mail" in caplog.text


# --- admin ---------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_admin_pages_render_for_an_admin(admin_client, breaching):
    [alert] = alerts_evaluate(now=NOW)

    for url in [
        "/admin/metrics/alertrule/",
        "/admin/metrics/alertrule/add/",
        f"/admin/metrics/alertrule/{breaching.pk}/change/",
        "/admin/metrics/alert/",
        "/admin/metrics/alert/?status=open",
        f"/admin/metrics/alert/{alert.pk}/change/",
    ]:
        assert admin_client.get(url).status_code == 200, url
    assert "breaches" in admin_client.get("/admin/metrics/alert/").content.decode()


def test_alerts_cannot_be_added_or_deleted_in_admin(admin_client, breaching):
    [alert] = alerts_evaluate(now=NOW)

    assert admin_client.get("/admin/metrics/alert/add/").status_code == 403
    assert admin_client.post(f"/admin/metrics/alert/{alert.pk}/delete/").status_code == 403
    assert Alert.objects.filter(pk=alert.pk).exists()


def rule_form(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "growth",
        "metric": AlertMetric.QUEUE_GROWTH,
        "case_type": "",
        "queue": "",
        "threshold": "3",
        "threshold_low": "",
        "cooldown_minutes": "60",
        "notify_email": "",
        "notify_webhook": "",
        "is_active": "on",
    }
    data.update(overrides)
    return data


def test_admin_refuses_queue_growth_without_a_queue(admin_client):
    response = admin_client.post("/admin/metrics/alertrule/add/", rule_form())

    assert response.status_code == 200
    assert "Queue growth watches one queue: choose it." in response.content.decode()
    assert not AlertRule.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"threshold": "1.5"}, "a whole number, 1 or more"),
        ({"metric": AlertMetric.AUDIT_ERROR, "queue": "", "threshold": "5"}, "a share"),
        (
            {
                "metric": AlertMetric.OVERRIDE_BAND,
                "queue": "",
                "threshold": "0.3",
                "threshold_low": "0.5",
            },
            "must not exceed the threshold",
        ),
        ({"notify_email": "ops@example.org, nobody"}, "Not an e-mail address: nobody."),
    ],
)
def test_admin_explains_other_bad_rules(admin_client, queue, overrides, error):
    response = admin_client.post(
        "/admin/metrics/alertrule/add/", rule_form(**{"queue": str(queue.pk), **overrides})
    )

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not AlertRule.objects.exists()


def test_admin_saves_a_valid_queue_growth_rule(admin_client, queue):
    response = admin_client.post(
        "/admin/metrics/alertrule/add/", rule_form(queue=str(queue.pk), notify_email="a@b.org")
    )

    assert response.status_code == 302
    assert AlertRule.objects.get().queue == queue


def test_admin_acknowledge_action(admin_client, admin_user, breaching):
    [alert] = alerts_evaluate(now=NOW)

    response = admin_client.post(
        "/admin/metrics/alert/",
        {"action": "acknowledge", "_selected_action": [alert.pk]},
        follow=True,
    )

    assert "Acknowledged 1 alert(s)." in response.content.decode()
    alert.refresh_from_db()
    assert alert.acknowledged_by == admin_user
    assert AuditEvent.objects.filter(kind="alert.acknowledged", actor=admin_user).count() == 1


def test_a_compliance_officer_sees_alerts_but_cannot_acknowledge(
    client, compliance_officer, breaching
):
    [alert] = alerts_evaluate(now=NOW)
    client.force_login(compliance_officer)

    page = client.get("/admin/metrics/alert/")
    assert page.status_code == 200
    assert 'value="acknowledge"' not in page.content.decode()
    client.post("/admin/metrics/alert/", {"action": "acknowledge", "_selected_action": [alert.pk]})

    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    assert not AuditEvent.objects.filter(kind="alert.acknowledged").exists()
