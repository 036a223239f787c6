"""Validation of routing configuration: policy fields, rules and SLA minutes."""

from __future__ import annotations

from typing import Any

import pytest

from routing.models import PolicyVersion, default_rules, default_sla_minutes
from routing.validators import policy_config_errors, rule_errors, sla_minutes_errors

KNOWN_QUEUES = {"generalist", "expert", "fast-track", "audit", "supervisor"}
FIELD_ERROR = (
    "is not a case field (use one of case_type, confidence, external_id, priority, "
    "risk_tags, or metadata./input./ai_output. paths)"
)
URGENT = {"field": "priority", "op": "eq", "value": "urgent"}


def config(**overrides: Any) -> dict[str, Any]:
    return PolicyVersion().config() | overrides


def errors_for(**overrides: Any) -> dict[str, list[str]]:
    return policy_config_errors(config(**overrides), known_queues=KNOWN_QUEUES)


def rule(name: Any = "r1", when: Any = URGENT, **then: Any) -> dict[str, Any]:
    return {"name": name, "when": when, "then": then or {"route_to": "expert"}}


def rules_errors(*rules: Any) -> list[str]:
    return rule_errors(list(rules), known_queues=KNOWN_QUEUES)


# --- The defaults --------------------------------------------------------------------------------


def test_default_config_is_valid() -> None:
    assert policy_config_errors(PolicyVersion().config(), known_queues=KNOWN_QUEUES) == {}


def test_default_rules_and_sla_are_valid_on_their_own() -> None:
    assert rule_errors(default_rules(), known_queues=KNOWN_QUEUES) == []
    assert sla_minutes_errors(default_sla_minutes(), partial=False) == []


def test_default_config_needs_its_queues_to_exist() -> None:
    assert policy_config_errors(PolicyVersion().config(), known_queues=set()) == {
        "generalist_queue": ["'generalist' is not a known queue."],
        "expert_queue": ["'expert' is not a known queue."],
        "fast_track_queue": ["'fast-track' is not a known queue."],
        "audit_queue": ["'audit' is not a known queue."],
        "rules": ["rule #1 ('urgent-fast-track'): route_to 'fast-track' is not a known queue"],
    }


@pytest.mark.parametrize("mode", ["validator", "exception", "teacher"])
def test_every_mode_is_accepted(mode: str) -> None:
    assert errors_for(mode=mode) == {}


@pytest.mark.parametrize("mode", ["strict", "", None, "Exception"])
def test_unknown_mode(mode: Any) -> None:
    assert errors_for(mode=mode) == {"mode": ["Must be one of validator, exception, teacher."]}


# --- Thresholds and sample rate ------------------------------------------------------------------

FRACTION = "Must be a number from 0 to 1."


@pytest.mark.parametrize("value", [1.01, -0.01, 2, "0.9", None, float("nan"), float("inf")])
def test_auto_approve_threshold_outside_zero_to_one(value: Any) -> None:
    assert errors_for(auto_approve_threshold=value) == {"auto_approve_threshold": [FRACTION]}


@pytest.mark.parametrize("value", [-0.01, 1.5, "0.7", None])
def test_expert_threshold_outside_zero_to_one(value: Any) -> None:
    assert errors_for(expert_threshold=value) == {"expert_threshold": [FRACTION]}


@pytest.mark.parametrize(
    ("auto", "expert"), [(0, 0), (1, 1), (1, 0), (0.8, 0.8), (1.0, 0.0), (0.5, 0.25)]
)
def test_thresholds_at_the_edges_are_accepted(auto: float, expert: float) -> None:
    assert errors_for(auto_approve_threshold=auto, expert_threshold=expert) == {}


def test_expert_above_auto_mentions_both_values() -> None:
    assert errors_for(auto_approve_threshold=0.8, expert_threshold=0.9) == {
        "expert_threshold": [
            "The expert threshold (0.9) must not be above the auto-approve threshold (0.8)."
        ]
    }


def test_expert_above_auto_is_not_checked_when_one_is_invalid() -> None:
    assert errors_for(auto_approve_threshold=1.5, expert_threshold=0.9) == {
        "auto_approve_threshold": [FRACTION]
    }


@pytest.mark.parametrize("value", [1.01, -0.01, "0.05", None])
def test_sample_rate_outside_zero_to_one(value: Any) -> None:
    assert errors_for(audit_sample_rate=value) == {"audit_sample_rate": [FRACTION]}


