"""Multivariate drift: can a classifier tell the reference from the current window?

One column at a time misses changes in how columns go together (the same incomes,
the same ages, but no longer the same incomes *at* the same ages). A domain
classifier sees every column at once: LightGBM learns to tell reference rows from
current rows, and its cross-validated ROC AUC says how well it can. About 0.5
means the windows are indistinguishable; the policy's ``domain_auc_threshold``
says from where on that counts as drift. The features the classifier leans on
(share of the AUC lost when the column is shuffled on held-out rows) name what
separates the windows.
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
import threading
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tabloop._plain import plain
from tabloop.monitoring._columns import Kind, as_float, category_labels
from tabloop.spec import DriftSpec
from tabloop.stats import roc_auc

__all__ = ["DomainWorker", "MultivariateDrift", "PendingDomainCheck", "domain_classifier_drift", "start_domain_check",
           "start_domain_worker"]

log = logging.getLogger(__name__)

#: folds of the cross-validation; every row is scored by a model that never saw it
FOLDS = 3
#: boosting rounds of the domain classifier
ROUNDS = 60
#: a feature "separates" the windows when it carries at least this share of the importance
SEPARATING_SHARE = 0.1
#: how many features the verdict lists by importance
TOP_FEATURES = 10


@dataclass
class MultivariateDrift:
    """The domain classifier's verdict on the two windows."""

    auc: float | None
    auc_folds: list[float]
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int
    #: (column, share of the classifier's permutation importance), largest first
    importances: list[tuple[str, float]] = field(default_factory=list)
    #: the columns carrying at least SEPARATING_SHARE of the importance, when drifted
    separating: list[str] = field(default_factory=list)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["importances"] = [{"column": c, "share": s} for c, s in self.importances]
        return plain(out)


def domain_classifier_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    plan: list[tuple[str, Kind]],
    *,
    policy: DriftSpec,
    seed: int = 0,
    too_small: bool = False,
) -> MultivariateDrift:
    """Cross-validated AUC of a classifier telling ``current`` rows from ``reference`` rows."""
    rows = policy.domain_rows
    rng = np.random.default_rng(seed)
    ref = _sample(reference, rows, rng)
    cur = _sample(current, rows, rng)
    out = MultivariateDrift(
        auc=None, auc_folds=[], threshold=policy.domain_auc_threshold, drifted=False,
        reference_rows=len(ref), current_rows=len(cur),
    )
    if too_small or min(len(ref), len(cur)) < max(policy.min_rows, 2 * FOLDS):
        out.note = "too small to judge"
        return out
    if not plan:
        out.note = "no features to compare"
        return out
    X = _encode(ref, cur, plan)
    y = np.concatenate([np.zeros(len(ref)), np.ones(len(cur))])
    names = [name for name, _ in plan]
    categorical = [i for i, (_, kind) in enumerate(plan) if kind == "categorical"]
    proba, gains, folds = _cross_validate(X, y, categorical, seed)
    out.auc = roc_auc(y, proba)
    out.auc_folds = folds
    total = float(gains.sum())
    shares = gains / total if total > 0 else np.zeros_like(gains)
    order = np.argsort(-shares, kind="stable")
    out.importances = [(names[i], float(shares[i])) for i in order[:TOP_FEATURES] if shares[i] > 0]
    out.drifted = out.auc >= policy.domain_auc_threshold
    if out.drifted:
        out.separating = [c for c, s in out.importances if s >= SEPARATING_SHARE]
    return out


