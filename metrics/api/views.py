from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.api.views import ERROR_RESPONSES
from cases.errors import InvalidInput
from cases.models import CaseType
from cases.permissions import request_person
from metrics.permissions import sees_all_metrics
from metrics.selectors import WINDOWS, metrics_summary
from reviews.permissions import IsPerson


class SummaryQuery(serializers.Serializer):
    window = serializers.ChoiceField(choices=list(WINDOWS), default="24h")
    case_type = serializers.SlugField(required=False)


class MetricsSummaryView(APIView):
    """The loop's figures for a window. Reviewers get their own reviewer row only."""

    permission_classes = [IsPerson]

    @extend_schema(
        operation_id="metrics_summary",
        parameters=[
            OpenApiParameter("window", str, enum=list(WINDOWS)),
            OpenApiParameter("case_type", str),
        ],
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description=(
                    "figures (escalation, auto-approval, override rates, resolution and queue-wait "
                    "p50/p90, throughput, SLA compliance, post-validation and audit-sample error), "
                    "previous (the window before, for trends), queues, reviewers, hourly series."
                ),
            ),
            **ERROR_RESPONSES,
        },
    )
    def get(self, request: Request) -> Response:
        person = request_person(request)
        query = SummaryQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        case_type_id = None
        if slug := query.validated_data.get("case_type"):
            case_type_id = CaseType.objects.filter(slug=slug).values_list("pk", flat=True).first()
            if case_type_id is None:
                raise InvalidInput("Unknown case type.", fields={"case_type": ["No such type."]})
        if sees_all_metrics(person):
            return Response(
                metrics_summary(window=query.validated_data["window"], case_type_id=case_type_id)
            )
        mine = metrics_summary(
            window=query.validated_data["window"], case_type_id=case_type_id, reviewer_id=person.pk
        )
        return Response(
            {
                "window": mine["window"],
                "from": mine["from"],
                "until": mine["until"],
                "reviewers": mine["reviewers"],
            }
        )