@pytest.mark.parametrize("value", [0, 1, 0.0, 1.0])
def test_sample_rate_edges_are_accepted(value: float) -> None:
    assert errors_for(audit_sample_rate=value) == {}


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("auto_approve_threshold", FRACTION),
        ("expert_threshold", FRACTION),
        ("audit_sample_rate", FRACTION),
        ("required_reviews", "Must be a whole number from 1 to 5."),
        ("fast_track_window_minutes", "Must be a whole number of minutes, 0 or more."),
    ],
)
@pytest.mark.parametrize("value", [True, False])
def test_booleans_are_rejected_for_numbers(field: str, message: str, value: bool) -> None:
    overrides: dict[str, Any] = {field: value}
    if field == "expert_threshold":
        # keep auto valid so only the boolean is at fault
        overrides["auto_approve_threshold"] = 1
    assert errors_for(**overrides) == {field: [message]}


# --- Tags and reviews ----------------------------------------------------------------------------


@pytest.mark.parametrize("tags", ["legal", None, {"legal": 1}, [""], ["legal", 1], [None]])
def test_high_risk_tags_must_be_a_list_of_non_empty_strings(tags: Any) -> None:
    assert errors_for(high_risk_tags=tags) == {
        "high_risk_tags": ["Must be a list of non-empty strings."]
    }


def test_high_risk_tags_list_is_accepted() -> None:
    assert errors_for(high_risk_tags=["legal", "fraud"]) == {}


@pytest.mark.parametrize("reviews", [0, 6, -1, 2.0, "2", None])
def test_required_reviews_out_of_range(reviews: Any) -> None:
    assert errors_for(required_reviews=reviews) == {
        "required_reviews": ["Must be a whole number from 1 to 5."]
    }


@pytest.mark.parametrize("reviews", [1, 5])
def test_required_reviews_edges_are_accepted(reviews: int) -> None:
    assert errors_for(required_reviews=reviews) == {}


# --- SLA minutes ---------------------------------------------------------------------------------


def test_sla_minutes_missing_a_priority() -> None:
    assert errors_for(sla_minutes={"low": 1440, "normal": 240, "high": 60}) == {
        "sla_minutes": ["Missing minutes for urgent."]
    }


def test_sla_minutes_unknown_priority() -> None:
    sla = default_sla_minutes() | {"critical": 5}
    assert errors_for(sla_minutes=sla) == {
        "sla_minutes": ["Unknown priorities ['critical']; use low, normal, high, urgent."]
    }


@pytest.mark.parametrize("minutes", [0, -5, 1.5, "60", None, True])
def test_sla_minutes_must_be_positive_whole_numbers(minutes: Any) -> None:
    sla = default_sla_minutes() | {"normal": minutes}
    assert errors_for(sla_minutes=sla) == {
        "sla_minutes": ["normal: minutes must be a positive whole number."]
    }


@pytest.mark.parametrize("sla", [None, [], "240", 240])
def test_sla_minutes_must_be_an_object(sla: Any) -> None:
    assert errors_for(sla_minutes=sla) == {
        "sla_minutes": ['Must be an object of minutes per priority, e.g. {"normal": 240}.']
    }


def test_sla_minutes_reports_every_problem() -> None:
    assert sla_minutes_errors({"normal": 0, "critical": 5}, partial=False) == [
        "Unknown priorities ['critical']; use low, normal, high, urgent.",
        "Missing minutes for low, high, urgent.",
        "normal: minutes must be a positive whole number.",
    ]


def test_partial_sla_minutes_for_queue_overrides() -> None:
    assert sla_minutes_errors({}, partial=True) == []
    assert sla_minutes_errors({"urgent": 10}, partial=True) == []
    assert sla_minutes_errors({"urgent": 0}, partial=True) == [
        "urgent: minutes must be a positive whole number."
    ]
    assert sla_minutes_errors({"asap": 10}, partial=True) == [
        "Unknown priorities ['asap']; use low, normal, high, urgent."
    ]
    assert sla_minutes_errors({}, partial=False) == [
        "Missing minutes for low, normal, high, urgent."
    ]


# --- Fast-track window and queues ----------------------------------------------------------------


@pytest.mark.parametrize("window", [-1, 1.5, "30", None])
def test_fast_track_window_must_be_zero_or_more_whole_minutes(window: Any) -> None:
    assert errors_for(fast_track_window_minutes=window) == {
        "fast_track_window_minutes": ["Must be a whole number of minutes, 0 or more."]
    }


def test_zero_fast_track_window_is_accepted() -> None:
    assert errors_for(fast_track_window_minutes=0) == {}


@pytest.mark.parametrize("field", ["generalist_queue", "expert_queue"])
def test_required_queue_must_be_known(field: str) -> None:
    assert errors_for(**{field: "nowhere"}) == {field: ["'nowhere' is not a known queue."]}


