"""Is the challenger worse than the champion on live traffic? The rollout guard's numbers, as pure functions.

Each variant's traffic is summed in an ``Arm`` (requests, 5xx answers, latencies, and the
per-row reward of labelled rows: correct or not for a classifier, the absolute error for a
regressor). ``judge`` compares the challenger's arm with the champion's on three checks and
says, per check, the two values, the difference, the spec's limit and a one-sided p-value:

- error rate: Fisher's exact test on the 2x2 table (challenger, champion) x (error, answered);
- latency: Welch's t-test on the mean latency (the limit is a ratio of the means);
- realized metric: Fisher's exact test on correct / wrong (classifier), Welch's t-test on the
  absolute errors (regressor; the limit is a relative increase of the mean absolute error).

A check *fires* only when its difference is past the limit **and** significant at ``alpha``:
a small sample past the limit by chance, or a significant but tiny difference, does not roll
anything back. Each check is one-sided (only a worse challenger counts). The checks repeat
while traffic comes in, so ``alpha`` should be small (default 0.01).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.special import gammaln, stdtr

__all__ = ["Arm", "Check", "GuardLimits", "Verdict", "fisher_greater", "judge", "welch_greater"]


@dataclass(frozen=True)
class GuardLimits:
    """The spec's ``serving.rollout.guard`` as the server uses it (None: that check is off)."""

    max_error_rate_increase: float | None = 0.01
    max_latency_ratio: float | None = 2.0
    max_metric_drop: float | None = 0.02
    min_requests: int = 200
    min_labels: int = 100
    alpha: float = 0.01
    interval_s: float = 10.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Moments:
    """Count, mean and sum of squared deviations of a stream of numbers (Welford), no values kept."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)

    @property
    def var(self) -> float:
        return self.m2 / (self.n - 1) if self.n > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "mean": self.mean, "m2": self.m2}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Moments:
        return cls(int(d.get("n", 0)), float(d.get("mean", 0.0)), float(d.get("m2", 0.0)))


@dataclass
class Arm:
    """One version's live traffic: requests answered, 5xx answers, latency (ms), rewards of labelled rows."""

    #: requests answered (2xx)
    answered: int = 0
    #: requests answered with a 5xx
    errors: int = 0
    latency_ms: Moments = field(default_factory=Moments)
    #: classifier: 1 correct / 0 wrong; regressor: the absolute error
    reward: Moments = field(default_factory=Moments)

    def to_dict(self) -> dict[str, Any]:
        return {"answered": self.answered, "errors": self.errors, "latency_ms": self.latency_ms.to_dict(),
                "reward": self.reward.to_dict()}


@dataclass(frozen=True)
class Check:
    name: str
    champion: float
    challenger: float
    difference: float
    limit: float
    p_value: float
    past_limit: bool
    significant: bool

    @property
    def fired(self) -> bool:
        return self.past_limit and self.significant

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "fired": self.fired}


@dataclass(frozen=True)
class Verdict:
    """What ``judge`` found: the checks it could run, those it could not yet (``waiting``), and whether any fired."""

    checks: tuple[Check, ...]
    waiting: tuple[str, ...]

    @property
    def regressed(self) -> bool:
        return any(c.fired for c in self.checks)

    def why(self) -> str:
        fired = [c for c in self.checks if c.fired]
        return "; ".join(
            f"{c.name}: challenger {c.challenger:.4g} vs champion {c.champion:.4g} "
            f"(difference {c.difference:.4g} past limit {c.limit:.4g}, one-sided p={c.p_value:.2g})"
            for c in fired
        ) or "no regression"

    def to_dict(self) -> dict[str, Any]:
        return {"regressed": self.regressed, "checks": [c.to_dict() for c in self.checks],
                "waiting": list(self.waiting)}


