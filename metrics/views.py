"""The loop dashboard (server-rendered, charts as inline SVG) and the Prometheus endpoint."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from cases.models import CaseType
from metrics import prometheus
from metrics.models import Alert
from metrics.permissions import sees_all_metrics
from metrics.selectors import metrics_summary

DASHBOARD_WINDOWS = {"24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days"}
DEFAULT_WINDOW = "24h"
ALERTS_SHOWN = 10

# ---------------------------------------------------------------------------- formatting


def fmt_rate(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def fmt_seconds(value: float | None) -> str:
    """A duration for people: 0.4 s, 12 s, 4.2 min, 3.1 h, 2.5 d."""
    if value is None:
        return "—"
    if value < 10:
        return f"{value:.1f} s"
    if value < 60:
        return f"{value:.0f} s"
    if value < 3600:
        return f"{value / 60:.1f} min"
    if value < 86400:
        return f"{value / 3600:.1f} h"
    return f"{value / 86400:.1f} d"


def fmt_per_hour(value: float | None) -> str:
    """Two significant digits below 1/h (a trickle is not 0.0/h), one decimal above."""
    if value is None:
        return "—"
    return f"{value:.2g}/h" if 0 < abs(value) < 1 else f"{value:.1f}/h"


def fmt_count(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


FORMATS: dict[str, Callable[[float | None], str]] = {
    "rate": fmt_rate,
    "seconds": fmt_seconds,
    "per_hour": fmt_per_hour,
    "count": fmt_count,
}


def fmt_change(kind: str, delta: float) -> str:
    """The size of a change: percentage points for rates, otherwise the figure's own unit."""
    if kind == "rate":
        return f"{delta * 100:.1f} pp"
    return FORMATS[kind](delta)


# ---------------------------------------------------------------------------- headlines


@dataclass(frozen=True)
class Trend:
    arrow: str  # ▲, ▼, = or "" (nothing to compare with)
    text: str
    tone: str  # good, bad or "" (neutral)
    title: str


@dataclass(frozen=True)
class Headline:
    key: str
    label: str
    value: str
    trend: Trend | None
    detail: str = ""
    flag: str = ""  # "high" / "low" for the override band
    help: str = ""


def trend(
    current: float | None, previous: float | None, *, kind: str, better: str | None, window: str
) -> Trend:
    """Current vs the window before: arrow, size of the change, and whether that is good
    (``better`` is "up", "down" or None when neither direction is good in itself)."""
    title = f"Previous {window}: {FORMATS[kind](previous)}"
    if current is None or previous is None:
        return Trend("", "no earlier data", "", title)
    delta = current - previous
    if math.isclose(delta, 0.0, abs_tol=1e-9):
        return Trend("=", "unchanged", "", title)
    up = delta > 0
    tone = "" if better is None else ("good" if up == (better == "up") else "bad")
    return Trend("▲" if up else "▼", fmt_change(kind, abs(delta)), tone, title)


