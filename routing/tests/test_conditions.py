"""The rule condition language: validation, evaluation and readable descriptions."""

from __future__ import annotations

from typing import Any

import pytest

from routing.conditions import MAX_DEPTH, MISSING, condition_errors, describe, evaluate, resolve

FACTS: dict[str, Any] = {
    "confidence": 0.8,
    "priority": "high",
    "risk_tags": ["legal", "pii"],
    "case_type": "invoice",
    "external_id": "INV-42",
    "metadata": {
        "amount": 1500,
        "ratio": 0.25,
        "currency": "EUR",
        "approved": True,
        "note": None,
        "customer": {"tier": "gold", "tags": ["vip"], "address": {"country": "DE"}},
        "items": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 0}],
        "blob": {"a": [1, 2]},
    },
    "input": {"text": "please refund my order"},
    "ai_output": {"label": "refund", "scores": [0.9, 0.1]},
}

FIELD_ERROR = (
    "is not a case field (use one of case_type, confidence, external_id, priority, "
    "risk_tags, or metadata./input./ai_output. paths)"
)
OPS = "eq, ne, gt, gte, lt, lte, in, not_in, contains, exists"


def leaf(field: str, op: str, *value: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"field": field, "op": op}
    if value:
        (node["value"],) = value
    return node


# --- evaluate: operators ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        # eq / ne
        (leaf("priority", "eq", "high"), True),
        (leaf("priority", "eq", "low"), False),
        (leaf("metadata.amount", "eq", 1500), True),
        (leaf("metadata.amount", "eq", 1500.0), True),
        (leaf("metadata.amount", "eq", "1500"), False),
        (leaf("metadata.note", "eq", None), True),
        (leaf("risk_tags", "eq", ["legal", "pii"]), True),
        (leaf("priority", "ne", "low"), True),
        (leaf("priority", "ne", "high"), False),
        (leaf("metadata.amount", "ne", "1500"), True),
        # gt / gte / lt / lte
        (leaf("metadata.amount", "gt", 1000), True),
        (leaf("metadata.amount", "gt", 1500), False),
        (leaf("metadata.amount", "gte", 1500), True),
        (leaf("metadata.amount", "gte", 1500.5), False),
        (leaf("metadata.amount", "lt", 1500), False),
        (leaf("metadata.amount", "lt", 1500.5), True),
        (leaf("metadata.amount", "lte", 1500), True),
        (leaf("metadata.amount", "lte", 1499), False),
        (leaf("confidence", "lt", 0.9), True),
        (leaf("confidence", "gte", 0.8), True),
        (leaf("metadata.ratio", "gt", 0), True),
        # in / not_in
        (leaf("case_type", "in", ["invoice", "refund"]), True),
        (leaf("case_type", "in", ["refund"]), False),
        (leaf("case_type", "in", []), False),
        (leaf("metadata.amount", "in", [1500, 2000]), True),
        (leaf("case_type", "not_in", ["refund"]), True),
        (leaf("case_type", "not_in", ["invoice"]), False),
        (leaf("case_type", "not_in", []), True),
        # contains on lists and strings
        (leaf("risk_tags", "contains", "legal"), True),
        (leaf("risk_tags", "contains", "fraud"), False),
        (leaf("risk_tags", "contains", "leg"), False),
        (leaf("metadata.customer.tags", "contains", "vip"), True),
        (leaf("input.text", "contains", "refund"), True),
        (leaf("input.text", "contains", "cancel"), False),
        (leaf("input.text", "contains", ""), True),
        (leaf("ai_output.scores", "contains", 0.9), True),
        # exists
        (leaf("metadata.amount", "exists"), True),
        (leaf("metadata.missing", "exists"), False),
        (leaf("metadata.note", "exists"), False),
        (leaf("metadata.approved", "exists"), True),
        (leaf("metadata.customer", "exists"), True),
        (leaf("external_id", "exists"), True),
    ],
)
def test_evaluate_operators(node: dict[str, Any], expected: bool) -> None:
    assert condition_errors(node) == []
    assert evaluate(node, FACTS) is expected


# --- evaluate: combinators ----------------------------------------------------------------------

