"""A structured diff between two JSON values: what a reviewer changed in the model's output.

Each change is ``{"path": "/amount", "op": "replace", "from": 42.5, "to": 40}``; paths are
JSON Pointers (RFC 6901), ops are add / remove / replace."""

from __future__ import annotations

import json
from typing import Any


def _pointer(parts: list[str]) -> str:
    # RFC 6901: the whole document is "", and "/" is the key "" at the top level.
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON documents: 1, 1.0 and true are three different values here."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def json_diff(old: Any, new: Any, _path: list[str] | None = None) -> list[dict[str, Any]]:
    path = _path or []
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[dict[str, Any]] = []
        for key in sorted(set(old) | set(new), key=str):
            child = [*path, str(key)]
            if key not in new:
                changes.append({"path": _pointer(child), "op": "remove", "from": old[key]})
            elif key not in old:
                changes.append({"path": _pointer(child), "op": "add", "to": new[key]})
            else:
                changes.extend(json_diff(old[key], new[key], child))
        return changes
    if isinstance(old, list) and isinstance(new, list):
        changes = []
        for index in range(max(len(old), len(new))):
            child = [*path, str(index)]
            if index >= len(new):
                changes.append({"path": _pointer(child), "op": "remove", "from": old[index]})
            elif index >= len(old):
                changes.append({"path": _pointer(child), "op": "add", "to": new[index]})
            else:
                changes.extend(json_diff(old[index], new[index], child))
        return changes
    if old == new and type(old) is type(new):
        return []
    return [{"path": _pointer(path), "op": "replace", "from": old, "to": new}]
