"""The reviewer web UI: server-rendered pages, htmx for the live diff, keyboard shortcuts."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from cases.auditing import case_access_record
from cases.errors import Conflict, InvalidInput, NotFound
from cases.models import CaseTypeKind
from cases.roles import Role, user_has_role
from reviews import selectors, services
from reviews.diffing import json_diff
from reviews.forms import AuditFilterForm, DecisionForm, ReassignForm
from routing.models import QueueEntry

View = Callable[..., Any]
PAST_TENSE = {
    "compare": "Compared",
    "approve": "Approved",
    "reject": "Rejected",
    "edit": "Edited",
    "escalate": "Escalated",
}


def person_view(view: View) -> View:
    """Logged-in people only; a NotFound from a selector is a plain 404."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from None

    return wrapper


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _reviewer(request: HttpRequest) -> User:
    """The user, who must be able to work some queue (compliance officers cannot)."""
    user = _user(request)
    if not selectors.queues_for_user(user).exists():
        raise Http404("No such page.")
    return user


@person_view
def my_queues(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    return render(
        request,
        "reviews/queues.html",
        {
            "queues": selectors.queue_overview_for_user(user),
            "notifications": selectors.unread_notifications(user),
            "now": timezone.now(),
            "is_supervisor": user_has_role(user, Role.SUPERVISOR, Role.ADMIN),
        },
    )


def _claim_and_show(request: HttpRequest, slug: str) -> HttpResponse:
    queue = selectors.queue_get_for_user(_user(request), slug)
    entry = services.queue_claim_next(queue=queue, reviewer=_user(request))
    if entry is None:
        messages.info(request, f"Nothing to review in {queue.name}: the queue is empty.")
        return redirect("reviews:queues")
    return redirect("reviews:case", case_id=entry.case_id)


@require_POST
@person_view
def claim_next(request: HttpRequest, slug: str) -> HttpResponse:
    return _claim_and_show(request, slug)


@person_view
def review_page(
    request: HttpRequest, case_id: str, form: DecisionForm | None = None, status: int = 200
) -> HttpResponse:
    user = _user(request)
    case = selectors.case_get_for_user(user, case_id, "view")
    if request.method == "GET":
        case_access_record(case=case, user=user, channel="ui")
    context = selectors.review_context(case=case, reviewer=user)
    output_text = json.dumps(case.ai_output, indent=2, ensure_ascii=False)
    pairwise = case.case_type.kind == CaseTypeKind.PAIRWISE
    candidates = [
        {**c, "json": json.dumps(c["output"], indent=2, ensure_ascii=False)}
        for c in (selectors.candidates_for(case, user) if pairwise else [])
    ]
    return render(
        request,
        "reviews/review.html",
        {
            "case": case,
            "ctx": context,
            "entry": context.entry,
            "form": form or DecisionForm(initial={"final_output": output_text}),
            "input_json": json.dumps(case.input, indent=2, ensure_ascii=False),
            "output_json": output_text,
            "reason_codes": case.case_type.reason_codes or [],
            "pairwise": pairwise,
            "candidates": candidates,
            "now": timezone.now(),
        },
        status=status,
    )


@require_POST
@person_view
def decide(request: HttpRequest, case_id: str) -> HttpResponse:
    user = _reviewer(request)
    case = selectors.case_get_for_user(user, case_id, "view")
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return review_page(request, case_id, form=form, status=400)
    entry = selectors.claim_for_case(case=case, reviewer=user)
    final_output = form.cleaned_data["final_output"]
    if form.cleaned_data["action"] == "compare":
        final_output = _preference(request, selectors.candidates_for(case, user))
    try:
        decision = services.review_decide(
            case=case,
            reviewer=user,
            action=form.cleaned_data["action"],
            reason_code=form.cleaned_data["reason_code"],
            comment=form.cleaned_data["comment"],
            final_output=final_output,
        )
    except InvalidInput as exc:
        for field, problems in exc.fields.items():
            for problem in problems:
                form.add_error(field if field in form.fields else None, problem)
        if not exc.fields:
            form.add_error(None, exc.message)
        return review_page(request, case_id, form=form, status=400)
    except Conflict as exc:
        messages.error(request, exc.message)
        return redirect("reviews:queues")
    messages.success(request, f"{PAST_TENSE[decision.action]} case {case.external_id}.")
    if entry is None:
        return redirect("reviews:queues")
    return _claim_and_show(request, entry.queue.slug)


def _preference(request: HttpRequest, candidates: list[dict[str, Any]]) -> Any:
    """Turn 'Response 2 is better' (or a full ranking, or a tie) back into candidate ids."""
    by_position = {str(c["position"]): c["id"] for c in candidates}
    ranks = {by_position[pos]: request.POST.get(f"rank_{pos}", "").strip() for pos in by_position}
    if len(candidates) > 2 and all(value.isdigit() for value in ranks.values()):
        return {"ranking": sorted(ranks, key=lambda cid: int(ranks[cid]))}
    choice = request.POST.get("preference", "")
    if choice == "tie":
        return {"tie": True}
    return {"choice": by_position[choice]} if choice in by_position else None


@require_POST
@person_view
def release(request: HttpRequest, case_id: str) -> HttpResponse:
    user = _reviewer(request)
    case = selectors.case_get_for_user(user, case_id, "view")
    try:
        services.case_release(case=case, reviewer=user)
    except Conflict as exc:
        messages.error(request, exc.message)
    else:
        messages.info(request, f"Released case {case.external_id} back to its queue.")
    return redirect("reviews:queues")


@require_POST
@person_view
def diff_preview(request: HttpRequest, case_id: str) -> HttpResponse:
    case = selectors.case_get_for_user(_user(request), case_id, "view")
    text = request.POST.get("final_output", "")
    try:
        edited = json.loads(text)
    except ValueError as exc:
        return render(request, "reviews/_diff.html", {"error": f"Not valid JSON yet: {exc}"})
    return render(request, "reviews/_diff.html", {"changes": json_diff(case.ai_output, edited)})


@person_view
def history(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.decisions_of(_user(request)), 50).get_page(request.GET.get("page"))
    return render(request, "reviews/history.html", {"page": page})


@person_view
def queue_detail(request: HttpRequest, slug: str) -> HttpResponse:
    user = _user(request)
    if not user_has_role(user, Role.SUPERVISOR, Role.ADMIN):
        raise Http404("No such page.")
    queue = selectors.queue_get_for_user(user, slug)
    page = Paginator(selectors.queue_entries_for_supervisor(queue), 100).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "reviews/queue_detail.html",
        {
            "queue": queue,
            "page": page,
            "now": timezone.now(),
            "form": ReassignForm(),
        },
    )


