"""The statistics of an A/B test: each variant's rate with its Wilson interval, and the two-proportion z-test
that says whether the leader beats every other variant at the chosen confidence.

Django-free and dependency-free (the standard library's NormalDist), so that it is tested against textbook
values and a brute-force simulation alone. With more than two variants the leader is compared with each
other one at a Bonferroni-corrected level, so that five variants are not five chances of a false winner.
"""

from dataclasses import dataclass
from math import sqrt
from statistics import NormalDist

_NORMAL = NormalDist()


@dataclass(frozen=True)
class Observed:
    label: str
    trials: int  # messages handed over
    successes: int  # e.g. recipients who clicked

    @property
    def rate(self) -> float:
        return self.successes / self.trials if self.trials else 0.0


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class Comparison:
    """The leader against one other variant."""

    other: str
    z: float
    p_value: float
    lift: float | None  # (leader - other) / other; None when the other's rate is 0
    significant: bool


@dataclass(frozen=True)
class Verdict:
    leader: str | None  # the best point estimate (None without any data)
    significant: bool  # the leader beats every other variant at the confidence
    confidence: float
    intervals: dict[str, Interval]
    comparisons: list[Comparison]

    @property
    def p_value(self) -> float | None:
        """The largest p-value of the leader's comparisons: the one that decides."""
        return max((c.p_value for c in self.comparisons), default=None)


def two_proportion_z_test(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """(z, two-sided p-value) of H0: p1 == p2, with the pooled standard error (the textbook test)."""
    if n1 <= 0 or n2 <= 0:
        return 0.0, 1.0
    pooled = (x1 + x2) / (n1 + n2)
    se = sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0  # both rates 0 or both 1: no evidence either way
    z = (x1 / n1 - x2 / n2) / se
    return z, 2 * (1 - _NORMAL.cdf(abs(z)))


def wilson_interval(successes: int, trials: int, *, confidence: float) -> Interval:
    """The Wilson score interval: unlike the plain normal one, it stays inside [0, 1] and is honest for rates
    near 0, which click and opt-out rates are."""
    if trials <= 0:
        return Interval(0.0, 1.0)
    z = _NORMAL.inv_cdf(1 - (1 - confidence) / 2)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # The interval always holds p; clamped so that rounding (0 successes: 1e-17) never says otherwise.
    return Interval(max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))


def ab_verdict(observed: list[Observed], *, confidence: float = 0.95, higher_is_better: bool = True) -> Verdict:
    """Which variant leads, and whether the data support calling it the winner."""
    intervals = {o.label: wilson_interval(o.successes, o.trials, confidence=confidence) for o in observed}
    measured = [o for o in observed if o.trials > 0]
    if not measured:
        return Verdict(None, False, confidence, intervals, [])
    sign = 1 if higher_is_better else -1
    # Ties go to the earlier variant (A before B), so the verdict never depends on the order of a query.
    leader = max(measured, key=lambda o: (sign * o.rate, -observed.index(o)))
    others = [o for o in observed if o is not leader]
    alpha = (1 - confidence) / max(1, len(others))
    comparisons = []
    for other in others:
        z, p_value = two_proportion_z_test(leader.successes, leader.trials, other.successes, other.trials)
        better = sign * (leader.rate - other.rate) > 0
        lift = (leader.rate - other.rate) / other.rate if other.rate else None
        comparisons.append(Comparison(other.label, z, p_value, lift, better and other.trials > 0 and p_value < alpha))
    significant = bool(comparisons) and all(c.significant for c in comparisons)
    return Verdict(leader.label, significant, confidence, intervals, comparisons)