@pytest.mark.parametrize("field", ["generalist_queue", "expert_queue"])
@pytest.mark.parametrize("value", ["", None])
def test_required_queue_cannot_be_blank(field: str, value: Any) -> None:
    assert errors_for(**{field: value}) == {field: ["Required."]}


@pytest.mark.parametrize("field", ["fast_track_queue", "audit_queue"])
@pytest.mark.parametrize("value", ["", None])
def test_optional_queue_may_be_blank(field: str, value: Any) -> None:
    assert errors_for(**{field: value}) == {}


@pytest.mark.parametrize("field", ["fast_track_queue", "audit_queue"])
def test_optional_queue_must_be_known_when_set(field: str) -> None:
    assert errors_for(**{field: "nowhere"}) == {field: ["'nowhere' is not a known queue."]}


@pytest.mark.parametrize("value", [["generalist"], {"slug": "generalist"}])
def test_unhashable_queue_value_is_reported_not_raised(value: Any) -> None:
    # Regression: `slug not in known_queues` (a set) raised TypeError for an unhashable value.
    assert errors_for(generalist_queue=value) == {"generalist_queue": ["Must be a queue slug."]}


@pytest.mark.parametrize("field", ["fast_track_queue", "audit_queue", "expert_queue"])
def test_non_string_queue_value_is_not_a_slug(field: str) -> None:
    assert errors_for(**{field: 7}) == {field: ["Must be a queue slug."]}


# --- Rules ---------------------------------------------------------------------------------------


def test_rules_must_be_a_list() -> None:
    assert errors_for(rules={"name": "r1"}) == {"rules": ["Rules must be a list."]}
    assert errors_for(rules=None) == {"rules": ["Rules must be a list."]}


def test_empty_rules_are_accepted() -> None:
    assert errors_for(rules=[]) == {}


def test_valid_rules_with_every_action_key() -> None:
    assert (
        rules_errors(
            rule("a", route_to="supervisor", set_priority="high", required_reviews=2),
            rule("b", route_to="auto_approve"),
            rule(
                "c",
                {"all": [URGENT, {"not": {"field": "metadata.x", "op": "exists"}}]},
                route_to="fast-track",
                required_reviews=5,
            ),
        )
        == []
    )


def test_rule_naming_an_unknown_queue() -> None:
    assert errors_for(rules=[rule("r1", route_to="nowhere")]) == {
        "rules": ["rule #1 ('r1'): route_to 'nowhere' is not a known queue"]
    }


def test_rule_route_to_auto_approve_is_not_a_queue_but_is_accepted() -> None:
    assert rule_errors([rule(route_to="auto_approve")], known_queues=set()) == []


def test_rule_without_route_to() -> None:
    assert rules_errors(rule(set_priority="high")) == [
        "rule #1 ('r1'): the action needs 'route_to' (a queue slug or 'auto_approve')"
    ]


def test_duplicate_rule_names() -> None:
    assert rules_errors(rule("same"), rule("other"), rule("same")) == [
        "rule #3 ('same'): the name is used twice"
    ]


@pytest.mark.parametrize("name", [None, "", 5])
def test_rule_without_a_name(name: Any) -> None:
    assert rules_errors(rule(name)) == ["rule #1: needs a 'name'"]


def test_rule_missing_the_name_key() -> None:
    assert rules_errors({"when": URGENT, "then": {"route_to": "expert"}}) == [
        "rule #1: needs a 'name'"
    ]


def test_rule_without_when() -> None:
    assert rules_errors({"name": "r1", "then": {"route_to": "expert"}}) == [
        "rule #1 ('r1'): needs a 'when' condition"
    ]


@pytest.mark.parametrize("then", [None, "expert", ["expert"]])
def test_rule_without_a_then_object(then: Any) -> None:
    assert rules_errors({"name": "r1", "when": URGENT, "then": then}) == [
        "rule #1 ('r1'): needs a 'then' action object"
    ]


def test_rule_missing_the_then_key() -> None:
    assert rules_errors({"name": "r1", "when": URGENT}) == [
        "rule #1 ('r1'): needs a 'then' action object"
    ]


def test_rule_with_only_a_name_reports_when_and_then() -> None:
    assert rules_errors({"name": "r1"}) == [
        "rule #1 ('r1'): needs a 'when' condition",
        "rule #1 ('r1'): needs a 'then' action object",
    ]


@pytest.mark.parametrize("rule_value", [None, "r1", ["r1"], 3])
def test_rule_that_is_not_an_object(rule_value: Any) -> None:
    assert rules_errors(rule_value) == ["rule #1: must be an object with name, when and then"]