@require_POST
@person_view
def reassign(request: HttpRequest, entry_id: int) -> HttpResponse:
    user = _user(request)
    if not user_has_role(user, Role.SUPERVISOR, Role.ADMIN):
        raise Http404("No such page.")
    entry = QueueEntry.objects.select_related("queue").filter(pk=entry_id).first()
    if entry is None:
        raise Http404("No such entry.")
    selectors.queue_get_for_user(user, entry.queue.slug)
    form = ReassignForm(request.POST)
    target = None
    if form.is_valid():
        target = (
            get_user_model()
            .objects.filter(username=form.cleaned_data["reviewer"], is_active=True)
            .first()
        )
    if target is None:
        messages.error(request, "No active user with that username.")
    else:
        try:
            services.entry_reassign(entry=entry, to_user=target, actor=user)
        except InvalidInput as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Reassigned to {target.get_username()}.")
    return redirect("reviews:queue", slug=entry.queue.slug)


@require_POST
@person_view
def notifications_read(request: HttpRequest) -> HttpResponse:
    services.notifications_mark_read(user=_user(request))
    return redirect("reviews:queues")


def compliance_view(view: View) -> View:
    """Compliance officers and admins only; everyone else gets a 404."""

    @person_view
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not user_has_role(_user(request), Role.COMPLIANCE, Role.ADMIN):
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return wrapper


@compliance_view
def compliance_home(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    case = None
    if form.is_valid() and form.cleaned_data.get("case_lookup"):
        case = selectors.case_lookup(form.cleaned_data["case_lookup"])
        if case is None:
            messages.error(request, "No case with that id or external id.")
    return render(request, "reviews/compliance.html", {"form": form, "case": case})


@compliance_view
def compliance_export(request: HttpRequest) -> HttpResponseBase:
    from cases.api.audit import export_response

    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "reviews/compliance.html", {"form": form}, status=400)
    return export_response(form.export_filter(), form.cleaned_data["format"] or "csv")


@compliance_view
def case_story(request: HttpRequest, case_id: str) -> HttpResponse:
    user = _user(request)
    case = selectors.case_get_for_user(user, case_id, "view")
    case_access_record(case=case, user=user, channel="compliance")
    return render(request, "reviews/story.html", {"story": selectors.case_story(case=case)})
