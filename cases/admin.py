from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from cases import services
from cases.auditing import case_access_record
from cases.errors import InvalidInput
from cases.models import (
    ApiToken,
    AuditEvent,
    Case,
    CaseType,
    DeliveryStatus,
    Source,
    WebhookDelivery,
)
from cases.webhooks import webhook_retry


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records that change only through their services (or never): view, filter, search."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SourceAddForm(forms.ModelForm):
    class Meta:
        model = Source
        fields = ["name", "callback_url"]

    callback_url = forms.URLField(required=False, assume_scheme="https")


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "callback_url", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    readonly_fields = ["created_at", "user"]
    actions = ["rotate_token"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = SourceAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["name", "callback_url"]
        return ["name", "user", "is_active", "callback_url", "signing_secret", "created_at"]

    def save_model(self, request: HttpRequest, obj: Source, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        try:
            source, key = services.source_create(
                name=obj.name,
                callback_url=obj.callback_url,
                actor=request.user,  # type: ignore[arg-type]
            )
        except InvalidInput as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk = source.pk
        obj.user = source.user
        self.message_user(
            request,
            f"Source {source.name!r} created. Its API token, shown only this once: {key}",
            messages.WARNING,
        )

    @admin.action(
        description="Rotate the API token of the selected sources", permissions=["change"]
    )
    def rotate_token(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        for source in queryset:
            key = services.source_rotate_token(source=source, actor=request.user)  # type: ignore[arg-type]
            self.message_user(
                request,
                f"New token for {source.name!r}, shown only this once: {key}",
                messages.WARNING,
            )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "created_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["user__username", "prefix", "name"]
    readonly_fields = ["user", "name", "prefix", "created_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} token(s).")


@admin.register(CaseType)
class CaseTypeAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "is_active", "updated_at"]
    list_filter = ["is_active"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Case)
class CaseAdmin(ReadOnlyAdmin):
    """Read-mostly: cases change only through the review workflow."""

    list_display = [
        "id",
        "source",
        "external_id",
        "case_type",
        "status",
        "priority",
        "confidence",
        "sla_due_at",
        "created_at",
    ]
    list_filter = ["status", "priority", "case_type", "source"]
    search_fields = ["external_id", "id"]
    date_hierarchy = "created_at"
    list_select_related = ["source", "case_type"]
    show_full_result_count = False

    def change_view(self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any) -> Any:
        response = super().change_view(request, object_id, *args, **kwargs)
        case = Case.objects.filter(pk=object_id).first() if response.status_code == 200 else None
        if case is not None and isinstance(request.user, User):
            case_access_record(case=case, user=request.user, channel="admin")
        return response


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "occurred_at", "kind", "actor_label", "case", "reason"]
    list_filter = ["kind"]
    search_fields = ["kind", "actor_label", "case__external_id"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The outbox: dead deliveries show their last error and can be sent again."""

    list_display = [
        "id",
        "source",
        "case",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
        "delivered_at",
    ]
    list_filter = ["status", "source"]
    search_fields = ["id", "case__external_id"]
    list_select_related = ["source", "case"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    actions = ["retry"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Send the selected dead deliveries again", permissions=["change"])
    def retry(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        dead = list(queryset.filter(status=DeliveryStatus.DEAD))
        for delivery in dead:
            webhook_retry(delivery=delivery, actor=request.user)
        self.message_user(request, f"Queued {len(dead)} delivery(ies) again.")
