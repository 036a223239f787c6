"""Threshold calibration from human decisions: pure maths over confidence histograms.

Confidences are binned at 0.01 (bin k holds confidences in [k/100, (k+1)/100); bin 100 holds
exactly 1.0), so the database aggregates millions of cases into at most 101 rows and a
candidate threshold t = k/100 covers exactly the bins >= k.

A *labelled* case is one a human judged: accepted unchanged (approved) or not (rejected,
edited), from regular review or from the audit sample of auto-approved cases.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

BINS = 101
Z_95 = 1.959963984540054


@dataclass(frozen=True)
class BinCounts:
    labelled: int = 0
    accepted: int = 0


Histogram = Mapping[int, BinCounts]  # bin -> what humans said about cases in it
Traffic = Mapping[int, int]  # bin -> how many cases arrived in it


def bin_of(confidence: float) -> int:
    return min(100, max(0, math.floor(confidence * 100 + 1e-9)))


def wilson(errors: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for a proportion errors/n (95% by default); (0, 1) when n=0."""
    if n == 0:
        return 0.0, 1.0
    p = errors / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At the ends the exact bounds are 0 and 1; floating point lands a hair off them.
    lower = 0.0 if errors == 0 else max(0.0, centre - half)
    upper = 1.0 if errors == n else min(1.0, centre + half)
    return lower, upper


@dataclass(frozen=True)
class Bucket:
    lower: float
    upper: float
    labelled: int
    accepted: int

    @property
    def accepted_share(self) -> float | None:
        return self.accepted / self.labelled if self.labelled else None

    @property
    def midpoint(self) -> float:
        return (self.lower + self.upper) / 2


def reliability(histogram: Histogram, *, width: int = 10) -> list[Bucket]:
    """Buckets of ``width`` bins (0.1 by default): model confidence vs the share humans
    accepted unchanged. The last bucket includes confidence 1.0."""
    buckets = []
    for start in range(0, 100, width):
        stop = start + width if start + width < 100 else BINS
        counts = [histogram.get(k, BinCounts()) for k in range(start, stop)]
        buckets.append(
            Bucket(
                lower=start / 100,
                upper=min(1.0, (start + width) / 100),
                labelled=sum(c.labelled for c in counts),
                accepted=sum(c.accepted for c in counts),
            )
        )
    return buckets


@dataclass(frozen=True)
class Candidate:
    """What auto-approving at or above ``threshold`` would mean."""

    threshold: float
    labelled: int  # human-judged cases at or above the threshold
    errors: int  # of those, how many humans did not accept unchanged
    error_lower: float
    error_upper: float
    review_share: float  # share of traffic below the threshold: still reviewed by people
    expected_cost: float | None  # per case, when costs are given

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.labelled if self.labelled else None

    @property
    def auto_share(self) -> float:
        return 1 - self.review_share


def candidates(
    histogram: Histogram,
    traffic: Traffic,
    *,
    thresholds: range = range(50, 100),
    review_cost: float | None = None,
    error_cost: float | None = None,
) -> list[Candidate]:
    """Each candidate threshold (in hundredths) with its estimated auto-error rate (Wilson
    95%) and the share of traffic that would still need review."""
    total = sum(traffic.values())
    result = []
    for k in thresholds:
        labelled = sum(histogram.get(b, BinCounts()).labelled for b in range(k, BINS))
        accepted = sum(histogram.get(b, BinCounts()).accepted for b in range(k, BINS))
        errors = labelled - accepted
        low, high = wilson(errors, labelled)
        below = sum(traffic.get(b, 0) for b in range(0, k))
        review_share = below / total if total else 0.0
        cost = None
        if review_cost is not None and error_cost is not None and labelled:
            cost = review_cost * review_share + error_cost * (errors / labelled) * (
                1 - review_share
            )
        result.append(Candidate(k / 100, labelled, errors, low, high, review_share, cost))
    return result


@dataclass(frozen=True)
class Recommendation:
    threshold: float | None
    reason: str
    cheapest: float | None = None
    cheapest_reason: str = ""


def recommend(
    options: list[Candidate],
    *,
    target_error: float = 0.01,
    min_labelled: int = 30,
) -> Recommendation:
    """The lowest threshold whose upper 95% bound on the auto-error rate stays under the
    target, among thresholds with at least ``min_labelled`` judged cases at or above them;
    and, when costs are known, the threshold with the lowest expected cost per case.
    When the data cannot support a threshold, say so instead of guessing."""
    supported = [c for c in options if c.labelled >= min_labelled]
    if not supported:
        most = max((c.labelled for c in options), default=0)
        return Recommendation(
            None,
            f"Not enough reviewed cases: at least {min_labelled} judged cases at or above a "
            f"threshold are needed; the most any candidate has is {most}.",
        )
    safe = [c for c in supported if c.error_upper <= target_error]
    if safe:
        best = min(safe, key=lambda c: c.threshold)
        reason = (
            f"At {best.threshold:.2f}, humans rejected or changed {best.errors} of "
            f"{best.labelled} judged cases: the error rate is at most "
            f"{best.error_upper:.2%} (95% upper bound), under the {target_error:.2%} target; "
            f"{best.review_share:.1%} of cases would still be reviewed."
        )
    else:
        lowest = min(c.error_upper for c in supported)
        reason = (
            f"No threshold with enough data keeps the error under {target_error:.2%} "
            f"(the best upper bound is {lowest:.2%}): keep reviewing, or raise the target."
        )
        best = None
    priced = [c for c in supported if c.expected_cost is not None]
    if not priced:
        return Recommendation(best.threshold if best else None, reason)
    cheapest = min(priced, key=lambda c: (c.expected_cost, c.threshold))
    assert cheapest.expected_cost is not None and cheapest.error_rate is not None
    return Recommendation(
        best.threshold if best else None,
        reason,
        cheapest.threshold,
        f"At {cheapest.threshold:.2f} the expected cost is {cheapest.expected_cost:.4g} per "
        f"case ({cheapest.review_share:.1%} reviewed, estimated error "
        f"{cheapest.error_rate:.2%} of auto-approved).",
    )


def nearest(options: list[Candidate], threshold: float) -> Candidate | None:
    """The candidate for a policy's current threshold (to compare against)."""
    if not options:
        return None
    return min(options, key=lambda c: abs(c.threshold - threshold))
