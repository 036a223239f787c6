"""Reads for reviewers. Object access goes through the *_get_for_user functions here; what
a user may not see does not exist for them (NotFound, a 404)."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import (
    CharField,
    Count,
    Exists,
    Field,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.expressions import OrderBy, RawSQL
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from guardian.models import GroupObjectPermission, UserObjectPermission

from cases import raw_rows
from cases.errors import NotFound
from cases.models import Case, CaseType, Source
from cases.raw_rows import JoinedShape, RowShape, joined_shape, link, row_shape
from cases.roles import Role, user_has_role
from reviews.models import Decision, Notification
from routing.models import CLAIM_ORDER, UNCERTAINTY_ORDER, EntryState, Queue, QueueEntry

WORK_QUEUE = "routing.work_queue"
DECIDE_CASE = "cases.decide_case"
SEE_ALL = (Role.SUPERVISOR, Role.ADMIN, Role.COMPLIANCE)


def object_permission(model: type[Model], perm: str) -> tuple[int, str]:
    """Guardian's key of the object permission ``perm`` ("app.codename") on ``model``'s
    objects: the content type's id and the codename."""
    return ContentType.objects.get_for_model(model).pk, perm.split(".")[1]


# A guardian grant of a permission (content type, codename) on one object, in plain SQL:
# parameters {who}'s value, then the content type twice and the codename.
_GRANTED = (
    "SELECT 1 FROM {table} g JOIN auth_permission p ON p.id = g.permission_id {join} "
    "WHERE {who} AND g.content_type_id = %s AND p.content_type_id = %s "
    "AND p.codename = %s AND g.object_pk = {object_pk}"
)


def queues_for_user(user: User) -> QuerySet[Queue]:
    """The active queues the user may work: guardian's object permission ``work_queue``,
    granted to one of their groups (roles) or to them; superusers work every queue.

    The same answer as guardian's ``get_objects_for_user(user, "routing.work_queue",
    accept_global_perms=False)``, as one plain subquery: guardian's generic version costs
    ~10 ms of Python per call, and every claim and decision asks."""
    active = Queue.objects.filter(is_active=True)
    if not user.is_authenticated or not user.is_active:
        return Queue.objects.none()
    if user.is_superuser:
        return active
    queue_type, codename = object_permission(Queue, WORK_QUEUE)
    grant = {
        "content_type_id": queue_type,
        "permission__content_type_id": queue_type,
        "permission__codename": codename,
    }
    to_user = UserObjectPermission.objects.filter(user=user, **grant).values("object_pk")
    to_groups = GroupObjectPermission.objects.filter(group__user=user, **grant).values("object_pk")
    return active.alias(pk_text=Cast("pk", CharField())).filter(
        Q(pk_text__in=to_user) | Q(pk_text__in=to_groups)
    )


