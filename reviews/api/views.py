from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.api.views import ERROR_RESPONSES
from cases.auditing import case_access_record
from cases.errors import NotFound
from cases.permissions import request_person
from reviews import selectors, services
from reviews.api.serializers import (
    ClaimSerializer,
    DecisionInSerializer,
    DecisionSerializer,
    ReviewCaseSerializer,
    decision_out,
)
from reviews.permissions import IsPerson, IsReviewer

CONFLICT = OpenApiResponse(description="Not claimed by you, lease expired, or already decided.")
NOT_FOUND = OpenApiResponse(description="No such queue or case for you.")


def _held_or_visible(person: Any, case_id: str) -> Any:
    """The case when the person holds its claim (the usual, cheaper check); otherwise the
    case if they may see it, so that the service answers 409 (not claimed by you), and 404
    when they may not."""
    try:
        return selectors.case_get_for_user(person, case_id, "decide")
    except NotFound:
        return selectors.case_get_for_user(person, case_id, "view")


class QueueClaimView(APIView):
    """Claim the next case of a queue (a lease; the same case again if you hold one)."""

    permission_classes = [IsPerson]

    @extend_schema(
        operation_id="queues_claim",
        request=None,
        responses={
            200: ClaimSerializer,
            204: OpenApiResponse(description="Nothing to review."),
            404: NOT_FOUND,
            **ERROR_RESPONSES,
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        person = request_person(request)
        queue = selectors.queue_get_for_user(person, slug)
        entry = services.queue_claim_next(queue=queue, reviewer=person)
        if entry is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(ClaimSerializer.of(entry))


class CaseReleaseView(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(
        operation_id="cases_release",
        request=None,
        responses={204: None, 404: NOT_FOUND, 409: CONFLICT, **ERROR_RESPONSES},
    )
    def post(self, request: Request, case_id: str) -> Response:
        person = request_person(request)
        case = _held_or_visible(person, case_id)
        services.case_release(case=case, reviewer=person)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CaseDecisionView(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(
        operation_id="cases_decide",
        request=DecisionInSerializer,
        responses={201: DecisionSerializer, 404: NOT_FOUND, 409: CONFLICT, **ERROR_RESPONSES},
    )
    def post(self, request: Request, case_id: str) -> Response:
        person = request_person(request)
        case = _held_or_visible(person, case_id)
        serializer = DecisionInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        decision = services.review_decide(
            case=case,
            reviewer=person,
            action=data["action"],
            reason_code=data["reason_code"],
            comment=data["comment"],
            final_output=data.get("final_output"),
            has_output="final_output" in data,
        )
        return Response(decision_out(decision), status=status.HTTP_201_CREATED)


class ReviewCaseView(APIView):
    """A case as a reviewer sees it, with its decisions so far."""

    permission_classes = QueueClaimView.permission_classes

    @extend_schema(
        operation_id="reviews_case_retrieve",
        responses={200: ReviewCaseSerializer, 404: NOT_FOUND, **ERROR_RESPONSES},
    )
    def get(self, request: Request, case_id: str) -> Response:
        person = request_person(request)
        case = selectors.case_get_for_user(person, case_id, "view")
        case_access_record(case=case, user=person, channel="api")
        return Response(ReviewCaseSerializer(case).data)