def _sample(df: pd.DataFrame, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(df) <= rows:
        return df
    return df.iloc[np.sort(rng.choice(len(df), size=rows, replace=False))]


def _encode(ref: pd.DataFrame, cur: pd.DataFrame, plan: list[tuple[str, Kind]]) -> np.ndarray:
    """Both windows as one float matrix: numbers as they are, categories as shared integer codes."""
    cols = []
    for name, kind in plan:
        if kind == "numeric":
            col = np.concatenate([as_float(ref[name], name, "reference"), as_float(cur[name], name, "current")])
            col[~np.isfinite(col)] = np.nan
        else:
            both = pd.concat([ref[name], cur[name]], ignore_index=True)
            labels = category_labels(both)
            codes, _ = pd.factorize(labels, sort=True)
            col = codes.astype("float64")
        cols.append(col)
    return np.column_stack(cols)


def _cross_validate(
    X: np.ndarray, y: np.ndarray, categorical: list[int], seed: int
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Out-of-fold probabilities, each feature's summed AUC loss when shuffled, and the AUC per fold.

    Importance is permutation importance on the held-out fold: split gain would
    credit whatever noise the trees happened to split on, the AUC lost when a
    column is shuffled credits only what tells the windows apart on unseen rows.
    """
    import lightgbm as lgb

    rng = np.random.default_rng(seed)
    splits = _stratified_folds(y, FOLDS, rng)
    # every shuffle drawn up front, fold by fold and column by column
    shuffles = [[rng.permutation(len(test)) for _ in range(X.shape[1])] for _, test in splits]
    # LightGBM's core API, not LGBMClassifier: the same trees (these are LGBMClassifier's settings,
    # its other defaults are the core's), without importing scikit-learn (see start_domain_check)
    params = {"objective": "binary", "learning_rate": 0.1, "num_leaves": 15, "min_data_in_leaf": 40,
              "num_threads": 1, "seed": seed, "verbosity": -1}

    def one_fold(k: int) -> tuple[np.ndarray, float, np.ndarray]:
        train, test = splits[k]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = lgb.Dataset(X[train], label=y[train], categorical_feature=categorical or "auto", params=params)
            model = lgb.train(params, data, num_boost_round=ROUNDS)
            fold_proba = model.predict(X[test])
            auc = roc_auc(y[test], fold_proba)
            held = X[test]
            lost = np.zeros(X.shape[1])
            used = model.feature_importance("split") > 0
            for j, order in enumerate(shuffles[k]):
                shuffled = _shuffled_proba(model, held, fold_proba, j, order, used=bool(used[j]))
                lost[j] = max(auc - roc_auc(y[test], shuffled), 0.0)
        return fold_proba, auc, lost

    # one fold after another: LightGBM is not safe to drive from several threads at once (a fit in one
    # thread and a prediction in another crashed the process, in the test suite); a standalone monitor
    # runs this in a child process beside the parent's own work (start_domain_check), which uses the cores
    results = [one_fold(k) for k in range(len(splits))]
    proba = np.zeros(len(y))
    losses = np.zeros(X.shape[1])
    folds: list[float] = []
    for (_, test), (fold_proba, auc, lost) in zip(splits, results, strict=True):
        proba[test] = fold_proba
        folds.append(auc)
        losses += lost
    return proba, losses, folds


def _shuffled_proba(model: Any, held: np.ndarray, proba: np.ndarray, j: int, order: np.ndarray, *,
                    used: bool = True) -> np.ndarray:
    """``model``'s answers on ``held`` with column ``j`` shuffled by ``order``, given its answers ``proba`` on
    ``held`` as it is; ``used=False`` says no tree of the model splits on the column.

    The answers are those of ``model.predict`` on the whole shuffled copy, computed with less: a tree
    model answers each row on its own, so a row that drew its own value back (most rows of a column
    with a few categories) gets the very answer it had, and a column no tree reads changes no answer.
    Only the rows whose value changed are predicted again: on the start-up benchmark's 10,000 rows,
    half the rows of the permutation importance, which was most of the domain classifier's time.
    """
    if not used:
        return proba
    column = held[:, j]
    drawn = column[order]
    changed = (drawn != column) & ~(np.isnan(drawn) & np.isnan(column))
    out = proba.copy()
    if changed.any():
        rows = held[changed]
        rows[:, j] = drawn[changed]
        out[changed] = model.predict(rows)
    return out


def _stratified_folds(y: np.ndarray, folds: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) row positions of ``folds`` folds, each class spread evenly over them, rows shuffled."""
    fold_of = np.empty(len(y), dtype=np.int64)
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        fold_of[rng.permutation(rows)] = np.arange(rows.size) % folds
    return [(np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)) for k in range(folds)]


# --------------------------------------------------------------------------- in a child process

#: libraries whose thread pools (OpenMP) do not survive a fork: once one is loaded, no child is forked
_NOT_FORK_SAFE = ("lightgbm", "xgboost", "catboost", "sklearn", "torch")


class PendingDomainCheck:
    """A domain check under way: in a forked child process where that is safe, else run on ``result()``.

    A standalone ``tabloop monitor`` spends more on the domain classifier than on everything
    else: importing LightGBM imports scikit-learn and with it ``scipy.stats`` (most of a
    second), then three folds of boosting. A child forked after the tables are read does that
    on the other core while this process tests each column and draws the report; the child
    imports LightGBM without scikit-learn, which the core API does not need. The numbers are
    the same either way (tests/monitoring/test_multivariate.py).
    """

    def __init__(self, run: Any) -> None:
        self._run = run
        self._pid: int | None = None
        self._read: int | None = None
        self._done: MultivariateDrift | None = None

    def _fork(self) -> None:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: compute, send, exit without running the parent's exit handlers
            try:
                os.close(read)
                # the child only trains boosters through LightGBM's core API: keeping scikit-learn
                # (and dask) out of its import saves most of a second, and nothing else runs here
                for name in ("sklearn", "dask"):
                    sys.modules.setdefault(name, None)  # type: ignore[arg-type]
                try:
                    payload = pickle.dumps(("ok", self._run()))
                except BaseException as exc:  # noqa: BLE001 - handed to the parent, which runs it again
                    payload = pickle.dumps(("error", repr(exc)))
                with os.fdopen(write, "wb") as out:
                    out.write(payload)
            finally:
                os._exit(0)
        os.close(write)
        self._pid, self._read = pid, read

    def result(self) -> MultivariateDrift:
        if self._done is None:
            self._done = self._collect() if self._pid is not None else None
            if self._done is None:
                self._done = self._run()
        return self._done

    def _collect(self) -> MultivariateDrift | None:
        assert self._pid is not None and self._read is not None
        with os.fdopen(self._read, "rb") as pipe:
            payload = pipe.read()
        os.waitpid(self._pid, 0)
        self._pid = self._read = None
        try:
            status, value = pickle.loads(payload)
        except Exception:  # noqa: BLE001 - the child died (killed, out of memory) before it answered
            status, value = "error", "no answer from the child process"
        if status == "ok":
            return value
        log.debug("the domain classifier's child process failed (%s); running it here", value)
        return None


def _fork_is_safe() -> bool:
    """Fork only a plain single-threaded process on Linux, before any OpenMP library is loaded.

    A fork copies one thread: a lock held by another thread (an import, a logging handler)
    stays held in the child forever, and OpenMP runtimes hang in a forked child once the
    parent has used them. A notebook, a server or a test run keeps the work in-process.
    """
    return (
        sys.platform.startswith("linux")
        and hasattr(os, "fork")
        and threading.active_count() == 1
        and not any(name in sys.modules for name in _NOT_FORK_SAFE)
        and (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1) > 1
    )


def start_domain_check(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    plan: list[tuple[str, Kind]],
    *,
    policy: DriftSpec,
    seed: int = 0,
    too_small: bool = False,
    fork: bool = True,
    worker: DomainWorker | None = None,
) -> PendingDomainCheck:
    """``domain_classifier_drift`` started now and read with ``.result()``: in a child process when ``fork``
    is allowed and safe (see ``_fork_is_safe``), else computed by ``.result()`` itself.

    ``worker`` (``start_domain_worker``'s, forked earlier) takes the check instead of a new fork; it is
    closed here either way.
    """
    pending = PendingDomainCheck(
        lambda: domain_classifier_drift(reference, current, plan, policy=policy, seed=seed, too_small=too_small)
    )
    try:
        if fork and not too_small and plan:
            if worker is not None and worker.waiting:
                worker.submit(pending, (reference, current, plan, policy, seed, too_small))
            elif _fork_is_safe():
                pending._fork()
    finally:
        if worker is not None:
            worker.close()
    return pending


class DomainWorker:
    """A child process forked before the tables are read, waiting for the domain check.

    It imports LightGBM (a sixth of a second, on the child's path to its answer) while this
    process reads the tables, then takes the check through a pipe (``submit``); the answer comes
    back as from ``PendingDomainCheck._fork``'s child. ``close`` lets an unused one go: it sees the
    pipe end and exits, and is reaped here.
    """

    def __init__(self, pid: int, job: int, answer: int) -> None:
        self.pid: int | None = pid
        self._job, self._answer = job, answer

    @property
    def waiting(self) -> bool:
        return self.pid is not None

    def submit(self, pending: PendingDomainCheck, args: tuple[Any, ...]) -> None:
        """Hand ``args`` (``domain_classifier_drift``'s) to the child; ``pending`` collects its answer."""
        assert self.pid is not None
        data = pickle.dumps(args)
        try:
            with os.fdopen(self._job, "wb") as out:  # the child reads as this writes, while it imports
                out.write(data)
        except OSError as exc:  # the child is gone: .result() computes here
            log.debug("the domain classifier's child process took no work (%s)", exc)
            os.close(self._answer)
            os.waitpid(self.pid, 0)
        else:
            pending._pid, pending._read = self.pid, self._answer
        self.pid = None

    def close(self) -> None:
        """Let the child go without work (no-op once ``submit`` handed it the check)."""
        if self.pid is None:
            return
        os.close(self._job)
        os.close(self._answer)
        os.waitpid(self.pid, 0)
        self.pid = None


def start_domain_worker() -> DomainWorker | None:
    """A ``DomainWorker`` forked now, or None where forking is not safe (see ``_fork_is_safe``)."""
    if not _fork_is_safe():
        return None
    job_read, job_write = os.pipe()
    answer_read, answer_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: wait for work, answer, exit without running the parent's exit handlers
        try:
            os.close(job_write)
            os.close(answer_read)
            _serve(job_read, answer_write)
        finally:
            os._exit(0)
    os.close(job_read)
    os.close(answer_write)
    return DomainWorker(pid, job_write, answer_read)


def _serve(job: int, answer: int) -> None:
    """The worker child: import LightGBM on a thread while the job arrives, run it, send the outcome."""
    for name in ("sklearn", "dask"):  # as in PendingDomainCheck._fork: LightGBM's core API needs neither
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    importer = threading.Thread(target=_import_lightgbm, daemon=True)
    importer.start()
    with os.fdopen(job, "rb") as pipe:
        data = pipe.read()
    if not data:  # closed unused
        return
    try:
        reference, current, plan, policy, seed, too_small = pickle.loads(data)
        importer.join()
        payload = pickle.dumps(("ok", domain_classifier_drift(reference, current, plan, policy=policy, seed=seed,
                                                              too_small=too_small)))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, which runs it again
        payload = pickle.dumps(("error", repr(exc)))
    with os.fdopen(answer, "wb") as out:
        out.write(payload)


def _import_lightgbm() -> None:
    try:
        import lightgbm  # noqa: F401
    except Exception:  # noqa: BLE001 - the check imports it again and reports the failure to the parent
        pass
