"""Validation of routing configuration, shared by Django admin (model clean) and the API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cases.models import Priority
from routing.conditions import condition_errors

AUTO_APPROVE = "auto_approve"
MODES = ("validator", "exception", "teacher")
RULE_KEYS = {"name", "when", "then"}
ACTION_KEYS = {"route_to", "set_priority", "required_reviews"}
MAX_REVIEWS = 5


def sla_minutes_errors(value: Any, *, partial: bool) -> list[str]:
    if not isinstance(value, dict):
        return ['Must be an object of minutes per priority, e.g. {"normal": 240}.']
    errors = []
    unknown = set(value) - set(Priority.values)
    if unknown:
        errors.append(f"Unknown priorities {sorted(unknown)}; use {', '.join(Priority.values)}.")
    if not partial:
        missing = [p for p in Priority.values if p not in value]
        if missing:
            errors.append(f"Missing minutes for {', '.join(missing)}.")
    for priority, minutes in value.items():
        if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes <= 0:
            errors.append(f"{priority}: minutes must be a positive whole number.")
    return errors


def _fraction(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


def rule_errors(rules: Any, *, known_queues: set[str]) -> list[str]:
    if not isinstance(rules, list):
        return ["Rules must be a list."]
    errors: list[str] = []
    names: set[str] = set()
    for index, rule in enumerate(rules):
        where = f"rule #{index + 1}"
        if not isinstance(rule, dict):
            errors.append(f"{where}: must be an object with name, when and then")
            continue
        name = rule.get("name")
        if isinstance(name, str) and name:
            where = f"rule #{index + 1} ({name!r})"
            if name in names:
                errors.append(f"{where}: the name is used twice")
            names.add(name)
        else:
            errors.append(f"{where}: needs a 'name'")
        if unknown := set(rule) - RULE_KEYS:
            errors.append(f"{where}: unknown keys {sorted(unknown)}")
        if "when" not in rule:
            errors.append(f"{where}: needs a 'when' condition")
        else:
            errors += [f"{where}: {e}" for e in condition_errors(rule["when"])]
        action = rule.get("then")
        if not isinstance(action, dict):
            errors.append(f"{where}: needs a 'then' action object")
            continue
        if unknown := set(action) - ACTION_KEYS:
            errors.append(f"{where}: unknown action keys {sorted(unknown)}")
        target = action.get("route_to")
        if target is None:
            errors.append(f"{where}: the action needs 'route_to' (a queue slug or 'auto_approve')")
        elif target != AUTO_APPROVE and (not isinstance(target, str) or target not in known_queues):
            errors.append(f"{where}: route_to {target!r} is not a known queue")
        if "set_priority" in action and (
            not isinstance(action["set_priority"], str)
            or action["set_priority"] not in Priority.values
        ):
            errors.append(f"{where}: set_priority must be one of {', '.join(Priority.values)}")
        reviews = action.get("required_reviews")
        if "required_reviews" in action and (
            isinstance(reviews, bool)
            or not isinstance(reviews, int)
            or not 1 <= reviews <= MAX_REVIEWS
        ):
            errors.append(f"{where}: required_reviews must be 1 to {MAX_REVIEWS}")
    return errors


def policy_config_errors(
    config: Mapping[str, Any], *, known_queues: set[str]
) -> dict[str, list[str]]:
    """Every problem with a policy configuration, by field name."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if config.get("mode") not in MODES:
        add("mode", f"Must be one of {', '.join(MODES)}.")
    auto: Any = config.get("auto_approve_threshold")
    expert: Any = config.get("expert_threshold")
    if not _fraction(auto):
        add("auto_approve_threshold", "Must be a number from 0 to 1.")
    if not _fraction(expert):
        add("expert_threshold", "Must be a number from 0 to 1.")
    if _fraction(auto) and _fraction(expert) and expert > auto:
        add(
            "expert_threshold",
            f"The expert threshold ({expert}) must not be above the auto-approve threshold "
            f"({auto}).",
        )
    if not _fraction(config.get("audit_sample_rate")):
        add("audit_sample_rate", "Must be a number from 0 to 1.")
    tags = config.get("high_risk_tags")
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        add("high_risk_tags", "Must be a list of non-empty strings.")
    reviews = config.get("required_reviews")
    if isinstance(reviews, bool) or not isinstance(reviews, int) or not 1 <= reviews <= MAX_REVIEWS:
        add("required_reviews", f"Must be a whole number from 1 to {MAX_REVIEWS}.")
    for message in sla_minutes_errors(config.get("sla_minutes"), partial=False):
        add("sla_minutes", message)
    window = config.get("fast_track_window_minutes")
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        add("fast_track_window_minutes", "Must be a whole number of minutes, 0 or more.")
    for field, required in (
        ("generalist_queue", True),
        ("expert_queue", True),
        ("fast_track_queue", False),
        ("audit_queue", False),
    ):
        slug = config.get(field) or ""
        if not slug and required:
            add(field, "Required.")
        elif not isinstance(slug, str):
            add(field, "Must be a queue slug.")
        elif slug and slug not in known_queues:
            add(field, f"{slug!r} is not a known queue.")
    for message in rule_errors(config.get("rules"), known_queues=known_queues):
        add("rules", message)
    return errors