TRUE = leaf("priority", "eq", "high")
FALSE = leaf("priority", "eq", "low")


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"all": [TRUE]}, True),
        ({"all": [TRUE, TRUE]}, True),
        ({"all": [TRUE, FALSE]}, False),
        ({"any": [FALSE, TRUE]}, True),
        ({"any": [FALSE, FALSE]}, False),
        ({"not": TRUE}, False),
        ({"not": FALSE}, True),
        ({"not": {"not": TRUE}}, True),
        ({"all": [TRUE, {"any": [FALSE, {"not": FALSE}]}]}, True),
        ({"all": [TRUE, {"any": [FALSE, {"not": TRUE}]}]}, False),
        ({"any": [{"all": [TRUE, FALSE]}, {"all": [TRUE, {"not": FALSE}]}]}, True),
        ({"not": {"any": [FALSE, {"all": [TRUE, TRUE]}]}}, False),
    ],
)
def test_evaluate_combinators_and_nesting(node: dict[str, Any], expected: bool) -> None:
    assert condition_errors(node) == []
    assert evaluate(node, FACTS) is expected


# --- evaluate: missing fields and type mismatches ----------------------------------------------


@pytest.mark.parametrize(
    "node",
    [
        leaf("metadata.missing", "eq", None),
        leaf("metadata.missing", "ne", "x"),
        leaf("metadata.missing", "gt", 0),
        leaf("metadata.missing", "lte", 0),
        leaf("metadata.missing", "in", [None]),
        leaf("metadata.missing", "not_in", ["x"]),
        leaf("metadata.missing", "contains", "x"),
        leaf("metadata.customer.missing.deeper", "eq", 1),
        leaf("input.missing", "eq", 1),
        leaf("ai_output.label.inner", "eq", "refund"),
    ],
)
def test_leaf_on_missing_field_is_false_for_every_operator(node: dict[str, Any]) -> None:
    assert evaluate(node, FACTS) is False


@pytest.mark.parametrize(
    "node",
    [
        leaf("metadata.missing", "ne", "x"),
        leaf("metadata.missing", "gt", 0),
        leaf("metadata.missing", "not_in", ["x"]),
    ],
)
def test_not_of_a_missing_field_leaf_is_true(node: dict[str, Any]) -> None:
    assert evaluate({"not": node}, FACTS) is True


def test_missing_field_in_empty_facts() -> None:
    assert evaluate(leaf("metadata.amount", "gt", 0), {}) is False
    assert evaluate(leaf("metadata.amount", "exists"), {}) is False
    assert evaluate({"not": leaf("metadata.amount", "exists")}, {}) is True


@pytest.mark.parametrize(
    "node",
    [
        leaf("metadata.currency", "gt", 1),
        leaf("metadata.currency", "lte", 1),
        leaf("priority", "gte", 0),
        leaf("metadata.customer", "lt", 10),
        leaf("risk_tags", "gt", 0),
        leaf("metadata.note", "gt", 0),
        leaf("metadata.amount", "contains", "1"),
        leaf("metadata.customer", "contains", "tier"),
        leaf("input.text", "contains", 1),
        leaf("metadata.customer", "in", ["gold"]),
        leaf("metadata.customer.tags", "in", ["vip"]),
        leaf("metadata.blob", "in", [1, "a"]),
        leaf("metadata.amount", "eq", [1500]),
    ],
)
def test_type_mismatches_are_false_and_never_raise(node: dict[str, Any]) -> None:
    assert evaluate(node, FACTS) is False


def test_in_with_an_unhashable_actual_compares_by_equality() -> None:
    assert evaluate(leaf("metadata.customer.tags", "in", [["vip"], "x"]), FACTS) is True
    assert evaluate(leaf("metadata.blob", "not_in", [1, "a"]), FACTS) is True


def test_in_with_a_non_list_value_is_false_without_raising() -> None:
    # Invalid per condition_errors, but evaluate still must not raise.
    assert evaluate({"field": "case_type", "op": "in", "value": "invoice"}, FACTS) is False
    assert evaluate({"field": "case_type", "op": "not_in", "value": "invoice"}, FACTS) is True


