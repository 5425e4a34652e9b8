"""The bandit rollout: Thompson sampling over champion and challenger on the realized reward of labelled rows.

Each arm has a posterior on its mean reward:

- ``binary`` (a classifier: 1 when the answer was the label, else 0): Beta(1 + correct, 1 + wrong);
- ``gaussian`` (a regressor: the negative absolute error): Normal(mean, variance / n), once an arm
  has two labelled rows; before that, as wide as the rewards seen so far on either arm.

The challenger's share of traffic is the posterior probability that it is the better arm
(Thompson sampling as probability matching, estimated from ``draws`` paired draws), capped so
the champion never answers less than ``floor`` of the requests. The share is recomputed when
rewards arrive, not per request: routing stays a cheap, pure function of the request id and
the share, so the draws are reproducible with ``seed`` whatever the requests' timing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tabloop.errors import ServingError
from tabloop.serving._rollback import Moments
from tabloop.serving._rollout import CHALLENGER, CHAMPION

__all__ = ["Bandit", "RewardKind"]

RewardKind = Literal["binary", "gaussian"]
DRAWS = 4000


@dataclass
class _ArmPosterior:
    moments: Moments

    def draw(self, kind: RewardKind, rng: np.random.Generator, n: int, scale: float, center: float) -> np.ndarray:
        m = self.moments
        if kind == "binary":
            correct = m.mean * m.n
            return rng.beta(1.0 + correct, 1.0 + m.n - correct, size=n)
        if m.n < 2:
            # nothing known yet: as wide as the rewards seen anywhere, so the arm is tried
            return rng.normal(center if m.n == 0 else m.mean, scale, size=n)
        return rng.normal(m.mean, max(np.sqrt(m.var / m.n), 1e-12), size=n)


class Bandit:
    """Thompson sampling between ``champion`` and ``challenger``; the champion keeps at least ``floor``."""

    def __init__(self, kind: RewardKind = "binary", *, floor: float = 0.1, seed: int | None = None,
                 draws: int = DRAWS) -> None:
        if kind not in ("binary", "gaussian"):
            raise ServingError(f"bandit reward must be binary or gaussian, got {kind!r}")
        if not 0.0 <= floor <= 1.0:
            raise ServingError(f"bandit floor must be between 0 and 1, got {floor!r}")
        self.kind: RewardKind = kind
        self.floor = float(floor)
        self.seed = seed
        self.draws = int(draws)
        self._rng = np.random.default_rng(seed)
        self.arms = {CHAMPION: _ArmPosterior(Moments()), CHALLENGER: _ArmPosterior(Moments())}
        self._lock = threading.Lock()
        self.p_best = 0.5
        self.share = self._capped(0.5)

    def _capped(self, p: float) -> float:
        return min(max(p, 0.0), 1.0 - self.floor)

    def update(self, rewards: list[tuple[str, float]]) -> float:
        """Add ``(arm, reward)`` pairs, then recompute the challenger's share; returns it."""
        with self._lock:
            for arm, reward in rewards:
                self.arms[arm].moments.add(float(reward))
            self._refresh()
            return self.share

    def _refresh(self) -> None:
        champion, challenger = self.arms[CHAMPION], self.arms[CHALLENGER]
        both = [a.moments for a in (champion, challenger) if a.moments.n]
        center = float(np.mean([m.mean for m in both])) if both else 0.0
        spread = [np.sqrt(m.var) for m in both if m.n >= 2]
        scale = float(max(spread)) if spread else 1.0
        a = challenger.draw(self.kind, self._rng, self.draws, scale, center)
        b = champion.draw(self.kind, self._rng, self.draws, scale, center)
        self.p_best = float(np.mean(a > b))
        self.share = self._capped(self.p_best)

    def route(self, u: float) -> str:
        """The arm for a request whose stable number in [0, 1) is ``u`` (``_rollout.bucket`` of its id)."""
        return CHALLENGER if u < self.share else CHAMPION

    # -- state -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "floor": self.floor, "share": self.share, "p_challenger_best": self.p_best,
            "arms": {name: arm.moments.to_dict() for name, arm in self.arms.items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take back the arms' sums of a saved ``to_dict`` (same kind), and recompute the share."""
        if state.get("kind") != self.kind:
            return
        with self._lock:
            for name in (CHAMPION, CHALLENGER):
                saved = (state.get("arms") or {}).get(name)
                if isinstance(saved, dict):
                    self.arms[name] = _ArmPosterior(Moments.from_dict(saved))
            self._refresh()