def works_a_queue(user: User) -> bool:
    """Whether ``queues_for_user(user)`` has any queue: one plain query (every decision and
    release asks)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return _permitted_queue(user, None) is not None


def queue_get_for_user(user: User, slug: str) -> Queue:
    """The active queue ``slug`` if the user may work it (``queues_for_user``), else
    NotFound. One plain query: every claim asks, and the ORM took three times longer to
    build that query than PostgreSQL took to run it. A test holds it to queues_for_user."""
    queue = _permitted_queue(user, slug) if user.is_authenticated and user.is_active else None
    if queue is None:
        raise NotFound("No such queue.")
    return queue


@functools.cache
def _permitted_queue_sql() -> tuple[str, RowShape]:
    shape, columns = row_shape(Queue, "q")
    queue_pk = "CAST(q.id AS varchar(255))"
    to_user = _GRANTED.format(
        table=UserObjectPermission._meta.db_table, join="", who="g.user_id = %s", object_pk=queue_pk
    )
    to_groups = _GRANTED.format(
        table=GroupObjectPermission._meta.db_table,
        join="JOIN auth_user_groups ug ON ug.group_id = g.group_id",
        who="ug.user_id = %s",
        object_pk=queue_pk,
    )
    sql = (
        f"SELECT {columns} FROM {Queue._meta.db_table} q "  # noqa: S608
        "WHERE (q.slug = %s OR %s) AND q.is_active "
        f"AND (%s OR EXISTS ({to_user}) OR EXISTS ({to_groups})) "
        "ORDER BY q.slug LIMIT 1"
    )
    return sql, shape


def _permitted_queue(user: User, slug: str | None) -> Queue | None:
    """The permitted active queue ``slug``, or with ``slug=None`` the first permitted one."""
    sql, shape = _permitted_queue_sql()
    queue_type, codename = object_permission(Queue, WORK_QUEUE)
    grant: list[Any] = [queue_type, queue_type, codename]
    row = raw_rows.fetch_one(
        sql, [slug, slug is None, bool(user.is_superuser), user.pk, *grant, user.pk, *grant]
    )
    return shape.build(row) if row is not None else None


# The overview counts waiting and breached entries up to here and shows more as "10,000+":
# its time then stays the same however long the backlog grows.
OVERVIEW_CAP = 10_000

# ORDER BY an index's columns: it keeps PostgreSQL on that index even for an empty queue,
# where a sequential scan "until LIMIT rows are found" would read the whole table.
_CAPPED_COUNT = (
    "SELECT count(*) FROM (SELECT 1 FROM routing_queueentry e "
    "WHERE e.queue_id = routing_queue.id AND e.state = %s {extra} ORDER BY {order} LIMIT %s) "
    "capped"
)


def queue_overview_for_user(
    user: User, *, now: datetime | None = None, cap: int | None = None
) -> list[Queue]:
    """Each permitted queue with ``depth``, ``oldest_at``, ``breached`` and ``claimed``, in
    one query whatever the number of queues, and in about the same time at a million waiting
    entries as at a hundred. Every part is an index range scan: the waiting count walks
    ``queueentry_open_age`` and stops after ``cap`` (``depth_more`` then says there are
    more), the breached count walks ``queueentry_claim_order``'s deadline ranges (one per
    fast-track flag, so only breached entries are read), the oldest entry is the first of
    ``queueentry_open_age``, and claimed entries are few."""
    now = now or timezone.now()
    cap = OVERVIEW_CAP if cap is None else cap
    # Constant SQL; every value is a parameter.
    depth = RawSQL(  # noqa: S611
        _CAPPED_COUNT.format(extra="", order="e.created_at"), [EntryState.OPEN, cap + 1]
    )
    breached = RawSQL(  # noqa: S611
        _CAPPED_COUNT.format(
            extra="AND e.fast_tracked IN (%s, %s) AND e.sla_due_at < %s",
            order="e.fast_tracked DESC, e.sla_due_at",
        ),
        [EntryState.OPEN, True, False, now, cap + 1],
    )
    waiting = QueueEntry.objects.filter(queue=OuterRef("pk"), state=EntryState.OPEN)
    claimed = (
        QueueEntry.objects.filter(queue=OuterRef("pk"), state=EntryState.CLAIMED)
        .order_by()
        .values("queue")
        .annotate(n=Count("pk"))
        .values("n")
    )
    queues: list[Any] = list(
        queues_for_user(user)
        .annotate(
            depth=depth,
            breached=breached,
            oldest_at=Subquery(waiting.order_by("created_at").values("created_at")[:1]),
            claimed=Coalesce(Subquery(claimed), 0),
        )
        .order_by("slug")
    )
    for queue in queues:
        queue.depth_more = queue.depth > cap
        queue.breached_more = queue.breached > cap
        queue.depth, queue.breached = min(queue.depth, cap), min(queue.breached, cap)
    return queues


def case_get_for_user(user: User, case_id: Any, perm: str = "view") -> Case:
    """A case the user may see (``view``) or decide (``decide``: they hold its claim).

    Seeing: supervisors, admins and compliance see every case; reviewers see cases in queues
    they work and cases they decided. Anything else is NotFound."""
    if not _is_uuid(case_id):
        raise NotFound("No such case.")
    if perm == "decide":
        return _case_to_decide(user, uuid.UUID(str(case_id)))
    cases = Case.objects.select_related("case_type", "source").filter(pk=case_id)
    sees_all = user_has_role(user, *SEE_ALL)
    if not sees_all:
        # Whether it is theirs to see, in the same query: in a queue they work, or decided
        # by them before.
        cases = cases.annotate(
            in_my_queues=Exists(
                QueueEntry.objects.filter(case=OuterRef("pk"), queue__in=queues_for_user(user))
            ),
            decided_by_me=Exists(Decision.objects.filter(case=OuterRef("pk"), reviewer=user)),
        )
    case = cases.first()
    if case is None:
        raise NotFound("No such case.")
    if sees_all or getattr(case, "in_my_queues", False) or getattr(case, "decided_by_me", False):
        return case
    raise NotFound("No such case.")


@functools.cache
def _decide_sql() -> tuple[str, JoinedShape]:
    shape, columns = joined_shape((Case, "c"), (CaseType, "t"), (Source, "s"))
    held = _GRANTED.format(
        table=UserObjectPermission._meta.db_table, join="", who="g.user_id = %s", object_pk="%s"
    )
    sql = (
        f"SELECT {columns} FROM {Case._meta.db_table} c "  # noqa: S608
        f"JOIN {CaseType._meta.db_table} t ON t.id = c.case_type_id "
        f"JOIN {Source._meta.db_table} s ON s.id = c.source_id "
        f"WHERE c.id = %s AND (%s OR EXISTS ({held}))"
    )
    return sql, shape


def _case_to_decide(user: User, case_id: uuid.UUID) -> Case:
    """The case if the user holds guardian's per-claim grant on it (always to the person,
    never to a group), or is an active superuser: what ``user.has_perm(DECIDE_CASE, case)``
    answers, read with the case in one plain query (every decision and release asks)."""
    if not user.is_active:
        raise NotFound("No such case.")
    sql, shape = _decide_sql()
    case_type, codename = object_permission(Case, DECIDE_CASE)
    params = [
        raw_rows.pk_param(Case, case_id),
        bool(user.is_superuser),
        user.pk,
        case_type,
        case_type,
        codename,
        str(case_id),
    ]
    row = raw_rows.fetch_one(sql, params)
    if row is None:
        raise NotFound("No such case.")
    case, of_type, source = shape.build(row)
    link(case, "case_type", of_type)
    link(case, "source", source)
    return case


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _order_sql(alias: str, order: tuple[OrderBy, ...]) -> str:
    terms = []
    for term in order:
        field = cast(Field, QueueEntry._meta.get_field(cast(Any, term.expression).name))
        terms.append(f'{alias}."{field.column}" ' + ("DESC" if term.descending else "ASC"))
    return ", ".join(terms)


def _json_text_sql(column: str, key: str) -> str:
    """A JSON object column's ``key`` compared as ``metadata__<key>=<text>`` compares."""
    if connection.vendor == "postgresql":
        return f"({column} -> '{key}') = to_jsonb(CAST(%s AS text))"
    return f"json_extract({column}, '$.\"{key}\"') = %s"