def headlines(summary: dict[str, Any]) -> list[Headline]:
    now, before, window = summary["figures"], summary["previous"], summary["window"]

    def card(key: str, label: str, kind: str, better: str | None, **extra: Any) -> Headline:
        return Headline(
            key=key,
            label=label,
            value=FORMATS[kind](now[key]),
            trend=trend(now[key], before[key], kind=kind, better=better, window=window),
            **extra,
        )

    flag = now["override_flag"]
    override_help = (
        f"Share of human final decisions that rejected or edited the AI output. The healthy band "
        f"is {settings.LOOPGATE_OVERRIDE_LOW:.0%}–{settings.LOOPGATE_OVERRIDE_HIGH:.0%}: above "
        f"it the model is often wrong; below it reviewers may be rubber-stamping."
    )
    audit = now["audit_sample"]
    audit_before = before["audit_sample"]
    audit_detail = (
        f"95% interval {fmt_rate(audit['error_lower'])}–{fmt_rate(audit['error_upper'])}, "
        f"{audit['disagreed']} of {audit['judged']} judged"
        if audit["judged"]
        else "no audited cases in the window"
    )
    human_per_hour = now["resolved_per_hour"] - now["machine_per_hour"]
    return [
        card(
            "escalation_rate",
            "Escalation rate",
            "rate",
            "down",
            help="Share of received cases sent to a human queue.",
        ),
        card(
            "auto_approval_rate",
            "Auto-approval rate",
            "rate",
            None,
            help="Share of received cases approved by the machine without a human.",
        ),
        card(
            "override_rate",
            "Override rate",
            "rate",
            None,
            flag=flag or "",
            detail=(
                "above the band"
                if flag == "high"
                else "below the band"
                if flag == "low"
                else f"band {settings.LOOPGATE_OVERRIDE_LOW:.0%}–"
                f"{settings.LOOPGATE_OVERRIDE_HIGH:.0%}"
            ),
            help=override_help,
        ),
        card(
            "resolution_seconds_p50",
            "Resolution p50",
            "seconds",
            "down",
            help="Half of the human decisions took at most this long (claim to decision).",
        ),
        card(
            "resolution_seconds_p90",
            "Resolution p90",
            "seconds",
            "down",
            help="Nine in ten human decisions took at most this long.",
        ),
        card(
            "queue_wait_seconds_p50",
            "Time in queue p50",
            "seconds",
            "down",
            detail=f"p90 {fmt_seconds(now['queue_wait_seconds_p90'])}",
            help="From a case's arrival until a first reviewer started on it.",
        ),
        card(
            "resolved_per_hour",
            "Resolved per hour",
            "per_hour",
            "up",
            detail=(
                f"machine {fmt_per_hour(now['machine_per_hour'])} · "
                f"human {fmt_per_hour(human_per_hour)} · "
                f"arriving {fmt_per_hour(now['arrivals_per_hour'])}"
            ),
            help="Cases finished per hour: auto-approved by the machine plus human decisions.",
        ),
        card(
            "sla_compliance",
            "SLA compliance",
            "rate",
            "up",
            help="Share of human decisions made before their SLA deadline.",
        ),
        card(
            "sla_breaches",
            "SLA breaches",
            "count",
            "down",
            help="Cases whose SLA deadline passed during the window.",
        ),
        Headline(
            key="sla_at_risk_now",
            label="At risk now",
            value=fmt_count(summary["sla_at_risk_now"]),
            trend=None,
            detail="open cases warned, deadline not yet passed",
            help="Open queue entries past their SLA warning point but not yet breached.",
        ),
        card(
            "post_validation_error",
            "Post-validation error",
            "rate",
            "down",
            help="Share of second reviews and supervisor decisions that contradicted the first "
            "reviewer.",
        ),
        Headline(
            key="audit_error",
            label="Audit-sample error",
            value=fmt_rate(audit["error_rate"]),
            trend=trend(
                audit["error_rate"],
                audit_before["error_rate"],
                kind="rate",
                better="down",
                window=window,
            ),
            detail=audit_detail,
            help="Share of audited auto-approved cases a human disagreed with, with its 95% "
            "Wilson interval: the machine's error rate estimated from the audit sample.",
        ),
    ]


# ---------------------------------------------------------------------------- SVG charts


@dataclass(frozen=True)
class Line:
    label: str
    values: Sequence[float | None]
    colour: str


DURATION_STEPS = (
    0.1,
    0.2,
    0.5,
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    14400,
    43200,
)


def nice_step(raw: float, *, durations: bool = False) -> float:
    """A round tick step of at least ``raw``: 1, 2 or 5 times a power of ten (or a round
    duration in seconds)."""
    if raw <= 0:
        return 1.0
    if durations:
        for step in DURATION_STEPS:
            if step >= raw:
                return float(step)
        return 86400.0 * math.ceil(raw / 86400)
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw * (1 - 1e-9):
            return factor * power
    return 10 * power  # pragma: no cover - the loop always returns


def _local(hours: Sequence[datetime]) -> list[datetime]:
    """The hours in the current time zone (``timezone.localtime`` for each, with the zone
    looked up once: a 30-day chart has 720 of them)."""
    zone = timezone.get_current_timezone()
    return [h.astimezone(zone) for h in hours]


