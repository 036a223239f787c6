"""Alerting: active rules are evaluated against the hourly rollups (every five minutes, by a
scheduled task); a rule whose condition holds fires an Alert unless it fired within its
cool-down, so a condition that persists alerts once per cool-down instead of flapping.

The Alert and its ``alert.fired`` audit event are written in one transaction; e-mail and the
Slack-compatible webhook go out after commit, and a failed notification is logged, never
allowed to lose the alert."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from cases.auditing import audit_event_record, audited_transaction
from cases.models import Case
from metrics.histograms import percentile
from metrics.models import Alert, AlertMetric, AlertRule, RolledHour
from metrics.rollups import HourRollup, hour_floor
from metrics.selectors import Totals, _rollups

logger = logging.getLogger(__name__)

BASELINE_HOURS = 7 * 24
AUDIT_WINDOW_HOURS = 7 * 24
WEBHOOK_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class Reading:
    """A rule's current value, and whether its condition holds."""

    value: float
    fires: bool
    message: str


class HourWindow:
    """The rollups of the full hours before ``now``, read once per evaluation and shared by
    every rule (stored rows for rolled hours, computed on read otherwise)."""

    def __init__(self, now: datetime) -> None:
        self.current = hour_floor(now)
        self._loaded: dict[datetime, HourRollup] = {}
        self._first_case_hour: datetime | None = None
        self._first_case_read = False

    def last(self, count: int, *, skip: int = 0) -> list[HourRollup]:
        """``count`` full hours, oldest first, ending ``skip`` hours before the last one."""
        hours = [self.current - timedelta(hours=n) for n in range(skip + count, skip, -1)]
        self._load([hour for hour in hours if hour not in self._loaded])
        return [self._loaded[hour] for hour in hours]

    def _load(self, hours: list[datetime]) -> None:
        if not hours:
            return
        # Hours before the first case hold nothing; computing them (a week of baseline on a
        # young install) would cost several queries per hour on every check.
        rolled = set(RolledHour.objects.filter(hour__in=hours).values_list("hour", flat=True))
        first = self._first_case()
        wanted = [h for h in hours if h in rolled or (first is not None and h >= first)]
        found = {rollup.hour: rollup for rollup in _rollups(wanted, None)} if wanted else {}
        for hour in hours:
            self._loaded[hour] = found.get(hour) or HourRollup(hour=hour)

    def _first_case(self) -> datetime | None:
        if not self._first_case_read:
            first = Case.objects.order_by("created_at").values_list("created_at", flat=True)[:1]
            self._first_case_hour = hour_floor(first[0]) if first else None
            self._first_case_read = True
        return self._first_case_hour


def _totals(rollups: list[HourRollup], case_type_id: int | None) -> Totals:
    totals = Totals()
    for rollup in rollups:
        for ct_id, row in rollup.case_types.items():
            if case_type_id is None or ct_id == case_type_id:
                totals.add(row)
    return totals


def _scope(rule: AlertRule) -> str:
    return f" for {rule.case_type}" if rule.case_type_id else ""


def _escalation_spike(rule: AlertRule, window: HourWindow) -> Reading | None:
    """Value: the relative rise of the escalation rate (0.5 = +50%) over its baseline."""
    last = _totals(window.last(1), rule.case_type_id)
    base = _totals(window.last(BASELINE_HOURS, skip=1), rule.case_type_id)
    if not last.received or not base.received:
        return None
    last_rate, base_rate = last.to_human / last.received, base.to_human / base.received
    if not base_rate:
        # A relative rise from zero has no finite value; such a rule needs a baseline.
        return None
    rise = last_rate / base_rate - 1
    return Reading(
        value=rise,
        fires=rise > rule.threshold,
        message=f"Escalation rate{_scope(rule)} {last_rate:.1%} in the last hour vs "
        f"{base_rate:.1%} over the 7 days before ({rise:+.0%}; alert above "
        f"{rule.threshold:+.0%}).",
    )


