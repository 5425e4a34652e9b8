"""How the champion and the challenger share traffic.

- ``off``: the champion answers everything;
- ``shadow``: the champion answers; the challenger scores a copy off the hot path,
  its answer is logged (variant ``challenger``) and never returned;
- ``ab``: a ``share`` of requests go to the challenger, sticky: by the value of the
  ``key`` column of the first row when set, otherwise by the request id;
- ``canary``: a ``share`` of requests, by a hash of the request id, to ramp up;
- ``bandit``: the share is the bandit's (``_bandit``: Thompson sampling on the realized reward of
  labelled rows), the champion keeping at least ``floor``; by a hash of the request id.

Routing is a pure function of the request (and, under ``bandit``, of the share the bandit has
computed from the labels this process has seen).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any, Literal

from tabloop.errors import ServingError

Mode = Literal["off", "shadow", "ab", "canary", "bandit"]
MODES: tuple[str, ...] = ("off", "shadow", "ab", "canary", "bandit")
#: the modes in which the challenger answers callers (and so can be judged, and rolled back, on live traffic)
LIVE_MODES: tuple[str, ...] = ("ab", "canary", "bandit")
CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class Rollout:
    mode: Mode = "off"
    share: float = 0.0
    key: str | None = None
    #: bandit: the smallest share the champion keeps
    floor: float = 0.1
    #: bandit: the seed of the posterior draws
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ServingError(f"rollout mode must be one of {list(MODES)}, got {self.mode!r}")
        if not 0.0 <= float(self.share) <= 1.0:
            raise ServingError(f"rollout share must be between 0 and 1, got {self.share!r}")
        if not 0.0 <= float(self.floor) <= 1.0:
            raise ServingError(f"rollout floor must be between 0 and 1, got {self.floor!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def live(self) -> bool:
        """Whether the challenger answers callers in this mode."""
        return self.mode in LIVE_MODES

    def route(self, request_id: str, rows: list[dict[str, Any]], bandit_share: float = 0.0) -> str:
        """The variant that answers this request: ``champion`` or ``challenger``."""
        if self.mode == "bandit":
            return CHALLENGER if bucket(request_id) < bandit_share else CHAMPION
        if self.mode in ("off", "shadow") or self.share <= 0.0:
            return CHAMPION
        basis: Any = request_id
        if self.mode == "ab" and self.key is not None and rows and self.key in rows[0]:
            basis = f"key:{rows[0][self.key]!r}"
        return CHALLENGER if bucket(str(basis)) < self.share else CHAMPION


def bucket(value: str) -> float:
    """A stable number in [0, 1) for ``value``."""
    digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64
