"""releases/stats.py: U, the Hodges-Lehmann shift and its interval, by hand.

The running example: before = [1, 2, 3, 4, 5], after = [3, 4, 5, 6, 7].
The 25 differences after - before, d = a - b, take each value d in -2..6 as
often as there are pairs, 5 - |d - 2| times:

    d      -2  -1   0   1   2   3   4   5   6
    count   1   2   3   4   5   4   3   2   1
    cumul   1   3   6  10  15  19  22  24  25
"""

from __future__ import annotations

import math
from itertools import combinations
from statistics import NormalDist

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import mannwhitneyu

from autoticket.releases.stats import (
    compare,
    hodges_lehmann,
    pairwise_differences,
    shift_interval,
    u_null_counts,
)

BEFORE = [1.0, 2.0, 3.0, 4.0, 5.0]
AFTER = [3.0, 4.0, 5.0, 6.0, 7.0]
SEPARATE = [6.0, 7.0, 8.0, 9.0, 10.0]


def test_u_counts_the_pairs_where_after_is_larger_and_ties_as_half() -> None:
    """Pooled ranks: 1 2 3 3 4 4 5 5 6 7 -> 1 2 3.5 3.5 5.5 5.5 7.5 7.5 9 10.

    After's rank sum is 3.5 + 5.5 + 7.5 + 9 + 10 = 35.5, so U = 35.5 - 5*6/2 = 20.5;
    by pairs, 19 differences are > 0 and 3 are ties: 19 + 3/2 = 20.5.
    """
    assert compare(BEFORE, AFTER).u == 20.5


def test_hodges_lehmann_is_the_median_of_the_pairwise_differences() -> None:
    """The 13th of the 25 differences: the cumulative counts pass 13 at d = 2."""
    assert hodges_lehmann(BEFORE, AFTER) == 2.0


def test_hodges_lehmann_averages_the_middle_two_of_an_even_count() -> None:
    """[2, 5] - [1, 2]: differences 1, 0, 4, 3 -> sorted 0 1 3 4 -> (1 + 3) / 2."""
    assert hodges_lehmann([1.0, 2.0], [2.0, 5.0]) == 2.0


def test_pairwise_differences_are_after_minus_before_sorted() -> None:
    assert pairwise_differences([1.0, 2.0], [2.0, 5.0]) == [0.0, 1.0, 3.0, 4.0]


def test_p_values_with_ties_use_the_tie_corrected_normal() -> None:
    """Ties (3, 4, 5 twice each) -> normal approximation.

    sigma^2 = nm/12 * ((N+1) - sum(t^3 - t)/(N(N-1))) = 25/12 * (11 - 3*6/90) = 22.5;
    z = (U - nm/2 - 1/2) / sigma = (20.5 - 12.5 - 0.5) / sqrt(22.5) = 1.5811.
    """
    z = 7.5 / math.sqrt(22.5)
    test = compare(BEFORE, AFTER)
    assert test.method == "normal"
    assert test.p_greater == pytest.approx(1 - NormalDist().cdf(z))  # 0.0569
    assert test.p_two_sided == pytest.approx(2 * (1 - NormalDist().cdf(z)))  # 0.1138


def test_interval_with_ties_at_98_percent() -> None:
    """k = floor(nm/2 + 1/2 - z(0.99) sigma) = floor(13 - 2.3263 * 4.7434) = floor(1.965) = 1.

    So [D(1), D(25)] = [-2, 6]; it covers 1 - 2 Phi((1 - 0.5 - 12.5) / 4.7434) = 0.9886.
    """
    low, high, achieved = shift_interval(BEFORE, AFTER, 0.98)
    assert (low, high) == (-2.0, 6.0)
    assert achieved == pytest.approx(1 - 2 * NormalDist().cdf(-12 / math.sqrt(22.5)))


def test_interval_with_ties_at_95_percent() -> None:
    """k = floor(13 - 1.96 * 4.7434) = floor(3.703) = 3: [D(3), D(23)] = [-1, 5]."""
    low, high, _ = shift_interval(BEFORE, AFTER, 0.95)
    assert (low, high) == (-1.0, 5.0)


def test_exact_interval_for_samples_without_ties() -> None:
    """[6..10] - [1..5]: d in 1..9 with counts 1 2 3 4 5 4 3 2 1; the median is 5.

    For n = m = 5 the null counts of U start 1, 1, 2, ... of C(10, 5) = 252:
    P(U <= 1) = 2/252 = 0.0079 <= 0.01 < P(U <= 2) = 4/252, so k = 2 and the
    98% interval is [D(2), D(24)] = [2, 8], covering 1 - 2 * 2/252 = 0.9841.
    """
    test = compare(BEFORE, SEPARATE)
    assert test.method == "exact"
    assert test.estimate == 5.0
    assert (test.low, test.high) == (2.0, 8.0)
    assert test.achieved_confidence == pytest.approx(1 - 4 / 252)


def test_exact_p_value_when_every_after_value_is_larger() -> None:
    """U = 25 is the one arrangement of 252 where after holds the five top ranks."""
    test = compare(BEFORE, SEPARATE)
    assert test.u == 25.0
    assert test.p_greater == pytest.approx(1 / 252)
    assert test.p_two_sided == pytest.approx(2 / 252)
    assert test.p_less == pytest.approx(1.0)


