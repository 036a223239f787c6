"""The loop's figures in the Prometheus text exposition format (version 0.0.4), for
``GET /metrics``. The format is written here by hand (it is a few lines of text), so serving
it needs no extra package; the tests check it with ``prometheus_client``'s own parser.

Every family is a gauge: the window figures are recomputed over a sliding 24-hour window on
each scrape, so they go down as well as up and are not Prometheus counters. Figures computed
over that window carry the label ``window="24h"``; point-in-time figures (queue depth, age of
the oldest entry, breached and at-risk entries, open alerts) carry none.

A figure with no data (a rate with nothing to divide by, a percentile of no decisions) has
**no sample**: its family is still listed (HELP and TYPE) but the series is absent, never NaN.
An absent series is what ``absent()`` and alert rules handle well; NaN would compare false
with every threshold and hide the gap.

Access: a request carrying ``Authorization: Bearer <LOOPGATE_METRICS_TOKEN>`` (when that
setting is non-empty), or one from a client address in ``LOOPGATE_METRICS_ALLOWED_IPS``
(addresses or networks such as ``10.0.0.0/8``; ``REMOTE_ADDR`` only, so behind a proxy use
the token).
"""

from __future__ import annotations

import hmac
import ipaddress
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings

from metrics.models import Alert
from metrics.selectors import metrics_summary

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WINDOW = "24h"


def scrape_allowed(*, authorization: str, remote_addr: str) -> bool:
    """A matching bearer token (compared in constant time), or an allow-listed address."""
    token: str = settings.LOOPGATE_METRICS_TOKEN
    scheme, _, offered = authorization.strip().partition(" ")
    if token and scheme.lower() == "bearer" and offered.strip():
        if hmac.compare_digest(offered.strip().encode(), token.encode()):
            return True
    return _address_allowed(remote_addr, settings.LOOPGATE_METRICS_ALLOWED_IPS)


def _address_allowed(remote_addr: str, allowed: Iterable[str]) -> bool:
    try:
        address = ipaddress.ip_address(remote_addr.strip())
    except ValueError:
        return False
    for entry in allowed:
        try:
            if address in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


@dataclass
class Gauge:
    """One metric family: a name, its help text, and samples (label values -> value)."""

    name: str
    documentation: str
    labels: tuple[str, ...] = ()
    samples: list[tuple[tuple[str, ...], float]] = field(default_factory=list)

    def add(self, label_values: Iterable[str], value: float | None) -> None:
        """Record a sample; a value of None (no data) records nothing."""
        if value is not None:
            self.samples.append((tuple(label_values), float(value)))


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def render(families: Iterable[Gauge]) -> str:
    """The text exposition format, version 0.0.4."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.documentation)}")
        lines.append(f"# TYPE {family.name} gauge")
        for label_values, value in family.samples:
            labels = ",".join(
                f'{name}="{_escape_label(v)}"'
                for name, v in zip(family.labels, label_values, strict=True)
            )
            lines.append(
                f"{family.name}{{{labels}}} {_value(value)}"
                if labels
                else f"{family.name} {_value(value)}"
            )
    return "\n".join(lines) + "\n"


def _gauge(
    name: str, documentation: str, labels: list[str], samples: Iterable[tuple[list[str], Any]]
) -> Gauge:
    family = Gauge(name, documentation, tuple(labels))
    for label_values, value in samples:
        family.add(label_values, value)
    return family


def families(summary: dict[str, Any], alerts_open: int) -> Iterator[Gauge]:
    """The metric families of one ``metrics_summary`` (24h) and the open-alert count."""
    figures = summary["figures"]
    window = [WINDOW]

    def windowed(name: str, documentation: str, value: Any) -> Gauge:
        return _gauge(name, documentation, ["window"], [(window, value)])

    yield windowed(
        "loopgate_escalation_rate",
        "Share of received cases sent to a human queue.",
        figures["escalation_rate"],
    )
    yield windowed(
        "loopgate_auto_approval_rate",
        "Share of received cases auto-approved.",
        figures["auto_approval_rate"],
    )
    yield windowed(
        "loopgate_override_rate",
        "Share of human final decisions that rejected or edited the AI output.",
        figures["override_rate"],
    )
    for name, key, documentation in (
        ("loopgate_resolution_seconds", "resolution_seconds", "Human decision time."),
        (
            "loopgate_queue_wait_seconds",
            "queue_wait_seconds",
            "Time from arrival until a first reviewer started.",
        ),
    ):
        yield _gauge(
            name,
            f"{documentation} Quantiles from log2 histograms.",
            ["window", "quantile"],
            [
                ([WINDOW, "0.5"], figures[f"{key}_p50"]),
                ([WINDOW, "0.9"], figures[f"{key}_p90"]),
            ],
        )
    yield windowed(
        "loopgate_resolved_per_hour",
        "Cases finished per hour (auto-approved plus human decisions).",
        figures["resolved_per_hour"],
    )
    yield windowed(
        "loopgate_sla_compliance",
        "Share of human decisions made within their SLA.",
        figures["sla_compliance"],
    )
    yield windowed(
        "loopgate_sla_breaches_24h", "SLA breaches in the window.", figures["sla_breaches"]
    )
    yield _gauge(
        "loopgate_sla_at_risk",
        "Open entries past their SLA warning, not yet breached.",
        [],
        [([], summary["sla_at_risk_now"])],
    )
    yield windowed(
        "loopgate_post_validation_error_rate",
        "Share of second reviews and supervisor decisions contradicting the first reviewer.",
        figures["post_validation_error"],
    )
    yield windowed(
        "loopgate_audit_sample_error_rate",
        "Share of audited auto-approved cases a human disagreed with.",
        figures["audit_sample"]["error_rate"],
    )
    yield windowed(
        "loopgate_cases_received_24h", "Cases received in the window.", figures["received"]
    )
    queues = summary["queues"]
    for name, key, documentation in (
        ("loopgate_queue_depth", "depth", "Open entries in the queue."),
        (
            "loopgate_queue_oldest_age_seconds",
            "oldest_age_seconds",
            "Age of the oldest open entry (absent when the queue is empty).",
        ),
        ("loopgate_queue_breached", "breached", "Open entries past their SLA deadline."),
        (
            "loopgate_queue_at_risk",
            "at_risk",
            "Open entries past their SLA warning, not yet breached.",
        ),
    ):
        yield _gauge(name, documentation, ["queue"], [([q["queue"]], q[key]) for q in queues])
    yield _gauge(
        "loopgate_reviewer_decisions_24h",
        "Decisions per reviewer in the window (escalations not counted).",
        ["window", "reviewer"],
        [([WINDOW, r["reviewer"]], r["decisions"]) for r in summary["reviewers"]],
    )
    yield _gauge("loopgate_alerts_open", "Unacknowledged alerts.", [], [([], alerts_open)])


def exposition(*, now: datetime | None = None) -> bytes:
    """The scrape body: one ``metrics_summary`` for the last 24 hours, one count."""
    summary = metrics_summary(window=WINDOW, now=now)
    alerts_open = Alert.objects.filter(acknowledged_at__isnull=True).count()
    return render(families(summary, alerts_open)).encode()
