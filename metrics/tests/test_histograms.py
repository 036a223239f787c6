"""Log2 histograms of seconds: bucket edges, building, merging, interpolated percentiles."""

from __future__ import annotations

import math

import pytest

from metrics.histograms import bucket_of, histogram, merge, percentile


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [
        (0, 0),  # [0, 1)
        (0.0, 0),
        (0.99, 0),
        (1, 1),  # [1, 2)
        (1.0, 1),
        (1.99, 1),
        (2, 2),  # [2, 4)
        (3.99, 2),
        (4, 3),  # [4, 8)
        (7.5, 3),
        (8, 4),  # [8, 16)
        (1023, 10),  # [512, 1024)
        (1024, 11),  # [1024, 2048)
        (86400, 17),  # a day: 2**16 = 65536 <= 86400 < 131072 = 2**17
    ],
)
def test_bucket_of_edges(seconds, bucket):
    assert bucket_of(seconds) == bucket


@pytest.mark.parametrize("power", [1, 2])
def test_bucket_of_just_below_small_powers_of_two(power):
    # The largest float below 2**power still belongs to bucket ``power``.
    assert bucket_of(math.nextafter(2.0**power, 0)) == power


@pytest.mark.parametrize("power", [3, 10, 53])
def test_bucket_of_just_below_larger_powers_of_two(power):
    assert bucket_of(math.nextafter(2.0**power, 0)) == power


def test_histogram_counts_values_per_bucket():
    # 0.2, 0.7 -> bucket 0; 1.5 -> 1; 3 -> 2; (nothing in 3); 9, 15.9 -> 4
    assert histogram([0.2, 0.7, 1.5, 3, 9, 15.9]) == [2, 1, 1, 0, 2]


def test_histogram_clamps_negative_values_into_bucket_zero():
    assert histogram([-5.0, -0.1, 0.5]) == [3]


def test_histogram_of_nothing_is_empty():
    assert histogram([]) == []


def test_histogram_accepts_a_generator():
    assert histogram(x / 2 for x in range(4)) == [2, 2]  # 0, 0.5 | 1, 1.5


def test_merge_sums_bucketwise_and_pads_the_shorter():
    assert merge([[1, 2], [0, 0, 0, 4], [], [5]]) == [6, 2, 0, 4]


def test_merge_of_nothing_is_empty():
    assert merge([]) == []
    assert merge([[], []]) == []


def test_merge_does_not_modify_its_inputs():
    a, b = [1, 1], [2, 2, 2]
    assert merge([a, b]) == [3, 3, 2]
    assert (a, b) == ([1, 1], [2, 2, 2])


def test_merge_of_histograms_equals_histogram_of_all_values():
    first, second = [0.1, 3, 100], [2.5, 2.6, 5000, 0.9]
    assert merge([histogram(first), histogram(second)]) == histogram(first + second)


def test_percentile_of_nothing_is_none():
    assert percentile([], 0.5) is None
    assert percentile([0, 0, 0], 0.5) is None
    assert percentile([0, 0, 0], 0.9) is None


def test_percentile_interpolates_linearly_inside_the_bucket():
    counts = [0, 2, 3, 4, 2]  # n = 11
    # p50: rank 5.5; buckets 1 and 2 hold 2 + 3 = 5 < 5.5, bucket 3 ([4, 8)) holds 4 more:
    # 4 + (8 - 4) * (5.5 - 5) / 4 = 4.5
    assert percentile(counts, 0.5) == 4.5
    # p90: rank 9.9; 2 + 3 + 4 = 9 before bucket 4 ([8, 16)) with 2: 8 + 8 * 0.9 / 2 = 11.6
    assert percentile(counts, 0.9) == pytest.approx(11.6)


def test_percentile_in_bucket_zero_spans_zero_to_one():
    # n = 4, p50 rank 2 of the 4 values in [0, 1): 0 + 1 * 2 / 4 = 0.5
    assert percentile([4], 0.5) == 0.5
    # p90 rank 3.6: 3.6 / 4 = 0.9
    assert percentile([4], 0.9) == pytest.approx(0.9)


def test_percentile_at_a_bucket_boundary_is_the_top_of_the_bucket():
    # n = 4; p50 rank 2 is exactly the 2 values of bucket 1 ([1, 2)): 1 + 1 * 2 / 2 = 2.0
    assert percentile([0, 2, 2], 0.5) == 2.0


def test_percentile_skips_empty_buckets():
    # n = 2: one value in [1, 2), one in [64, 128); p90 rank 1.8: 64 + 64 * 0.8 / 1 = 115.2
    counts = [0, 1, 0, 0, 0, 0, 0, 1]
    assert percentile(counts, 0.9) == pytest.approx(115.2)
    # p50 rank 1: the first value fills it: 1 + 1 * 1 / 1 = 2.0
    assert percentile(counts, 0.5) == 2.0


def test_percentile_extremes():
    counts = [0, 0, 5, 5]  # [2, 4) x5, [4, 8) x5
    assert percentile(counts, 0.0) == 2.0  # the bottom of the first non-empty bucket
    assert percentile(counts, 1.0) == 8.0  # the top of the last


def test_percentile_of_a_single_value():
    # One value of 10 s: bucket 4 ([8, 16)); p50 rank 0.5: 8 + 8 * 0.5 = 12
    assert percentile(histogram([10]), 0.5) == 12.0
