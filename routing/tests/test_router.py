"""The router: a pure function of (policy snapshot, case facts) to a routing decision.

No database: the policy comes from an unsaved ``PolicyVersion``'s defaults, the case is built
directly, and the clock is the case's fixed ``received_at``.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from routing.conditions import condition_errors
from routing.models import PolicyVersion
from routing.router import CaseFacts, PolicySnapshot, audit_draw, num, route

RECEIVED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
# A case id whose audit draw is above the default 5% sample rate, so it is never sampled by
# default and reasons stay free of the audit suffix.
CASE_ID = "00000000-0000-0000-0000-000000000001"


def policy(**overrides: Any) -> PolicySnapshot:
    base = PolicySnapshot.from_config(
        PolicyVersion().config(), policy_key="default", version_id=1, number=1
    )
    return replace(base, **overrides)


def facts(**overrides: Any) -> CaseFacts:
    values: dict[str, Any] = {
        "case_id": CASE_ID,
        "case_type": "invoice",
        "external_id": "INV-1",
        "confidence": 0.8,
        "priority": "normal",
        "risk_tags": (),
        "metadata": {},
        "input": {},
        "ai_output": {},
        "due_at": None,
        "received_at": RECEIVED,
    }
    values.update(overrides)
    return CaseFacts(**values)


def rule(name: str, when: dict[str, Any], **then: Any) -> dict[str, Any]:
    return {"name": name, "when": when, "then": then}


def minutes(n: float) -> datetime:
    return RECEIVED + timedelta(minutes=n)


def test_default_case_id_is_not_sampled_at_the_default_rate() -> None:
    assert audit_draw(CASE_ID) >= policy().audit_sample_rate


def test_default_policy_snapshot_matches_the_model_defaults() -> None:
    p = policy()
    assert p.mode == "exception"
    assert (p.auto_approve_threshold, p.expert_threshold, p.audit_sample_rate) == (0.95, 0.7, 0.05)
    assert p.high_risk_tags == frozenset()
    assert [r["name"] for r in p.rules] == ["urgent-fast-track"]
    assert p.required_reviews == 1
    assert dict(p.sla_minutes) == {"low": 1440, "normal": 240, "high": 60, "urgent": 15}
    assert p.fast_track_window_minutes == 30
    assert (p.generalist_queue, p.expert_queue, p.fast_track_queue, p.audit_queue) == (
        "generalist",
        "expert",
        "fast-track",
        "audit",
    )
    assert p.queue_sla_minutes == {}


def test_from_config_turns_blank_optional_queues_into_empty_strings() -> None:
    config = PolicyVersion().config() | {"fast_track_queue": None, "audit_queue": None}
    p = PolicySnapshot.from_config(config, policy_key="k", version_id=None, number=3)
    assert (p.fast_track_queue, p.audit_queue) == ("", "")
    assert (p.policy_key, p.version_id, p.number) == ("k", None, 3)


# --- Exception mode: threshold bands and their exact boundaries ------------------------------


@pytest.mark.parametrize(
    ("confidence", "outcome", "queue", "rule_label", "reason"),
    [
        (
            1.0,
            "auto_approved",
            None,
            "threshold:auto_approve",
            "confidence 1.00 is at or above the auto-approve threshold 0.95",
        ),
        (
            0.95,
            "auto_approved",
            None,
            "threshold:auto_approve",
            "confidence 0.95 is at or above the auto-approve threshold 0.95",
        ),
        (
            0.9499,
            "queued",
            "generalist",
            "threshold:generalist",
            "confidence 0.9499 is between the expert threshold 0.70 and the auto-approve "
            "threshold 0.95",
        ),
        (
            0.8,
            "queued",
            "generalist",
            "threshold:generalist",
            "confidence 0.80 is between the expert threshold 0.70 and the auto-approve "
            "threshold 0.95",
        ),
        (
            0.70,
            "queued",
            "generalist",
            "threshold:generalist",
            "confidence 0.70 is between the expert threshold 0.70 and the auto-approve "
            "threshold 0.95",
        ),
        (
            0.6999,
            "queued",
            "expert",
            "threshold:expert",
            "confidence 0.6999 is below the expert threshold 0.70",
        ),
        (
            0.62,
            "queued",
            "expert",
            "threshold:expert",
            "confidence 0.62 is below the expert threshold 0.70",
        ),
        (
            0.0,
            "queued",
            "expert",
            "threshold:expert",
            "confidence 0.00 is below the expert threshold 0.70",
        ),
    ],
)
def test_exception_mode_threshold_bands(
    confidence: float, outcome: str, queue: str | None, rule_label: str, reason: str
) -> None:
    decision = route(policy(), facts(confidence=confidence))
    assert decision.outcome == outcome
    assert decision.queue == queue
    assert decision.rule == rule_label
    assert decision.reason == reason
    assert decision.priority == "normal"
    assert decision.required_reviews == 1
    assert decision.fast_tracked is False
    assert decision.audit_sample is False


def test_thresholds_with_three_decimals_read_as_written() -> None:
    p = policy(auto_approve_threshold=0.875, expert_threshold=0.625)
    assert route(p, facts(confidence=0.7)).reason == (
        "confidence 0.70 is between the expert threshold 0.625 and the auto-approve threshold 0.875"
    )
    assert route(p, facts(confidence=0.6)).reason == (
        "confidence 0.60 is below the expert threshold 0.625"
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.7, "0.70"), (0.625, "0.625"), (1, "1.00"), (0.05, "0.05"), (0.6999, "0.6999")],
)
def test_num_formats_thresholds_as_people_write_them(value: float, text: str) -> None:
    assert num(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(1e-05, "0.00001"), (0.99999, "0.99999"), (0.69999, "0.69999"), (0.94999, "0.94999")],
)
def test_num_never_rounds_into_a_contradicting_number(value: float, text: str) -> None:
    # Regression: num() used to round to 4 places and strip zeros, giving '0.', '1.', '0.7'.
    assert num(value) == text


@given(value=st.floats() | st.integers(min_value=-(2**70), max_value=2**70))
def test_num_writes_what_decimal_writes_when_two_places_do_not_do(value: float) -> None:
    from decimal import Decimal

    text = f"{value:.2f}"
    expected = text if float(text) == value else format(Decimal(repr(value)), "f")
    assert num(value) == expected


def test_reason_never_shows_a_below_threshold_confidence_equal_to_the_threshold() -> None:
    # Regression: this used to read "confidence 0.7 is below the expert threshold 0.70".
    decision = route(policy(), facts(confidence=0.69999))
    assert decision.queue == "expert"
    assert decision.reason == "confidence 0.69999 is below the expert threshold 0.70"


def test_reason_just_below_auto_threshold_is_not_rounded_up_to_it() -> None:
    decision = route(policy(), facts(confidence=0.94999))
    assert decision.queue == "generalist"
    assert decision.reason == (
        "confidence 0.94999 is between the expert threshold 0.70 and the auto-approve "
        "threshold 0.95"
    )


# --- Validator and teacher modes --------------------------------------------------------------


def test_validator_mode_never_auto_approves_even_at_full_confidence() -> None:
    decision = route(policy(mode="validator"), facts(confidence=1.0))
    assert decision.outcome == "queued"
    assert decision.queue == "generalist"
    assert decision.rule == "mode:validator"
    assert decision.reason == (
        "validator mode: every case is reviewed; confidence 1.00 is at or above the expert "
        "threshold 0.70"
    )
    assert decision.sla_due_at == minutes(240)


def test_validator_mode_sends_low_confidence_to_expert() -> None:
    decision = route(policy(mode="validator"), facts(confidence=0.5))
    assert (decision.outcome, decision.queue, decision.rule) == (
        "queued",
        "expert",
        "threshold:expert",
    )
    assert decision.reason == "confidence 0.50 is below the expert threshold 0.70"


def test_validator_mode_expert_threshold_boundary_goes_to_generalist() -> None:
    decision = route(policy(mode="validator"), facts(confidence=0.70))
    assert (decision.queue, decision.rule) == ("generalist", "mode:validator")


def test_teacher_mode_auto_approves_everything_no_rule_catches() -> None:
    p = policy(mode="teacher", high_risk_tags=frozenset({"legal"}), audit_sample_rate=0.0)
    for confidence in (0.0, 0.5, 0.99):
        decision = route(p, facts(confidence=confidence, risk_tags=("legal",)))
        assert decision.outcome == "auto_approved"
        assert decision.queue is None
        assert decision.rule == "mode:teacher"
        assert decision.reason == "teacher mode: every case auto-executes"
        assert decision.sla_due_at is None
        assert decision.fast_tracked is False


def test_teacher_mode_still_applies_rules() -> None:
    decision = route(policy(mode="teacher"), facts(priority="urgent", confidence=0.1))
    assert decision.outcome == "queued"
    assert decision.queue == "fast-track"
    assert decision.rule == "rule:urgent-fast-track"


# --- High-risk tags ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["exception", "validator"])
@pytest.mark.parametrize("confidence", [0.99, 1.0, 0.8, 0.1])
def test_high_risk_tag_goes_to_expert_regardless_of_confidence(
    mode: str, confidence: float
) -> None:
    p = policy(mode=mode, high_risk_tags=frozenset({"legal", "fraud"}))
    decision = route(p, facts(confidence=confidence, risk_tags=("pii", "legal")))
    assert decision.outcome == "queued"
    assert decision.queue == "expert"
    assert decision.rule == "high_risk_tag"
    assert decision.reason == (
        "risk tag 'legal' is high-risk: expert review regardless of confidence"
    )


def test_several_high_risk_tags_are_listed_sorted() -> None:
    p = policy(high_risk_tags=frozenset({"legal", "fraud"}))
    decision = route(p, facts(confidence=0.99, risk_tags=("legal", "fraud")))
    assert decision.reason == (
        "risk tag 'fraud', 'legal' is high-risk: expert review regardless of confidence"
    )


def test_non_high_risk_tags_do_not_change_routing() -> None:
    p = policy(high_risk_tags=frozenset({"legal"}), audit_sample_rate=0.0)
    decision = route(p, facts(confidence=0.99, risk_tags=("pii",)))
    assert decision.outcome == "auto_approved"
    assert decision.rule == "threshold:auto_approve"


# --- Rules ---------------------------------------------------------------------------------------


AMOUNT_OVER_1000 = {"field": "metadata.amount", "op": "gt", "value": 1000}
LEGAL_TAG = {"field": "risk_tags", "op": "contains", "value": "legal"}


def test_first_matching_rule_wins_over_a_later_matching_rule() -> None:
    p = policy(
        rules=(
            rule("big", AMOUNT_OVER_1000, route_to="supervisor"),
            rule("legal", LEGAL_TAG, route_to="expert"),
        )
    )
    decision = route(p, facts(metadata={"amount": 5000}, risk_tags=("legal",)))
    assert decision.queue == "supervisor"
    assert decision.rule == "rule:big"
    assert decision.reason == "rule 'big' matched (metadata.amount > 1000)"


def test_a_later_rule_matches_when_the_first_does_not() -> None:
    p = policy(
        rules=(
            rule("big", AMOUNT_OVER_1000, route_to="supervisor"),
            rule("legal", LEGAL_TAG, route_to="expert"),
        )
    )
    decision = route(p, facts(metadata={"amount": 10}, risk_tags=("legal",)))
    assert decision.queue == "expert"
    assert decision.rule == "rule:legal"
    assert decision.reason == "rule 'legal' matched ('legal' in risk_tags)"


def test_rule_wins_over_thresholds() -> None:
    p = policy(rules=(rule("big", AMOUNT_OVER_1000, route_to="supervisor"),))
    decision = route(p, facts(confidence=0.99, metadata={"amount": 1000.5}))
    assert (decision.outcome, decision.queue, decision.rule) == (
        "queued",
        "supervisor",
        "rule:big",
    )
    assert decision.sla_due_at == minutes(240)


def test_rule_wins_over_high_risk_tags() -> None:
    p = policy(
        high_risk_tags=frozenset({"legal"}),
        rules=(rule("legal-to-generalist", LEGAL_TAG, route_to="generalist"),),
    )
    decision = route(p, facts(confidence=0.99, risk_tags=("legal",)))
    assert decision.queue == "generalist"
    assert decision.rule == "rule:legal-to-generalist"


@pytest.mark.parametrize("amount", [1000, 999, "5000", None, [5000]])
def test_metadata_rule_does_not_match_at_or_below_or_on_other_types(amount: Any) -> None:
    p = policy(rules=(rule("big", AMOUNT_OVER_1000, route_to="supervisor"),))
    decision = route(p, facts(metadata={"amount": amount}))
    assert decision.rule == "threshold:generalist"
    assert decision.queue == "generalist"


def test_metadata_rule_on_missing_field_does_not_match() -> None:
    p = policy(rules=(rule("big", AMOUNT_OVER_1000, route_to="supervisor"),))
    assert route(p, facts(metadata={"other": 5000})).rule == "threshold:generalist"


def test_rule_on_nested_metadata_path() -> None:
    when = {"field": "metadata.customer.tier", "op": "in", "value": ["gold", "platinum"]}
    p = policy(rules=(rule("vip", when, route_to="supervisor"),))
    decision = route(p, facts(metadata={"customer": {"tier": "gold"}}))
    assert decision.queue == "supervisor"
    assert decision.reason == "rule 'vip' matched (metadata.customer.tier in ['gold', 'platinum'])"


def test_rule_routing_to_auto_approve() -> None:
    when = {"field": "case_type", "op": "eq", "value": "refund"}
    p = policy(rules=(rule("small-refunds", when, route_to="auto_approve"),))
    decision = route(p, facts(case_type="refund", confidence=0.1))
    assert decision.outcome == "auto_approved"
    assert decision.queue is None
    assert decision.rule == "rule:small-refunds"
    assert decision.reason == "rule 'small-refunds' matched (case_type == 'refund')"
    assert decision.sla_due_at is None
    assert decision.fast_tracked is False


def test_rule_auto_approve_of_an_urgent_case_is_not_fast_tracked() -> None:
    when = {"field": "case_type", "op": "eq", "value": "refund"}
    p = policy(rules=(rule("ok", when, route_to="auto_approve"),), audit_sample_rate=0.0)
    decision = route(p, facts(case_type="refund", priority="urgent", due_at=minutes(5)))
    assert decision.outcome == "auto_approved"
    assert decision.fast_tracked is False
    assert decision.sla_due_at is None


def test_rule_raises_priority_and_sets_required_reviews() -> None:
    p = policy(
        rules=(
            rule(
                "big",
                AMOUNT_OVER_1000,
                route_to="supervisor",
                set_priority="high",
                required_reviews=2,
            ),
        )
    )
    decision = route(p, facts(metadata={"amount": 2000}))
    assert decision.priority == "high"
    assert decision.required_reviews == 2
    assert decision.reason == (
        "rule 'big' matched (metadata.amount > 1000); priority raised from normal to high"
    )
    assert decision.sla_due_at == minutes(60)
    assert decision.fast_tracked is False


def test_rule_lowering_priority_says_set_to() -> None:
    p = policy(rules=(rule("calm", LEGAL_TAG, route_to="expert", set_priority="low"),))
    decision = route(p, facts(priority="high", risk_tags=("legal",)))
    assert decision.priority == "low"
    assert decision.reason == "rule 'calm' matched ('legal' in risk_tags); priority set to low"
    assert decision.sla_due_at == minutes(1440)


def test_rule_setting_the_same_priority_adds_nothing_to_the_reason() -> None:
    p = policy(rules=(rule("same", LEGAL_TAG, route_to="expert", set_priority="normal"),))
    decision = route(p, facts(risk_tags=("legal",)))
    assert decision.reason == "rule 'same' matched ('legal' in risk_tags)"


def test_rule_setting_urgent_priority_fast_tracks() -> None:
    p = policy(rules=(rule("hot", LEGAL_TAG, route_to="expert", set_priority="urgent"),))
    decision = route(p, facts(risk_tags=("legal",)))
    assert decision.priority == "urgent"
    assert decision.fast_tracked is True
    assert decision.sla_due_at == minutes(15)


def test_rule_without_required_reviews_uses_the_policy_value() -> None:
    p = policy(required_reviews=3, rules=(rule("legal", LEGAL_TAG, route_to="expert"),))
    assert route(p, facts(risk_tags=("legal",))).required_reviews == 3
    assert route(p, facts()).required_reviews == 3


def test_default_urgent_rule_fast_tracks() -> None:
    decision = route(policy(), facts(priority="urgent", confidence=0.99))
    assert decision.outcome == "queued"
    assert decision.queue == "fast-track"
    assert decision.rule == "rule:urgent-fast-track"
    assert decision.reason == "rule 'urgent-fast-track' matched (priority == 'urgent')"
    assert decision.priority == "urgent"
    assert decision.fast_tracked is True
    assert decision.sla_due_at == minutes(15)


def test_urgent_without_rules_is_fast_tracked_in_its_threshold_queue() -> None:
    decision = route(policy(rules=()), facts(priority="urgent", confidence=0.8))
    assert decision.queue == "generalist"
    assert decision.rule == "threshold:generalist"
    assert decision.fast_tracked is True
    assert decision.sla_due_at == minutes(15)


def test_rule_routing_to_generalist_is_not_moved_to_fast_track_when_due_soon() -> None:
    p = policy(rules=(rule("legal", LEGAL_TAG, route_to="generalist"),))
    decision = route(p, facts(risk_tags=("legal",), due_at=minutes(10)))
    assert decision.queue == "generalist"
    assert decision.rule == "rule:legal"
    assert decision.fast_tracked is True


def test_route_never_raises_for_a_validated_rule_on_a_non_ascii_digit_path() -> None:
    when = {"field": "metadata.lines.²", "op": "exists"}
    assert condition_errors(when) == []
    p = policy(rules=(rule("odd", when, route_to="expert"),))
    # Regression: resolve() took '²' for a list index ('²'.isdigit()) and int('²') raised.
    decision = route(p, facts(metadata={"lines": [1, 2, 3]}))
    assert decision.rule == "threshold:generalist"


# --- SLA ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "due"), [("low", 1440), ("normal", 240), ("high", 60), ("urgent", 15)]
)
def test_sla_is_policy_minutes_per_priority_from_received_at(priority: str, due: int) -> None:
    decision = route(policy(rules=()), facts(priority=priority, confidence=0.8))
    assert decision.sla_due_at == minutes(due)


def test_earlier_caller_due_at_tightens_the_sla() -> None:
    decision = route(policy(), facts(due_at=minutes(100)))
    assert decision.sla_due_at == minutes(100)
    assert decision.fast_tracked is False


def test_later_caller_due_at_is_ignored() -> None:
    decision = route(policy(), facts(due_at=minutes(1000)))
    assert decision.sla_due_at == minutes(240)


def test_queue_sla_override_applies_when_tighter() -> None:
    p = policy(queue_sla_minutes={"generalist": {"normal": 60}})
    assert route(p, facts()).sla_due_at == minutes(60)


def test_queue_sla_override_is_ignored_when_looser() -> None:
    p = policy(queue_sla_minutes={"generalist": {"normal": 600}})
    assert route(p, facts()).sla_due_at == minutes(240)


def test_queue_sla_override_only_for_its_queue_and_priority() -> None:
    p = policy(queue_sla_minutes={"expert": {"normal": 30}, "generalist": {"high": 5}})
    assert route(p, facts(confidence=0.8)).sla_due_at == minutes(240)
    assert route(p, facts(confidence=0.5)).sla_due_at == minutes(30)


def test_caller_due_at_beats_a_queue_override() -> None:
    p = policy(queue_sla_minutes={"generalist": {"normal": 60}})
    assert route(p, facts(due_at=minutes(45))).sla_due_at == minutes(45)


def test_auto_approved_case_has_no_sla_and_is_not_fast_tracked() -> None:
    decision = route(policy(audit_sample_rate=0.0), facts(confidence=0.99, due_at=minutes(5)))
    assert decision.outcome == "auto_approved"
    assert decision.sla_due_at is None
    assert decision.fast_tracked is False


# --- Fast-tracking -----------------------------------------------------------------------------


def test_generalist_case_due_within_the_window_moves_to_fast_track() -> None:
    decision = route(policy(), facts(confidence=0.8, due_at=minutes(20)))
    assert decision.outcome == "queued"
    assert decision.queue == "fast-track"
    assert decision.rule == "threshold:generalist+fast_track"
    assert decision.reason == (
        "confidence 0.80 is between the expert threshold 0.70 and the auto-approve threshold "
        "0.95; due in 20 min, within the fast-track window of 30 min"
    )
    assert decision.fast_tracked is True
    assert decision.sla_due_at == minutes(20)


def test_validator_generalist_case_due_soon_moves_to_fast_track() -> None:
    decision = route(policy(mode="validator"), facts(confidence=1.0, due_at=minutes(10)))
    assert decision.queue == "fast-track"
    assert decision.rule == "mode:validator+fast_track"
    assert decision.reason.endswith("; due in 10 min, within the fast-track window of 30 min")


def test_expert_case_due_soon_stays_in_expert_but_is_fast_tracked() -> None:
    decision = route(policy(), facts(confidence=0.5, due_at=minutes(10)))
    assert decision.queue == "expert"
    assert decision.rule == "threshold:expert"
    assert decision.reason == "confidence 0.50 is below the expert threshold 0.70"
    assert decision.fast_tracked is True
    assert decision.sla_due_at == minutes(10)


def test_high_risk_case_due_soon_stays_in_expert_but_is_fast_tracked() -> None:
    p = policy(high_risk_tags=frozenset({"legal"}))
    decision = route(p, facts(confidence=0.8, risk_tags=("legal",), due_at=minutes(10)))
    assert (decision.queue, decision.rule, decision.fast_tracked) == (
        "expert",
        "high_risk_tag",
        True,
    )


def test_due_exactly_at_the_window_boundary_is_fast_tracked() -> None:
    decision = route(policy(), facts(due_at=minutes(30)))
    assert decision.queue == "fast-track"
    assert decision.fast_tracked is True
    assert decision.reason.endswith("; due in 30 min, within the fast-track window of 30 min")


def test_due_one_second_past_the_window_is_not_fast_tracked() -> None:
    decision = route(policy(), facts(due_at=RECEIVED + timedelta(minutes=30, seconds=1)))
    assert decision.queue == "generalist"
    assert decision.rule == "threshold:generalist"
    assert decision.fast_tracked is False
    assert decision.sla_due_at == RECEIVED + timedelta(minutes=30, seconds=1)


def test_due_in_part_minutes_reports_whole_minutes() -> None:
    decision = route(policy(), facts(due_at=RECEIVED + timedelta(minutes=12, seconds=59)))
    assert decision.reason.endswith("; due in 12 min, within the fast-track window of 30 min")


def test_already_overdue_case_reports_zero_minutes() -> None:
    decision = route(policy(), facts(due_at=minutes(-5)))
    assert decision.queue == "fast-track"
    assert decision.reason.endswith("; due in 0 min, within the fast-track window of 30 min")
    assert decision.sla_due_at == minutes(-5)


def test_blank_fast_track_queue_disables_the_move_but_still_fast_tracks() -> None:
    decision = route(policy(fast_track_queue=""), facts(due_at=minutes(10)))
    assert decision.queue == "generalist"
    assert decision.rule == "threshold:generalist"
    assert decision.fast_tracked is True
    assert "fast-track window" not in decision.reason


def test_moved_case_uses_the_fast_track_queue_sla_override() -> None:
    p = policy(queue_sla_minutes={"fast-track": {"normal": 5}, "generalist": {"normal": 1}})
    decision = route(p, facts(due_at=minutes(20)))
    assert decision.queue == "fast-track"
    assert decision.sla_due_at == minutes(5)


# --- Audit sampling ----------------------------------------------------------------------------


def test_audit_draw_is_a_fixed_hash_of_the_case_id() -> None:
    digest = hashlib.sha256(f"audit-sample:{CASE_ID}".encode()).digest()
    assert audit_draw(CASE_ID) == int.from_bytes(digest[:8], "big") / 2**64
    assert audit_draw(CASE_ID) == audit_draw(CASE_ID)
    assert 0 <= audit_draw(CASE_ID) < 1
    assert audit_draw(CASE_ID) != audit_draw("00000000-0000-0000-0000-000000000002")


def test_sampling_is_deterministic_per_case_id_at_the_draw_boundary() -> None:
    draw = audit_draw(CASE_ID)
    case = facts(confidence=0.99)
    at_draw = policy(audit_sample_rate=draw)
    just_above = policy(audit_sample_rate=draw + 1e-9)
    for _ in range(3):
        assert route(at_draw, case).audit_sample is False
        assert route(just_above, case).audit_sample is True


def test_rate_one_always_samples_auto_approved_cases() -> None:
    decision = route(policy(audit_sample_rate=1.0), facts(confidence=0.99))
    assert decision.outcome == "auto_approved"
    assert decision.audit_sample is True
    assert decision.audit_queue == "audit"
    assert decision.audit_sla_due_at == minutes(1440)
    assert decision.reason == (
        "confidence 0.99 is at or above the auto-approve threshold 0.95; sampled for audit "
        "(rate 1.00)"
    )
    assert decision.queue is None
    assert decision.sla_due_at is None


def test_audit_sla_is_tightened_by_due_at_and_the_audit_queue_override() -> None:
    p = policy(audit_sample_rate=1.0, queue_sla_minutes={"audit": {"low": 120}})
    assert route(p, facts(confidence=0.99)).audit_sla_due_at == minutes(120)
    assert route(p, facts(confidence=0.99, due_at=minutes(50))).audit_sla_due_at == minutes(50)


def test_rule_auto_approvals_are_sampled_too() -> None:
    when = {"field": "case_type", "op": "eq", "value": "refund"}
    p = policy(audit_sample_rate=1.0, rules=(rule("ok", when, route_to="auto_approve"),))
    decision = route(p, facts(case_type="refund"))
    assert decision.audit_sample is True
    assert decision.reason == (
        "rule 'ok' matched (case_type == 'refund'); sampled for audit (rate 1.00)"
    )


@pytest.mark.parametrize("confidence", [0.1, 0.8])
def test_queued_cases_are_never_sampled(confidence: float) -> None:
    decision = route(policy(audit_sample_rate=1.0), facts(confidence=confidence))
    assert decision.outcome == "queued"
    assert decision.audit_sample is False
    assert decision.audit_queue is None
    assert decision.audit_sla_due_at is None


def test_rate_zero_never_samples() -> None:
    p = policy(audit_sample_rate=0.0, mode="teacher")
    for i in range(200):
        decision = route(p, facts(case_id=str(uuid.UUID(int=i))))
        assert decision.audit_sample is False
        assert decision.audit_queue is None


def test_blank_audit_queue_disables_sampling() -> None:
    decision = route(policy(audit_sample_rate=1.0, audit_queue=""), facts(confidence=0.99))
    assert decision.audit_sample is False
    assert decision.audit_queue is None
    assert decision.audit_sla_due_at is None
    assert decision.reason == "confidence 0.99 is at or above the auto-approve threshold 0.95"


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5])
def test_sampling_rate_converges(rate: float) -> None:
    n = 20_000
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"case-{i}")) for i in range(n)]
    share = sum(audit_draw(case_id) < rate for case_id in ids) / n
    assert abs(share - rate) <= 0.01


# --- Snapshot ----------------------------------------------------------------------------------


def test_snapshot_freezes_policy_identity_reason_queue_and_thresholds() -> None:
    p = policy(version_id=7, number=3, policy_key="invoices", audit_sample_rate=0.0)
    decision = route(p, facts(confidence=0.62))
    assert decision.snapshot(p) == {
        "outcome": "queued",
        "queue": "expert",
        "reason": "confidence 0.62 is below the expert threshold 0.70",
        "rule": "threshold:expert",
        "policy": "invoices",
        "policy_version": 3,
        "policy_version_id": 7,
        "required_reviews": 1,
        "audit_sample": False,
        "audit_queue": None,
        "audit_sla_due_at": None,
        # at risk after 80% of the 240-minute normal SLA, from 12:00
        "sla_warn_at": "2024-03-01T15:12:00+00:00",
        "thresholds": {"auto_approve": 0.95, "expert": 0.7},
    }


def test_snapshot_of_an_audit_sample_serialises_the_audit_deadline() -> None:
    p = policy(audit_sample_rate=1.0)
    snap = route(p, facts(confidence=0.99)).snapshot(p)
    assert snap["outcome"] == "auto_approved"
    assert snap["queue"] is None
    assert snap["audit_sample"] is True
    assert snap["audit_queue"] == "audit"
    assert snap["audit_sla_due_at"] == "2024-03-02T12:00:00+00:00"


# --- Properties ---------------------------------------------------------------------------------

QUEUE_RULES = [
    rule("big", AMOUNT_OVER_1000, route_to="supervisor", set_priority="high"),
    rule("legal", LEGAL_TAG, route_to="expert", required_reviews=2),
    rule("refund", {"field": "case_type", "op": "eq", "value": "refund"}, route_to="auto_approve"),
    rule(
        "urgent-fast-track",
        {"field": "priority", "op": "eq", "value": "urgent"},
        route_to="fast-track",
    ),
    rule(
        "low-conf",
        {"all": [{"field": "confidence", "op": "lt", "value": 0.3}, {"not": LEGAL_TAG}]},
        route_to="generalist",
        set_priority="low",
    ),
]
PRIORITIES = ("low", "normal", "high", "urgent")
TAGS = ("legal", "pii", "fraud", "vip")
confidences = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@st.composite
def thresholds(draw: st.DrawFn) -> tuple[float, float]:
    a, b = draw(confidences), draw(confidences)
    return max(a, b), min(a, b)


@st.composite
def policies(draw: st.DrawFn) -> PolicySnapshot:
    auto, expert = draw(thresholds())
    return policy(
        mode=draw(st.sampled_from(["validator", "exception", "teacher"])),
        auto_approve_threshold=auto,
        expert_threshold=expert,
        audit_sample_rate=draw(confidences),
        high_risk_tags=frozenset(draw(st.lists(st.sampled_from(TAGS), max_size=2))),
        rules=tuple(draw(st.lists(st.sampled_from(QUEUE_RULES), max_size=3, unique_by=id))),
        required_reviews=draw(st.integers(1, 5)),
        fast_track_window_minutes=draw(st.integers(0, 120)),
        fast_track_queue=draw(st.sampled_from(["fast-track", ""])),
        audit_queue=draw(st.sampled_from(["audit", ""])),
        queue_sla_minutes=draw(
            st.sampled_from([{}, {"generalist": {"normal": 30}, "audit": {"low": 60}}])
        ),
    )


@st.composite
def cases(draw: st.DrawFn) -> CaseFacts:
    due = draw(st.none() | st.integers(min_value=-60, max_value=3000))
    return facts(
        case_id=str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))),
        case_type=draw(st.sampled_from(["invoice", "refund"])),
        confidence=draw(confidences),
        priority=draw(st.sampled_from(PRIORITIES)),
        risk_tags=tuple(draw(st.lists(st.sampled_from(TAGS), max_size=3))),
        metadata={"amount": draw(st.integers(0, 3000))},
        due_at=None if due is None else minutes(due),
    )


def policy_queues(p: PolicySnapshot) -> set[str]:
    named = {r["then"]["route_to"] for r in p.rules} - {"auto_approve"}
    return {p.generalist_queue, p.expert_queue, p.fast_track_queue} - {""} | named


@settings(deadline=None, max_examples=200)
@given(p=policies(), case=cases())
def test_every_case_lands_in_exactly_one_outcome(p: PolicySnapshot, case: CaseFacts) -> None:
    decision = route(p, case)
    assert decision.outcome in {"auto_approved", "queued"}
    if decision.outcome == "auto_approved":
        assert decision.queue is None
        assert decision.sla_due_at is None
        assert decision.fast_tracked is False
    else:
        assert decision.queue in policy_queues(p)
        assert decision.sla_due_at is not None
        assert decision.sla_due_at <= case.received_at + timedelta(
            minutes=p.sla_minutes[decision.priority]
        )
        if case.due_at is not None:
            assert decision.sla_due_at <= case.due_at
        assert decision.audit_sample is False
    if decision.audit_sample:
        assert decision.outcome == "auto_approved"
        assert decision.audit_queue == p.audit_queue != ""
        assert decision.audit_sla_due_at is not None
    else:
        assert decision.audit_queue is None
        assert decision.audit_sla_due_at is None
    assert 1 <= decision.required_reviews <= 5
    assert decision.priority in PRIORITIES


BAND = {"expert": 0, "generalist": 1, "fast-track": 1}


def band(p: PolicySnapshot, case: CaseFacts) -> int:
    decision = route(p, case)
    return 2 if decision.outcome == "auto_approved" else BAND[decision.queue or ""]


@settings(deadline=None, max_examples=200)
@given(
    bounds=thresholds(),
    c1=confidences,
    c2=confidences,
    due=st.none() | st.integers(min_value=0, max_value=120),
)
def test_raising_confidence_never_lowers_the_band(
    bounds: tuple[float, float], c1: float, c2: float, due: int | None
) -> None:
    auto, expert = bounds
    p = policy(
        rules=(), high_risk_tags=frozenset(), auto_approve_threshold=auto, expert_threshold=expert
    )
    low, high = min(c1, c2), max(c1, c2)
    due_at = None if due is None else minutes(due)
    assert band(p, facts(confidence=low, due_at=due_at)) <= band(
        p, facts(confidence=high, due_at=due_at)
    )


@settings(deadline=None, max_examples=200)
@given(
    expert=confidences,
    a1=confidences,
    a2=confidences,
    case=cases(),
    mode=st.sampled_from(["validator", "exception", "teacher"]),
)
def test_raising_the_auto_approve_threshold_never_adds_auto_approvals(
    expert: float, a1: float, a2: float, case: CaseFacts, mode: str
) -> None:
    low, high = min(a1, a2), max(a1, a2)
    assume(expert <= low)
    base = policy(mode=mode, expert_threshold=expert, rules=tuple(QUEUE_RULES[:2]))
    loose = route(replace(base, auto_approve_threshold=low), case)
    strict = route(replace(base, auto_approve_threshold=high), case)
    if strict.outcome == "auto_approved":
        assert loose.outcome == "auto_approved"


@settings(deadline=None, max_examples=200)
@given(p=policies(), case=cases())
def test_route_is_deterministic(p: PolicySnapshot, case: CaseFacts) -> None:
    assert route(p, case) == route(p, case)
    assert route(p, case) == route(replace(p), replace(case))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["amount", "a", "b", "0", "items", "tier"]), children, max_size=4
        )
    ),
    max_leaves=20,
)
METADATA_PATHS = [
    "metadata.amount",
    "metadata.a",
    "metadata.a.b",
    "metadata.items.0",
    "metadata.items.0.amount",
    "metadata.a.0.b",
    "metadata.tier",
]


@st.composite
def metadata_conditions(draw: st.DrawFn) -> dict[str, Any]:
    field = draw(st.sampled_from(METADATA_PATHS))
    op = draw(
        st.sampled_from(
            ["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "exists"]
        )
    )
    if op == "exists":
        return {"field": field, "op": op}
    if op in {"gt", "gte", "lt", "lte"}:
        value: Any = draw(st.integers() | st.floats())
    elif op in {"in", "not_in"}:
        value = draw(st.lists(json_values, max_size=3))
    else:
        value = draw(json_values)
    return {"field": field, "op": op, "value": value}


@settings(deadline=None, max_examples=200)
@given(
    metadata=st.dictionaries(st.sampled_from(["amount", "a", "items", "tier", "x"]), json_values),
    whens=st.lists(metadata_conditions(), min_size=1, max_size=3),
    combine=st.booleans(),
)
def test_route_never_raises_for_arbitrary_metadata(
    metadata: dict[str, Any], whens: list[dict[str, Any]], combine: bool
) -> None:
    conditions = [{"any": whens}, {"not": {"all": whens}}] if combine else whens
    p = policy(
        rules=tuple(rule(f"r{i}", when, route_to="supervisor") for i, when in enumerate(conditions))
    )
    for when in conditions:
        assert condition_errors(when) == []
    decision = route(p, facts(metadata=metadata))
    assert decision.outcome in {"auto_approved", "queued"}
    assert decision.queue in {"supervisor", "generalist", None}
