"""The audit export for compliance officers and admins: streamed, with a manifest line."""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from cases.api.views import ERROR_RESPONSES
from cases.audit_chain import FORMATS, AuditExport, ExportFilter
from cases.permissions import HasRole
from cases.roles import Role

CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


class IsComplianceOrAdmin(HasRole):
    read_roles = (Role.COMPLIANCE, Role.ADMIN)
    message = "Only compliance officers and admins may export the audit trail."


class AuditExportQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=FORMATS, default="jsonl")
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    case = serializers.UUIDField(required=False)
    source = serializers.CharField(required=False, max_length=100)  # type: ignore[assignment]
    actor = serializers.CharField(required=False, max_length=150)
    kind = serializers.ListField(child=serializers.CharField(max_length=64), required=False)


def export_filter_from(data: dict[str, Any]) -> ExportFilter:
    return ExportFilter(
        since=data.get("since"),
        until=data.get("until"),
        case=str(data["case"]) if data.get("case") else None,
        source=data.get("source"),
        actor=data.get("actor"),
        kinds=tuple(data.get("kind") or ()),
    )


def export_response(f: ExportFilter, fmt: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(iter(AuditExport(f, fmt)), content_type=CONTENT_TYPES[fmt])
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="loopgate-audit-{stamp}.{fmt}"'
    return response


class AuditExportView(APIView):
    permission_classes = [IsComplianceOrAdmin]

    @extend_schema(
        operation_id="audit_export",
        parameters=[
            OpenApiParameter("format", str, enum=list(FORMATS)),
            OpenApiParameter("since", OpenApiTypes.DATETIME),
            OpenApiParameter("until", OpenApiTypes.DATETIME),
            OpenApiParameter("case", OpenApiTypes.UUID),
            OpenApiParameter("source", str, description="A source name."),
            OpenApiParameter("actor", str, description="A username ('system' for Loopgate)."),
            OpenApiParameter("kind", str, many=True, description="Event kinds, e.g. case.decided"),
        ],
        responses={
            200: OpenApiResponse(
                OpenApiTypes.BINARY,
                description=(
                    "CSV or JSON Lines, oldest first; the last line is the manifest (range, count, "
                    "first and last hash, SHA-256 of every byte before it)."
                ),
            ),
            **ERROR_RESPONSES,
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        query = AuditExportQuerySerializer(
            data={
                **{k: v for k, v in request.query_params.items() if k != "kind"},
                "kind": request.query_params.getlist("kind"),
            }
        )
        query.is_valid(raise_exception=True)
        data = query.validated_data
        return export_response(export_filter_from(data), data["format"])
