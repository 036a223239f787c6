from __future__ import annotations

from typing import Any

from rest_framework import serializers

from cases.api.case_io import case_detail_out, when
from cases.api.serializers import CaseDetailSerializer
from reviews.models import Action, Decision
from reviews.selectors import case_decisions
from routing.models import QueueEntry


class DecisionSerializer(serializers.ModelSerializer):
    reviewer = serializers.CharField(source="reviewer.username")
    queue = serializers.CharField(source="queue.slug")

    class Meta:
        model = Decision
        fields = [
            "id",
            "reviewer",
            "role",
            "queue",
            "stage",
            "action",
            "reason_code",
            "comment",
            "final_output",
            "diff",
            "seconds_to_decide",
            "agrees_with_auto",
            "created_at",
        ]
        read_only_fields = fields


class ReviewCaseSerializer(CaseDetailSerializer):
    decisions = serializers.SerializerMethodField()

    class Meta(CaseDetailSerializer.Meta):
        fields = [*CaseDetailSerializer.Meta.fields, "decisions"]
        read_only_fields = fields

    def get_decisions(self, case: Any) -> list[dict[str, Any]]:
        decisions = case.decisions.select_related("reviewer", "queue").order_by("id")
        return DecisionSerializer(decisions, many=True).data  # type: ignore[return-value]


class LeaseSerializer(serializers.Serializer):
    entry = serializers.IntegerField(source="pk")
    queue = serializers.CharField(source="queue.slug")
    kind = serializers.CharField()
    claimed_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(source="lease_expires_at")


class ClaimSerializer(serializers.Serializer):
    case = ReviewCaseSerializer()
    lease = LeaseSerializer()

    @staticmethod
    def of(entry: QueueEntry) -> dict[str, Any]:
        """What the serializer renders, built as plain dicts (a claim is the hottest
        response there is; the tests hold this to the serializer)."""
        case = entry.case
        decisions = case_decisions(case)
        return {
            "case": {**case_detail_out(case), "decisions": [decision_out(d) for d in decisions]},
            "lease": {
                "entry": entry.pk,
                "queue": entry.queue.slug,
                "kind": entry.kind,
                "claimed_at": when(entry.claimed_at),
                "expires_at": when(entry.lease_expires_at),
            },
        }


def decision_out(decision: Decision) -> dict[str, Any]:
    """``DecisionSerializer(decision).data`` as a plain dict."""
    return {
        "id": decision.pk,
        "reviewer": decision.reviewer.username,
        "role": decision.role,
        "queue": decision.queue.slug,
        "stage": decision.stage,
        "action": decision.action,
        "reason_code": decision.reason_code,
        "comment": decision.comment,
        "final_output": decision.final_output,
        "diff": decision.diff,
        "seconds_to_decide": float(decision.seconds_to_decide),
        "agrees_with_auto": decision.agrees_with_auto,
        "created_at": when(decision.created_at),
    }


class DecisionInSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=Action.choices)
    reason_code = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)
    final_output = serializers.JSONField(
        required=False, allow_null=True, help_text="The corrected output; required for edit."
    )