@functools.cache
def _claimable_sql(ordering: str, vendor: str) -> tuple[str, JoinedShape]:
    shape, columns = joined_shape((QueueEntry, "e"), (Case, "c"), (CaseType, "t"))
    order = UNCERTAINTY_ORDER if ordering == "uncertainty" else CLAIM_ORDER
    sql = (
        f"SELECT {columns} FROM {QueueEntry._meta.db_table} e "  # noqa: S608
        f"JOIN {Case._meta.db_table} c ON c.id = e.case_id "
        f"JOIN {CaseType._meta.db_table} t ON t.id = c.case_type_id "
        "WHERE e.queue_id = %s AND e.state = %s "
        f"AND NOT EXISTS (SELECT 1 FROM {Decision._meta.db_table} d "
        "WHERE d.case_id = e.case_id AND d.reviewer_id = %s) "
        f"AND ({_json_text_sql('c.metadata', 'submitted_by')}) IS NOT TRUE "
        f"ORDER BY {_order_sql('e', order)} LIMIT 1"
    )
    if vendor == "postgresql":
        sql += " FOR UPDATE OF e SKIP LOCKED"
    return sql, shape


def claimable_sql(queue: Queue, reviewer: User) -> tuple[str, list[Any], JoinedShape]:
    """The claim's query: the first open entry of the queue in the queue's order (matching
    its partial index, ``queueentry_claim_order`` or ``queueentry_uncertainty_order``),
    skipping cases the reviewer decided before (four-eyes) or submitted themselves
    (``metadata.submitted_by``), with its case and case type. On PostgreSQL the row is
    locked ``FOR UPDATE SKIP LOCKED``: run it in the claiming transaction.

    Plain SQL: every claim runs it, and the ORM took longer to build it than PostgreSQL took
    to answer. Tests hold it to the queue's order and the exclusions."""
    sql, shape = _claimable_sql(queue.ordering, connection.vendor)
    return sql, [queue.pk, EntryState.OPEN, reviewer.pk, reviewer.get_username()], shape


