"""Data rules held by the database and the lifecycle table."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from cases.errors import IllegalTransition, ImmutableRecord
from cases.models import TRANSITIONS, AuditEvent, Case, CaseStatus, check_transition
from cases.tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("confidence", [-0.1, 1.0001, 2])
def test_database_refuses_confidence_outside_0_to_1(confidence):
    case = CaseFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Case.objects.filter(pk=case.pk).update(confidence=confidence)


def test_database_refuses_an_unknown_status():
    case = CaseFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Case.objects.filter(pk=case.pk).update(status="lost")


def test_database_refuses_a_second_case_with_the_same_external_id_for_a_source():
    case = CaseFactory(external_id="same")
    with pytest.raises(IntegrityError), transaction.atomic():
        CaseFactory(external_id="same", source=case.source, case_type=case.case_type)


def test_same_external_id_is_fine_for_different_sources():
    first = CaseFactory(external_id="same")
    second = CaseFactory(external_id="same", case_type=first.case_type)
    assert first.source != second.source


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("received", "pending_review"),
        ("received", "auto_approved"),
        ("pending_review", "in_review"),
        ("in_review", "approved"),
        ("in_review", "rejected"),
        ("in_review", "edited"),
        ("in_review", "escalated"),
        ("in_review", "pending_review"),
        ("escalated", "in_review"),
    ],
)
def test_legal_transitions_pass(current, target):
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("received", "approved"),
        ("pending_review", "approved"),
        ("approved", "in_review"),
        ("auto_approved", "pending_review"),
        ("rejected", "approved"),
        ("edited", "edited"),
    ],
)
def test_illegal_transitions_raise_a_domain_error(current, target):
    with pytest.raises(IllegalTransition, match=f"{current!r} to {target!r}"):
        check_transition(current, target)


def test_every_status_has_a_row_in_the_transition_table():
    assert set(TRANSITIONS) == set(CaseStatus.values)


def test_final_statuses_have_no_way_out():
    for status in ("auto_approved", "approved", "rejected", "edited"):
        assert TRANSITIONS[status] == frozenset()


def test_audit_events_cannot_be_saved_twice_or_deleted():
    from cases.auditing import audit_event_record

    event = audit_event_record(kind="case.received", actor=None)
    event.reason = "changed"
    with pytest.raises(ImmutableRecord):
        event.save()
    with pytest.raises(ImmutableRecord):
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).reason == ""