def _x_ticks(hours: Sequence[datetime]) -> list[tuple[int, str]]:
    """Indices worth a label (at most about eight): round hours in a day, midnights over
    several days."""
    local = _local(hours)
    if len(local) <= 48:
        for every in (1, 2, 3, 4, 6, 12, 24):
            picks = [i for i, h in enumerate(local) if h.hour % every == 0]
            if len(picks) <= 8:
                return [(i, local[i].strftime("%H:%M")) for i in picks]
    days = [i for i, h in enumerate(local) if h.hour == 0] or [0]
    every = max(1, math.ceil(len(days) / 7))
    return [(i, local[i].strftime("%d %b")) for i in days[::every]]


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def svg_line_chart(
    lines: Sequence[Line],
    hours: Sequence[datetime],
    *,
    title: str,
    y_format: Callable[[float], str],
    durations: bool = False,
    width: int = 420,
    height: int = 230,
) -> SafeString:
    """An inline SVG line chart of hourly values: axes, ticks, a legend, one polyline per
    unbroken run of values (None is a gap; a lone value is a dot), and "no data" when
    there is nothing to draw. Every text is escaped; the result is safe markup."""
    left, right, top, bottom = 50, 12, 24, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    base_y = top + plot_h
    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{left}" y1="{base_y}" x2="{left + plot_w}" y2="{base_y}"/>',
        f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{base_y}"/>',
    ]
    present = [v for line in lines for v in line.values if v is not None]
    n = len(hours)
    if not present or n == 0:
        out.append(
            f'<text class="nodata" x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" '
            f'text-anchor="middle" dominant-baseline="middle">no data</text></svg>'
        )
        return mark_safe("".join(out))  # noqa: S308 - built from escaped text and numbers

    step = nice_step(max(max(present), 0.0) / 5, durations=durations)
    y_top = max(step, step * math.ceil(max(present) / step))

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(value: float) -> float:
        return base_y - plot_h * max(0.0, value) / y_top

    tick = 0.0
    while tick <= y_top * (1 + 1e-9):
        ty = y(tick)
        out.append(
            f'<line class="grid" x1="{left}" y1="{ty:.1f}" x2="{left + plot_w}" y2="{ty:.1f}"/>'
            f'<text class="tick" x="{left - 6}" y="{ty:.1f}" text-anchor="end" '
            f'dominant-baseline="middle">{escape(y_format(tick))}</text>'
        )
        tick += step
    for i, label in _x_ticks(hours):
        tx = x(i)
        out.append(
            f'<line class="axis" x1="{tx:.1f}" y1="{base_y}" x2="{tx:.1f}" y2="{base_y + 4}"/>'
            f'<text class="tick" x="{tx:.1f}" y="{base_y + 16}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    dots = n <= 48
    local = _local(hours) if dots else []  # only dots carry a time in their titles
    for number, line in enumerate(lines):
        colour = escape(line.colour)
        if len(lines) > 1:  # one line needs no legend: the chart's title names it
            legend_x = left + number * 150
            out.append(
                f'<rect x="{legend_x}" y="6" width="12" height="4" fill="{colour}"/>'
                f'<text class="legend" x="{legend_x + 16}" y="8" '
                f'dominant-baseline="middle">{escape(line.label)}</text>'
            )
        run: list[str] = []
        for i, value in enumerate([*line.values, None]):
            if value is not None and i < n:
                run.append(f"{x(i):.1f},{y(value):.1f}")
                if dots:
                    out.append(
                        f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="2.5" fill="{colour}">'
                        f"<title>{escape(line.label)} {local[i]:%d %b %H:%M}: "
                        f"{escape(y_format(value))}</title></circle>"
                    )
                continue
            if len(run) == 1 and not dots:
                cx, cy = run[0].split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{colour}"/>')
            elif len(run) > 1:
                out.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                    f'stroke-linejoin="round" points="{" ".join(run)}"/>'
                )
            run = []
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - built from escaped text and numbers


def _axis_rate(value: float) -> str:
    return f"{_num(value * 100)}%"


def _axis_count(value: float) -> str:
    return _num(value)


