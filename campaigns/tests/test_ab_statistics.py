"""The A/B statistics against textbook values and a brute-force simulation."""

import random

import pytest

from campaigns.ab_statistics import Observed, ab_verdict, two_proportion_z_test, wilson_interval


# (x1, n1, x2, n2) -> (z, p): the pooled z-test's z squared is Pearson's chi-square without continuity
# correction, so these are the chi-square test's values for the same 2x2 tables (scipy.stats.chi2_contingency,
# correction=False, computed once, outside the project).
@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "z", "p"),
    [
        (40, 100, 25, 100, 2.2645540682891916, 0.023540058261177926),
        (130, 1000, 100, 1000, 2.1027406056221145, 0.03548845046647463),
        (52, 1000, 50, 1000, 0.20328100706668628, 0.8389153997701583),
        (300, 5000, 250, 5000, 2.1931723165325634, 0.028294966290231177),
    ],
)
def test_the_two_proportion_test_gives_the_textbook_z_and_p_value(x1, n1, x2, n2, z, p):
    got_z, got_p = two_proportion_z_test(x1, n1, x2, n2)
    assert got_z == pytest.approx(z, rel=1e-9)
    assert got_p == pytest.approx(p, rel=1e-6)
    assert two_proportion_z_test(x2, n2, x1, n1)[0] == pytest.approx(-z, rel=1e-9)


def test_degenerate_samples_give_no_evidence():
    assert two_proportion_z_test(0, 100, 0, 100) == (0.0, 1.0)
    assert two_proportion_z_test(5, 0, 1, 10) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", table I (Wilson score).
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_the_wilson_interval_matches_newcombes_table(successes, trials, low, high):
    interval = wilson_interval(successes, trials, confidence=0.95)
    assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)


def test_a_clear_leader_is_the_winner_and_a_close_one_is_not():
    clear = ab_verdict([Observed("A", 1000, 100), Observed("B", 1000, 150)])
    assert (clear.leader, clear.significant) == ("B", True)
    [vs_a] = clear.comparisons
    assert vs_a.other == "A" and vs_a.lift == pytest.approx(0.5)
    close = ab_verdict([Observed("A", 1000, 100), Observed("B", 1000, 110)])
    assert (close.leader, close.significant) == ("B", False)


def test_lower_is_better_for_opt_outs():
    verdict = ab_verdict([Observed("A", 2000, 60), Observed("B", 2000, 20)], higher_is_better=False)
    assert (verdict.leader, verdict.significant) == ("B", True)


def test_ties_go_to_the_earlier_variant_and_no_data_has_no_leader():
    assert ab_verdict([Observed("A", 100, 10), Observed("B", 100, 10)]).leader == "A"
    empty = ab_verdict([Observed("A", 0, 0), Observed("B", 0, 0)])
    assert (empty.leader, empty.significant, empty.p_value) == (None, False, None)


def test_with_five_variants_the_leader_must_beat_each_at_a_corrected_level():
    # p = 0.035 against D alone: significant for two variants, not once corrected for four comparisons.
    two = ab_verdict([Observed("A", 1000, 100), Observed("B", 1000, 130)])
    assert two.significant
    five = ab_verdict(
        [Observed(label, 1000, successes) for label, successes in zip("ABCDE", (30, 40, 35, 100, 130), strict=True)]
    )
    assert five.leader == "E" and not five.significant


def test_false_winners_are_as_rare_as_the_confidence_promises_in_a_simulation():
    """Brute force: under H0 (both variants truly 10%), a 95% test declares a winner about 5% of the time;
    with a real difference (10% vs 14%, n = 1500 each) it finds it most of the time."""
    rng = random.Random(20261202)

    def trial(p_a: float, p_b: float, n: int) -> bool:
        a = sum(rng.random() < p_a for _ in range(n))
        b = sum(rng.random() < p_b for _ in range(n))
        return ab_verdict([Observed("A", n, a), Observed("B", n, b)], confidence=0.95).significant

    runs = 2000
    false_winners = sum(trial(0.10, 0.10, 400) for _ in range(runs)) / runs
    assert 0.035 <= false_winners <= 0.065
    power = sum(trial(0.10, 0.14, 1500) for _ in range(300)) / 300
    assert power >= 0.85
