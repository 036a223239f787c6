from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.api.views import ERROR_RESPONSES
from cases.errors import InvalidInput
from cases.models import CaseType
from cases.permissions import IsAdminRole, request_person
from routing import selectors, services
from routing.api.serializers import (
    PolicyDraftInSerializer,
    PolicyDraftUpdateSerializer,
    PolicyVersionSerializer,
    QueueSerializer,
    SimulateQuerySerializer,
    SimulationSerializer,
)
from routing.simulation import default_since, policy_simulate


def _case_type(slug: str | None) -> CaseType | None:
    if slug is None:
        return None
    case_type = CaseType.objects.filter(slug=slug).first()
    if case_type is None:
        raise InvalidInput("Unknown case type.", fields={"case_type": [f"No case type {slug!r}."]})
    return case_type


def _config_values(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in {"case_type", "note"}}


class PolicyListView(APIView):
    """Policy versions, newest first; POST creates a draft."""

    permission_classes = [IsAdminRole]

    @extend_schema(
        operation_id="policies_list",
        parameters=[
            OpenApiParameter("case_type", str, description="A case type slug, or 'default'."),
            OpenApiParameter("status", str, enum=["draft", "published"]),
        ],
        responses={200: PolicyVersionSerializer(many=True), **ERROR_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        versions = selectors.policy_version_list(
            case_type=request.query_params.get("case_type"),
            status=request.query_params.get("status"),
        )
        return Response(PolicyVersionSerializer(versions, many=True).data)

    @extend_schema(
        operation_id="policies_create_draft",
        request=PolicyDraftInSerializer,
        responses={201: PolicyVersionSerializer, **ERROR_RESPONSES},
    )
    def post(self, request: Request) -> Response:
        serializer = PolicyDraftInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        version = services.policy_draft_create(
            actor=request_person(request),
            case_type=_case_type(data.get("case_type")),
            values=_config_values(data),
            note=data.get("note", ""),
        )
        return Response(PolicyVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class PolicyDetailView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(
        operation_id="policies_retrieve",
        responses={200: PolicyVersionSerializer, **ERROR_RESPONSES},
    )
    def get(self, request: Request, version_id: int) -> Response:
        return Response(
            PolicyVersionSerializer(selectors.policy_version_get(version_id=version_id)).data
        )

    @extend_schema(
        operation_id="policies_update_draft",
        request=PolicyDraftUpdateSerializer,
        responses={
            200: PolicyVersionSerializer,
            409: OpenApiResponse(description="The version is published."),
            **ERROR_RESPONSES,
        },
    )
    def patch(self, request: Request, version_id: int) -> Response:
        version = selectors.policy_version_get(version_id=version_id)
        serializer = PolicyDraftUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        version = services.policy_draft_update(
            version=version,
            actor=request_person(request),
            values=_config_values(data),
            note=data.get("note") if "note" in request.data else None,
        )
        return Response(PolicyVersionSerializer(version).data)


class PolicyPublishView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(
        operation_id="policies_publish",
        request=None,
        responses={
            200: PolicyVersionSerializer,
            409: OpenApiResponse(description="Already published."),
            **ERROR_RESPONSES,
        },
    )
    def post(self, request: Request, version_id: int) -> Response:
        version = selectors.policy_version_get(version_id=version_id)
        version = services.policy_publish(version=version, actor=request_person(request))
        version = selectors.policy_version_get(version_id=version.pk)
        return Response(PolicyVersionSerializer(version).data)


class PolicySimulateView(APIView):
    """Replay this version over recent real cases: nothing is changed."""

    permission_classes = [IsAdminRole]

    @extend_schema(
        operation_id="policies_simulate",
        parameters=[
            OpenApiParameter("since", str, description="ISO 8601 start (default: 30 days ago)."),
            OpenApiParameter("days", int, description="Or: the last N days."),
        ],
        responses={200: SimulationSerializer, **ERROR_RESPONSES},
    )
    def get(self, request: Request, version_id: int) -> Response:
        query = SimulateQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        since = query.validated_data.get("since") or default_since(
            query.validated_data.get("days", 30)
        )
        version = selectors.policy_version_get(version_id=version_id)
        return Response(SimulationSerializer.of(policy_simulate(version=version, since=since)))


@extend_schema(exclude=True)
class PolicySimulateSlashView(PolicySimulateView):
    """The same dry run at ``simulate/``, for clients that add the trailing slash."""


class QueueListView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(
        operation_id="queues_list", responses={200: QueueSerializer(many=True), **ERROR_RESPONSES}
    )
    def get(self, request: Request) -> Response:
        return Response(QueueSerializer(selectors.queue_list(), many=True).data)