def _resolution_slowdown(rule: AlertRule, window: HourWindow) -> Reading | None:
    """Value: last hour's median human resolution time over the baseline's (2 = doubled)."""
    last = percentile(_totals(window.last(1), rule.case_type_id).resolution, 0.5)
    base = percentile(
        _totals(window.last(BASELINE_HOURS, skip=1), rule.case_type_id).resolution, 0.5
    )
    if last is None or not base:
        return None
    ratio = last / base
    return Reading(
        value=ratio,
        fires=ratio >= rule.threshold,
        message=f"Median human resolution time{_scope(rule)} {last:.0f} s in the last hour vs "
        f"{base:.0f} s over the 7 days before (×{ratio:.2f}; alert at ×{rule.threshold:g}).",
    )


def _queue_growth(rule: AlertRule, window: HourWindow) -> Reading | None:
    """Value: the queue's net growth (arrivals - completions) over the last N hours."""
    if rule.queue_id is None:
        logger.warning("Alert rule %r watches queue growth but names no queue.", rule.name)
        return None
    count = max(1, int(rule.threshold))
    rows = [rollup.queues.get(rule.queue_id) for rollup in window.last(count)]
    growth = [(row.arrivals - row.completions) if row else 0 for row in rows]
    depth = rows[-1].depth_end if rows[-1] else 0
    return Reading(
        value=float(sum(growth)),
        fires=all(g > 0 for g in growth),
        message=f"Queue {rule.queue} grew in each of the last {count} hour(s) "
        f"(+{sum(growth)} in all; {depth} waiting at the end of the last hour).",
    )


def _sla_breaches(rule: AlertRule, window: HourWindow) -> Reading | None:
    """Value: the SLA breaches of the last hour."""
    breaches = _totals(window.last(1), rule.case_type_id).breaches
    return Reading(
        value=float(breaches),
        fires=breaches > rule.threshold,
        message=f"{breaches} SLA breach(es){_scope(rule)} in the last hour "
        f"(alert above {rule.threshold:g}).",
    )


def _override_band(rule: AlertRule, window: HourWindow) -> Reading | None:
    """Value: the override rate of the last hour's human decisions."""
    totals = _totals(window.last(1), rule.case_type_id)
    if not totals.decided:
        return None
    rate = totals.overrides / totals.decided
    low = rule.threshold_low
    band = f"{low:.0%}–{rule.threshold:.0%}" if low is not None else f"≤ {rule.threshold:.0%}"
    return Reading(
        value=rate,
        fires=rate > rule.threshold or (low is not None and rate < low),
        message=f"Override rate{_scope(rule)} {rate:.1%} in the last hour "
        f"({totals.overrides} of {totals.decided} decisions; band {band}).",
    )


def _audit_error(rule: AlertRule, window: HourWindow) -> Reading | None:
    """Value: the audit-sample error estimate (disagreed / judged) over 7 days."""
    totals = _totals(window.last(AUDIT_WINDOW_HOURS), rule.case_type_id)
    if not totals.audit_judged:
        return None
    rate = totals.audit_disagreed / totals.audit_judged
    return Reading(
        value=rate,
        fires=rate > rule.threshold,
        message=f"Audit-sample error estimate{_scope(rule)} {rate:.1%} over the last 7 days "
        f"({totals.audit_disagreed} of {totals.audit_judged} audited; alert above "
        f"{rule.threshold:.1%}).",
    )


READERS: dict[str, Callable[[AlertRule, HourWindow], Reading | None]] = {
    AlertMetric.ESCALATION_SPIKE: _escalation_spike,
    AlertMetric.RESOLUTION_SLOWDOWN: _resolution_slowdown,
    AlertMetric.QUEUE_GROWTH: _queue_growth,
    AlertMetric.SLA_BREACHES: _sla_breaches,
    AlertMetric.OVERRIDE_BAND: _override_band,
    AlertMetric.AUDIT_ERROR: _audit_error,
}