def test_comparison_with_a_non_number_value_is_false_without_raising() -> None:
    assert evaluate({"field": "metadata.amount", "op": "gt", "value": "1000"}, FACTS) is False


def test_unknown_operator_evaluates_false() -> None:
    assert evaluate({"field": "priority", "op": "like", "value": "h%"}, FACTS) is False


@pytest.mark.parametrize("op", ["gt", "gte", "lt", "lte"])
def test_booleans_are_not_numbers_for_comparisons(op: str) -> None:
    facts = {"metadata": {"flag": True, "zero": False}}
    assert evaluate(leaf("metadata.flag", op, 0), facts) is False
    assert evaluate(leaf("metadata.flag", op, 1), facts) is False
    assert evaluate(leaf("metadata.zero", op, 0), facts) is False
    assert evaluate({"field": "metadata.n", "op": op, "value": True}, {"metadata": {"n": 1}}) is (
        False
    )


# --- resolve: dotted paths and list indexes ----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("priority", "high"),
        ("metadata.amount", 1500),
        ("metadata.customer.tier", "gold"),
        ("metadata.customer.address.country", "DE"),
        ("metadata.customer.tags.0", "vip"),
        ("metadata.items.1.sku", "B2"),
        ("metadata.items.0.qty", 2),
        ("ai_output.scores.1", 0.1),
        ("metadata.note", None),
        ("metadata.blob.a", [1, 2]),
    ],
)
def test_resolve_follows_dotted_paths_and_list_indexes(path: str, expected: Any) -> None:
    assert resolve(FACTS, path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "metadata.missing",
        "metadata.items.2",
        "metadata.items.-1",
        "metadata.items.first",
        "metadata.items.0.missing",
        "metadata.amount.value",
        "metadata.currency.0",
        "missing",
        "metadata.customer.tags.00000000000000000000001",
    ],
)
def test_resolve_returns_missing_for_absent_paths(path: str) -> None:
    assert resolve(FACTS, path) is MISSING


def test_evaluate_uses_list_indexes_in_paths() -> None:
    assert evaluate(leaf("metadata.items.1.qty", "eq", 0), FACTS) is True
    assert evaluate(leaf("metadata.items.5.qty", "exists"), FACTS) is False


def test_missing_repr() -> None:
    assert repr(MISSING) == "<missing>"


def test_evaluate_never_raises_on_a_non_ascii_digit_path_segment() -> None:
    # Regression: resolve() took '²' for a list index ('²'.isdigit()) and int('²') raised.
    node = {"field": "metadata.items.²", "op": "exists"}
    assert condition_errors(node) == []
    assert evaluate(node, FACTS) is False
    assert resolve(FACTS, "metadata.items.²") is MISSING
    assert resolve(FACTS, "metadata.items.\u0661") is MISSING  # Arabic-Indic digit one


# --- condition_errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "node",
    [
        leaf("priority", "eq", "urgent"),
        leaf("metadata.amount", "gt", 1000),
        leaf("metadata.amount", "gte", 0.5),
        leaf("risk_tags", "contains", "legal"),
        leaf("input.a.b.c", "exists"),
        leaf("ai_output.label", "in", ["a", "b"]),
        leaf("case_type", "not_in", []),
        leaf("metadata.note", "eq", None),
        {"all": [leaf("priority", "eq", "urgent"), {"not": leaf("confidence", "lt", 0.5)}]},
        {"any": [leaf("external_id", "ne", "x")]},
    ],
)
def test_valid_conditions_have_no_errors(node: dict[str, Any]) -> None:
    assert condition_errors(node) == []


@pytest.mark.parametrize("node", [[], "priority == 'urgent'", None, 1, ["field"]])
def test_non_object_node(node: Any) -> None:
    assert condition_errors(node) == ["when: must be an object"]


def test_where_prefix_is_configurable() -> None:
    assert condition_errors("x", where="rule #1: when") == ["rule #1: when: must be an object"]


@pytest.mark.parametrize(
    "field",
    [
        "amount",
        "metadata",
        "metadata.",
        "metadata..amount",
        "metadata.amount.",
        "foo.bar",
        "Priority",
        "",
    ],
)
def test_unknown_field(field: str) -> None:
    assert condition_errors(leaf(field, "eq", 1)) == [f"when.field: {field!r} {FIELD_ERROR}"]


