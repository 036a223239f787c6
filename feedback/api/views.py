from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.api.views import ERROR_RESPONSES
from cases.errors import InvalidInput
from cases.models import CaseType
from cases.permissions import IsAdminRole
from feedback import selectors
from feedback.permissions import HasFeedbackAccess


class FeedbackExportQuery(serializers.Serializer):
    kind = serializers.ChoiceField(choices=selectors.EXPORT_KINDS)
    format = serializers.ChoiceField(choices=["jsonl"], default="jsonl")
    case_type = serializers.SlugField(required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class FeedbackExportView(APIView):
    """Training data as JSON Lines, streamed."""

    permission_classes = [HasFeedbackAccess]

    @extend_schema(
        operation_id="feedback_export",
        parameters=[
            OpenApiParameter("kind", str, enum=list(selectors.EXPORT_KINDS), required=True),
            OpenApiParameter("format", str, enum=["jsonl"]),
            OpenApiParameter("case_type", str),
            OpenApiParameter("since", OpenApiTypes.DATETIME),
            OpenApiParameter("until", OpenApiTypes.DATETIME),
        ],
        responses={
            200: OpenApiResponse(
                OpenApiTypes.BINARY,
                description=(
                    "labels: one object per human decision; edits: {input, output}; preferences: "
                    "{prompt, chosen, rejected}."
                ),
            ),
            **ERROR_RESPONSES,
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        query = FeedbackExportQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        f = selectors.FeedbackFilter(
            case_type=data.get("case_type"), since=data.get("since"), until=data.get("until")
        )
        response = StreamingHttpResponse(
            selectors.export_lines(data["kind"], f), content_type="application/x-ndjson"
        )
        response["Content-Disposition"] = f'attachment; filename="loopgate-{data["kind"]}.jsonl"'
        return response


class CalibrationQuery(serializers.Serializer):
    case_type = serializers.SlugField()
    since = serializers.DateTimeField(required=False)
    target_error = serializers.FloatField(
        required=False, default=0.01, min_value=0.0001, max_value=0.5
    )
    review_cost = serializers.FloatField(required=False, min_value=0)
    error_cost = serializers.FloatField(required=False, min_value=0)
    min_labelled = serializers.IntegerField(required=False, default=30, min_value=1)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("review_cost" in attrs) != ("error_cost" in attrs):
            raise serializers.ValidationError(
                {"error_cost": ["Give both review_cost and error_cost, or neither."]}
            )
        return attrs


def report_payload(report: selectors.CalibrationReport) -> dict[str, Any]:
    def candidate(c: Any) -> dict[str, Any] | None:
        if c is None:
            return None
        return {
            "threshold": c.threshold,
            "labelled": c.labelled,
            "errors": c.errors,
            "error_rate": c.error_rate,
            "error_lower": c.error_lower,
            "error_upper": c.error_upper,
            "review_share": c.review_share,
            "escalation_rate": c.review_share,
            "expected_cost": c.expected_cost,
        }

    advice = report.recommendation
    return {
        "case_type": report.case_type.slug,
        "policy_version": report.policy_version,
        "current_thresholds": {
            "auto_approve": report.current_threshold,
            "expert": report.expert_threshold,
        },
        "target_error": report.target_error,
        "min_labelled": report.min_labelled,
        "reliability": [
            {
                "lower": b.lower,
                "upper": b.upper,
                "labelled": b.labelled,
                "accepted": b.accepted,
                "accepted_share": b.accepted_share,
            }
            for b in report.buckets
        ],
        "candidates": [candidate(c) for c in report.candidates],
        "recommendation": {
            "threshold": advice.threshold,
            "reason": advice.reason,
            "cheapest_threshold": advice.cheapest,
            "cheapest_reason": advice.cheapest_reason,
        },
        "at_current": candidate(report.current),
        "at_recommendation": candidate(report.recommended),
        "audit_sample": {
            "sampled": report.audit.sampled,
            "disagreed": report.audit.disagreed,
            "error_rate": report.audit.error_rate,
            "error_lower": report.audit.lower,
            "error_upper": report.audit.upper,
        },
    }


class CalibrationView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(
        operation_id="feedback_calibration",
        parameters=[CalibrationQuery],
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description=(
                    "Reliability table, candidate thresholds with Wilson 95% error bounds and "
                    "review share, the recommendation, and the audit-sample error estimate."
                ),
            ),
            **ERROR_RESPONSES,
        },
    )
    def get(self, request: Request) -> Response:
        query = CalibrationQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        case_type = CaseType.objects.filter(slug=data["case_type"]).first()
        if case_type is None:
            raise InvalidInput("Unknown case type.", fields={"case_type": ["No such case type."]})
        report = selectors.calibration_report(
            case_type=case_type,
            since=data.get("since"),
            target_error=data["target_error"],
            review_cost=data.get("review_cost"),
            error_cost=data.get("error_cost"),
            min_labelled=data["min_labelled"],
        )
        return Response(report_payload(report))
