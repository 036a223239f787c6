"""json_diff: what a reviewer changed, as add / remove / replace at JSON Pointer paths."""

from __future__ import annotations

import pytest

from reviews.diffing import json_diff


def test_equal_documents_have_no_changes():
    document = {"a": [1, {"b": None}], "c": "x", "d": 1.5, "e": True}
    assert json_diff(document, {"c": "x", "e": True, "a": [1, {"b": None}], "d": 1.5}) == []


def test_nested_dict_add_remove_and_replace_in_key_order():
    old = {"order": {"amount": 42.5, "currency": "EUR", "lines": 2}, "status": "refund"}
    new = {"order": {"amount": 40, "currency": "EUR", "note": "partial"}, "status": "refund"}

    assert json_diff(old, new) == [
        {"path": "/order/amount", "op": "replace", "from": 42.5, "to": 40},
        {"path": "/order/lines", "op": "remove", "from": 2},
        {"path": "/order/note", "op": "add", "to": "partial"},
    ]


def test_lists_are_compared_by_index():
    assert json_diff([1, 2, 3], [1, 5]) == [
        {"path": "/1", "op": "replace", "from": 2, "to": 5},
        {"path": "/2", "op": "remove", "from": 3},
    ]
    assert json_diff({"tags": ["a"]}, {"tags": ["a", "b", "c"]}) == [
        {"path": "/tags/1", "op": "add", "to": "b"},
        {"path": "/tags/2", "op": "add", "to": "c"},
    ]


def test_lists_inside_dicts_inside_lists():
    old = {"items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": [1, 2]}]}
    new = {"items": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": [1]}]}

    assert json_diff(old, new) == [
        {"path": "/items/0/qty", "op": "replace", "from": 1, "to": 2},
        {"path": "/items/1/qty/1", "op": "remove", "from": 2},
    ]


def test_a_whole_subtree_added_or_removed_is_one_change():
    assert json_diff({"a": 1}, {"a": 1, "b": {"c": [1, 2]}}) == [
        {"path": "/b", "op": "add", "to": {"c": [1, 2]}}
    ]
    assert json_diff({"a": 1, "b": {"c": [1, 2]}}, {"a": 1}) == [
        {"path": "/b", "op": "remove", "from": {"c": [1, 2]}}
    ]


def test_null_is_a_value():
    assert json_diff({"a": None}, {"a": 0}) == [
        {"path": "/a", "op": "replace", "from": None, "to": 0}
    ]
    assert json_diff({}, {"a": None}) == [{"path": "/a", "op": "add", "to": None}]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (1, 1.0),
        (1.0, 1),
        (1, True),
        (True, 1),
        (0, False),
        (1.0, True),
        ("1", 1),
        ([1], {"0": 1}),
        ({"a": 1}, [1]),
        (None, {}),
        ([], {}),
    ],
)
def test_a_change_of_json_type_is_a_replace_even_when_python_says_equal(old, new):
    assert json_diff({"v": old}, {"v": new}) == [
        {"path": "/v", "op": "replace", "from": old, "to": new}
    ]


def test_same_type_same_value_is_no_change():
    assert json_diff({"v": 1, "w": 1.0, "x": True}, {"v": 1, "w": 1.0, "x": True}) == []


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("a/b", "/a~1b"),
        ("m~n", "/m~0n"),
        ("~1", "/~01"),  # "~" escaped first, so the result is not read back as "/"
        ("/", "/~1"),
        ("~", "/~0"),
        ("~/~", "/~0~1~0"),
        ("with space", "/with space"),
    ],
)
def test_keys_are_escaped_as_json_pointer_tokens(key, path):
    assert json_diff({key: 1}, {key: 2}) == [{"path": path, "op": "replace", "from": 1, "to": 2}]


def test_escaping_applies_at_every_level():
    old = {"a/b": {"c~d": [0, {"e/f~g": 1}]}}
    new = {"a/b": {"c~d": [0, {"e/f~g": 2}]}}

    assert json_diff(old, new) == [
        {"path": "/a~1b/c~0d/1/e~1f~0g", "op": "replace", "from": 1, "to": 2}
    ]


def test_a_changed_scalar_inside_a_list_at_the_top():
    assert json_diff(["x", "y"], ["x", "z"]) == [
        {"path": "/1", "op": "replace", "from": "y", "to": "z"}
    ]


def test_replacing_the_whole_document_uses_the_root_pointer():
    assert json_diff({"": 1}, {"": 2}) == [{"path": "/", "op": "replace", "from": 1, "to": 2}]
    assert json_diff({"decision": "refund"}, ["refund"]) == [
        {"path": "", "op": "replace", "from": {"decision": "refund"}, "to": ["refund"]}
    ]