@pytest.mark.parametrize("field", [None, 3, ["priority"]])
def test_non_string_field(field: Any) -> None:
    assert condition_errors({"field": field, "op": "eq", "value": 1}) == [
        f"when.field: {field!r} {FIELD_ERROR}"
    ]


def test_missing_field_key() -> None:
    assert condition_errors({"op": "eq", "value": 1}) == [f"when.field: None {FIELD_ERROR}"]


@pytest.mark.parametrize("op", ["like", "EQ", "==", None, 1])
def test_unknown_op(op: Any) -> None:
    assert condition_errors({"field": "priority", "op": op, "value": "x"}) == [
        f"when.op: {op!r} is not one of {OPS}"
    ]


def test_missing_op() -> None:
    assert condition_errors({"field": "priority", "value": "x"}) == [
        f"when.op: None is not one of {OPS}"
    ]


@pytest.mark.parametrize("op", [["eq"], {"eq": 1}])
def test_unhashable_op_is_reported_not_raised(op: Any) -> None:
    # Regression: `op not in OPERATORS` (a dict) raised TypeError for an unhashable op.
    assert condition_errors({"field": "priority", "op": op, "value": "x"}) == [
        f"when.op: {op!r} is not one of {OPS}"
    ]


@pytest.mark.parametrize("op", ["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains"])
def test_missing_value(op: str) -> None:
    assert condition_errors({"field": "priority", "op": op}) == [f"when.value: required for {op!r}"]


@pytest.mark.parametrize("value", [True, None, "x"])
def test_exists_takes_no_value(value: Any) -> None:
    assert condition_errors({"field": "priority", "op": "exists", "value": value}) == [
        "when.value: 'exists' takes no value"
    ]


@pytest.mark.parametrize("op", ["in", "not_in"])
@pytest.mark.parametrize("value", ["invoice", ("invoice",), {"invoice": 1}, None, 3])
def test_in_and_not_in_need_a_list(op: str, value: Any) -> None:
    assert condition_errors({"field": "case_type", "op": op, "value": value}) == [
        f"when.value: {op!r} needs a list"
    ]


@pytest.mark.parametrize("op", ["gt", "gte", "lt", "lte"])
@pytest.mark.parametrize("value", ["1000", None, True, False, [1]])
def test_comparisons_need_a_number(op: str, value: Any) -> None:
    assert condition_errors({"field": "metadata.amount", "op": op, "value": value}) == [
        f"when.value: {op!r} needs a number"
    ]


@pytest.mark.parametrize("combinator", ["all", "any"])
def test_combinator_cannot_be_mixed_with_other_keys(combinator: str) -> None:
    node = {combinator: [TRUE], "field": "priority"}
    assert condition_errors(node) == [f"when: '{combinator}' cannot be mixed with other keys"]


def test_all_and_any_together_are_rejected() -> None:
    assert condition_errors({"all": [TRUE], "any": [TRUE]}) == [
        "when: 'all' cannot be mixed with other keys"
    ]


def test_not_cannot_be_mixed_with_other_keys() -> None:
    assert condition_errors({"not": TRUE, "op": "eq"}) == [
        "when: 'not' cannot be mixed with other keys"
    ]


@pytest.mark.parametrize("combinator", ["all", "any"])
@pytest.mark.parametrize("children", [[], None, TRUE, "x"])
def test_combinator_needs_a_non_empty_list(combinator: str, children: Any) -> None:
    assert condition_errors({combinator: children}) == [
        f"when.{combinator}: must be a non-empty list of conditions"
    ]


def test_not_of_a_non_object() -> None:
    assert condition_errors({"not": [TRUE]}) == ["when.not: must be an object"]


def test_unknown_extra_keys() -> None:
    node = {"field": "priority", "op": "eq", "value": "x", "note": "hi", "after": 1}
    assert condition_errors(node) == ["when: unknown keys ['after', 'note']"]


