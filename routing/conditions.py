"""The rule condition language: a small declarative JSON structure, validated when saved
and evaluated without ``eval``.

    {"field": "metadata.amount", "op": "gt", "value": 1000}
    {"field": "risk_tags", "op": "contains", "value": "legal"}
    {"all": [...]}   {"any": [...]}   {"not": {...}}

Fields: ``confidence``, ``priority``, ``risk_tags``, ``case_type``, ``external_id``, and dotted
paths into ``metadata.``, ``input.`` and ``ai_output.``. A leaf on a missing field is false
(except ``exists``), and so is a comparison between mismatched types: a rule never crashes
routing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PLAIN_FIELDS = frozenset({"confidence", "priority", "risk_tags", "case_type", "external_id"})
PATH_ROOTS = frozenset({"metadata", "input", "ai_output"})
OPERATORS = {
    "eq": "==",
    "ne": "!=",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "in": "in",
    "not_in": "not in",
    "contains": "contains",
    "exists": "exists",
}
MAX_DEPTH = 8


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING = _Missing()


def condition_errors(node: Any, *, where: str = "when", depth: int = 0) -> list[str]:
    """Every problem with a condition, each prefixed with where it is."""
    if depth > MAX_DEPTH:
        return [f"{where}: nested more than {MAX_DEPTH} levels deep"]
    if not isinstance(node, dict):
        return [f"{where}: must be an object"]
    for combinator in ("all", "any"):
        if combinator in node:
            if set(node) != {combinator}:
                return [f"{where}: '{combinator}' cannot be mixed with other keys"]
            children = node[combinator]
            if not isinstance(children, list) or not children:
                return [f"{where}.{combinator}: must be a non-empty list of conditions"]
            errors: list[str] = []
            for index, child in enumerate(children):
                errors += condition_errors(
                    child, where=f"{where}.{combinator}[{index}]", depth=depth + 1
                )
            return errors
    if "not" in node:
        if set(node) != {"not"}:
            return [f"{where}: 'not' cannot be mixed with other keys"]
        return condition_errors(node["not"], where=f"{where}.not", depth=depth + 1)

    errors = []
    unknown = set(node) - {"field", "op", "value"}
    if unknown:
        errors.append(f"{where}: unknown keys {sorted(unknown)}")
    field, op = node.get("field"), node.get("op")
    if not isinstance(field, str) or not _known_field(field):
        errors.append(
            f"{where}.field: {field!r} is not a case field (use one of "
            f"{', '.join(sorted(PLAIN_FIELDS))}, or metadata./input./ai_output. paths)"
        )
    if not isinstance(op, str) or op not in OPERATORS:
        errors.append(f"{where}.op: {op!r} is not one of {', '.join(OPERATORS)}")
    elif op == "exists":
        if "value" in node:
            errors.append(f"{where}.value: 'exists' takes no value")
    elif "value" not in node:
        errors.append(f"{where}.value: required for {op!r}")
    elif op in {"in", "not_in"} and not isinstance(node["value"], list):
        errors.append(f"{where}.value: {op!r} needs a list")
    elif op in {"gt", "gte", "lt", "lte"} and not _is_number(node["value"]):
        errors.append(f"{where}.value: {op!r} needs a number")
    return errors


def evaluate(node: Mapping[str, Any], facts: Mapping[str, Any]) -> bool:
    if "all" in node:
        return all(evaluate(child, facts) for child in node["all"])
    if "any" in node:
        return any(evaluate(child, facts) for child in node["any"])
    if "not" in node:
        return not evaluate(node["not"], facts)
    actual = resolve(facts, node["field"])
    op = node["op"]
    if op == "exists":
        return actual is not MISSING and actual is not None
    if actual is MISSING:
        return False
    expected = node.get("value")
    if op == "eq":
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    if op in {"gt", "gte", "lt", "lte"}:
        if not (_is_number(actual) and _is_number(expected)):
            return False
        return {
            "gt": actual > expected,
            "gte": actual >= expected,
            "lt": actual < expected,
            "lte": actual <= expected,
        }[op]
    if op in {"in", "not_in"}:
        inside = _hashable_in(actual, expected)
        return inside if op == "in" else not inside
    if op == "contains":
        if isinstance(actual, list | tuple | frozenset | set):
            return expected in actual
        if isinstance(actual, str) and isinstance(expected, str):
            return expected in actual
        return False
    return False


def resolve(facts: Mapping[str, Any], path: str) -> Any:
    current: Any = facts
    for part in path.split("."):
        if (type(current) is dict or isinstance(current, Mapping)) and part in current:
            current = current[part]
        elif (
            isinstance(current, list)
            and part.isascii()
            and part.isdigit()
            and int(part) < len(current)
        ):
            current = current[int(part)]
        else:
            return MISSING
    return current


def describe(node: Mapping[str, Any]) -> str:
    """A readable form for reasons: ``metadata.amount > 1000 and priority == 'urgent'``."""
    if "all" in node:
        return " and ".join(_group(child) for child in node["all"])
    if "any" in node:
        return " or ".join(_group(child) for child in node["any"])
    if "not" in node:
        return f"not {_group(node['not'])}"
    if node["op"] == "exists":
        return f"{node['field']} exists"
    if node["op"] == "contains":
        return f"{node['value']!r} in {node['field']}"
    return f"{node['field']} {OPERATORS[node['op']]} {node['value']!r}"


def _group(node: Mapping[str, Any]) -> str:
    text = describe(node)
    return f"({text})" if ("all" in node or "any" in node) else text


def _known_field(field: str) -> bool:
    if field in PLAIN_FIELDS:
        return True
    root, _, rest = field.partition(".")
    return root in PATH_ROOTS and bool(rest) and all(rest.split("."))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _hashable_in(actual: Any, options: Any) -> bool:
    if not isinstance(options, list):
        return False
    try:
        return actual in options
    except TypeError:
        return False