def alerts_evaluate(*, now: datetime | None = None) -> list[Alert]:
    """Evaluate every active rule at ``now`` (the last full hour, or the 7 days before it,
    is what counts); return the alerts fired."""
    now = now or timezone.now()
    if timezone.is_naive(now):
        raise ValueError("alerts_evaluate needs a timezone-aware now.")
    now = now.astimezone(UTC)  # rollup hours are whole UTC hours
    rules = list(AlertRule.objects.filter(is_active=True).select_related("case_type", "queue"))
    if not rules:
        return []
    last_fired = dict(
        Alert.objects.filter(rule__in=rules)
        .values("rule")
        .annotate(last=Max("fired_at"))
        .order_by()
        .values_list("rule", "last")
    )
    window = HourWindow(now)
    fired = []
    for rule in rules:
        if _cooling_down(last_fired.get(rule.pk), rule, now):
            continue
        try:
            reading = READERS[rule.metric](rule, window)
        except Exception:
            # One broken rule must not silence the others.
            logger.exception("Could not evaluate alert rule %r.", rule.name)
            continue
        if reading is not None and reading.fires:
            alert = _alert_fire(rule=rule, reading=reading, now=now)
            if alert is not None:
                fired.append(alert)
    return fired


def _cooling_down(last_fired: datetime | None, rule: AlertRule, now: datetime) -> bool:
    return last_fired is not None and last_fired > now - timedelta(minutes=rule.cooldown_minutes)


@audited_transaction()
def _alert_fire(*, rule: AlertRule, reading: Reading, now: datetime) -> Alert | None:
    # The rule's row lock makes overlapping checks take turns: only the first one fires.
    if (
        not AlertRule.objects.select_for_update()
        .filter(pk=rule.pk, is_active=True)
        .values_list("pk", flat=True)
    ):
        return None
    last = Alert.objects.filter(rule=rule).aggregate(last=Max("fired_at"))["last"]
    if _cooling_down(last, rule, now):
        return None
    alert = Alert.objects.create(
        rule=rule, fired_at=now, value=reading.value, message=reading.message
    )
    audit_event_record(
        kind="alert.fired",
        actor=None,
        reason=reading.message,
        data={
            "alert": alert.pk,
            "rule": rule.name,
            "metric": rule.metric,
            "value": reading.value,
            "threshold": rule.threshold,
            "threshold_low": rule.threshold_low,
            "case_type": rule.case_type.slug if rule.case_type else None,
            "queue": rule.queue.slug if rule.queue else None,
        },
    )
    transaction.on_commit(partial(alert_notify, alert=alert))
    return alert


def _recipients(addresses: str) -> list[str]:
    return [a.strip() for a in addresses.replace(";", ",").split(",") if a.strip()]


def alert_notify(*, alert: Alert) -> None:
    """E-mail and webhook for a recorded alert. Each channel fails on its own and is only
    logged: the alert is already stored and shows in the admin."""
    rule = alert.rule
    text = f"Loopgate alert: {rule.name}. {alert.message}"
    recipients = _recipients(rule.notify_email)
    if recipients:
        try:
            send_mail(
                subject=f"[Loopgate] Alert: {rule.name}",
                message=f"{alert.message}\n\nRule: {rule.name} ({rule.get_metric_display()})\n"
                f"Value: {alert.value:g}\nFired at: {alert.fired_at:%Y-%m-%d %H:%M %Z}\n",
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=recipients,
                fail_silently=False,
            )
        except Exception:
            logger.exception("Alert %s: e-mail to %s failed.", alert.pk, recipients)
    if rule.notify_webhook:
        try:
            _post_webhook(rule.notify_webhook, text)
        except Exception:
            logger.exception("Alert %s: webhook %s failed.", alert.pk, rule.notify_webhook)


def _post_webhook(url: str, text: str) -> None:
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError(f"Not an http(s) URL: {url!r}")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url,
        data=json.dumps({"text": text}).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "Loopgate-Alerts/1"},
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310
        response.read()


@audited_transaction()
def alert_acknowledge(*, alert: Alert, actor: User) -> Alert:
    """Mark an alert seen (idempotent: a second acknowledgement changes nothing)."""
    locked = Alert.objects.select_for_update(of=("self",)).select_related("rule").get(pk=alert.pk)
    if locked.acknowledged_at is None:
        locked.acknowledged_by = actor
        locked.acknowledged_at = timezone.now()
        locked.save(update_fields=["acknowledged_by", "acknowledged_at"])
        audit_event_record(
            kind="alert.acknowledged",
            actor=actor,
            data={"alert": locked.pk, "rule": locked.rule.name, "message": locked.message},
        )
    return locked