@pytest.mark.parametrize("priority", ["critical", "", None, "URGENT", ["high"], 2])
def test_bad_set_priority(priority: Any) -> None:
    assert rules_errors(rule(route_to="expert", set_priority=priority)) == [
        "rule #1 ('r1'): set_priority must be one of low, normal, high, urgent"
    ]


@pytest.mark.parametrize("reviews", [0, 6, True, "2", 2.0, None])
def test_bad_required_reviews(reviews: Any) -> None:
    assert rules_errors(rule(route_to="expert", required_reviews=reviews)) == [
        "rule #1 ('r1'): required_reviews must be 1 to 5"
    ]


def test_unknown_action_keys() -> None:
    assert rules_errors(rule(route_to="expert", notify="ops", escalate=True)) == [
        "rule #1 ('r1'): unknown action keys ['escalate', 'notify']"
    ]


def test_unknown_rule_keys() -> None:
    bad = rule() | {"enabled": True, "comment": "x"}
    assert rules_errors(bad) == ["rule #1 ('r1'): unknown keys ['comment', 'enabled']"]


def test_condition_errors_are_propagated_with_the_rule_prefix() -> None:
    when = {"field": "amount", "op": "gt", "value": "big"}
    assert errors_for(rules=[rule("big", when, route_to="supervisor")]) == {
        "rules": [
            f"rule #1 ('big'): when.field: 'amount' {FIELD_ERROR}",
            "rule #1 ('big'): when.value: 'gt' needs a number",
        ]
    }


def test_nested_condition_errors_keep_their_path() -> None:
    when = {"any": [URGENT, {"not": {"field": "risk_tags", "op": "in", "value": "legal"}}]}
    assert rules_errors(rule("r1", when)) == [
        "rule #1 ('r1'): when.any[1].not.value: 'in' needs a list"
    ]


def test_condition_errors_on_an_unnamed_rule() -> None:
    assert rules_errors({"when": [], "then": {"route_to": "expert"}}) == [
        "rule #1: needs a 'name'",
        "rule #1: when: must be an object",
    ]


def test_errors_from_several_rules_are_numbered() -> None:
    assert rules_errors(
        rule("ok"),
        rule("bad-queue", route_to="nowhere"),
        rule("bad-when", {"field": "priority", "op": "eq"}),
    ) == [
        "rule #2 ('bad-queue'): route_to 'nowhere' is not a known queue",
        "rule #3 ('bad-when'): when.value: required for 'eq'",
    ]


def test_every_rule_problem_is_reported_in_order() -> None:
    bad = {
        "name": "r1",
        "when": {"field": "priority", "op": "eq"},
        "then": {
            "route_to": "nowhere",
            "set_priority": "asap",
            "required_reviews": 9,
            "notify": "x",
        },
        "extra": 1,
    }
    assert rules_errors(bad) == [
        "rule #1 ('r1'): unknown keys ['extra']",
        "rule #1 ('r1'): when.value: required for 'eq'",
        "rule #1 ('r1'): unknown action keys ['notify']",
        "rule #1 ('r1'): route_to 'nowhere' is not a known queue",
        "rule #1 ('r1'): set_priority must be one of low, normal, high, urgent",
        "rule #1 ('r1'): required_reviews must be 1 to 5",
    ]


@pytest.mark.parametrize("target", [["expert"], {"queue": "expert"}])
def test_unhashable_route_to_is_reported_not_raised(target: Any) -> None:
    # Regression: `target not in known_queues` (a set) raised TypeError.
    assert rules_errors(rule(route_to=target)) == [
        f"rule #1 ('r1'): route_to {target!r} is not a known queue"
    ]


def test_unhashable_condition_op_in_a_rule_is_reported_not_raised() -> None:
    # Regression: condition_errors raised TypeError for an unhashable op.
    when = {"field": "priority", "op": ["eq"], "value": "urgent"}
    assert rules_errors(rule("r1", when)) == [
        "rule #1 ('r1'): when.op: ['eq'] is not one of eq, ne, gt, gte, lt, lte, in, not_in, "
        "contains, exists"
    ]


# --- Several fields at once ----------------------------------------------------------------------


def test_errors_are_grouped_by_field() -> None:
    assert errors_for(
        mode="nope",
        auto_approve_threshold=2,
        audit_sample_rate=-1,
        required_reviews=0,
        generalist_queue="nowhere",
        rules=[rule("r1", route_to="nowhere")],
    ) == {
        "mode": ["Must be one of validator, exception, teacher."],
        "auto_approve_threshold": [FRACTION],
        "audit_sample_rate": [FRACTION],
        "required_reviews": ["Must be a whole number from 1 to 5."],
        "generalist_queue": ["'nowhere' is not a known queue."],
        "rules": ["rule #1 ('r1'): route_to 'nowhere' is not a known queue"],
    }