def test_several_leaf_errors_are_all_reported_in_order() -> None:
    node = {"field": "amount", "op": "like", "extra": 1}
    assert condition_errors(node) == [
        "when: unknown keys ['extra']",
        f"when.field: 'amount' {FIELD_ERROR}",
        f"when.op: 'like' is not one of {OPS}",
    ]


def test_nested_errors_carry_their_path() -> None:
    node = {
        "all": [
            TRUE,
            {"any": [{"field": "amount", "op": "eq", "value": 1}, {"not": {"field": "priority"}}]},
            leaf("metadata.amount", "gt", "big"),
        ]
    }
    assert condition_errors(node) == [
        f"when.all[1].any[0].field: 'amount' {FIELD_ERROR}",
        f"when.all[1].any[1].not.op: None is not one of {OPS}",
        "when.all[2].value: 'gt' needs a number",
    ]


def nested_nots(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = TRUE
    for _ in range(levels):
        node = {"not": node}
    return node


def test_nesting_up_to_max_depth_is_allowed() -> None:
    assert MAX_DEPTH == 8
    assert condition_errors(nested_nots(MAX_DEPTH)) == []


def test_nesting_beyond_max_depth_is_rejected() -> None:
    assert condition_errors(nested_nots(MAX_DEPTH + 1)) == [
        f"when{'.not' * (MAX_DEPTH + 1)}: nested more than 8 levels deep"
    ]


def test_depth_counts_all_and_any_levels_too() -> None:
    node: dict[str, Any] = TRUE
    for i in range(MAX_DEPTH + 1):
        node = {"all": [node]} if i % 2 else {"any": [node]}
    path = "".join(".all[0]" if i % 2 else ".any[0]" for i in reversed(range(MAX_DEPTH + 1)))
    assert condition_errors(node) == [f"when{path}: nested more than 8 levels deep"]


# --- describe -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("node", "text"),
    [
        (leaf("metadata.amount", "gt", 1000), "metadata.amount > 1000"),
        (leaf("metadata.amount", "gte", 0.5), "metadata.amount >= 0.5"),
        (leaf("confidence", "lt", 0.7), "confidence < 0.7"),
        (leaf("confidence", "lte", 0.7), "confidence <= 0.7"),
        (leaf("priority", "eq", "urgent"), "priority == 'urgent'"),
        (leaf("priority", "ne", "low"), "priority != 'low'"),
        (leaf("metadata.note", "eq", None), "metadata.note == None"),
        (leaf("risk_tags", "contains", "legal"), "'legal' in risk_tags"),
        (leaf("input.text", "contains", "refund"), "'refund' in input.text"),
        (leaf("case_type", "in", ["invoice", "refund"]), "case_type in ['invoice', 'refund']"),
        (leaf("priority", "not_in", ["low"]), "priority not in ['low']"),
        (leaf("metadata.po_number", "exists"), "metadata.po_number exists"),
        ({"not": leaf("metadata.po_number", "exists")}, "not metadata.po_number exists"),
        (
            {"all": [leaf("metadata.amount", "gt", 1000), leaf("priority", "eq", "urgent")]},
            "metadata.amount > 1000 and priority == 'urgent'",
        ),
        (
            {"any": [leaf("priority", "eq", "urgent"), leaf("risk_tags", "contains", "legal")]},
            "priority == 'urgent' or 'legal' in risk_tags",
        ),
        (
            {
                "all": [
                    leaf("metadata.amount", "gt", 1000),
                    {
                        "any": [
                            leaf("priority", "eq", "urgent"),
                            leaf("risk_tags", "contains", "legal"),
                        ]
                    },
                ]
            },
            "metadata.amount > 1000 and (priority == 'urgent' or 'legal' in risk_tags)",
        ),
        (
            {
                "not": {
                    "any": [
                        leaf("case_type", "eq", "refund"),
                        {"all": [leaf("confidence", "gte", 0.9), {"not": TRUE}]},
                    ]
                }
            },
            "not (case_type == 'refund' or (confidence >= 0.9 and not priority == 'high'))",
        ),
        ({"all": [TRUE]}, "priority == 'high'"),
    ],
)
def test_describe(node: dict[str, Any], text: str) -> None:
    assert describe(node) == text
