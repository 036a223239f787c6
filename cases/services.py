"""Every write in the case domain. One function per state change, keyword-only, one
transaction, an explicit actor."""

from __future__ import annotations

import copy
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from auditlog.diff import model_instance_diff
from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import IntegrityError
from django.utils import timezone

from cases import raw_rows, selectors, tokens
from cases.auditing import (
    EventSpec,
    acting_as,
    audit_event_record,
    audit_events_record_many,
    audited_transaction,
)
from cases.bulk import bulk_insert_encoded, new_instance
from cases.canonical_json import canonical_json_of_parsed, canonical_scalar
from cases.config import cached_config, config_read
from cases.errors import IdempotencyConflict, InvalidInput
from cases.intake import current_router
from cases.models import (
    ApiToken,
    Case,
    CaseType,
    CaseTypeKind,
    Source,
    WebhookDelivery,
    check_transition,
)
from cases.pairwise import candidate_errors
from cases.roles import Role, role_group
from cases.validators import schema_errors
from cases.webhooks import webhooks_enqueue

# --- people, sources and tokens ------------------------------------------------------------


TOKEN_SCOPES = ("feedback",)


def api_token_create(*, user: User, name: str = "", scopes: Sequence[str] = ()) -> str:
    """Create a token for ``user`` and return its key, which is never stored."""
    unknown = set(scopes) - set(TOKEN_SCOPES)
    if unknown:
        raise InvalidInput(
            f"Unknown scopes {sorted(unknown)}; known: {', '.join(TOKEN_SCOPES)}.",
            fields={"scopes": ["Unknown scope."]},
        )
    key = tokens.generate_key()
    ApiToken.objects.create(
        user=user,
        name=name,
        key_hash=tokens.hash_key(key),
        prefix=tokens.display_prefix(key),
        scopes=sorted(set(scopes)),
    )
    return key


@audited_transaction()
def reviewer_create(
    *, username: str, role: Role, password: str | None, email: str = "", actor: Any = None
) -> tuple[User, str]:
    """A person in ``role`` (a group of that name), with a personal API token."""
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise InvalidInput("That username is taken.", fields={"username": ["Already exists."]})
    with acting_as(actor):
        user = User.objects.create_user(username=username, email=email, password=password)
        if role == Role.ADMIN:
            user.is_staff = user.is_superuser = True
            user.save(update_fields=["is_staff", "is_superuser"])
        elif role == Role.COMPLIANCE:  # read-only Django admin through view permissions
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        user.groups.add(role_group(role))
    key = api_token_create(user=user, name="created with the account")
    return user, key


@audited_transaction()
def source_create(
    *, name: str, callback_url: str = "", actor: User | None = None
) -> tuple[Source, str]:
    """Create a source with its service user and first token; return the token key."""
    if Source.objects.filter(name=name).exists():
        raise InvalidInput("A source with that name exists.", fields={"name": ["Already exists."]})
    User = get_user_model()
    with acting_as(actor):
        user = User.objects.create_user(username=f"source:{name}"[:150], password=None)
        source = Source.objects.create(
            name=name,
            user=user,
            callback_url=callback_url,
            signing_secret=secrets.token_urlsafe(32),
        )
    key = api_token_create(user=user, name="source token")
    audit_event_record(
        kind="source.created", actor=actor, data={"source": source.pk, "name": source.name}
    )
    return source, key


