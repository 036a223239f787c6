"""The per-process cache of stored figures: an entry counts only with the stamp it was
stored with, the oldest entries go first, and clearing empties it."""

from __future__ import annotations

from metrics import cache
from metrics.cache import MAX_ENTRIES, stored_clear, stored_get, stored_put


def test_an_entry_is_found_only_with_its_stamp():
    stored_put(("summary", 24, None), "stamp-1", {"received": 3})
    assert stored_get(("summary", 24, None), "stamp-1") == {"received": 3}
    assert stored_get(("summary", 24, None), "stamp-2") is None
    assert stored_get(("summary", 168, None), "stamp-1") is None


def test_storing_again_replaces_the_entry_and_its_stamp():
    stored_put("key", "old", 1)
    stored_put("key", "new", 2)
    assert stored_get("key", "old") is None
    assert stored_get("key", "new") == 2


def test_the_least_recently_used_entries_are_dropped_beyond_the_bound():
    for n in range(MAX_ENTRIES):
        stored_put(n, "s", n)
    assert stored_get(0, "s") == 0  # used: now the most recent
    stored_put("one more", "s", "x")
    assert len(cache._entries) == MAX_ENTRIES
    assert stored_get(1, "s") is None  # the least recently used went
    assert stored_get(0, "s") == 0
    assert stored_get("one more", "s") == "x"


def test_clearing_empties_the_cache():
    stored_put("key", "s", 1)
    stored_clear()
    assert stored_get("key", "s") is None
    assert not cache._entries