def charts(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    hours = [datetime.fromisoformat(point["hour"]) for point in series]

    def values(key: str) -> list[float | None]:
        return [point[key] for point in series]

    return [
        {
            "title": "Escalation and override rate per hour",
            "svg": svg_line_chart(
                [
                    Line("Escalation rate", values("escalation_rate"), "#2f5bd3"),
                    Line("Override rate", values("override_rate"), "#c2410c"),
                ],
                hours,
                title="Escalation and override rate per hour",
                y_format=_axis_rate,
            ),
        },
        {
            "title": "Queue depth per hour",
            "svg": svg_line_chart(
                [Line("Open entries", values("queue_depth"), "#1c7c47")],
                hours,
                title="Open queue entries at the end of each hour",
                y_format=_axis_count,
            ),
        },
        {
            "title": "Resolution time p50 per hour",
            "svg": svg_line_chart(
                [Line("Resolution p50", values("resolution_seconds_p50"), "#7c3aed")],
                hours,
                title="Resolution time p50 per hour",
                y_format=lambda s: fmt_seconds(s) if s else "0",
                durations=True,
            ),
        },
    ]


# ---------------------------------------------------------------------------- views


def _rubber_stamp_help() -> str:
    return (
        f"Possible rubber-stamping: at least {settings.LOOPGATE_RUBBER_STAMP_MIN_DECISIONS} "
        f"decisions, a median decision time under "
        f"{settings.LOOPGATE_RUBBER_STAMP_SPEED:.0%} of the team's median, and overrides "
        f"under {settings.LOOPGATE_OVERRIDE_LOW:.0%}. A prompt to look, not a verdict."
    )


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The loop at a glance for supervisors, admins and compliance (404 for anyone else)."""
    if not sees_all_metrics(request.user):
        raise Http404("No such page.")
    case_types = list(CaseType.objects.order_by("name").values("pk", "slug", "name"))
    window = request.GET.get("window", DEFAULT_WINDOW)
    slug = request.GET.get("case_type", "")
    context: dict[str, Any] = {
        "windows": DASHBOARD_WINDOWS,
        "window": window,
        "case_types": case_types,
        "case_type_slug": slug,
    }
    if window not in DASHBOARD_WINDOWS:
        context["error"] = (
            f"Unknown window “{window}”: choose one of {', '.join(DASHBOARD_WINDOWS)}."
        )
        context["window"] = DEFAULT_WINDOW
        return render(request, "metrics/dashboard.html", context, status=400)
    case_type = None
    if slug:
        case_type = next((ct for ct in case_types if ct["slug"] == slug), None)
        if case_type is None:
            raise Http404("No such case type.")
    summary = metrics_summary(window=window, case_type_id=case_type["pk"] if case_type else None)
    open_alerts = Alert.objects.filter(acknowledged_at__isnull=True).select_related("rule")
    alerts = list(open_alerts.order_by("-fired_at")[:ALERTS_SHOWN])
    context.update(
        {
            "summary": summary,
            "case_type": case_type,
            "window_label": DASHBOARD_WINDOWS[window],
            "window_from": datetime.fromisoformat(summary["from"]),
            "window_until": datetime.fromisoformat(summary["until"]),
            "received": summary["figures"]["received"],
            "headlines": headlines(summary),
            "charts": charts(summary["series"]),
            "queues": [
                {
                    **q,
                    "oldest": fmt_seconds(q["oldest_age_seconds"]),
                    "arrivals": fmt_per_hour(q["arrivals_per_hour"]),
                    "completions": fmt_per_hour(q["completions_per_hour"]),
                    "growing": q["arrivals_per_hour"] > q["completions_per_hour"],
                }
                for q in summary["queues"]
            ],
            "reviewers": [
                {
                    **r,
                    "per_hour": fmt_per_hour(r["decisions_per_hour"]),
                    "median": fmt_seconds(r["median_seconds"]),
                    "approvals": fmt_rate(r["approval_share"]),
                    "overrides": fmt_rate(r["override_rate"]),
                    "agreement": fmt_rate(r["peer_agreement"]),
                }
                for r in summary["reviewers"]
            ],
            "rubber_stamp_help": _rubber_stamp_help(),
            "alerts": alerts,
            "alerts_open": (len(alerts) if len(alerts) < ALERTS_SHOWN else open_alerts.count()),
        }
    )
    return render(request, "metrics/dashboard.html", context)


@never_cache
@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """``GET /metrics`` for Prometheus: a bearer token or an allow-listed client address."""
    if not prometheus.scrape_allowed(
        authorization=request.headers.get("Authorization", ""),
        remote_addr=request.META.get("REMOTE_ADDR", ""),
    ):
        return HttpResponse(
            "Forbidden: send Authorization: Bearer <LOOPGATE_METRICS_TOKEN> or scrape from an "
            "address in LOOPGATE_METRICS_ALLOWED_IPS.\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(prometheus.exposition(), content_type=prometheus.CONTENT_TYPE)