def fisher_greater(a: int, b: int, c: int, d: int) -> float:
    """One-sided Fisher exact p-value that the first row's rate ``a / (a + b)`` exceeds the second's ``c / (c + d)``.

    The probability, with all margins fixed, of a top-left cell of ``a`` or more (the
    hypergeometric upper tail), as ``scipy.stats.fisher_exact(..., alternative="greater")``.
    """
    n1, k, total = a + b, a + c, a + b + c + d
    if total == 0 or n1 == 0 or k == 0:
        return 1.0
    hi = min(k, n1)
    x = np.arange(a, hi + 1, dtype=float)
    log_p = (_log_comb(k, x) + _log_comb(total - k, n1 - x) - _log_comb(total, n1))
    return float(min(1.0, np.exp(log_p).sum()))


def _log_comb(n: float, k: np.ndarray | float) -> Any:
    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


def welch_greater(m1: Moments, m2: Moments) -> float:
    """One-sided Welch t-test p-value that the mean of ``m2`` exceeds the mean of ``m1``."""
    if m1.n < 2 or m2.n < 2:
        return 1.0
    s1, s2 = m1.var / m1.n, m2.var / m2.n
    se2 = s1 + s2
    diff = m2.mean - m1.mean
    if se2 <= 0.0:
        return 0.0 if diff > 0 else 1.0
    t = diff / math.sqrt(se2)
    df = se2**2 / ((s1**2 / (m1.n - 1) if s1 else 0.0) + (s2**2 / (m2.n - 1) if s2 else 0.0))
    return float(stdtr(df, -t))


def judge(champion: Arm, challenger: Arm, limits: GuardLimits, *, classifier: bool) -> Verdict:
    """The guard's checks of ``challenger`` against ``champion``; each one only once both arms have enough traffic."""
    checks: list[Check] = []
    waiting: list[str] = []
    alpha = limits.alpha
    enough = min(champion.answered + champion.errors, challenger.answered + challenger.errors) >= limits.min_requests
    if limits.max_error_rate_increase is not None:
        if not enough:
            waiting.append("error_rate")
        else:
            n0, n1 = champion.answered + champion.errors, challenger.answered + challenger.errors
            r0, r1 = champion.errors / n0, challenger.errors / n1
            p = fisher_greater(challenger.errors, challenger.answered, champion.errors, champion.answered)
            checks.append(Check("error_rate", r0, r1, r1 - r0, limits.max_error_rate_increase, p,
                                r1 - r0 > limits.max_error_rate_increase, p < alpha))
    if limits.max_latency_ratio is not None:
        l0, l1 = champion.latency_ms, challenger.latency_ms
        if min(l0.n, l1.n) < limits.min_requests or l0.mean <= 0.0:
            waiting.append("latency")
        else:
            ratio = l1.mean / l0.mean
            p = welch_greater(l0, l1)
            checks.append(Check("latency_ratio", l0.mean, l1.mean, ratio, limits.max_latency_ratio, p,
                                ratio > limits.max_latency_ratio, p < alpha))
    if limits.max_metric_drop is not None:
        w0, w1 = champion.reward, challenger.reward
        if min(w0.n, w1.n) < limits.min_labels:
            waiting.append("metric")
        elif classifier:
            c0, c1 = round(w0.mean * w0.n), round(w1.mean * w1.n)
            # the challenger's wrong answers are the "event": is its share of wrong answers larger?
            p = fisher_greater(w1.n - c1, c1, w0.n - c0, c0)
            drop = w0.mean - w1.mean
            checks.append(Check("accuracy_drop", w0.mean, w1.mean, drop, limits.max_metric_drop, p,
                                drop > limits.max_metric_drop, p < alpha))
        else:
            rise = (w1.mean - w0.mean) / w0.mean if w0.mean > 0 else (math.inf if w1.mean > 0 else 0.0)
            p = welch_greater(w0, w1)
            checks.append(Check("mae_increase", w0.mean, w1.mean, rise, limits.max_metric_drop, p,
                                rise > limits.max_metric_drop, p < alpha))
    return Verdict(tuple(checks), tuple(waiting))
