"""Hand-checked tests for the threshold-calibration maths in ``feedback.calibration``.

Every expected number is worked out by hand in a comment next to it. The Wilson score
interval is used in its closed form

    (k + z²/2 ± z·√(k(n-k)/n + z²/4)) / (n + z²)

with z = 1.959963984540054, so z² = 3.8414588206941250 and z²/2 = 1.9207294103470625.
For k = 0 this reduces to (0, z²/(n + z²)); for k = n to (n/(n + z²), 1).

No database is touched: these are pure functions.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedback.calibration import (
    BINS,
    Z_95,
    BinCounts,
    Bucket,
    Candidate,
    Recommendation,
    bin_of,
    candidates,
    nearest,
    recommend,
    reliability,
    wilson,
)

Z2 = 3.841458820694125  # z² = 1.959963984540054² = 3.84145882069412503...
TIGHT = 1e-12  # absolute tolerance for hand-computed floats


def by_threshold(options: list[Candidate]) -> dict[int, Candidate]:
    """Index candidates by threshold in hundredths (0.86 -> 86)."""
    return {round(c.threshold * 100): c for c in options}


# --------------------------------------------------------------------------------------
# wilson
# --------------------------------------------------------------------------------------


class TestWilson:
    def test_z_constant(self) -> None:
        assert Z_95 == 1.959963984540054
        assert Z_95 * Z_95 == pytest.approx(Z2, abs=1e-15)

    def test_no_data_is_the_whole_unit_interval(self) -> None:
        assert wilson(0, 0) == (0.0, 1.0)

    def test_zero_of_ten(self) -> None:
        low, high = wilson(0, 10)
        # k = 0: lower = 0; upper = z²/(n + z²) = 3.8414588206941250 / 13.8414588206941250
        #                                      = 0.27753279986288920
        assert low == pytest.approx(0.0, abs=TIGHT)
        assert high == pytest.approx(0.2775327998628892, abs=TIGHT)

    def test_one_of_ten(self) -> None:
        low, high = wilson(1, 10)
        # centre numerator = 1 + z²/2 = 2.9207294103470625
        # half numerator   = z·√(1·9/10 + z²/4) = 1.959963984540054·√(0.9 + 0.96036470517353)
        #                  = 1.959963984540054·1.36395919787... = 2.6732965429216578
        # denominator      = 10 + z² = 13.841458820694125
        # lower = (2.9207294103470625 - 2.6732965429216578)/13.841458820694125 = 0.0178762130950729
        # upper = (2.9207294103470625 + 2.6732965429216578)/13.841458820694125 = 0.4041500267952385
        assert low == pytest.approx(0.0178762130950729, abs=TIGHT)
        assert high == pytest.approx(0.4041500267952385, abs=TIGHT)

    def test_five_of_ten(self) -> None:
        low, high = wilson(5, 10)
        # centre numerator = 5 + z²/2 = 6.9207294103470625
        # half numerator   = z·√(5·5/10 + z²/4) = 1.959963984540054·√(2.5 + 0.96036470517353)
        #                  = 1.959963984540054·1.86020555... = 3.6459358907566500
        # lower = (6.9207294103470625 - 3.6459358907566500)/13.841458820694125 = 0.2365930905125640
        # upper = (6.9207294103470625 + 3.6459358907566500)/13.841458820694125 = 0.7634069094874360
        assert low == pytest.approx(0.2365930905125640, abs=TIGHT)
        assert high == pytest.approx(0.7634069094874360, abs=TIGHT)
        # p = 1/2: the interval is symmetric about 1/2
        assert low + high == pytest.approx(1.0, abs=TIGHT)

    def test_ten_of_ten(self) -> None:
        low, high = wilson(10, 10)
        # k = n: lower = n/(n + z²) = 10/13.841458820694125 = 0.7224672001371108; upper = 1
        assert low == pytest.approx(0.7224672001371108, abs=TIGHT)
        assert high == pytest.approx(1.0, abs=TIGHT)

    def test_zero_errors_at_300_and_400(self) -> None:
        # upper = z²/(n + z²): 3.841458820694125/303.841458820694125 = 0.0126429712245460
        #                      3.841458820694125/403.841458820694125 = 0.0095122943342965
        assert wilson(0, 300)[1] == pytest.approx(0.0126429712245460, abs=TIGHT)
        assert wilson(0, 400)[1] == pytest.approx(0.0095122943342965, abs=TIGHT)
        assert wilson(0, 300)[1] > 0.01 > wilson(0, 400)[1]

    def test_custom_z(self) -> None:
        # z = 1, k = 0, n = 3: upper = 1/(3 + 1) = 0.25
        assert wilson(0, 3, z=1.0)[1] == pytest.approx(0.25, abs=TIGHT)
        # z = 1, k = 2, n = 4: (2 + 0.5 ± √(2·2/4 + 0.25))/(4 + 1) = (2.5 ± √1.25)/5
        #                      = (2.5 ± 1.118033988749895)/5 = 0.276393202250021, 0.723606797749979
        low, high = wilson(2, 4, z=1.0)
        assert low == pytest.approx(0.276393202250021, abs=TIGHT)
        assert high == pytest.approx(0.723606797749979, abs=TIGHT)

    @settings(deadline=None, max_examples=100)
    @given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
    def test_symmetry(self, kn: tuple[int, int]) -> None:
        k, n = kn
        # errors k of n vs successes k of n: lower(k, n) = 1 - upper(n - k, n)
        assert wilson(k, n)[0] == pytest.approx(1 - wilson(n - k, n)[1], abs=1e-12)
        assert wilson(k, n)[1] == pytest.approx(1 - wilson(n - k, n)[0], abs=1e-12)

    @settings(deadline=None, max_examples=100)
    @given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
    def test_contains_the_point_estimate_and_stays_in_unit_interval(
        self, kn: tuple[int, int]
    ) -> None:
        k, n = kn
        low, high = wilson(k, n)
        assert 0.0 <= low <= high <= 1.0
        # exact at the ends too (see the test below)
        assert low <= k / n + 1e-15
        assert k / n <= high + 1e-15
        if 0 < k < n:
            assert low < k / n < high

    @pytest.mark.parametrize(("k", "n"), [(0, 3), (0, 300), (0, 400), (10, 10), (13, 13)])
    def test_contains_the_point_estimate_exactly_at_the_ends(self, k: int, n: int) -> None:
        low, high = wilson(k, n)
        assert low <= k / n <= high

    @pytest.mark.parametrize(("k", "n"), [(0, 10), (1, 10), (5, 10), (10, 10), (3, 7)])
    def test_narrows_as_n_grows_for_the_same_proportion(self, k: int, n: int) -> None:
        widths = []
        for factor in (1, 2, 4, 10, 100):
            low, high = wilson(k * factor, n * factor)
            widths.append(high - low)
        assert widths == sorted(widths, reverse=True)
        assert len(set(widths)) == len(widths)  # strictly narrower each time

    @settings(deadline=None, max_examples=100)
    @given(
        st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
        st.integers(2, 20),
    )
    def test_narrows_property(self, kn: tuple[int, int], factor: int) -> None:
        k, n = kn
        small = wilson(k, n)
        large = wilson(k * factor, n * factor)
        assert large[1] - large[0] < small[1] - small[0]


# --------------------------------------------------------------------------------------
# bin_of
# --------------------------------------------------------------------------------------


class TestBinOf:
    @pytest.mark.parametrize(
        ("confidence", "expected"),
        [
            (0.0, 0),
            (0.005, 0),  # 0.5 -> floor 0
            (0.01, 1),  # 1.0 -> 1
            (0.07, 7),  # 0.07*100 = 7.000000000000001 -> 7
            (0.29, 29),  # 0.29*100 = 28.999999999999996 must still be 29
            (0.57, 57),  # 0.57*100 = 56.99999999999999 must still be 57
            (0.5, 50),
            (0.999, 99),  # 99.9 -> 99
            (1.0, 100),  # exactly 1.0 has its own bin
            (-0.3, 0),  # clamped
            (1.7, 100),  # clamped
        ],
    )
    def test_examples(self, confidence: float, expected: int) -> None:
        assert bin_of(confidence) == expected

    def test_float_edges_really_are_edges(self) -> None:
        # the inputs above are the tricky ones they claim to be
        assert 0.07 * 100 == 7.000000000000001
        assert 0.29 * 100 == 28.999999999999996

    def test_every_hundredth_maps_to_its_bin(self) -> None:
        for k in range(101):
            assert bin_of(k / 100) == k, k

    def test_just_below_the_next_hundredth_stays_in_the_bin(self) -> None:
        for k in range(100):
            assert bin_of(k / 100 + 0.0099) == k, k
            assert bin_of(k / 100 + 0.005) == k, k

    @settings(deadline=None, max_examples=100)
    @given(st.floats(0.0, 1.0))
    def test_in_range(self, confidence: float) -> None:
        b = bin_of(confidence)
        assert 0 <= b < BINS
        assert b / 100 <= confidence + 1e-9


# --------------------------------------------------------------------------------------
# reliability
# --------------------------------------------------------------------------------------


HAND_HISTOGRAM = {
    5: BinCounts(labelled=4, accepted=1),
    9: BinCounts(labelled=1, accepted=1),
    10: BinCounts(labelled=2, accepted=2),
    15: BinCounts(labelled=10, accepted=7),
    95: BinCounts(labelled=20, accepted=18),
    100: BinCounts(labelled=6, accepted=6),  # confidence exactly 1.0
}


class TestReliability:
    def test_ten_buckets(self) -> None:
        buckets = reliability(HAND_HISTOGRAM)
        assert len(buckets) == 10
        assert [b.lower for b in buckets] == pytest.approx([k / 10 for k in range(10)])
        assert [b.upper for b in buckets] == pytest.approx([(k + 1) / 10 for k in range(10)])
        assert buckets[-1].upper == 1.0

    def test_counts(self) -> None:
        buckets = reliability(HAND_HISTOGRAM)
        # [0.0, 0.1): bins 5 and 9 -> labelled 4 + 1 = 5, accepted 1 + 1 = 2, share 2/5 = 0.4
        assert (buckets[0].labelled, buckets[0].accepted) == (5, 2)
        assert buckets[0].accepted_share == pytest.approx(0.4, abs=TIGHT)
        # [0.1, 0.2): bins 10 and 15 -> labelled 2 + 10 = 12, accepted 2 + 7 = 9, share 0.75
        assert (buckets[1].labelled, buckets[1].accepted) == (12, 9)
        assert buckets[1].accepted_share == pytest.approx(0.75, abs=TIGHT)
        # [0.9, 1.0]: bins 95 and 100 (1.0 included) -> labelled 20 + 6 = 26,
        # accepted 18 + 6 = 24, share 24/26 = 0.923076923076923
        assert (buckets[9].labelled, buckets[9].accepted) == (26, 24)
        assert buckets[9].accepted_share == pytest.approx(0.923076923076923, abs=TIGHT)

    def test_empty_buckets(self) -> None:
        buckets = reliability(HAND_HISTOGRAM)
        for b in buckets[2:9]:
            assert (b.labelled, b.accepted) == (0, 0)
            assert b.accepted_share is None

    def test_everything_is_counted_once(self) -> None:
        buckets = reliability(HAND_HISTOGRAM)
        # 4 + 1 + 2 + 10 + 20 + 6 = 43 labelled; 1 + 1 + 2 + 7 + 18 + 6 = 35 accepted
        assert sum(b.labelled for b in buckets) == 43
        assert sum(b.accepted for b in buckets) == 35

    def test_midpoints(self) -> None:
        buckets = reliability(HAND_HISTOGRAM)
        # (k/10 + (k+1)/10)/2 = 0.05, 0.15, ..., 0.95
        assert [b.midpoint for b in buckets] == pytest.approx(
            [0.05 + k / 10 for k in range(10)], abs=TIGHT
        )
        assert buckets[-1].midpoint == pytest.approx(0.95, abs=TIGHT)

    def test_only_confidence_one(self) -> None:
        buckets = reliability({100: BinCounts(3, 2)})
        assert [b.labelled for b in buckets] == [0] * 9 + [3]
        assert buckets[-1].accepted_share == pytest.approx(2 / 3, abs=TIGHT)

    def test_empty_histogram(self) -> None:
        buckets = reliability({})
        assert len(buckets) == 10
        assert all(b.labelled == 0 and b.accepted_share is None for b in buckets)

    def test_width_25(self) -> None:
        buckets = reliability(HAND_HISTOGRAM, width=25)
        # [0, .25): bins 5, 9, 10, 15 -> 17 labelled, 11 accepted
        # [.25, .5), [.5, .75): empty
        # [.75, 1.0]: bins 95, 100 -> 26 labelled, 24 accepted
        assert [(b.lower, b.upper) for b in buckets] == [
            (0.0, 0.25),
            (0.25, 0.5),
            (0.5, 0.75),
            (0.75, 1.0),
        ]
        assert [(b.labelled, b.accepted) for b in buckets] == [(17, 11), (0, 0), (0, 0), (26, 24)]
        assert [b.midpoint for b in buckets] == pytest.approx([0.125, 0.375, 0.625, 0.875])

    def test_width_not_dividing_100(self) -> None:
        buckets = reliability(HAND_HISTOGRAM, width=30)
        # starts 0, 30, 60, 90; the last bucket is [0.9, 1.0] (capped) and includes bin 100
        assert [(b.lower, b.upper) for b in buckets] == [
            (0.0, 0.3),
            (0.3, 0.6),
            (0.6, 0.9),
            (0.9, 1.0),
        ]
        assert [(b.labelled, b.accepted) for b in buckets] == [(17, 11), (0, 0), (0, 0), (26, 24)]

    def test_bucket_dataclass(self) -> None:
        b = Bucket(lower=0.2, upper=0.3, labelled=8, accepted=6)
        assert b.accepted_share == 0.75
        assert b.midpoint == pytest.approx(0.25, abs=TIGHT)
        assert Bucket(0.2, 0.3, 0, 0).accepted_share is None


# --------------------------------------------------------------------------------------
# candidates
# --------------------------------------------------------------------------------------


TABLE_HISTOGRAM = {
    95: BinCounts(labelled=10, accepted=9),
    80: BinCounts(labelled=20, accepted=15),
    60: BinCounts(labelled=10, accepted=5),
}
TABLE_TRAFFIC = {95: 100, 80: 200, 60: 100, 30: 100}  # total 500


def table(
    review_cost: float | None = None, error_cost: float | None = None
) -> dict[int, Candidate]:
    """TABLE_HISTOGRAM / TABLE_TRAFFIC at every threshold 0.00 .. 1.00, by hundredths."""
    return by_threshold(
        candidates(
            TABLE_HISTOGRAM,
            TABLE_TRAFFIC,
            thresholds=range(0, 101),
            review_cost=review_cost,
            error_cost=error_cost,
        )
    )


class TestCandidates:
    def test_default_thresholds(self) -> None:
        options = candidates(TABLE_HISTOGRAM, TABLE_TRAFFIC)
        assert [c.threshold for c in options] == pytest.approx([k / 100 for k in range(50, 100)])

    def test_threshold_060(self) -> None:
        c = table(review_cost=1, error_cost=50)[60]
        assert c.threshold == 0.6
        # bins >= 60: 10 + 20 + 10 = 40 labelled; accepted 9 + 15 + 5 = 29; errors 11
        assert (c.labelled, c.errors) == (40, 11)
        assert c.error_rate == pytest.approx(0.275, abs=TIGHT)  # 11/40
        # Wilson 11/40: (11 + 1.9207294103470625 ± z·√(11·29/40 + 0.96036470517353))
        #               / 43.841458820694125
        #   = (12.9207294103470625 ± 5.8587401002952693)/43.841458820694125
        #   = 0.1610801624766733, 0.4283495580621056
        assert c.error_lower == pytest.approx(0.1610801624766733, abs=TIGHT)
        assert c.error_upper == pytest.approx(0.4283495580621056, abs=TIGHT)
        # traffic below 0.60: bin 30 only -> 100/500 = 0.2
        assert c.review_share == pytest.approx(0.2, abs=TIGHT)
        assert c.auto_share == pytest.approx(0.8, abs=TIGHT)
        # cost = 1·0.2 + 50·0.275·0.8 = 0.2 + 11 = 11.2
        assert c.expected_cost == pytest.approx(11.2, abs=TIGHT)

    def test_threshold_080(self) -> None:
        c = table(review_cost=1, error_cost=50)[80]
        # bins >= 80: 20 + 10 = 30 labelled; accepted 15 + 9 = 24; errors 6; rate 6/30 = 0.2
        assert (c.labelled, c.errors) == (30, 6)
        assert c.error_rate == pytest.approx(0.2, abs=TIGHT)
        # Wilson 6/30: (6 + 1.9207294103470625 ± z·√(6·24/30 + 0.96036470517353))
        #              / 33.841458820694125
        #   = (7.9207294103470625 ± 4.7040624790816687)/33.841458820694125
        #   = 0.0950510717728987, 0.3730569641314825
        assert c.error_lower == pytest.approx(0.0950510717728987, abs=TIGHT)
        assert c.error_upper == pytest.approx(0.3730569641314825, abs=TIGHT)
        # traffic below 0.80: bins 30, 60 -> 200/500 = 0.4
        assert c.review_share == pytest.approx(0.4, abs=TIGHT)
        # cost = 1·0.4 + 50·0.2·0.6 = 0.4 + 6 = 6.4
        assert c.expected_cost == pytest.approx(6.4, abs=TIGHT)

    def test_threshold_095(self) -> None:
        c = table(review_cost=1, error_cost=50)[95]
        # bin 95 only: 10 labelled, 9 accepted, 1 error; rate 0.1
        assert (c.labelled, c.errors) == (10, 1)
        assert c.error_rate == pytest.approx(0.1, abs=TIGHT)
        # Wilson 1/10 (see TestWilson.test_one_of_ten): 0.0178762130950729, 0.4041500267952385
        assert c.error_lower == pytest.approx(0.0178762130950729, abs=TIGHT)
        assert c.error_upper == pytest.approx(0.4041500267952385, abs=TIGHT)
        # traffic below 0.95: bins 30, 60, 80 -> 400/500 = 0.8
        assert c.review_share == pytest.approx(0.8, abs=TIGHT)
        # cost = 1·0.8 + 50·0.1·0.2 = 0.8 + 1 = 1.8
        assert c.expected_cost == pytest.approx(1.8, abs=TIGHT)

    def test_threshold_096_has_no_labelled_data(self) -> None:
        c = table(review_cost=1, error_cost=50)[96]
        assert (c.labelled, c.errors) == (0, 0)
        assert c.error_rate is None
        assert (c.error_lower, c.error_upper) == (0.0, 1.0)  # wilson(0, 0)
        # all 500 arrivals are below 0.96
        assert c.review_share == pytest.approx(1.0, abs=TIGHT)
        assert c.auto_share == pytest.approx(0.0, abs=TIGHT)
        assert c.expected_cost is None

    def test_in_between_thresholds_cover_the_same_bins(self) -> None:
        t = table(review_cost=1, error_cost=50)
        # 0.61 .. 0.80 all cover bins 80 and 95 (labelled 30, errors 6);
        # traffic below: bins 30 and 60 -> 0.4
        for k in range(61, 81):
            assert (t[k].labelled, t[k].errors) == (30, 6), k
            assert t[k].review_share == pytest.approx(0.4, abs=TIGHT), k
            assert t[k].expected_cost == pytest.approx(6.4, abs=TIGHT), k
        # 0.31 .. 0.60 cover everything labelled; below is bin 30 -> 0.2
        for k in range(31, 61):
            assert (t[k].labelled, t[k].errors) == (40, 11), k
            assert t[k].review_share == pytest.approx(0.2, abs=TIGHT), k
        # 0.00 .. 0.30: nothing below
        for k in range(0, 31):
            assert t[k].review_share == 0.0, k
        # 1.00: bin 100 has no labels; everything is reviewed
        assert t[100].labelled == 0
        assert t[100].review_share == pytest.approx(1.0, abs=TIGHT)

    def test_no_costs_no_expected_cost(self) -> None:
        for t in (table(), table(review_cost=1.0), table(error_cost=50.0)):
            assert all(c.expected_cost is None for c in t.values())

    def test_zero_costs_are_costs(self) -> None:
        # 0 is a given cost, not a missing one: cost = 0·0.8 + 0·0.1·0.2 = 0
        assert table(review_cost=0, error_cost=0)[95].expected_cost == 0.0

    def test_empty_traffic(self) -> None:
        options = candidates(TABLE_HISTOGRAM, {})
        assert all(c.review_share == 0.0 for c in options)

    def test_empty_histogram(self) -> None:
        options = candidates({}, TABLE_TRAFFIC, review_cost=1, error_cost=50)
        for c in options:
            assert c.labelled == 0 and c.error_rate is None and c.expected_cost is None
            assert (c.error_lower, c.error_upper) == (0.0, 1.0)

    @settings(deadline=None, max_examples=100)
    @given(
        st.dictionaries(
            st.integers(0, 100),
            st.integers(0, 200).flatmap(
                lambda n: st.builds(BinCounts, st.just(n), st.integers(0, n))
            ),
            max_size=20,
        ),
        st.dictionaries(st.integers(0, 100), st.integers(0, 1000), max_size=20),
    )
    def test_monotone_in_threshold(
        self, histogram: dict[int, BinCounts], traffic: dict[int, int]
    ) -> None:
        options = candidates(histogram, traffic, thresholds=range(0, 101))
        for lo, hi in zip(options, options[1:], strict=False):
            assert hi.labelled <= lo.labelled
            assert hi.errors <= lo.errors
            assert hi.review_share >= lo.review_share
        for c in options:
            assert 0.0 <= c.review_share <= 1.0
            assert 0 <= c.errors <= c.labelled


# --------------------------------------------------------------------------------------
# recommend
# --------------------------------------------------------------------------------------


# Bins 95: 300/300, 90: 100/100, 85: 100/50 (labelled/accepted).
#   t <= 0.85:        500 labelled, 50 errors: upper = (50 + 1.92073 + z·√(50·450/500 + 0.96036))
#                     / 503.84146 = (51.92073 + 13.28739)/503.84146 = 0.1294219096319401
#   0.86 <= t <= 0.90: 400 labelled, 0 errors: upper = z²/(400 + z²) = 0.0095122943342965
#   0.91 <= t <= 0.95: 300 labelled, 0 errors: upper = z²/(300 + z²) = 0.0126429712245460
#   t >= 0.96:         0 labelled
SAFETY_HISTOGRAM = {
    95: BinCounts(300, 300),
    90: BinCounts(100, 100),
    85: BinCounts(100, 50),
}
SAFETY_TRAFFIC = {40: 200, 85: 100, 90: 100, 95: 600}  # total 1000


def safety_options() -> list[Candidate]:
    return candidates(SAFETY_HISTOGRAM, SAFETY_TRAFFIC)


class TestRecommendSafety:
    def test_hand_built_table(self) -> None:
        t = by_threshold(safety_options())
        assert t[85].error_upper == pytest.approx(0.1294219096319401, abs=TIGHT)
        assert t[86].error_upper == pytest.approx(0.0095122943342965, abs=TIGHT)
        assert t[90].error_upper == pytest.approx(0.0095122943342965, abs=TIGHT)
        assert t[91].error_upper == pytest.approx(0.0126429712245460, abs=TIGHT)
        assert t[96].labelled == 0

    def test_lowest_safe_threshold(self) -> None:
        rec = recommend(safety_options(), target_error=0.01, min_labelled=30)
        # 0.86..0.90 have upper 0.95% <= 1%; 0.91..0.95 have 1.26% > 1%; <= 0.85 has 12.9%:
        # the lowest safe threshold is 0.86
        assert rec.threshold == 0.86
        # traffic below 0.86: bins 40 and 85 -> 300/1000 = 30.0%
        assert rec.reason == (
            "At 0.86, humans rejected or changed 0 of 400 judged cases: the error rate is at "
            "most 0.95% (95% upper bound), under the 1.00% target; 30.0% of cases would "
            "still be reviewed."
        )
        assert rec.cheapest is None and rec.cheapest_reason == ""

    def test_looser_target_reaches_lower(self) -> None:
        # 12.94% <= 13%: now everything from 0.50 up is safe -> 0.50
        rec = recommend(safety_options(), target_error=0.13)
        assert rec.threshold == 0.5
        # 12.94% > 12.9%: 0.50..0.85 unsafe -> 0.86 again
        assert recommend(safety_options(), target_error=0.129).threshold == 0.86

    def test_not_enough_reviewed_cases(self) -> None:
        # only 29 judged cases anywhere
        options = candidates({99: BinCounts(29, 29)}, {99: 29})
        rec = recommend(options, target_error=0.5, min_labelled=30)
        assert rec.threshold is None
        assert rec.reason.startswith("Not enough reviewed cases")
        assert rec.reason == (
            "Not enough reviewed cases: at least 30 judged cases at or above a threshold are "
            "needed; the most any candidate has is 29."
        )
        assert rec.cheapest is None

    def test_no_options_at_all(self) -> None:
        rec = recommend([])
        assert rec == Recommendation(
            None,
            "Not enough reviewed cases: at least 30 judged cases at or above a threshold are "
            "needed; the most any candidate has is 0.",
        )

    def test_never_trusts_a_small_sample_with_zero_errors(self) -> None:
        # bin 99: 29/29 (point error 0, Wilson upper z²/(29 + z²) = 3.84146/32.84146
        #         = 0.1169697984997407 <= 0.2); bin 50: 100/50.
        # Without the minimum, 0.51..0.99 (29 labelled, 0 errors) would be "safe" at 20%.
        # With min_labelled=30 only 0.50 is supported: 129 labelled, 50 errors, upper
        # (50 + 1.92073 + z·√(50·79/129 + 0.96036))/132.84146 = 0.4737606085143862 > 0.2.
        options = candidates({99: BinCounts(29, 29), 50: BinCounts(100, 50)}, {50: 100, 99: 29})
        t = by_threshold(options)
        assert t[51].error_rate == 0.0
        assert t[51].error_upper == pytest.approx(0.1169697984997407, abs=TIGHT)
        assert t[50].error_upper == pytest.approx(0.4737606085143862, abs=TIGHT)
        rec = recommend(options, target_error=0.2, min_labelled=30)
        assert rec.threshold is None
        assert rec.reason.startswith("No threshold with enough data")
        # lowering the minimum to 29 lets the small sample in: lowest safe is then 0.51
        assert recommend(options, target_error=0.2, min_labelled=29).threshold == 0.51

    def test_no_safe_threshold(self) -> None:
        # 0.9% target: 0.95% (400 cases) and 1.26% (300 cases) both exceed it
        rec = recommend(safety_options(), target_error=0.009)
        assert rec.threshold is None
        assert rec.reason == (
            "No threshold with enough data keeps the error under 0.90% (the best upper "
            "bound is 0.95%): keep reviewing, or raise the target."
        )

    def test_no_safe_threshold_because_of_the_minimum(self) -> None:
        # min 401: only t <= 0.85 (500 cases, upper 12.94%) is supported
        rec = recommend(safety_options(), target_error=0.01, min_labelled=401)
        assert rec.threshold is None
        assert rec.reason == (
            "No threshold with enough data keeps the error under 1.00% (the best upper "
            "bound is 12.94%): keep reviewing, or raise the target."
        )

    def test_bound_equal_to_target_is_safe(self) -> None:
        bound = by_threshold(safety_options())[86].error_upper
        assert recommend(safety_options(), target_error=bound).threshold == 0.86

    def test_input_order_does_not_matter(self) -> None:
        options = safety_options()
        assert recommend(list(reversed(options))).threshold == recommend(options).threshold


# Cost table (review_cost=1, error_cost=50), thresholds 0.60, 0.80, 0.95, 0.96 from
# TABLE_HISTOGRAM / TABLE_TRAFFIC:
#   0.60: 40 labelled, rate 0.275, review 0.2: 1·0.2 + 50·0.275·0.8 = 0.2 + 11 = 11.2
#   0.80: 30 labelled, rate 0.2,   review 0.4: 1·0.4 + 50·0.2·0.6   = 0.4 + 6  = 6.4
#   0.95: 10 labelled, rate 0.1,   review 0.8: 1·0.8 + 50·0.1·0.2   = 0.8 + 1  = 1.8
#   0.96:  0 labelled -> no cost
def cost_options() -> list[Candidate]:
    t = table(review_cost=1, error_cost=50)
    return [t[60], t[80], t[95], t[96]]


class TestRecommendCost:
    def test_cheapest_among_all_supported(self) -> None:
        rec = recommend(cost_options(), target_error=0.01, min_labelled=10)
        # nothing is safe at 1% (best upper bound: 0.80 -> 37.31%)
        assert rec.threshold is None
        assert rec.reason == (
            "No threshold with enough data keeps the error under 1.00% (the best upper "
            "bound is 37.31%): keep reviewing, or raise the target."
        )
        # costs 11.2, 6.4, 1.8 -> 0.95
        assert rec.cheapest == 0.95
        assert rec.cheapest_reason == (
            "At 0.95 the expected cost is 1.8 per case (80.0% reviewed, estimated error "
            "10.00% of auto-approved)."
        )

    def test_cheapest_ignores_thinly_supported_thresholds(self) -> None:
        # min 30: 0.95 (10 labelled) is out; 11.2 vs 6.4 -> 0.80
        rec = recommend(cost_options(), target_error=0.01, min_labelled=30)
        assert rec.cheapest == 0.8
        assert rec.cheapest_reason == (
            "At 0.80 the expected cost is 6.4 per case (40.0% reviewed, estimated error "
            "20.00% of auto-approved)."
        )

    def test_safe_and_cheapest_together(self) -> None:
        # target 40%, min 10: upper bounds 0.60 -> 42.83%, 0.80 -> 37.31%, 0.95 -> 40.42%;
        # only 0.80 is safe -> threshold 0.80; cheapest is still 0.95 (1.8)
        rec = recommend(cost_options(), target_error=0.4, min_labelled=10)
        assert rec.threshold == 0.8
        assert rec.cheapest == 0.95

    def test_tie_goes_to_the_lower_threshold(self) -> None:
        # Histogram: bin 50: 32 labelled / 30 accepted; bin 90: 32 / 32.
        # Traffic: bin 10: 1, bin 50: 1, bin 90: 2 (total 4). Costs: review 3, error 32.
        #   0.50: 64 labelled, 2 errors (1/32), review 1/4:
        #         3·0.25 + 32·(1/32)·0.75 = 0.75 + 0.75 = 1.5
        #   0.90: 32 labelled, 0 errors, review 2/4:
        #         3·0.5 + 32·0·0.5 = 1.5 + 0 = 1.5
        # (all dyadic, so the tie is exact in floating point)
        options = candidates(
            {50: BinCounts(32, 30), 90: BinCounts(32, 32)},
            {10: 1, 50: 1, 90: 2},
            thresholds=range(50, 91, 40),
            review_cost=3,
            error_cost=32,
        )
        assert [c.threshold for c in options] == [0.5, 0.9]
        assert [c.expected_cost for c in options] == [1.5, 1.5]
        assert recommend(options, min_labelled=30).cheapest == 0.5
        # whatever the order of the list
        assert recommend(list(reversed(options)), min_labelled=30).cheapest == 0.5

    def test_tie_over_the_full_range(self) -> None:
        # Same data, every threshold 0.50..0.99:
        #   0.50:        1.5 (as above)
        #   0.51..0.90:  review share 2/4 (bins 10, 50), 32 labelled, 0 errors -> 1.5
        #   0.91..0.99:  no labelled data -> no cost, and below the minimum anyway
        options = candidates(
            {50: BinCounts(32, 30), 90: BinCounts(32, 32)},
            {10: 1, 50: 1, 90: 2},
            review_cost=3,
            error_cost=32,
        )
        t = by_threshold(options)
        assert all(t[k].expected_cost == 1.5 for k in range(50, 91))
        assert all(t[k].expected_cost is None for k in range(91, 100))
        rec = recommend(list(reversed(options)), min_labelled=30)
        assert rec.cheapest == 0.5

    def test_strictly_cheaper_higher_threshold_wins(self) -> None:
        # as the tie, but error_cost 33: 0.50 -> 0.75 + 33/32·0.75 = 1.5234375; 0.90 -> 1.5
        options = candidates(
            {50: BinCounts(32, 30), 90: BinCounts(32, 32)},
            {10: 1, 50: 1, 90: 2},
            thresholds=range(50, 91, 40),
            review_cost=3,
            error_cost=33,
        )
        assert [c.expected_cost for c in options] == pytest.approx([1.5234375, 1.5], abs=TIGHT)
        assert recommend(options, min_labelled=30).cheapest == 0.9


# --------------------------------------------------------------------------------------
# recommend: properties
# --------------------------------------------------------------------------------------


histograms = st.dictionaries(
    st.integers(0, 100),
    st.integers(0, 600).flatmap(
        lambda n: st.builds(
            BinCounts,
            st.just(n),
            st.one_of(st.just(n), st.integers(max(0, n - 3), n), st.integers(0, n)),
        )
    ),
    max_size=15,
)
traffics = st.dictionaries(st.integers(0, 100), st.integers(0, 1000), max_size=15)


@settings(deadline=None, max_examples=100)
@given(
    histograms,
    traffics,
    st.floats(0.0, 0.5),
    st.integers(1, 400),
    st.sampled_from([None, (1.0, 50.0), (0.5, 10.0)]),
)
def test_recommendation_is_supported_and_safe(
    histogram: dict[int, BinCounts],
    traffic: dict[int, int],
    target: float,
    min_labelled: int,
    costs: tuple[float, float] | None,
) -> None:
    review_cost, error_cost = costs if costs is not None else (None, None)
    options = candidates(histogram, traffic, review_cost=review_cost, error_cost=error_cost)
    rec = recommend(options, target_error=target, min_labelled=min_labelled)
    t = by_threshold(options)
    # brute-force oracle: the lowest threshold with enough data and a safe upper bound
    oracle = [c for c in options if c.labelled >= min_labelled and c.error_upper <= target]
    if rec.threshold is None:
        assert oracle == []
    else:
        chosen = t[round(rec.threshold * 100)]
        assert chosen.labelled >= min_labelled
        assert chosen.error_upper <= target
        assert rec.threshold == min(c.threshold for c in oracle)
    if rec.cheapest is not None:
        cheapest = t[round(rec.cheapest * 100)]
        assert cheapest.labelled >= min_labelled
        assert cheapest.expected_cost is not None
        priced = [
            c.expected_cost
            for c in options
            if c.labelled >= min_labelled and c.expected_cost is not None
        ]
        assert cheapest.expected_cost == min(priced)
    if costs is None:
        assert rec.cheapest is None


@settings(deadline=None, max_examples=100)
@given(histograms, traffics, st.floats(0.0, 0.3), st.floats(0.0, 0.3), st.integers(1, 400))
def test_looser_target_never_raises_the_threshold(
    histogram: dict[int, BinCounts],
    traffic: dict[int, int],
    a: float,
    b: float,
    min_labelled: int,
) -> None:
    strict_target, loose_target = sorted((a, b))
    options = candidates(histogram, traffic)
    strict = recommend(options, target_error=strict_target, min_labelled=min_labelled)
    loose = recommend(options, target_error=loose_target, min_labelled=min_labelled)
    if strict.threshold is not None:
        assert loose.threshold is not None
        assert loose.threshold <= strict.threshold


def test_looser_target_never_raises_the_threshold_on_the_hand_table() -> None:
    # targets 0.9%, 1%, 1.3%, 13%: None (nothing <= 0.9%), 0.86, 0.86, 0.50
    got = [
        recommend(safety_options(), target_error=target).threshold
        for target in (0.009, 0.01, 0.013, 0.13)
    ]
    assert got == [None, 0.86, 0.86, 0.5]


# --------------------------------------------------------------------------------------
# nearest
# --------------------------------------------------------------------------------------


class TestNearest:
    def test_empty(self) -> None:
        assert nearest([], 0.9) is None

    def test_picks_the_closest(self) -> None:
        options = safety_options()  # 0.50 .. 0.99
        for threshold, expected in [
            (0.86, 0.86),
            (0.873, 0.87),  # |0.87 - 0.873| = 0.003 < |0.88 - 0.873| = 0.007
            (0.877, 0.88),  # 0.003 to 0.88 vs 0.007 to 0.87
            (0.2, 0.5),  # below the range -> the lowest
            (1.0, 0.99),  # above the range -> the highest
        ]:
            c = nearest(options, threshold)
            assert c is not None
            assert c.threshold == expected, threshold

    def test_sparse_options(self) -> None:
        options = cost_options()  # 0.60, 0.80, 0.95, 0.96
        # 0.7 is 0.1 from both 0.60 and 0.80 in exact maths; 0.72 is clearly nearer 0.80
        c = nearest(options, 0.72)
        assert c is not None and c.threshold == 0.8
        c = nearest(options, 0.66)
        assert c is not None and c.threshold == 0.6
        c = nearest(options, 0.953)
        assert c is not None and c.threshold == 0.95
        # returns the candidate itself
        assert nearest(options, 0.96) is options[3]

    def test_single_option(self) -> None:
        only = cost_options()[:1]
        assert nearest(only, 0.99) is only[0]


def test_dataclass_defaults() -> None:
    assert BinCounts() == BinCounts(0, 0)
    rec = Recommendation(None, "x")
    assert rec.cheapest is None and rec.cheapest_reason == ""
    c = Candidate(0.9, 0, 0, 0.0, 1.0, 0.25, None)
    assert c.error_rate is None
    assert c.auto_share == 0.75
