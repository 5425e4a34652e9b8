"""The live side of a rollout: each version's traffic and rewards, the bandit's share, the rollback decision and its file.

``RolloutWatch`` follows one pair of versions, the *baseline* (the champion when the challenger
came) and the *candidate* (the challenger), while the challenger answers callers (ab, canary,
bandit) and after the loop promoted it (the candidate then answers as champion, and is still
judged against the baseline's numbers). It counts, per version, the requests answered, the 5xx
answers and their latency, and keeps the predictions of recent requests (bounded) so that a
label arriving at ``POST /feedback`` becomes a reward for the version that answered it: 1 or 0
(right or wrong) for a classifier, the absolute error for a regressor (the bandit's reward is
its negative). ``check`` asks ``_rollback.judge`` whether the candidate regressed.

A rollback is kept in ``rollout.json`` under the server's state folder (written atomically
under a file lock, with the history of every rollback): a restart with the same challenger
version serves the champion alone, and the bandit's sums survive a restart with the same pair.

Limits: the counts live in this process; with several workers each judges its own traffic and
only labels of requests it answered itself (the bandit, too, learns from its own).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from tabloop.serving._bandit import Bandit
from tabloop.serving._rollback import Arm, GuardLimits, Verdict, judge
from tabloop.serving._rollout import CHALLENGER, CHAMPION, Rollout
from tabloop.workspace import atomic_write_json, file_lock

__all__ = ["STATE_FILE", "RolloutWatch", "read_rollout_state"]

logger = logging.getLogger("tabloop.serving")

STATE_FILE = "rollout.json"
#: predictions kept for labels to come (rows, over all requests; the oldest go first)
PENDING_ROWS = 200_000
#: rollbacks kept in the state file's history
HISTORY = 50
#: the bandit's sums are written at most this often (a rollback is written at once)
SAVE_EVERY_S = 2.0


def read_rollout_state(state_dir: Path) -> dict[str, Any] | None:
    """The saved rollout state (``rollout.json``) of a server state folder, None when there is none or it is unreadable."""
    try:
        state = json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


class RolloutWatch:
    """Per-version live numbers of the rollout's two versions, the bandit, and the rollback record."""

    def __init__(
        self, *, limits: GuardLimits | None, classifier: bool, state_dir: Path | None,
        champion: str | None, challenger: str | None, rollout: Rollout,
    ) -> None:
        self.limits = limits
        self.classifier = classifier
        self.state_dir = state_dir
        self.baseline = champion
        self.candidate = challenger
        self.promoted = False
        self.arms: dict[str, Arm] = {}
        self.pending: OrderedDict[str, tuple[str, str, list[Any]]] = OrderedDict()
        self.pending_rows = 0
        self.bandit: Bandit | None = None
        self.rolled_back: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = []
        self.last_verdict: Verdict | None = None
        self.live = rollout.live
        self._lock = threading.Lock()
        self._saved_at = 0.0
        saved = read_rollout_state(state_dir) if state_dir is not None else None
        if saved is not None:
            self.history = _history(saved)
            back = saved.get("rolled_back")
            if isinstance(back, dict) and back.get("candidate") is not None and back.get("candidate") == challenger:
                self.rolled_back = back
        self.set_rollout(rollout, saved)

    # -- what the service asks on each request ------------------------------------------------------
    @property
    def watching(self) -> bool:
        """Whether answers are counted: a guard or a bandit, a candidate, and it answers callers."""
        return (self.limits is not None or self.bandit is not None) and self.candidate is not None and (
            self.live or self.promoted)

    def blocked(self, version: str | None) -> bool:
        """Whether ``version`` was rolled back and must not answer as challenger."""
        back = self.rolled_back
        return back is not None and version is not None and back.get("candidate") == version

    def bandit_share(self) -> float:
        bandit = self.bandit
        return bandit.share if bandit is not None else 0.0

    def answered(self, role: str, version: str | None, request_id: str, latency_ms: float,
                 predictions: list[Any]) -> None:
        if version is None or version not in (self.baseline, self.candidate):
            return
        with self._lock:
            arm = self.arms.setdefault(version, Arm())
            arm.answered += 1
            arm.latency_ms.add(latency_ms)
            self.pending[request_id] = (role, version, predictions)
            self.pending_rows += len(predictions)
            while self.pending_rows > PENDING_ROWS and self.pending:
                _, (_, _, old) = self.pending.popitem(last=False)
                self.pending_rows -= len(old)

    def failed(self, version: str | None) -> None:
        if version is None or version not in (self.baseline, self.candidate):
            return
        with self._lock:
            self.arms.setdefault(version, Arm()).errors += 1

    def labelled(self, records: list[dict[str, Any]]) -> int:
        """Turn feedback labels into rewards of the versions that answered them; how many matched."""
        if not self.watching:
            return 0
        rewards: list[tuple[str, float]] = []
        with self._lock:
            for record in records:
                found = self.pending.get(str(record.get("request_id")))
                if found is None:
                    continue
                role, version, predictions = found
                row = record.get("row", 0)
                if not isinstance(row, int) or not 0 <= row < len(predictions):
                    continue
                value = _reward(predictions[row], record.get("label"), self.classifier)
                if value is None:
                    continue
                # one reward per answered row: a label sent again (a client's retry, or someone repeating
                # it on purpose) must not weigh twice in the guard or the bandit
                predictions[row] = None
                self.arms.setdefault(version, Arm()).reward.add(value)
                rewards.append((role, value if self.classifier else -value))
        if rewards and self.bandit is not None:
            self.bandit.update(rewards)
            self.save(force=False)
        return len(rewards)

    # -- the judgement ---------------------------------------------------------------------------------
    def check(self) -> Verdict | None:
        """The guard's verdict on the candidate now (None: no guard, nothing to judge, or rolled back already)."""
        if self.limits is None or not self.watching or self.blocked(self.candidate):
            return None
        with self._lock:
            base = _copy_arm(self.arms.get(self.baseline or "", Arm()))
            cand = _copy_arm(self.arms.get(self.candidate or "", Arm()))
        verdict = judge(base, cand, self.limits, classifier=self.classifier)
        self.last_verdict = verdict
        return verdict

    def adopt(self) -> dict[str, Any] | None:
        """A rollback of this candidate another process saved (several workers share the file); None when none."""
        if self.state_dir is None or self.candidate is None or self.blocked(self.candidate):
            return None
        saved = read_rollout_state(self.state_dir) or {}
        back = saved.get("rolled_back")
        if not isinstance(back, dict) or back.get("candidate") != self.candidate:
            return None
        self.rolled_back = back
        self.history = _history(saved)
        return back

    def roll_back(self, verdict: Verdict, rollout_before: Rollout) -> dict[str, Any]:
        """Record the rollback of the candidate (kept in the state file); the event, for the log and the alert."""
        event = {
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "by": "tabloop",
            "candidate": self.candidate,
            "baseline": self.baseline,
            "promoted": self.promoted,
            "why": verdict.why(),
            "verdict": verdict.to_dict(),
            "arms": {v: a.to_dict() for v, a in self.arms.items()},
            "rollout_before": rollout_before.to_dict(),
        }
        self.rolled_back = event
        self.history = (self.history + [event])[-HISTORY:]
        self.save(force=True)
        return event

    # -- changes -----------------------------------------------------------------------------------
    def set_rollout(self, rollout: Rollout, saved: dict[str, Any] | None = None) -> None:
        """A new rollout (the spec's at start, or one set through the control route): a new bandit if it is one."""
        self.live = rollout.live
        if rollout.mode != "bandit":
            self.bandit = None
            return
        self.bandit = Bandit("binary" if self.classifier else "gaussian", floor=rollout.floor, seed=rollout.seed)
        if saved and saved.get("pair") == [self.baseline, self.candidate] and isinstance(saved.get("bandit"), dict):
            try:
                self.bandit.restore(saved["bandit"])
            except (TypeError, ValueError, AttributeError):
                logger.warning("the bandit's saved sums in %s are unreadable; it starts afresh", STATE_FILE)
                self.bandit = Bandit(self.bandit.kind, floor=rollout.floor, seed=rollout.seed)

    def clear(self) -> None:
        """An operator set the rollout by hand: the rollback no longer holds the challenger back."""
        if self.rolled_back is not None:
            self.rolled_back = None
            self.save(force=True)

    def swapped(self, which: str, version: str | None) -> bool:
        """Follow an alias swap; True when a new challenger ended a rollback (the rollout before it may resume)."""
        resumed = False
        with self._lock:
            if which == CHALLENGER:
                if version is None or version == self.candidate:
                    return False
                resumed = self.rolled_back is not None and not self.blocked(version)
                if resumed:
                    self.rolled_back = None
                self._new_pair(self.baseline if not self.promoted else self.candidate, version)
            else:
                if version == self.candidate and version is not None:
                    self.promoted = True
                elif version == self.baseline:
                    self.promoted = False
                else:
                    self._new_pair(version, self.candidate if not self.promoted else None)
        if resumed:
            self.save(force=True)
        return resumed

    def _new_pair(self, baseline: str | None, candidate: str | None) -> None:
        self.baseline, self.candidate, self.promoted = baseline, candidate, False
        self.arms, self.pending, self.pending_rows = {}, OrderedDict(), 0
        if self.bandit is not None:
            self.bandit = Bandit(self.bandit.kind, floor=self.bandit.floor, seed=self.bandit.seed)

    # -- the file ----------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with self._lock:
            arms = {v: a.to_dict() for v, a in self.arms.items()}
        return {
            "enabled": self.limits is not None,
            "limits": self.limits.to_dict() if self.limits is not None else None,
            "baseline": self.baseline, "candidate": self.candidate, "promoted": self.promoted,
            "watching": self.watching, "arms": arms,
            "verdict": self.last_verdict.to_dict() if self.last_verdict is not None else None,
            "rolled_back": self.rolled_back,
            "rollbacks": len(self.history),
        }

    def save(self, *, force: bool) -> None:
        """Write ``rollout.json`` (atomically, under a lock); a failure is logged, never raised."""
        if self.state_dir is None:
            return
        now = time.monotonic()
        if not force and now - self._saved_at < SAVE_EVERY_S:
            return
        self._saved_at = now
        state: dict[str, Any] = {
            "format": 1,
            "pair": [self.baseline, self.candidate],
            "promoted": self.promoted,
            "bandit": self.bandit.to_dict() if self.bandit is not None else None,
            "rolled_back": self.rolled_back,
            "history": self.history,
            "guard": self.status(),
        }
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            with file_lock(self.state_dir / (STATE_FILE + ".lock"), timeout_s=5.0):
                # another worker's rollbacks are kept: the history is the union of both
                on_disk = read_rollout_state(self.state_dir) or {}
                seen = {(h.get("at"), h.get("candidate")) for h in state["history"]}
                extra = [h for h in _history(on_disk) if (h.get("at"), h.get("candidate")) not in seen]
                state["history"] = sorted(extra + state["history"], key=lambda h: str(h.get("at")))[-HISTORY:]
                atomic_write_json(self.state_dir / STATE_FILE, state)
        except Exception:  # the rollout goes on (and a rollback holds in memory) even if the disk does not
            logger.exception("could not write the rollout state to %s", self.state_dir / STATE_FILE)


def _history(saved: dict[str, Any]) -> list[dict[str, Any]]:
    """The rollbacks a saved state lists (what is not a list of records, e.g. a hand edit, is left out)."""
    history = saved.get("history")
    return [h for h in history if isinstance(h, dict)][-HISTORY:] if isinstance(history, list) else []


def _copy_arm(arm: Arm) -> Arm:
    return Arm(arm.answered, arm.errors, type(arm.latency_ms)(**vars(arm.latency_ms)),
               type(arm.reward)(**vars(arm.reward)))


def _reward(prediction: Any, label: Any, classifier: bool) -> float | None:
    """1.0 / 0.0 (the answer was the label or not) for a classifier; the absolute error for a regressor."""
    if prediction is None or label is None:
        return None
    if classifier:
        return 1.0 if str(prediction) == str(label) else 0.0
    try:
        return abs(float(prediction) - float(label))
    except (TypeError, ValueError):
        return None