def test_interval_is_unbounded_when_the_confidence_cannot_be_reached() -> None:
    """n = m = 3: even U = 0 has probability 1/C(6, 3) = 1/20 = 0.05 > 0.01."""
    test = compare([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert (test.low, test.high) == (-math.inf, math.inf)
    assert test.achieved_confidence == 0.0
    assert test.to_dict()["interval"] == [None, None]


def test_all_equal_values_show_no_shift() -> None:
    test = compare([2.0, 2.0, 2.0], [2.0, 2.0, 2.0, 2.0])
    assert (test.estimate, test.low, test.high) == (0.0, 0.0, 0.0)
    assert (test.p_two_sided, test.p_greater, test.p_less) == (1.0, 1.0, 1.0)


def test_an_empty_sample_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        compare([], [1.0])


def test_a_confidence_outside_0_1_is_refused() -> None:
    with pytest.raises(ValueError, match="confidence"):
        compare([1.0], [2.0], confidence=1.0)


@pytest.mark.parametrize(("n", "m"), [(1, 1), (2, 3), (4, 4), (3, 6)])
def test_null_counts_of_u_match_every_arrangement(n: int, m: int) -> None:
    """Brute force: every way to give `after` m of the ranks 1..n+m, U = rank sum - m(m+1)/2."""
    counts = [0] * (n * m + 1)
    for ranks in combinations(range(1, n + m + 1), m):
        counts[sum(ranks) - m * (m + 1) // 2] += 1
    assert list(u_null_counts(n, m)) == counts


def test_scipy_exact_p_value_agrees_with_the_null_counts() -> None:
    """P(U >= 12) for n = m = 4 from our counts, against SciPy's exact test."""
    before, after = [1.0, 2.5, 4.0, 7.0], [3.0, 5.0, 6.0, 8.0]
    u = compare(before, after).u  # pairs after > before: 3 -> 2, 5 -> 3, 6 -> 3, 8 -> 4
    assert u == 12.0
    upper = sum(u_null_counts(4, 4)[12:]) / math.comb(8, 4)
    expected = mannwhitneyu(after, before, alternative="greater", method="exact").pvalue
    assert upper == pytest.approx(expected)
    assert compare(before, after).p_greater == pytest.approx(upper)


_values = st.lists(st.integers(-50, 50).map(float), min_size=1, max_size=12)


def _distinct(parity: int) -> st.SearchStrategy[list[float]]:
    """Distinct even (parity 0) or odd (parity 1) numbers: no ties within or across samples."""
    return st.lists(st.integers(-25, 25), min_size=1, max_size=10, unique=True).map(
        lambda xs: [2.0 * x + parity for x in xs]
    )


@settings(max_examples=50, deadline=None)
@given(before=_values, after=_values, d=st.integers(-20, 20))
def test_shifting_after_by_d_shifts_the_estimate_by_d(
    before: list[float], after: list[float], d: int
) -> None:
    moved = [a + d for a in after]
    assert hodges_lehmann(before, moved) == hodges_lehmann(before, after) + d


@settings(max_examples=50, deadline=None)
@given(before=_distinct(0), after=_distinct(1), half_d=st.integers(-10, 10))
def test_shifting_after_by_d_shifts_the_interval_by_d(
    before: list[float], after: list[float], half_d: int
) -> None:
    """An even shift keeps the samples tie-free, so the same order statistics are chosen."""
    d = 2 * half_d
    base = compare(before, after, 0.9)
    moved = compare(before, [a + d for a in after], 0.9)
    assert (moved.low, moved.high) == (base.low + d, base.high + d)


@settings(max_examples=50, deadline=None)
@given(before=_values, after=_values)
def test_the_interval_contains_the_estimate(before: list[float], after: list[float]) -> None:
    test = compare(before, after, 0.9)
    assert test.low <= test.estimate <= test.high


def test_large_samples_use_the_normal_order_statistic() -> None:
    """n = m = 60, no ties: sigma = sqrt(3600 * 121 / 12) = 190.526, z(0.99) = 2.32635.

    k = floor(1800 + 0.5 - 2.32635 * 190.526) = floor(1357.27) = 1357; the bounds
    are the 1357th and the (3600 + 1 - 1357) = 2244th of the brute-force differences.
    """
    before = [float(x) for x in range(60)]
    after = [x + 10.5 for x in before]
    diffs = sorted(a - b for a in after for b in before)
    test = compare(before, after)
    assert test.method == "normal"
    assert (test.low, test.high) == (diffs[1357 - 1], diffs[2244 - 1])


def _scipy_p_values(before: list[float], after: list[float], method: str) -> list[float]:
    scipy_method = "exact" if method == "exact" else "asymptotic"
    return [
        float(mannwhitneyu(after, before, alternative=alt, method=scipy_method).pvalue)
        for alt in ("two-sided", "greater", "less")
    ]


@settings(max_examples=60, deadline=None)
@given(before=_values, after=_values)
def test_p_values_agree_with_scipy_with_ties(before: list[float], after: list[float]) -> None:
    """Integers in -50..50: ties are common, so mostly the tie-corrected normal method."""
    test = compare(before, after)
    if test.p_two_sided == 1.0 and len(set(before + after)) == 1:
        return  # one value everywhere: SciPy answers NaN, the judge "nothing moved"
    expected = _scipy_p_values(before, after, test.method)
    got = [test.p_two_sided, test.p_greater, test.p_less]
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(before=_distinct(0), after=_distinct(1))
def test_exact_p_values_agree_with_scipy(before: list[float], after: list[float]) -> None:
    test = compare(before, after)
    assert test.method == "exact"
    expected = _scipy_p_values(before, after, "exact")
    assert [test.p_two_sided, test.p_greater, test.p_less] == pytest.approx(expected, rel=1e-9)


def test_normal_p_values_on_large_samples_agree_with_scipy() -> None:
    before = [float(x) for x in range(60)]
    after = [x + 10.5 for x in before]
    test = compare(before, after)
    expected = _scipy_p_values(before, after, "normal")
    assert [test.p_two_sided, test.p_greater, test.p_less] == pytest.approx(expected, rel=1e-9)
