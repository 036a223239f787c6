"""The calibration page for admins: reliability diagram, candidate thresholds, the
recommendation, and one click to turn it into a draft policy (dry-run before publishing)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from cases.errors import InvalidInput
from cases.models import CaseType
from cases.roles import Role, user_has_role
from feedback import selectors, services

CHART_W, CHART_H = 420, 300


class CalibrationForm(forms.Form):
    target_error = forms.FloatField(
        initial=0.01, min_value=0.0001, max_value=0.5, label="Target error rate"
    )
    review_cost = forms.FloatField(required=False, min_value=0, label="Cost of one human review")
    error_cost = forms.FloatField(required=False, min_value=0, label="Cost of one undetected error")
    min_labelled = forms.IntegerField(
        initial=30, min_value=1, label="Reviewed cases needed per threshold"
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("review_cost") is None) != (data.get("error_cost") is None):
            self.add_error("error_cost", "Give both costs, or neither.")
        return data


def _admin(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not user_has_role(user, Role.ADMIN):
        raise Http404("No such page.")
    return user


def _chart(report: selectors.CalibrationReport) -> dict[str, Any]:
    def x(value: float) -> float:
        return round(value * CHART_W, 1)

    def y(value: float) -> float:
        return round((1 - value) * CHART_H, 1)

    points = [
        (x(b.midpoint), y(b.accepted_share), b)
        for b in report.buckets
        if b.accepted_share is not None
    ]
    lines = [
        ("current auto-approve", x(report.current_threshold), "auto"),
        ("expert", x(report.expert_threshold), "expert"),
    ]
    if report.recommendation.threshold is not None:
        lines.append(("recommended", x(report.recommendation.threshold), "recommended"))
    return {
        "width": CHART_W,
        "height": CHART_H,
        "points": points,
        "polyline": " ".join(f"{px},{py}" for px, py, _ in points),
        "lines": lines,
        "ticks": [(x(t / 10), y(t / 10), t / 10) for t in range(0, 11, 2)],
    }


@login_required
def calibration(request: HttpRequest) -> HttpResponse:
    _admin(request)
    case_types = list(selectors.calibratable_case_types())
    slug = request.GET.get("case_type") or (case_types[0].slug if case_types else None)
    if slug is None:
        return render(request, "feedback/calibration.html", {"case_types": []})
    case_type = get_object_or_404(CaseType, slug=slug)
    form = CalibrationForm(request.GET or None)
    defaults = {"target_error": 0.01, "min_labelled": 30, "review_cost": None, "error_cost": None}
    params: dict[str, Any] = form.cleaned_data if form.is_bound and form.is_valid() else defaults
    report = selectors.calibration_report(
        case_type=case_type,
        target_error=params["target_error"],
        review_cost=params.get("review_cost"),
        error_cost=params.get("error_cost"),
        min_labelled=params["min_labelled"],
    )
    return render(
        request,
        "feedback/calibration.html",
        {
            "case_types": case_types,
            "case_type": case_type,
            "form": form,
            "report": report,
            "chart": _chart(report),
        },
    )


@require_POST
@login_required
def calibration_draft(request: HttpRequest) -> HttpResponse:
    user = _admin(request)
    case_type = get_object_or_404(CaseType, slug=request.POST.get("case_type", ""))
    try:
        threshold = float(request.POST.get("threshold", ""))
        draft = services.calibration_draft_create(
            case_type=case_type, threshold=threshold, actor=user
        )
    except (ValueError, InvalidInput) as exc:
        messages.error(request, getattr(exc, "message", "The threshold is not a number."))
        return redirect(f"{reverse('feedback:calibration')}?case_type={case_type.slug}")
    messages.success(
        request,
        f"Draft created from the recommendation ({threshold:.2f}). "
        "Check the dry run, then publish it.",
    )
    return redirect("admin:routing_policyversion_simulate", version_id=draft.pk)
