from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from cases import validators
from cases.api.case_io import case_input_fast, case_out
from cases.api.fields import StrictCharField, StrictFloatField, StrictJSONField
from cases.errors import InvalidInput
from cases.models import Case, CaseStatus, CaseType, Priority
from cases.services import CaseInput, IngestResult


def _django_validator(func: Any) -> Any:
    def run(value: Any) -> None:
        try:
            func(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    return run


class CaseInSerializer(serializers.Serializer):
    external_id = StrictCharField(
        max_length=255, help_text="Your id for this case; unique per source."
    )
    case_type = serializers.SlugField(max_length=64)
    input = StrictJSONField(help_text="What the model was given.")
    ai_output = StrictJSONField(help_text="What the model decided or produced.")
    confidence = StrictFloatField(min_value=0.0, max_value=1.0)
    context = StrictJSONField(  # type: ignore[assignment]  # the field shadows Field.context
        required=False,
        default=list,  # type: ignore[arg-type]
        validators=[_django_validator(validators.validate_context_fragments)],
        help_text="Fragments the model used: [{text, source?, score?}].",
    )
    risk_tags = serializers.ListField(
        child=StrictCharField(max_length=64),
        required=False,
        default=list,
        max_length=validators.MAX_RISK_TAGS,
    )
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.NORMAL)
    due_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    metadata = StrictJSONField(
        required=False,
        default=dict,
        validators=[_django_validator(validators.validate_json_object)],
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if isinstance(self.initial_data, dict):
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return attrs

    def to_case_input(self) -> CaseInput:
        return CaseInput(**self.validated_data)


def parse_bulk_item(item: Any) -> CaseInput | InvalidInput:
    if not isinstance(item, dict):
        return InvalidInput(
            "Each item must be a JSON object.",
            fields={"non_field_errors": ["Expected a JSON object."]},
        )
    fast = case_input_fast(item)
    if fast is not None:
        return fast
    serializer = CaseInSerializer(data=item)
    if serializer.is_valid():
        return serializer.to_case_input()
    return InvalidInput("Invalid case.", fields=_flatten(serializer.errors))


def _flatten(errors: Any) -> dict[str, list[str]]:
    flat: dict[str, list[str]] = {}
    for name, messages in errors.items():
        if isinstance(messages, dict):
            flat[name] = [f"{key}: {', '.join(map(str, value))}" for key, value in messages.items()]
        else:
            flat[name] = [str(message) for message in messages]
    return flat


class BulkInSerializer(serializers.Serializer):
    cases = serializers.ListField(
        child=serializers.DictField(), help_text="Up to 1,000 cases, each as for a single POST."
    )


class RoutingSerializer(serializers.Serializer):
    outcome = serializers.CharField()
    queue = serializers.CharField(allow_null=True)
    reason = serializers.CharField()
    rule = serializers.CharField(allow_null=True)
    policy = serializers.CharField()
    policy_version = serializers.IntegerField()
    required_reviews = serializers.IntegerField()
    audit_sample = serializers.BooleanField()


class CaseOutSerializer(serializers.ModelSerializer):
    case_type: serializers.SlugRelatedField[CaseType] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    status = serializers.ChoiceField(choices=CaseStatus.choices, read_only=True)
    queue = serializers.SerializerMethodField()
    routing = RoutingSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Case
        fields = [
            "id",
            "external_id",
            "case_type",
            "status",
            "queue",
            "routing",
            "priority",
            "confidence",
            "due_at",
            "sla_due_at",
            "fast_tracked",
            "final_output",
            "decision",
            "decided_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_queue(self, case: Case) -> str | None:
        return (case.routing or {}).get("queue")


class CaseDetailSerializer(CaseOutSerializer):
    class Meta(CaseOutSerializer.Meta):
        fields = [
            *CaseOutSerializer.Meta.fields,
            "input",
            "ai_output",
            "context",
            "risk_tags",
            "metadata",
        ]
        read_only_fields = fields


class BulkItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    result = serializers.ChoiceField(choices=["created", "existing", "error"])
    case = CaseOutSerializer(required=False)
    error = serializers.DictField(required=False)


class BulkOutSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    existing = serializers.IntegerField()
    errors = serializers.IntegerField()  # type: ignore[assignment]
    results = BulkItemResultSerializer(many=True)


def bulk_result_item(
    index: int, item: Any, result: IngestResult, zone: Any = None
) -> dict[str, Any]:
    """One entry of a bulk response; pass ``zone`` (the current time zone) for many."""
    external_id = item.get("external_id") if isinstance(item, dict) else None
    entry: dict[str, Any] = {
        "index": index,
        "external_id": external_id if isinstance(external_id, str) else None,
        "result": result.outcome.value,
    }
    if result.case is not None:
        entry["case"] = case_out(result.case, zone)
    if result.error is not None:
        error: dict[str, Any] = {"code": result.error.code, "message": result.error.message}
        if isinstance(result.error, InvalidInput) and result.error.fields:
            error["fields"] = result.error.fields
        entry["error"] = error
    return entry


class CaseTypeSerializer(serializers.ModelSerializer):
    """Configuration as code: the model's own validators run here as in Django admin."""

    class Meta:
        model = CaseType
        fields = [
            "slug",
            "name",
            "kind",
            "description",
            "reason_codes",
            "input_schema",
            "output_schema",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]


class CaseListQuerySerializer(serializers.Serializer):
    status = serializers.MultipleChoiceField(choices=CaseStatus.choices, required=False)
    updated_since = serializers.DateTimeField(required=False)