def next_claimable(queue: Queue, reviewer: User) -> QueueEntry | None:
    """The entry ``claimable_sql`` finds, with its case, case type and queue; on PostgreSQL
    locked until the end of the transaction (rows other claims hold are skipped)."""
    sql, params, shape = claimable_sql(queue, reviewer)
    row = raw_rows.fetch_one(sql, params)
    if row is None:
        return None
    entry, case, case_type = shape.build(row)
    link(case, "case_type", case_type)
    link(entry, "case", case)
    link(entry, "queue", queue)
    return entry


@functools.cache
def _held_sql(vendor: str) -> tuple[str, JoinedShape]:
    shape, columns = joined_shape(
        (QueueEntry, "e"),
        (Case, "c"),
        (CaseType, "t"),
        (Source, "s"),
        (Queue, "q"),
        (Queue, "up"),
        (Group, "r"),
    )
    sql = (
        f"SELECT {columns} FROM {QueueEntry._meta.db_table} e "  # noqa: S608
        f"JOIN {Case._meta.db_table} c ON c.id = e.case_id "
        f"JOIN {CaseType._meta.db_table} t ON t.id = c.case_type_id "
        f"JOIN {Source._meta.db_table} s ON s.id = c.source_id "
        f"JOIN {Queue._meta.db_table} q ON q.id = e.queue_id "
        f"LEFT JOIN {Queue._meta.db_table} up ON up.id = q.escalates_to_id "
        f"LEFT JOIN {Group._meta.db_table} r ON r.id = q.role_id "
        "WHERE e.case_id = %s AND e.claimed_by_id = %s AND e.state = %s ORDER BY e.id LIMIT 1"
    )
    if vendor == "postgresql":
        sql += " FOR UPDATE OF e, c"
    return sql, shape


def held_entry(case_id: Any, reviewer: User) -> QueueEntry | None:
    """The reviewer's claim on a case, with the case (its type and source) and the queue
    (where it escalates to, its role); on PostgreSQL the entry and the case rows are locked
    until the end of the transaction, not the rows they refer to, which every decision
    shares. Plain SQL, as every decision asks."""
    sql, shape = _held_sql(connection.vendor)
    row = raw_rows.fetch_one(
        sql, [raw_rows.pk_param(Case, case_id), reviewer.pk, EntryState.CLAIMED]
    )
    if row is None:
        return None
    entry, case, case_type, source, held_in, escalates_to, role = shape.build(row)
    link(case, "case_type", case_type)
    link(case, "source", source)
    link(held_in, "escalates_to", escalates_to)
    link(held_in, "role", role)
    link(entry, "case", case)
    link(entry, "queue", held_in)
    link(entry, "claimed_by", reviewer)
    return entry


def current_claim(*, queue: Queue, reviewer: User) -> QueueEntry | None:
    return (
        QueueEntry.objects.filter(queue=queue, claimed_by=reviewer, state=EntryState.CLAIMED)
        .select_related("case__case_type", "queue")
        .first()
    )


def claim_for_case(*, case: Case, reviewer: User) -> QueueEntry | None:
    return (
        QueueEntry.objects.filter(case=case, claimed_by=reviewer, state=EntryState.CLAIMED)
        .select_related("queue")
        .first()
    )


@functools.cache
def _decisions_sql() -> tuple[str, JoinedShape]:
    user_model = Decision._meta.get_field("reviewer").related_model
    shape, columns = joined_shape((Decision, "d"), (user_model, "u"), (Queue, "q"))
    sql = (
        f"SELECT {columns} FROM {Decision._meta.db_table} d "  # noqa: S608
        f"JOIN {user_model._meta.db_table} u ON u.id = d.reviewer_id "
        f"JOIN {Queue._meta.db_table} q ON q.id = d.queue_id "
        "WHERE d.case_id = %s ORDER BY d.id"
    )
    return sql, shape


