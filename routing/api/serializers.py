from __future__ import annotations

from typing import Any

from rest_framework import serializers

from cases.api.fields import StrictFloatField
from cases.models import Priority
from routing.models import POLICY_CONFIG_FIELDS, PolicyMode, PolicyVersion, Queue
from routing.simulation import SimulationReport


class PolicyDraftInSerializer(serializers.Serializer):
    """Shape only; the domain rules (expert <= auto, rules naming real queues ...) are
    checked by the service, the same ones Django admin applies."""

    case_type = serializers.SlugField(
        allow_null=True,
        required=False,
        default=None,
        help_text="The case type whose policy this is; null or omitted for the default policy.",
    )
    note = serializers.CharField(required=False, allow_blank=True, default="")
    mode = serializers.ChoiceField(choices=PolicyMode.choices, required=False)
    auto_approve_threshold = StrictFloatField(required=False)
    expert_threshold = StrictFloatField(required=False)
    audit_sample_rate = StrictFloatField(required=False)
    high_risk_tags = serializers.ListField(child=serializers.CharField(), required=False)
    rules = serializers.JSONField(required=False, help_text="Ordered rules; first match wins.")
    required_reviews = serializers.IntegerField(required=False)
    sla_minutes = serializers.DictField(child=serializers.IntegerField(), required=False)
    fast_track_window_minutes = serializers.IntegerField(required=False)
    generalist_queue = serializers.SlugField(required=False)
    expert_queue = serializers.SlugField(required=False)
    fast_track_queue = serializers.SlugField(required=False, allow_blank=True)
    audit_queue = serializers.SlugField(required=False, allow_blank=True)


class PolicyDraftUpdateSerializer(PolicyDraftInSerializer):
    case_type = None  # type: ignore[assignment]


class PolicyVersionSerializer(serializers.ModelSerializer):
    policy = serializers.CharField(source="policy.key")
    case_type = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    is_current = serializers.SerializerMethodField()
    created_by: serializers.StringRelatedField[Any] = serializers.StringRelatedField()
    published_by: serializers.StringRelatedField[Any] = serializers.StringRelatedField()

    class Meta:
        model = PolicyVersion
        fields = [
            "id",
            "policy",
            "case_type",
            "number",
            "status",
            "is_current",
            *POLICY_CONFIG_FIELDS,
            "note",
            "changes",
            "created_by",
            "created_at",
            "published_by",
            "published_at",
        ]
        read_only_fields = fields

    def get_case_type(self, version: PolicyVersion) -> str | None:
        case_type = version.policy.case_type
        return case_type.slug if case_type else None

    def get_status(self, version: PolicyVersion) -> str:
        return "published" if version.is_published else "draft"

    def get_is_current(self, version: PolicyVersion) -> bool:
        return version.policy.current_version_id == version.pk


class QueueSerializer(serializers.ModelSerializer):
    role: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="name", read_only=True
    )
    escalates_to: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )

    class Meta:
        model = Queue
        fields = [
            "slug",
            "name",
            "kind",
            "role",
            "lease_minutes",
            "sla_minutes",
            "escalates_to",
            "is_active",
        ]
        read_only_fields = fields


class SimulateQuerySerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False)
    days = serializers.IntegerField(required=False, min_value=1, max_value=365)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "since" in attrs and "days" in attrs:
            raise serializers.ValidationError({"days": ["Give either since or days, not both."]})
        return attrs


class SimulationSerializer(serializers.Serializer):
    policy = serializers.CharField()
    version_id = serializers.IntegerField()
    version_number = serializers.IntegerField(allow_null=True)
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    days = serializers.FloatField()
    cases = serializers.IntegerField()
    auto_approved = serializers.IntegerField()
    auto_approved_share = serializers.FloatField()
    by_queue = serializers.DictField(child=serializers.IntegerField())
    queue_shares = serializers.DictField(child=serializers.FloatField())
    audit_sampled = serializers.IntegerField()
    load_per_day = serializers.DictField(child=serializers.FloatField())
    reviews_per_day = serializers.FloatField()
    actual_auto_approved = serializers.IntegerField()
    actual_by_queue = serializers.DictField(child=serializers.IntegerField())
    human_reviewed = serializers.IntegerField()
    would_auto_approve_reviewed = serializers.IntegerField()
    would_auto_approve_overridden = serializers.IntegerField(
        help_text="Cases humans rejected or edited that this version would have auto-approved."
    )

    @staticmethod
    def of(report: SimulationReport) -> dict[str, Any]:
        return SimulationSerializer(report).data


__all__ = ["Priority"]
