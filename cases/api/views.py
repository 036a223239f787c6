from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases import selectors, services
from cases.api.case_io import case_input_fast, case_out
from cases.api.serializers import (
    BulkInSerializer,
    BulkOutSerializer,
    CaseDetailSerializer,
    CaseInSerializer,
    CaseListQuerySerializer,
    CaseOutSerializer,
    CaseTypeSerializer,
    bulk_result_item,
    parse_bulk_item,
)
from cases.models import Case, CaseType
from cases.permissions import IsAdminRole, IsSource, request_person, request_source
from cases.services import IngestOutcome
from config.api import FastJSONRenderer

ERROR_RESPONSES = {
    400: OpenApiResponse(description="Invalid input; `error.fields` names each bad field."),
    401: OpenApiResponse(description="Missing or invalid token."),
    403: OpenApiResponse(description="Authenticated, but not allowed."),
}


def _source(request: Request) -> Any:
    source = request_source(request)
    assert source is not None  # guaranteed by IsSource
    return source


@contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (usable as a decorator). A bulk request
    makes ~100,000 objects that all live until its response: collections in the middle only
    scan them again and again, finding nothing, since reference counting frees them. Any
    cycles made meanwhile wait for the first collection after the block."""
    if not gc.isenabled():  # already paused (another thread's bulk request, or a test)
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class CaseCursorPagination(CursorPagination):
    ordering = ("updated_at", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class CaseCollectionView(APIView):
    """POST a case (sources) or list your cases (sources)."""

    permission_classes = [IsSource]

    @extend_schema(
        operation_id="cases_create",
        request=CaseInSerializer,
        responses={
            201: CaseOutSerializer,
            200: OpenApiResponse(CaseOutSerializer, description="Same body posted again."),
            409: OpenApiResponse(description="external_id exists with a different body."),
            413: OpenApiResponse(description="Body over LOOPGATE_MAX_CASE_BYTES."),
            **ERROR_RESPONSES,
        },
    )
    def post(self, request: Request) -> Response:
        data = case_input_fast(request.data)
        if data is None:
            serializer = CaseInSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.to_case_input()
        result = services.case_ingest(source=_source(request), data=data)
        code = (
            status.HTTP_201_CREATED
            if result.outcome is IngestOutcome.CREATED
            else status.HTTP_200_OK
        )
        assert result.case is not None
        return Response(case_out(result.case), status=code)

    @extend_schema(
        operation_id="cases_list",
        parameters=[
            OpenApiParameter(
                "status",
                str,
                many=True,
                description="One or more statuses (repeat the parameter or separate with commas).",
            ),
            OpenApiParameter(
                "updated_since", str, description="ISO 8601 timestamp; only cases updated after it."
            ),
            OpenApiParameter("cursor", str),
            OpenApiParameter("page_size", int),
        ],
        responses={200: CaseOutSerializer(many=True), **ERROR_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        statuses = [
            part
            for value in request.query_params.getlist("status")
            for part in value.split(",")
            if part
        ]
        query = CaseListQuerySerializer(
            data={
                "status": statuses,
                **(
                    {"updated_since": request.query_params["updated_since"]}
                    if "updated_since" in request.query_params
                    else {}
                ),
            }
        )
        query.is_valid(raise_exception=True)
        cases = selectors.case_list_for_source(
            source=_source(request),
            statuses=sorted(query.validated_data.get("status", [])),
            updated_since=query.validated_data.get("updated_since"),
        )
        paginator = CaseCursorPagination()
        page = paginator.paginate_queryset(cases, request, view=self)
        return paginator.get_paginated_response(CaseOutSerializer(page, many=True).data)


class CaseBulkView(APIView):
    permission_classes = [IsSource]
    renderer_classes = [FastJSONRenderer, BrowsableAPIRenderer]
    max_body_setting = "LOOPGATE_MAX_BULK_BYTES"

    @extend_schema(
        operation_id="cases_bulk_create",
        request=BulkInSerializer,
        responses={
            200: BulkOutSerializer,
            413: OpenApiResponse(description="Body too large."),
            **ERROR_RESPONSES,
        },
    )
    @collection_paused()
    def post(self, request: Request) -> Response:
        payload = request.data
        items = payload.get("cases") if isinstance(payload, dict) else None
        if not isinstance(items, list):
            raise serializers.ValidationError({"cases": ['Send a JSON object {"cases": [...]}.']})
        limit = settings.LOOPGATE_MAX_BULK_ITEMS
        if len(items) > limit:
            raise serializers.ValidationError(
                {"cases": [f"At most {limit} cases per request; got {len(items)}."]}
            )
        if not items:
            raise serializers.ValidationError({"cases": ["Send at least one case."]})
        parsed = [parse_bulk_item(item) for item in items]
        results = services.case_ingest_bulk(source=_source(request), items=parsed)
        zone = timezone.get_current_timezone()
        body = [
            bulk_result_item(i, item, result, zone)
            for i, (item, result) in enumerate(zip(items, results, strict=True))
        ]
        counts = {outcome.value: 0 for outcome in IngestOutcome}
        for result in results:
            counts[result.outcome.value] += 1
        return Response(
            {
                "created": counts["created"],
                "existing": counts["existing"],
                "errors": counts["error"],
                "results": body,
            },
            status=status.HTTP_200_OK,
        )


class CaseDetailView(APIView):
    permission_classes = [IsSource]

    @extend_schema(
        operation_id="cases_retrieve",
        responses={
            200: CaseDetailSerializer,
            404: OpenApiResponse(description="No such case for this source."),
            **ERROR_RESPONSES,
        },
    )
    def get(self, request: Request, case_id: str) -> Response:
        case = selectors.case_get_for_source(source=_source(request), case_id=case_id)
        return Response(CaseDetailSerializer(case).data)


class CaseTypeListView(generics.ListAPIView):
    """Case types as configuration: admins list and create them."""

    permission_classes = [IsAdminRole]
    serializer_class = CaseTypeSerializer
    queryset = CaseType.objects.all()
    pagination_class = None

    @extend_schema(
        request=CaseTypeSerializer, responses={201: CaseTypeSerializer, **ERROR_RESPONSES}
    )
    def post(self, request: Request) -> Response:
        serializer = CaseTypeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        case_type = services.case_type_create(
            actor=request_person(request), **serializer.validated_data
        )
        return Response(CaseTypeSerializer(case_type).data, status=status.HTTP_201_CREATED)


class CaseTypeDetailView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(responses={200: CaseTypeSerializer, **ERROR_RESPONSES})
    def get(self, request: Request, slug: str) -> Response:
        return Response(CaseTypeSerializer(selectors.case_type_get(slug=slug)).data)

    @extend_schema(
        request=CaseTypeSerializer, responses={200: CaseTypeSerializer, **ERROR_RESPONSES}
    )
    def put(self, request: Request, slug: str) -> Response:
        return self._update(request, slug, partial=False)

    @extend_schema(
        request=CaseTypeSerializer, responses={200: CaseTypeSerializer, **ERROR_RESPONSES}
    )
    def patch(self, request: Request, slug: str) -> Response:
        return self._update(request, slug, partial=True)

    def _update(self, request: Request, slug: str, *, partial: bool) -> Response:
        case_type = selectors.case_type_get(slug=slug)
        serializer = CaseTypeSerializer(case_type, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        case_type = services.case_type_update(
            case_type=case_type, actor=request_person(request), **serializer.validated_data
        )
        return Response(CaseTypeSerializer(case_type).data)


__all__ = ["Case"]