def case_decisions(case: Case) -> list[Decision]:
    """The case's decisions in the order they were made, with reviewer and queue: what
    ``case.decisions.select_related("reviewer", "queue").order_by("id")`` returns, in plain
    SQL (every claim and decision asks)."""
    sql, shape = _decisions_sql()
    decisions = []
    for row in raw_rows.fetch_all(sql, [raw_rows.pk_param(Case, case.pk)]):
        decision, reviewer, queue = shape.build(row)
        link(decision, "reviewer", reviewer)
        link(decision, "queue", queue)
        link(decision, "case", case)
        decisions.append(decision)
    return decisions


@dataclass
class ReviewContext:
    case: Case
    entry: QueueEntry | None
    decisions: list[Decision]
    subject_history: list[Case]
    thresholds: dict[str, float]


def review_context(*, case: Case, reviewer: User) -> ReviewContext:
    """Everything the review page shows, in a fixed number of queries."""
    decisions = list(
        Decision.objects.filter(case=case).select_related("reviewer", "queue").order_by("id")
    )
    subject = (case.metadata or {}).get("subject_id")
    history: list[Case] = []
    if subject is not None:
        history = list(
            Case.objects.filter(source_id=case.source_id, metadata__subject_id=subject)
            .exclude(pk=case.pk)
            .select_related("case_type")
            .order_by("-created_at")[:10]
        )
    routing = case.routing or {}
    return ReviewContext(
        case=case,
        entry=claim_for_case(case=case, reviewer=reviewer),
        decisions=decisions,
        subject_history=history,
        thresholds=routing.get("thresholds") or {},
    )


def unread_notifications(user: User, *, limit: int = 20) -> list[Notification]:
    return list(
        Notification.objects.filter(user=user, read_at__isnull=True)
        .select_related("case")
        .order_by("-created_at", "-id")[:limit]
    )


def candidates_for(case: Case, reviewer: User) -> list[dict[str, Any]]:
    """A pairwise case's candidates in an order fixed per case and reviewer but random
    between them (no position bias), with their ids hidden behind 'Response 1, 2 ...'."""
    import random

    items = list((case.ai_output or {}).get("candidates") or [])
    random.Random(f"{case.pk}:{reviewer.pk}").shuffle(items)  # noqa: S311 - not security
    return [
        {"position": n, "id": item["id"], "output": item["output"]}
        for n, item in enumerate(items, start=1)
    ]


def decisions_of(reviewer: User) -> QuerySet[Decision]:
    return (
        Decision.objects.by(reviewer)
        .select_related("case__case_type", "queue")
        .order_by("-created_at", "-id")
    )


def queue_entries_for_supervisor(queue: Queue) -> QuerySet[QueueEntry]:
    return (
        QueueEntry.objects.filter(queue=queue, state__in=[EntryState.OPEN, EntryState.CLAIMED])
        .select_related("case__case_type", "claimed_by")
        .in_claim_order()
    )


def case_lookup(text: str) -> Case | None:
    """A case by its id or by an external id (the first, if several sources share it)."""
    text = text.strip()
    if _is_uuid(text):
        found = Case.objects.filter(pk=text).first()
        if found is not None:
            return found
    return Case.objects.filter(external_id=text).order_by("-created_at").first()


@dataclass
class CaseStory:
    case: Case
    events: list[Any]
    decisions: list[Decision]
    accesses: list[Any]
    policy_version: Any


def case_story(*, case: Case) -> CaseStory:
    """Everything that happened to a case, for compliance: one page, a few queries."""
    from cases.models import AuditEvent
    from routing.models import PolicyVersion

    events = list(AuditEvent.objects.filter(case=case).select_related("actor").order_by("seq"))
    version_id = (case.routing or {}).get("policy_version_id")
    return CaseStory(
        case=case,
        events=[e for e in events if e.kind != "case.viewed"],
        decisions=list(
            Decision.objects.filter(case=case).select_related("reviewer", "queue").order_by("id")
        ),
        accesses=[e for e in events if e.kind == "case.viewed"],
        policy_version=PolicyVersion.objects.select_related("policy__case_type", "published_by")
        .filter(pk=version_id)
        .first()
        if version_id
        else None,
    )
