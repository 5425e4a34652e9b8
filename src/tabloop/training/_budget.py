"""A time budget is a promise about a whole command: from its start to the registered model.

The search gets what the other phases leave. What came before it (start-up, reading, splitting, the
baseline) is measured; what comes after it (refit, ensemble, importance, logging the trials, ONNX
export, registration) is estimated from measurements: the refit from the fold fit times of the
trials, the ensemble from a timed scoring pass, the rest from what the same phases took the last
time this project trained (or, in a fresh project, from defaults measured by ``benchmarks/budget``).
Every phase's seconds are recorded, so a result says where the time went.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

#: the least budget a training command accepts: start-up, preparation, the baseline, one trial, the refit,
#: export and registration of a small table take about this long on a quiet two-core machine
MIN_BUDGET_SECONDS = 10.0

#: the phases of a training command, in order
PHASES = ("startup", "prepare", "search", "ensemble", "refit", "importance", "log", "export", "register")


@dataclass
class AfterSearch:
    """Seconds the phases after the search take that do not depend on the winner's family (measured:
    the last training run of the project, else benchmarks/budget's figures on the bundled table)."""

    log_per_run: float = 0.0  # one nested tracking run per trial and per leaderboard row without one
    export: float = 0.0  # ONNX conversion and parity check
    register: float = 0.0  # the bundle logged and registered, the report written, the process ended

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in asdict(self).items()}


@dataclass
class Budget:
    """Seconds from ``started`` (a reading of ``clock``) to the registered model."""

    total: float
    started: float
    clock: Callable[[], float] = time.perf_counter
    after: AfterSearch = field(default_factory=AfterSearch)
    spent: dict[str, float] = field(default_factory=dict)  # phase -> seconds, measured
    notes: list[str] = field(default_factory=list)  # what was shortened or skipped to keep the promise
    # estimates of the training module's own phases after the search (set once known)
    ensemble: float = 0.0
    importance: float = 0.0
    _lap: float | None = None

    def elapsed(self) -> float:
        return self.clock() - self.started

    def left(self) -> float:
        return self.total - self.elapsed()

    @property
    def end(self) -> float:
        """The clock reading by which the registered model is due."""
        return self.started + self.total

    def after_search(self, runs: int, refit: float, *, ensemble: bool = True) -> float:
        """Seconds what follows the search will take: ``refit`` (estimated from the trials' fold fit times),
        the ensemble, the importance, logging ``runs`` tracking runs, the export and the registration."""
        return refit + (self.ensemble if ensemble else 0.0) + self.importance + self.tail(runs)

    def tail(self, runs: int) -> float:
        """Seconds what follows training takes: logging ``runs`` tracking runs, the export and the registration."""
        return self.after.log_per_run * runs + self.after.export + self.after.register

    def search_seconds(self, runs: int = 0, refit: float = 0.0) -> float:
        """Seconds left for the search now: the budget less what was spent and what must follow it."""
        return self.total - self.elapsed() - self.after_search(runs, refit)

    def lap(self, phase: str, at: float | None = None) -> float:
        """Record the seconds since the last lap (or the start) until ``at`` (default: now) as spent on
        ``phase``; returns them."""
        now = self.clock() if at is None else at
        seconds = now - (self.started if self._lap is None else self._lap)
        self._lap = now
        self.spent[phase] = self.spent.get(phase, 0.0) + seconds
        return seconds

    def note(self, message: str) -> None:
        self.notes.append(message)

    def to_dict(self) -> dict[str, Any]:
        return {
            "budget_seconds": self.total,
            # to the end of the last phase recorded (the registered model, once "register" is)
            "wall_seconds": round(self.elapsed() if self._lap is None else self._lap - self.started, 3),
            "spent": {p: round(self.spent[p], 3) for p in (*PHASES, *self.spent) if p in self.spent},
            "estimated_after_search": {**self.after.to_dict(), "ensemble": round(self.ensemble, 3),
                                       "importance": round(self.importance, 3)},
            "notes": list(self.notes),
        }


def process_started(clock: Callable[[], float] = time.perf_counter) -> float:
    """The reading of ``clock`` (``time.perf_counter``) when this process started, so that a command's budget
    counts the interpreter's start-up and imports too; the current reading where the system does not say
    (Linux says, in /proc, to a clock tick)."""
    import os

    now = clock()
    try:
        with open("/proc/self/stat") as f:
            # the command name (field 2) may hold spaces: fields after its closing parenthesis
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        age = uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time in ticks since boot
    except (OSError, ValueError, IndexError):
        return now
    return now - age if math.isfinite(age) and 0 <= age < 3600 else now
