"""The dashboard page: who may see it, filters, what it shows, the SVG charts, query count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from cases.tests.factories import CaseTypeFactory
from metrics.models import Alert, AlertMetric, AlertRule, CaseTypeHour, ReviewerHour, RolledHour
from metrics.rollups import hour_floor
from metrics.views import Line, nice_step, svg_line_chart, trend
from reviews.tests.factories import Intake, publish_default_policy

pytestmark = pytest.mark.django_db

URL = "/dashboard/"
HEADLINES = (
    "Escalation rate",
    "Auto-approval rate",
    "Override rate",
    "Resolution p50",
    "Resolution p90",
    "Time in queue p50",
    "Resolved per hour",
    "SLA compliance",
    "SLA breaches",
    "At risk now",
    "Post-validation error",
    "Audit-sample error",
)


@pytest.fixture(autouse=True)
def _history_rolled_up(db: None) -> None:
    """Sixty days of finished hours rolled up (empty), as the scheduled task leaves them; the
    current and the previous hour stay computed on read."""
    current = hour_floor(timezone.now())
    RolledHour.objects.bulk_create(
        [RolledHour(hour=current - timedelta(hours=n)) for n in range(2, 2 * 30 * 24)]
    )


def hour_ago(hours: int) -> datetime:
    return hour_floor(timezone.now()) - timedelta(hours=hours)


def rolled_case_type_hour(hours: int, case_type: Any, **figures: Any) -> CaseTypeHour:
    """A stored rollup row for the hour ``hours`` before the current one."""
    hour = hour_ago(hours)
    RolledHour.objects.get_or_create(hour=hour)
    return CaseTypeHour.objects.create(hour=hour, case_type=case_type, **figures)


def page(client: Any, user: Any, url: str = URL) -> Any:
    client.force_login(user)
    return client.get(url)


@pytest.fixture
def refund(db: None) -> Any:
    return CaseTypeFactory(slug="refund", name="Refund")


@pytest.fixture
def intake(refund: Any) -> Intake:
    publish_default_policy(audit_sample_rate=0.0)
    return Intake("shop")


# ---------------------------------------------------------------------------- access


@pytest.mark.parametrize("persona", ["supervisor", "admin_user", "compliance_officer"])
def test_supervisors_admins_and_compliance_see_the_dashboard(client, request, persona, intake):
    intake.generalist_case()
    intake.auto_approved_case()

    response = page(client, request.getfixturevalue(persona))

    assert response.status_code == 200
    html = response.content.decode()
    for label in HEADLINES:
        assert label in html, label
    assert html.count("<svg") == 3
    assert "General review" in html  # the queue table


@pytest.mark.parametrize("persona", ["generalist", "expert", "outsider"])
def test_everyone_else_gets_a_404(client, request, persona):
    assert page(client, request.getfixturevalue(persona)).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/dashboard/"


# ---------------------------------------------------------------------------- content


def test_an_empty_database_renders_with_no_data(client, supervisor):
    response = page(client, supervisor)

    assert response.status_code == 200
    html = response.content.decode()
    assert "no data" in html
    assert "0 cases received" in html
    assert "No reviewer decisions" in html
    assert "No open alerts." in html
    assert response.context["summary"]["figures"]["escalation_rate"] is None


def test_headlines_show_the_trend_against_the_previous_window(client, supervisor, intake, refund):
    # The day before: 10 received, 2 to humans (20%). Now: 1 received, to a human (100%).
    rolled_case_type_hour(30, refund, received=10, to_human=2, auto_approved=8)
    intake.generalist_case()

    response = page(client, supervisor)

    escalation = {h.key: h for h in response.context["headlines"]}["escalation_rate"]
    assert (escalation.value, escalation.trend.arrow, escalation.trend.text) == (
        "100.0%",
        "▲",
        "80.0 pp",
    )
    assert escalation.trend.tone == "bad"
    auto = {h.key: h for h in response.context["headlines"]}["auto_approval_rate"]
    assert (auto.value, auto.trend.arrow, auto.trend.text, auto.trend.tone) == (
        "0.0%",
        "▼",
        "80.0 pp",
        "",
    )
    html = response.content.decode()
    assert "▲ 80.0 pp" in html
    assert "Previous 24h: 20.0%" in html


def test_an_override_rate_outside_its_band_is_flagged(client, supervisor, refund):
    rolled_case_type_hour(3, refund, received=10, to_human=10, decided=10, overrides=5)

    html = page(client, supervisor).content.decode()

    assert 'data-figure="override_rate"' in html
    assert "flag-high" in html
    assert '<span class="badge flag">high</span>' in html
    assert "above the band" in html


def test_rubber_stamping_reviewers_get_a_badge_with_an_explanation(
    client, supervisor, generalist, expert, settings
):
    settings.LOOPGATE_RUBBER_STAMP_MIN_DECISIONS = 20
    settings.LOOPGATE_RUBBER_STAMP_SPEED = 0.3
    settings.LOOPGATE_OVERRIDE_LOW = 0.02
    hour = hour_ago(3)
    RolledHour.objects.get_or_create(hour=hour)
    # gina: 25 approvals in under a second each; eric: 100 careful decisions of about 90 s.
    ReviewerHour.objects.create(
        hour=hour, reviewer=generalist, decisions=25, approvals=25, seconds_buckets=[25]
    )
    ReviewerHour.objects.create(
        hour=hour,
        reviewer=expert,
        decisions=100,
        approvals=80,
        overrides=20,
        seconds_buckets=[0] * 7 + [100],
    )

    response = page(client, supervisor)

    stamps = {r["reviewer"]: r["rubber_stamp"] for r in response.context["reviewers"]}
    assert stamps == {"gina": True, "eric": False}
    html = response.content.decode()
    assert html.count('class="badge stamp"') == 1
    assert "Possible rubber-stamping: at least 20 decisions" in html


def test_the_latest_unacknowledged_alerts_show(client, supervisor):
    rule = AlertRule.objects.create(
        name="Escalation spike", metric=AlertMetric.ESCALATION_SPIKE, threshold=0.2
    )
    now = timezone.now()
    Alert.objects.create(rule=rule, fired_at=now, value=0.5, message="Escalation up 50%")
    Alert.objects.create(
        rule=rule,
        fired_at=now - timedelta(hours=1),
        value=0.3,
        message="Escalation up 30%",
        acknowledged_at=now,
    )
    for n in range(12):
        Alert.objects.create(
            rule=rule, fired_at=now - timedelta(days=1, minutes=n), value=n, message=f"old {n}"
        )

    response = page(client, supervisor)

    html = response.content.decode()
    assert "Escalation spike" in html
    assert "Escalation up 50%" in html
    assert "Escalation up 30%" not in html  # acknowledged
    assert len(response.context["alerts"]) == 10
    assert response.context["alerts"][0].message == "Escalation up 50%"
    assert "latest 10 of 13" in html


# ---------------------------------------------------------------------------- filters


@pytest.mark.parametrize("window", ["24h", "7d", "30d"])
def test_the_window_selects_the_period(client, supervisor, window):
    response = page(client, supervisor, f"{URL}?window={window}")

    assert response.status_code == 200
    assert response.context["summary"]["window"] == window
    hours = {"24h": 24, "7d": 168, "30d": 720}[window]
    assert len(response.context["summary"]["series"]) == hours
    assert f'aria-current="page">{window}</a>' in response.content.decode()


def test_the_window_defaults_to_24h(client, supervisor):
    assert page(client, supervisor).context["summary"]["window"] == "24h"


@pytest.mark.parametrize("window", ["1h", "2d", "", "<b>x</b>"])
def test_an_unknown_window_is_a_400_with_a_message(client, supervisor, window):
    response = page(client, supervisor, f"{URL}?window={window}")

    assert response.status_code == 400
    html = response.content.decode()
    assert "Unknown window" in html
    assert "choose one of 24h, 7d, 30d" in html
    assert "<b>x</b>" not in html


def test_the_case_type_filter_narrows_the_figures(client, supervisor, intake, refund):
    CaseTypeFactory(slug="content-removal", name="Content removal")
    intake.generalist_case()
    intake.auto_approved_case(case_type="content-removal")

    everything = page(client, supervisor).context["summary"]["figures"]
    refunds = page(client, supervisor, f"{URL}?case_type=refund")
    removals = page(client, supervisor, f"{URL}?case_type=content-removal&window=7d")

    assert (everything["received"], everything["escalation_rate"]) == (2, 0.5)
    assert refunds.status_code == 200
    assert refunds.context["case_type"]["slug"] == "refund"
    assert refunds.context["summary"]["figures"]["escalation_rate"] == 1.0
    assert removals.context["summary"]["figures"]["auto_approval_rate"] == 1.0
    assert removals.context["summary"]["window"] == "7d"
    html = refunds.content.decode()
    assert '<option value="refund" selected>' in html
    assert "cover all case types" in html


def test_an_unknown_case_type_is_a_404(client, supervisor, refund):
    assert page(client, supervisor, f"{URL}?case_type=nope").status_code == 404


# ---------------------------------------------------------------------------- cost


@pytest.mark.parametrize("window", ["24h", "7d", "30d"])
def test_the_page_runs_the_same_bounded_number_of_queries_for_any_window(
    client, supervisor, intake, refund, window, django_assert_max_num_queries
):
    for hours in (5, 50, 500):
        rolled_case_type_hour(hours, refund, received=3, to_human=1, auto_approved=2)
    intake.generalist_case()
    client.force_login(supervisor)

    with django_assert_max_num_queries(30):
        response = client.get(f"{URL}?window={window}")

    assert response.status_code == 200


# ---------------------------------------------------------------------------- the helpers


HOURS = [datetime(2026, 3, 1, 0, tzinfo=UTC) + timedelta(hours=n) for n in range(6)]


def test_the_chart_breaks_lines_at_gaps_and_dots_lone_values():
    svg = svg_line_chart(
        [Line("Rate", [0.1, 0.2, None, 0.4, None, 0.5], "#123456")],
        HOURS,
        title="Rates",
        y_format=lambda v: f"{v:.0%}",
    )

    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<polyline") == 1  # 0.1 to 0.2; 0.4 and 0.5 stand alone
    assert svg.count("<circle") == 4  # every value gets a dot (with a tooltip) on a short chart
    assert "no data" not in svg
    assert "<title>Rates</title>" in svg
    assert ">00:00<" in svg and ">05:00<" in svg  # x ticks
    assert ">0%<" in svg and ">50%<" in svg  # y ticks


def test_a_long_chart_draws_lone_values_as_dots_without_tooltips():
    hours = [HOURS[0] + timedelta(hours=n) for n in range(24 * 7)]
    values: list[float | None] = [None] * len(hours)
    values[10], values[50], values[51] = 3, 4, 5

    svg = svg_line_chart([Line("Depth", values, "#000")], hours, title="Depth", y_format=str)

    assert svg.count("<polyline") == 1
    assert svg.count("<circle") == 1
    assert ">01 Mar<" in svg and ">07 Mar<" in svg  # day ticks on a week


@pytest.mark.parametrize("values", [[], [None] * 6])
def test_a_chart_without_values_says_no_data(values):
    hours = HOURS if values else []

    svg = svg_line_chart([Line("Rate", values, "#000")], hours, title="Rates", y_format=str)

    assert "no data" in svg
    assert "<polyline" not in svg


def test_chart_text_is_escaped():
    svg = svg_line_chart([Line("<script>", [1.0] * 6, '"red')], HOURS, title="a & b", y_format=str)

    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert "a &amp; b" in svg
    assert 'fill="&quot;red"' in svg


def test_an_all_zero_series_is_a_flat_line_not_no_data():
    svg = svg_line_chart([Line("Depth", [0] * 6, "#000")], HOURS, title="Depth", y_format=str)

    assert "no data" not in svg
    assert svg.count("<polyline") == 1


@pytest.mark.parametrize(
    ("raw", "durations", "step"),
    [
        (0.184, False, 0.2),
        (3, False, 5),
        (12, False, 20),
        (1, False, 1),
        (0, False, 1.0),
        (40, True, 60),
        (700, True, 900),
        (100000, True, 172800),
    ],
)
def test_nice_steps(raw, durations, step):
    assert nice_step(raw, durations=durations) == pytest.approx(step)


def test_trend_compares_with_the_previous_window():
    assert trend(0.3, 0.2, kind="rate", better="down", window="24h").arrow == "▲"
    assert trend(0.3, 0.2, kind="rate", better="down", window="24h").tone == "bad"
    assert trend(60, 120, kind="seconds", better="down", window="7d").text == "1.0 min"
    assert trend(60, 120, kind="seconds", better="down", window="7d").tone == "good"
    assert trend(5, 5, kind="count", better="down", window="24h").text == "unchanged"
    assert trend(None, 5, kind="count", better="down", window="24h").text == "no earlier data"
    assert trend(0.5, None, kind="rate", better=None, window="24h").title == "Previous 24h: —"
