"""Admin for alert rules and the alerts they fire. Alerts are read-only records; the one
change allowed is acknowledging them (an action, for people who may change alerts)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Max, QuerySet
from django.http import HttpRequest

from metrics.alerts import alert_acknowledge
from metrics.models import Alert, AlertMetric, AlertRule

SHARE_METRICS = (AlertMetric.OVERRIDE_BAND, AlertMetric.AUDIT_ERROR)


class AlertRuleForm(forms.ModelForm):
    class Meta:
        model = AlertRule
        fields = [
            "name",
            "metric",
            "case_type",
            "queue",
            "threshold",
            "threshold_low",
            "cooldown_minutes",
            "notify_email",
            "notify_webhook",
            "is_active",
        ]

    notify_webhook = forms.URLField(
        required=False,
        assume_scheme="https",
        help_text=AlertRule._meta.get_field("notify_webhook").help_text,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        metric = data.get("metric")
        threshold = data.get("threshold")
        low = data.get("threshold_low")
        if metric == AlertMetric.QUEUE_GROWTH:
            if not data.get("queue"):
                self.add_error("queue", "Queue growth watches one queue: choose it.")
            if data.get("case_type"):
                self.add_error("case_type", "Queue growth is per queue; leave the case type empty.")
            if threshold is not None and (threshold < 1 or threshold != int(threshold)):
                self.add_error(
                    "threshold",
                    "For queue growth the threshold is a number of hours: a whole number, "
                    "1 or more.",
                )
        elif data.get("queue"):
            self.add_error("queue", "Only queue growth rules watch a queue; leave it empty.")
        if threshold is not None and threshold < 0:
            self.add_error("threshold", "The threshold cannot be negative.")
        if metric in SHARE_METRICS and threshold is not None and threshold > 1:
            self.add_error("threshold", "This threshold is a share: between 0 and 1 (0.3 = 30%).")
        if low is not None:
            if metric != AlertMetric.OVERRIDE_BAND:
                self.add_error("threshold_low", "Only the override band has a lower bound.")
            elif not 0 <= low <= 1:
                self.add_error("threshold_low", "The lower bound is a share between 0 and 1.")
            elif threshold is not None and low > threshold:
                self.add_error("threshold_low", "The lower bound must not exceed the threshold.")
        bad = []
        for address in (data.get("notify_email") or "").replace(";", ",").split(","):
            try:
                if address.strip():
                    validate_email(address.strip())
            except ValidationError:
                bad.append(address.strip())
        if bad:
            self.add_error("notify_email", f"Not an e-mail address: {', '.join(bad)}.")
        return data


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    form = AlertRuleForm
    list_display = [
        "name",
        "metric",
        "case_type",
        "queue",
        "threshold",
        "threshold_low",
        "cooldown_minutes",
        "is_active",
        "last_fired",
    ]
    list_filter = ["is_active", "metric", "case_type", "queue"]
    search_fields = ["name"]
    list_select_related = ["case_type", "queue"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AlertRule]:
        return super().get_queryset(request).annotate(last_fired_at=Max("alerts__fired_at"))

    @admin.display(description="Last fired", ordering="last_fired_at")
    def last_fired(self, obj: Any) -> Any:
        return getattr(obj, "last_fired_at", None)


class AcknowledgedFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("open", "Open"), ("acknowledged", "Acknowledged")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("open", "acknowledged"):
            return queryset.filter(acknowledged_at__isnull=self.value() == "open")
        return queryset


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = [
        "fired_at",
        "rule",
        "value",
        "message",
        "acknowledged_by",
        "acknowledged_at",
    ]
    list_filter = [AcknowledgedFilter, "rule__metric", "rule"]
    search_fields = ["rule__name", "message"]
    date_hierarchy = "fired_at"
    list_select_related = ["rule", "acknowledged_by"]
    readonly_fields = [f.name for f in Alert._meta.fields]
    actions = ["acknowledge"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Changing means acknowledging, through the action; an alert's page is read-only.
        return obj is None and super().has_change_permission(request)

    @admin.action(description="Acknowledge the selected alerts", permissions=["change"])
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        if not isinstance(request.user, User):
            return
        count = 0
        for alert in queryset.filter(acknowledged_at__isnull=True):
            alert_acknowledge(alert=alert, actor=request.user)
            count += 1
        self.message_user(request, f"Acknowledged {count} alert(s).", messages.SUCCESS)
