"""Admin for queues and routing policies. Editing a policy publishes a new immutable version;
"save as draft" keeps it for a dry run first."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from guardian.admin import GuardedModelAdmin

from cases.admin import ReadOnlyAdmin
from cases.errors import Conflict, InvalidInput
from routing import services
from routing.models import (
    POLICY_CONFIG_FIELDS,
    PolicyMode,
    PolicyVersion,
    Queue,
    QueueEntry,
    RoutingPolicy,
)
from routing.simulation import default_since, policy_simulate
from routing.validators import policy_config_errors


def _person(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


@admin.register(Queue)
class QueueAdmin(GuardedModelAdmin):
    list_display = [
        "slug",
        "name",
        "kind",
        "role",
        "lease_minutes",
        "escalates_to",
        "is_active",
    ]
    list_filter = ["kind", "is_active"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}

    def save_model(self, request: HttpRequest, obj: Queue, form: Any, change: bool) -> None:
        services.queue_save(queue=obj, actor=_person(request))


class PolicyConfigForm(forms.ModelForm):
    """The configuration of a new version, pre-filled from the version in force."""

    mode = forms.ChoiceField(choices=PolicyMode.choices)
    auto_approve_threshold = forms.FloatField(min_value=0, max_value=1)
    expert_threshold = forms.FloatField(min_value=0, max_value=1)
    audit_sample_rate = forms.FloatField(min_value=0, max_value=1)
    high_risk_tags = forms.JSONField(required=False, help_text='e.g. ["legal", "minor"]')
    rules = forms.JSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "cols": 90, "style": "font-family: monospace"}),
        help_text='Ordered; first match wins. [{"name": "big-refunds", "when": {"field": '
        '"metadata.amount", "op": "gt", "value": 1000}, "then": {"route_to": "expert", '
        '"required_reviews": 2}}]',
    )
    required_reviews = forms.IntegerField(min_value=1, max_value=5)
    sla_minutes = forms.JSONField(
        help_text='{"low": 1440, "normal": 240, "high": 60, "urgent": 15}'
    )
    fast_track_window_minutes = forms.IntegerField(min_value=0)
    generalist_queue = forms.SlugField()
    expert_queue = forms.SlugField()
    fast_track_queue = forms.SlugField(required=False)
    audit_queue = forms.SlugField(required=False)
    note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why this change (kept with the version).",
    )

    class Meta:
        model = RoutingPolicy
        fields = ["case_type"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = self.instance.current_version if self.instance.pk else None
        config = (current or PolicyVersion()).config()
        for name in POLICY_CONFIG_FIELDS:
            self.fields[name].initial = config[name]
        if self.instance.pk:
            self.fields["case_type"].disabled = True

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        config = {name: data.get(name) for name in POLICY_CONFIG_FIELDS}
        config["high_risk_tags"] = config["high_risk_tags"] or []
        config["rules"] = config["rules"] or []
        config["fast_track_queue"] = config["fast_track_queue"] or ""
        config["audit_queue"] = config["audit_queue"] or ""
        known = set(Queue.objects.values_list("slug", flat=True))
        for field, problems in policy_config_errors(config, known_queues=known).items():
            for problem in problems:
                self.add_error(field if field in self.fields else None, problem)
        data.update(config)
        return data


VERSION_SUMMARY_FIELDS = (
    "number",
    "mode",
    "auto_approve_threshold",
    "expert_threshold",
    "audit_sample_rate",
    "published_at",
    "published_by",
    "note",
)


class PolicyVersionInline(admin.TabularInline):
    model = PolicyVersion
    fields = VERSION_SUMMARY_FIELDS
    readonly_fields = VERSION_SUMMARY_FIELDS
    extra = 0
    can_delete = False
    ordering = ["-created_at"]
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RoutingPolicy)
class RoutingPolicyAdmin(admin.ModelAdmin):
    form = PolicyConfigForm
    list_display = ["__str__", "current_number", "current_mode", "current_thresholds"]
    inlines = [PolicyVersionInline]
    change_form_template = "admin/routing/routingpolicy/change_form.html"
    fieldsets = [
        (None, {"fields": ["case_type", "mode", "note"]}),
        (
            "Thresholds",
            {
                "fields": [
                    "auto_approve_threshold",
                    "expert_threshold",
                    "audit_sample_rate",
                    "high_risk_tags",
                    "required_reviews",
                ]
            },
        ),
        ("Rules", {"fields": ["rules"]}),
        (
            "Queues and SLA",
            {
                "fields": [
                    "generalist_queue",
                    "expert_queue",
                    "fast_track_queue",
                    "audit_queue",
                    "sla_minutes",
                    "fast_track_window_minutes",
                ]
            },
        ),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[RoutingPolicy]:
        return super().get_queryset(request).select_related("case_type", "current_version")

    @admin.display(description="version")
    def current_number(self, obj: RoutingPolicy) -> str:
        return f"v{obj.current_version.number}" if obj.current_version else "—"

    @admin.display(description="mode")
    def current_mode(self, obj: RoutingPolicy) -> str:
        return obj.current_version.mode if obj.current_version else "—"

    @admin.display(description="auto / expert / audit")
    def current_thresholds(self, obj: RoutingPolicy) -> str:
        v = obj.current_version
        return (
            f"{v.auto_approve_threshold} / {v.expert_threshold} / {v.audit_sample_rate}"
            if v
            else "—"
        )

    def save_model(self, request: HttpRequest, obj: RoutingPolicy, form: Any, change: bool) -> None:
        data = form.cleaned_data
        values = {name: data[name] for name in POLICY_CONFIG_FIELDS}
        case_type = obj.case_type
        actor = _person(request)
        try:
            if "_save_draft" in request.POST:
                version = services.policy_draft_create(
                    actor=actor, case_type=case_type, values=values, note=data["note"]
                )
                request._loopgate_draft = version  # type: ignore[attr-defined]
            else:
                version = services.policy_edit_and_publish(
                    actor=actor, case_type=case_type, values=values, note=data["note"]
                )
                self.message_user(request, f"Published {version}.", messages.SUCCESS)
        except InvalidInput as exc:  # a queue vanished between form and save
            self.message_user(request, f"{exc.message} {exc.fields}", messages.ERROR)
            return
        obj.pk = version.policy_id
        obj.refresh_from_db()

    def response_add(self, request: HttpRequest, obj: RoutingPolicy, *args: Any) -> HttpResponse:
        return self._after_save(request) or super().response_add(request, obj, *args)

    def response_change(self, request: HttpRequest, obj: RoutingPolicy) -> HttpResponse:
        return self._after_save(request) or super().response_change(request, obj)

    def _after_save(self, request: HttpRequest) -> HttpResponse | None:
        draft = getattr(request, "_loopgate_draft", None)
        if "_save_draft" in request.POST and draft is not None:
            return HttpResponseRedirect(
                reverse("admin:routing_policyversion_simulate", args=[draft.pk])
            )
        return None


@admin.register(PolicyVersion)
class PolicyVersionAdmin(ReadOnlyAdmin):
    """Versions are read-only; drafts can be simulated and published from here."""

    list_display = [
        "__str__",
        "mode",
        "auto_approve_threshold",
        "expert_threshold",
        "audit_sample_rate",
        "published_at",
        "published_by",
    ]
    list_filter = ["policy", "mode"]
    list_select_related = ["policy__case_type", "published_by"]
    readonly_fields = [f.name for f in PolicyVersion._meta.fields]

    def get_urls(self) -> list[Any]:
        custom = [
            path(
                "<int:version_id>/simulate/",
                self.admin_site.admin_view(self.simulate_view),
                name="routing_policyversion_simulate",
            ),
        ]
        return custom + super().get_urls()

    def simulate_view(self, request: HttpRequest, version_id: int) -> HttpResponse:
        version = get_object_or_404(
            PolicyVersion.objects.select_related("policy__case_type"), pk=version_id
        )
        may_publish = request.user.has_perm("routing.change_routingpolicy")
        if request.method == "POST" and "_publish" in request.POST and may_publish:
            try:
                services.policy_publish(version=version, actor=_person(request))
            except (Conflict, InvalidInput) as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Published {version.policy} as the version in force.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:routing_routingpolicy_change", args=[version.policy_id])
                )
        try:
            days = min(max(int(request.GET.get("days", 30)), 1), 365)
        except ValueError:
            days = 30
        report = policy_simulate(version=version, since=default_since(days))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Dry run of {version}",
            "version": version,
            "report": report,
            "days": days,
            "opts": self.model._meta,
            "may_publish": may_publish,
        }
        return TemplateResponse(request, "admin/routing/policyversion/simulate.html", context)


@admin.register(QueueEntry)
class QueueEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "case",
        "queue",
        "kind",
        "state",
        "fast_tracked",
        "sla_due_at",
        "claimed_by",
        "lease_expires_at",
    ]
    list_filter = ["queue", "kind", "state"]
    list_select_related = ["case", "queue", "claimed_by"]
    show_full_result_count = False
