"""Pairwise comparison cases: the shape of their candidates and of a reviewer's preference.

A pairwise case's ``ai_output`` is ``{"candidates": [{"id": "a", "output": ...}, ...]}`` (two
or more, ids unique). A preference is one of ``{"choice": "a"}`` (the best one),
``{"ranking": ["b", "a", "c"]}`` (every candidate, best first) or ``{"tie": true}``."""

from __future__ import annotations

from itertools import combinations
from typing import Any


def candidate_errors(ai_output: Any) -> list[str]:
    if not isinstance(ai_output, dict) or not isinstance(ai_output.get("candidates"), list):
        return ['A pairwise case needs ai_output {"candidates": [{"id": ..., "output": ...}]}.']
    items = ai_output["candidates"]
    if len(items) < 2:
        return ["A pairwise case needs at least two candidates."]
    errors: list[str] = []
    seen: set[str] = set()
    for position, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            errors.append(f"candidates/{position}: needs a non-empty string 'id'.")
            continue
        if "output" not in item:
            errors.append(f"candidates/{position}: needs an 'output'.")
        if item["id"] in seen:
            errors.append(f"candidates/{position}: id {item['id']!r} is used twice.")
        seen.add(item["id"])
    return errors


def candidate_ids(ai_output: Any) -> list[str]:
    return [item["id"] for item in ai_output["candidates"]]


def preference_errors(preference: Any, ids: list[str]) -> list[str]:
    if not isinstance(preference, dict) or len(preference) != 1:
        return ['Send one of {"choice": id}, {"ranking": [ids, best first]} or {"tie": true}.']
    ((key, value),) = preference.items()
    if key == "choice":
        return [] if value in ids else [f"{value!r} is not one of the candidates {ids}."]
    if key == "ranking":
        if not isinstance(value, list) or sorted(map(str, value)) != sorted(ids):
            return [f"A ranking lists every candidate exactly once: {ids}."]
        return []
    if key == "tie":
        return [] if value is True else ['A tie is {"tie": true}.']
    return [f"Unknown preference {key!r}: use choice, ranking or tie."]


def preference_pairs(preference: dict[str, Any], ids: list[str]) -> list[tuple[str, str]]:
    """(chosen, rejected) pairs a preference implies; a tie implies none."""
    if "choice" in preference:
        return [(preference["choice"], other) for other in ids if other != preference["choice"]]
    if "ranking" in preference:
        return list(combinations(preference["ranking"], 2))
    return []
