"""Log2 histograms of durations in seconds: small, summable, good for p50/p90."""

from __future__ import annotations

import math
from collections.abc import Iterable


def bucket_of(seconds: float) -> int:
    """Bucket 0 holds [0, 1) s; bucket i >= 1 holds [2**(i-1), 2**i) s."""
    # frexp is exact where floor(log2(x)) rounds up just below a power of two
    return 0 if seconds < 1 else math.frexp(seconds)[1]


def histogram(values: Iterable[float]) -> list[int]:
    counts: list[int] = []
    for value in values:
        index = bucket_of(max(0.0, value))
        if index >= len(counts):
            counts.extend([0] * (index + 1 - len(counts)))
        counts[index] += 1
    return counts


def merge(histograms: Iterable[list[int]]) -> list[int]:
    total: list[int] = []
    for counts in histograms:
        if len(counts) > len(total):
            total.extend([0] * (len(counts) - len(total)))
        for index, count in enumerate(counts):
            total[index] += count
    return total


def percentile(counts: list[int], share: float) -> float | None:
    """The ``share`` quantile, interpolated inside its bucket (None for no data)."""
    n = sum(counts)
    if n == 0:
        return None
    rank = share * n
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            low, high = (0.0, 1.0) if index == 0 else (2.0 ** (index - 1), 2.0**index)
            return low + (high - low) * max(0.0, rank - seen) / count
        seen += count
    return None
