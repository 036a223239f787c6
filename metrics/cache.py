"""A per-process cache of what stored rollups say about a window (see
``metrics.selectors.metrics_summary``).

Closed hours do not change once rolled, except when an hour is rolled again (the catch-up
re-rolls its last hour for late writes), which stamps the hour's ``RolledHour.rolled_at``.
So an entry is keyed by window, case type and the window's current hour, and holds the
stamp of the rolled hours it was read from (their number, first, last and latest
``rolled_at``); a read whose stamp differs misses, in any process. ``rollup_store`` also
clears this process's entries, so a re-roll is seen at once even when the clock stands
still (frozen in tests). This relies on the rolling process's clock not going back between
two rolls, and on rollup rows being written only by ``rollup_store``."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

MAX_ENTRIES = 64

_lock = threading.Lock()
_entries: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()


def stored_get(key: Hashable, stamp: Hashable) -> Any | None:
    """The value stored under ``key`` if it was stored with ``stamp``."""
    with _lock:
        found = _entries.get(key)
        if found is None or found[0] != stamp:
            return None
        _entries.move_to_end(key)
        return found[1]


def stored_put(key: Hashable, stamp: Hashable, value: Any) -> None:
    with _lock:
        _entries[key] = (stamp, value)
        _entries.move_to_end(key)
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)


def stored_clear() -> None:
    with _lock:
        _entries.clear()
