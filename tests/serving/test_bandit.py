"""The bandit rollout in simulation: two arms of known reward rates, no server."""

from __future__ import annotations

import numpy as np
import pytest

from tabloop.errors import ServingError
from tabloop.serving import Bandit
from tabloop.serving._rollout import CHALLENGER, CHAMPION, Rollout, bucket


def _simulate(rates: dict[str, float], *, rounds: int = 3000, floor: float = 0.1, seed: int = 7,
              kind: str = "binary", batch: int = 20) -> tuple[dict[str, int], list[float], Bandit]:
    """Route ``rounds`` requests by request id, draw each answer's reward from its arm's rate, feed labels in
    batches (as feedback arrives); the traffic of the last third per arm, and every share the bandit set."""
    bandit = Bandit(kind, floor=floor, seed=seed)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed + 1)
    late = {CHAMPION: 0, CHALLENGER: 0}
    shares = [bandit.share]
    pending: list[tuple[str, float]] = []
    for i in range(rounds):
        arm = Rollout("bandit", floor=floor).route(f"req-{i}", [], bandit.share)
        if i >= rounds * 2 // 3:
            late[arm] += 1
        if kind == "binary":
            reward = float(rng.random() < rates[arm])
        else:
            reward = -abs(rng.normal(0.0, rates[arm]))
        pending.append((arm, reward))
        if len(pending) == batch:
            shares.append(bandit.update(pending))
            pending = []
    return late, shares, bandit


def test_most_traffic_goes_to_the_better_challenger_and_the_champion_keeps_its_floor() -> None:
    late, shares, bandit = _simulate({CHAMPION: 0.60, CHALLENGER: 0.75})
    assert late[CHALLENGER] / sum(late.values()) > 0.8
    # never more than 1 - floor to the challenger, however sure the posteriors are
    assert max(shares) <= 0.9 + 1e-12
    assert late[CHAMPION] / sum(late.values()) >= 0.9 * 0.1  # the floor shows in the traffic, too
    assert bandit.to_dict()["p_challenger_best"] > 0.99


def test_a_better_champion_keeps_most_traffic() -> None:
    late, shares, _ = _simulate({CHAMPION: 0.75, CHALLENGER: 0.60})
    assert late[CHAMPION] / sum(late.values()) > 0.9
    assert shares[-1] < 0.05


def test_regression_rewards_move_traffic_to_the_smaller_error() -> None:
    # rates are the arms' error scales: the challenger's errors are half the champion's
    late, shares, _ = _simulate({CHAMPION: 2.0, CHALLENGER: 1.0}, kind="gaussian", rounds=1500)
    assert late[CHALLENGER] / sum(late.values()) > 0.8
    assert max(shares) <= 0.9 + 1e-12


def test_same_seed_same_shares() -> None:
    _, a, _ = _simulate({CHAMPION: 0.6, CHALLENGER: 0.65}, rounds=600)
    _, b, _ = _simulate({CHAMPION: 0.6, CHALLENGER: 0.65}, rounds=600)
    assert a == b


def test_a_floor_of_one_keeps_everything_on_the_champion_and_the_state_restores() -> None:
    bandit = Bandit("binary", floor=1.0, seed=1)
    assert bandit.update([(CHALLENGER, 1.0)] * 50 + [(CHAMPION, 0.0)] * 50) == 0.0
    assert all(bandit.route(bucket(f"r{i}")) == CHAMPION for i in range(200))
    again = Bandit("binary", floor=0.1, seed=1)
    again.restore(bandit.to_dict())
    assert again.to_dict()["arms"] == bandit.to_dict()["arms"] and again.share == pytest.approx(0.9)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ServingError, match="floor"):
        Bandit("binary", floor=1.5)
    with pytest.raises(ServingError, match="binary or gaussian"):
        Bandit("poisson")  # type: ignore[arg-type]
    with pytest.raises(ServingError, match="floor"):
        Rollout("bandit", floor=-0.1)
