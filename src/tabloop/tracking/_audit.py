"""The audit log of alias moves: who moved which alias from where to where, when, why and how.

Each move is a tag on the registered model (``tabloop.alias_move.000001``, a JSON record),
written under the same alias lock as the move itself: the log lives in the registry
(SQLite or PostgreSQL alike), travels with it, and its order is the order of the moves.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import socket
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["AUDIT_TAG_PREFIX", "AliasMove", "How", "mover"]

AUDIT_TAG_PREFIX = "tabloop.alias_move."
#: how an alias moved: through the promotion gate, forced past it, by rollback, by the loop's policy
#: (auto), approved by a person after the loop's gate (approved), or set without a gate (set: any alias
#: other than the champion, e.g. the loop naming its challenger)
How = Literal["gated", "forced", "rollback", "auto", "approved", "set"]
#: longest reason kept (MLflow limits a tag's value)
_WHY_CHARS = 2000


@dataclass(frozen=True)
class AliasMove:
    seq: int
    alias: str
    from_version: str | None
    to_version: str
    at: str
    by: str
    how: str
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def tag(self) -> tuple[str, str]:
        return f"{AUDIT_TAG_PREFIX}{self.seq:06d}", json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_tag(cls, value: str) -> AliasMove | None:
        try:
            return cls(**json.loads(value))
        except (ValueError, TypeError):
            return None  # a hand-edited tag: left out of the history rather than breaking it


def mover() -> str:
    """Who is moving the alias: ``TABLOOP_USER`` when set (a CI job names itself), else user@host."""
    named = os.environ.get("TABLOOP_USER")
    if named:
        return named
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in a bare container
        user = f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


def new_move(seq: int, alias: str, previous: str | None, version: str, *, how: str, why: str,
             by: str | None = None) -> AliasMove:
    return AliasMove(seq=seq, alias=alias, from_version=previous, to_version=str(version),
                     at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), by=by or mover(), how=how,
                     why=why[:_WHY_CHARS])


def moves_from_tags(tags: dict[str, str]) -> list[AliasMove]:
    found = [AliasMove.from_tag(v) for k, v in tags.items() if k.startswith(AUDIT_TAG_PREFIX)]
    return sorted((m for m in found if m is not None), key=lambda m: m.seq)