@audited_transaction()
def source_rotate_token(*, source: Source, actor: User | None) -> str:
    """Revoke every token of the source and issue a new one."""
    ApiToken.objects.filter(user=source.user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    key = api_token_create(user=source.user, name="source token (rotated)")
    audit_event_record(
        kind="source.token_rotated", actor=actor, data={"source": source.pk, "name": source.name}
    )
    return key


# --- case types ---------------------------------------------------------------------------


CASE_TYPE_FIELDS = (
    "kind",
    "slug",
    "name",
    "description",
    "reason_codes",
    "input_schema",
    "output_schema",
    "is_active",
)


@audited_transaction()
def case_type_create(*, actor: User | None, **values: Any) -> CaseType:
    case_type = CaseType(**{key: values[key] for key in CASE_TYPE_FIELDS if key in values})
    case_type.full_clean()
    with acting_as(actor):
        case_type.save()
    return case_type


@audited_transaction()
def case_type_update(*, case_type: CaseType, actor: User | None, **values: Any) -> CaseType:
    changed = [key for key in CASE_TYPE_FIELDS if key in values]
    for key in changed:
        setattr(case_type, key, values[key])
    case_type.full_clean()
    with acting_as(actor):
        case_type.save(update_fields=[*changed, "updated_at"])
    return case_type


# --- ingestion ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseInput:
    """A case as posted by a source, already checked for shape by the API layer: its payload
    fields hold JSON values, as parsed from the request."""

    external_id: str
    case_type: str
    input: Any
    ai_output: Any
    confidence: float
    context: list[Any] = field(default_factory=list)
    risk_tags: list[str] = field(default_factory=list)
    priority: str = "normal"
    due_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def payload_hash(self) -> str:
        return self.encoded().digest

    def encoded(self) -> EncodedPayload:
        """The payload's canonical JSON: the hash that makes re-posting idempotent, and the
        JSON of each payload field, which is what gets stored."""
        parts = {
            name: canonical_json_of_parsed(getattr(self, name)) for name in EncodedPayload.FIELDS
        }
        due = self.due_at.astimezone(UTC).isoformat() if self.due_at else None
        # json.dumps of the whole payload with sort_keys, assembled from its fields' JSON:
        # the same bytes, which a test holds it to.
        j = canonical_scalar
        canonical = (
            f'{{"ai_output":{parts["ai_output"]},"case_type":{j(self.case_type)},'
            f'"confidence":{j(float(self.confidence))},"context":{parts["context"]},'
            f'"due_at":{j(due)},"input":{parts["input"]},"metadata":{parts["metadata"]},'
            f'"priority":{j(self.priority)},"risk_tags":{parts["risk_tags"]}}}'
        )
        return EncodedPayload(parts, hashlib.sha256(canonical.encode("utf-8")).hexdigest())


@dataclass(frozen=True)
class EncodedPayload:
    FIELDS: ClassVar[tuple[str, ...]] = ("input", "ai_output", "context", "risk_tags", "metadata")

    json: dict[str, str]  # canonical JSON of each of FIELDS
    digest: str


class IngestOutcome(StrEnum):
    CREATED = "created"
    EXISTING = "existing"
    ERROR = "error"


@dataclass
class IngestResult:
    outcome: IngestOutcome
    case: Case | None = None
    error: InvalidInput | IdempotencyConflict | None = None


def _case_types_by_slug(slugs: set[str]) -> dict[str, CaseType]:
    active = cached_config(
        "active-case-types", lambda: {ct.slug: ct for ct in CaseType.objects.filter(is_active=True)}
    )
    return {slug: active[slug] for slug in slugs if slug in active}


def _problems(data: CaseInput, case_types: Mapping[str, CaseType]) -> InvalidInput | None:
    case_type = case_types.get(data.case_type)
    if case_type is None:
        return InvalidInput(
            "Unknown case type.",
            fields={"case_type": [f"No active case type with slug {data.case_type!r}."]},
        )
    fields: dict[str, list[str]] = {}
    if input_errors := schema_errors(case_type.input_schema, data.input):
        fields["input"] = input_errors
    if output_errors := schema_errors(case_type.output_schema, data.ai_output):
        fields["ai_output"] = output_errors
    if case_type.kind == CaseTypeKind.PAIRWISE and (
        pairwise_errors := candidate_errors(data.ai_output)
    ):
        fields.setdefault("ai_output", []).extend(pairwise_errors)
    if fields:
        return InvalidInput(f"The case does not match case type {case_type.slug!r}.", fields=fields)
    return None


def _conflict(external_id: str) -> IdempotencyConflict:
    return IdempotencyConflict(
        f"A case with external_id {external_id!r} already exists with a different body. "
        "Re-posting is idempotent only for an identical body; use a new external_id for a "
        "new case."
    )


def _new_case(
    *, source: Source, data: CaseInput, case_type: CaseType, digest: str, **fields: Any
) -> Case:
    return new_instance(
        Case,
        **fields,
        source=source,
        external_id=data.external_id,
        case_type=case_type,
        input=data.input,
        ai_output=data.ai_output,
        confidence=data.confidence,
        context=data.context,
        risk_tags=data.risk_tags,
        priority=data.priority,
        due_at=data.due_at,
        metadata=data.metadata,
        payload_hash=digest,
    )


def _insert_routed(
    cases: list[Case], *, actor: User | None, payloads: Sequence[EncodedPayload]
) -> None:
    """Route in memory, insert, enqueue and record, for any number of new cases (with their
    encoded payloads)."""
    router = current_router()
    router.route(cases)
    for case in cases:
        check_transition("received", case.status)
    stored = [_stored_json(case, payload) for case, payload in zip(cases, payloads, strict=True)]
    bulk_insert_encoded(Case, cases, stored)
    events = [
        EventSpec(kind="case.received", case=case, data={"external_id": case.external_id})
        for case in cases
    ]
    events.extend(router.enqueue(cases, actor=actor))
    audit_events_record_many(actor=actor, events=events)
    webhooks_enqueue([case for case in cases if case.is_final])


def _stored_json(case: Case, payload: EncodedPayload) -> dict[str, str]:
    """The JSON of a new case's payload fields, encoded once for the hash and the insert."""
    if case.final_output is case.ai_output:  # auto-approved: the AI output stands
        return {**payload.json, "final_output": payload.json["ai_output"]}
    return payload.json


@config_read()
def case_ingest(*, source: Source, data: CaseInput) -> IngestResult:
    """Create one case, or return the existing one when the same body is posted again.

    Raises InvalidInput for an unknown case type or a schema mismatch, and
    IdempotencyConflict when the external id is taken by a different body."""
    case_types = _case_types_by_slug({data.case_type})
    if problem := _problems(data, case_types):
        raise problem
    payload = data.encoded()
    digest = payload.digest
    case = _new_case(source=source, data=data, case_type=case_types[data.case_type], digest=digest)
    # Insert first: a new case (the usual post) costs no look-up. A repeat fails on the unique
    # (source, external_id) constraint, rolls back, and is answered from the stored case;
    # so is a concurrent post of the same id, which waits for the first one to commit.
    try:
        with audited_transaction():
            _insert_routed([case], actor=source.user, payloads=[payload])
    except IntegrityError:
        existing = (
            Case.objects.filter(source=source, external_id=data.external_id)
            .select_related("case_type")
            .first()
        )
        if existing is None:
            raise  # not a repeat: some other constraint, a bug to see
    else:
        return IngestResult(IngestOutcome.CREATED, case)
    if existing.payload_hash != digest:
        raise _conflict(data.external_id)
    return IngestResult(IngestOutcome.EXISTING, existing)


@config_read()
def case_ingest_bulk(
    *, source: Source, items: Sequence[CaseInput | InvalidInput]
) -> list[IngestResult]:
    """Ingest many cases with a constant number of queries. Items that already failed
    validation are passed through as errors; valid items are stored whatever the others do.
    Results come back in the order of ``items``."""
    results: list[IngestResult | None] = [None] * len(items)
    valid: list[tuple[int, CaseInput]] = []
    for index, item in enumerate(items):
        if isinstance(item, InvalidInput):
            results[index] = IngestResult(IngestOutcome.ERROR, error=item)
        else:
            valid.append((index, item))

    case_types = _case_types_by_slug({item.case_type for _, item in valid})
    checked: list[tuple[int, CaseInput, EncodedPayload]] = []
    for index, item in valid:
        if problem := _problems(item, case_types):
            results[index] = IngestResult(IngestOutcome.ERROR, error=problem)
        else:
            checked.append((index, item, item.encoded()))

    received_at = timezone.now()  # the cases of a request arrive together
    for _attempt in range(3):
        pending = [entry for entry in checked if results[entry[0]] is None]
        if not pending:
            break
        existing = selectors.cases_by_external_id(
            source=source, external_ids={item.external_id for _, item, _ in pending}
        )
        new_cases: dict[str, tuple[Case, EncodedPayload]] = {}
        placed: list[tuple[int, str]] = []
        for index, item, payload in pending:
            digest = payload.digest
            known = existing.get(item.external_id)
            if known is not None:
                results[index] = (
                    IngestResult(IngestOutcome.EXISTING, known)
                    if known.payload_hash == digest
                    else IngestResult(IngestOutcome.ERROR, error=_conflict(item.external_id))
                )
            elif item.external_id in new_cases:
                # The same external id twice in one request: the first one wins.
                first_digest = new_cases[item.external_id][1].digest
                if first_digest != digest:
                    results[index] = IngestResult(
                        IngestOutcome.ERROR, error=_conflict(item.external_id)
                    )
                else:
                    placed.append((index, item.external_id))
            else:
                case = _new_case(
                    source=source,
                    data=item,
                    case_type=case_types[item.case_type],
                    digest=digest,
                    created_at=received_at,
                )
                new_cases[item.external_id] = (case, payload)
                placed.append((index, item.external_id))
        try:
            with audited_transaction():
                _insert_routed(
                    [case for case, _ in new_cases.values()],
                    actor=source.user,
                    payloads=[payload for _, payload in new_cases.values()],
                )
        except IntegrityError:
            for index, _external_id in placed:
                results[index] = None
            continue  # a concurrent request took some of these external ids: re-read
        first_index: dict[str, int] = {}
        for index, external_id in placed:
            case = new_cases[external_id][0]
            outcome = (
                IngestOutcome.CREATED if external_id not in first_index else IngestOutcome.EXISTING
            )
            first_index.setdefault(external_id, index)
            results[index] = IngestResult(outcome, case)
    final: list[IngestResult] = []
    for index, result in enumerate(results):
        if result is None:
            item = items[index]
            external_id = item.external_id if isinstance(item, CaseInput) else "?"
            result = IngestResult(IngestOutcome.ERROR, error=_conflict(external_id))
        final.append(result)
    return final


# --- lifecycle ----------------------------------------------------------------------------


def case_transition(*, case: Case, to: str, **fields: Any) -> Case:
    """Move a case to another status (the one place statuses change after ingestion),
    updating the given fields with it. Raises IllegalTransition."""
    check_transition(case.status, to)
    before = copy.copy(case)
    case.status = to
    for name, value in fields.items():
        setattr(case, name, value)
    update_fields = ["status", *fields, "updated_at"]
    # What save(update_fields=...) writes, with django-auditlog's receivers left out: the
    # change is logged below, against the case as this transaction read it.
    raw_rows.update_row(case, update_fields)
    _log_case_change(before, case, update_fields)
    return case


def _log_case_change(before: Case, after: Case, fields: list[str]) -> None:
    """The django-auditlog entry of a status change (which joins the audit chain), diffed
    against the case as this transaction read it. django-auditlog's own receiver would first
    read the whole row again, payload included, only to compare a few fields."""
    changes = model_instance_diff(
        before,
        after,
        fields_to_check=fields,
        use_json_for_changes=getattr(settings, "AUDITLOG_STORE_JSON_CHANGES", False),
    )
    if changes:
        LogEntry.objects.log_create(after, action=LogEntry.Action.UPDATE, changes=changes)


# --- retention ------------------------------------------------------------------------------

REDACTED = {"redacted": True}


@audited_transaction()
def case_redact(*, case: Case, actor: User | None, reason: str) -> Case:
    """Remove a case's personal payload, keeping its audit skeleton: status, routing,
    timestamps, the decision's action and reason code, and the verifiable event chain."""
    if case.redacted_at is not None:
        return case
    now = timezone.now()
    Case.objects.filter(pk=case.pk).update(
        input=REDACTED,
        ai_output=REDACTED,
        context=[],
        metadata={},
        final_output=REDACTED if case.final_output is not None else None,
        redacted_at=now,
        updated_at=now,
    )
    # Copies of the payload elsewhere: edited outputs on decisions, webhook bodies.
    from django.apps import apps

    apps.get_model("reviews", "Decision").objects.filter(case=case).update(
        final_output=None, diff=[]
    )
    WebhookDelivery.objects.filter(case=case).update(payload=REDACTED)
    audit_event_record(
        kind="case.redacted",
        actor=actor,
        case=case,
        reason=reason,
        data={"fields": ["input", "ai_output", "context", "metadata", "final_output"]},
    )
    case.refresh_from_db()
    return case
