"""The domain classifier gives the same verdict in a forked child as in this process, and falls back to it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pandas as pd

from tabloop.monitoring import _multivariate
from tabloop.monitoring._multivariate import PendingDomainCheck, _fork_is_safe, _stratified_folds
from tabloop.spec import DriftSpec

_CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np, pandas as pd
    from tabloop.monitoring._multivariate import domain_classifier_drift, start_domain_check
    from tabloop.spec import DriftSpec

    rng = np.random.default_rng(0)
    n = 1500
    def frame(shift):
        x = rng.normal(0, 1, n)
        return pd.DataFrame({"x": x, "y": x * (1 + shift) + rng.normal(0, 0.3, n),
                             "c": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])})
    ref, cur = frame(0.0), frame(0.8)
    plan = [("x", "numeric"), ("y", "numeric"), ("c", "categorical")]
    pending = start_domain_check(ref, cur, plan, policy=DriftSpec(), seed=3)
    forked = pending._pid is not None
    child = pending.result().to_dict()
    sklearn_after_child = "sklearn" in sys.modules
    here = domain_classifier_drift(ref, cur, plan, policy=DriftSpec(), seed=3).to_dict()
    print(json.dumps({"forked": forked, "child": child, "here": here, "sklearn_after_child": sklearn_after_child}))
    """
)


def test_a_forked_domain_check_gives_the_numbers_of_the_in_process_one() -> None:
    # a fresh interpreter: the test process has scikit-learn and threads loaded, where no fork is made
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=300, check=True)
    doc = json.loads(out.stdout)
    assert doc["forked"] is True
    assert doc["child"] == doc["here"]
    assert doc["child"]["drifted"] is True and doc["child"]["separating"][0] == "y"
    # the child kept scikit-learn out of its own import only; the parent never needed it
    assert doc["sklearn_after_child"] is False


def test_no_fork_once_a_thread_runs_or_an_openmp_library_is_loaded(monkeypatch) -> None:
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        assert not _fork_is_safe()  # the other thread's locks would stay held in the child
    finally:
        stop.set()
        worker.join()
    monkeypatch.setitem(sys.modules, "lightgbm", sys)  # loaded: its OpenMP pool does not survive a fork
    assert not _fork_is_safe()


def test_a_child_that_fails_or_dies_is_replaced_by_the_work_in_this_process() -> None:
    parent = os.getpid()

    def fails_in_child() -> str:
        if os.getpid() != parent:
            raise RuntimeError("broken in the child")
        return "computed here"

    def dies_in_child() -> str:
        if os.getpid() != parent:
            os._exit(9)  # killed before it answered
        return "computed here"

    for run in (fails_in_child, dies_in_child):
        pending = PendingDomainCheck(run)
        pending._fork()
        assert pending._pid is not None
        assert pending.result() == "computed here"
        assert pending._pid is None  # the child was reaped


def test_stratified_folds_cover_every_row_once_and_split_each_class_evenly() -> None:
    y = np.array([0] * 100 + [1] * 31)
    folds = _stratified_folds(y, 3, np.random.default_rng(0))
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested.tolist()) == list(range(len(y)))
    for train, test in folds:
        assert set(train).isdisjoint(test) and len(train) + len(test) == len(y)
        assert 33 <= (y[test] == 0).sum() <= 34 and 10 <= (y[test] == 1).sum() <= 11


def test_the_domain_check_is_not_forked_when_the_windows_are_too_small(monkeypatch) -> None:
    monkeypatch.setattr(_multivariate, "_fork_is_safe", lambda: True)
    frame = pd.DataFrame({"x": np.arange(10.0)})
    pending = _multivariate.start_domain_check(frame, frame, [("x", "numeric")], policy=DriftSpec(), too_small=True)
    assert pending._pid is None
    assert pending.result().note == "too small to judge"


def test_the_permutation_importance_predicts_again_only_what_a_shuffle_changed(monkeypatch) -> None:
    """Rows that drew their own value back, and columns no tree reads, keep their answers: the AUC per fold
    and every column's loss are those of predicting each whole shuffled copy, to the last bit."""
    rng = np.random.default_rng(5)
    n = 1200
    X = np.column_stack([
        rng.normal(0, 1, n),                                      # continuous: almost every row changes
        np.where(rng.random(n) < 0.1, np.nan, rng.normal(0, 1, n)),  # with gaps: a gap drawn for a gap is no change
        rng.integers(0, 3, n).astype(float),                      # a few categories (categorical below)
        (rng.random(n) < 0.2).astype(float),                      # rare binary: most rows draw their own value
        np.full(n, 7.0),                                          # constant: no tree splits on it
    ])
    y = np.concatenate([np.zeros(n // 2), np.ones(n - n // 2)])
    X[y == 1, 0] += 0.5
    X[y == 1, 3] = (rng.random(n - n // 2) < 0.35).astype(float)
    calls: list[int] = []

    def whole_copy(model, held, proba, j, order, *, used=True):  # the definition: predict every shuffled row
        shuffled = held.copy()
        shuffled[:, j] = shuffled[order, j]
        calls.append(j)
        return model.predict(shuffled)

    fast = _multivariate._cross_validate(X, y, [2, 3], seed=11)
    monkeypatch.setattr(_multivariate, "_shuffled_proba", whole_copy)
    slow = _multivariate._cross_validate(X, y, [2, 3], seed=11)
    assert len(calls) == 3 * X.shape[1]
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_array_equal(fast[1], slow[1])
    assert fast[2] == slow[2]
    assert fast[1][0] > 0 and fast[1][3] > 0 and fast[1][4] == 0.0


def test_a_shuffle_that_changes_nothing_predicts_nothing() -> None:
    class Refuses:
        def predict(self, rows):  # pragma: no cover - the point is that it is not called
            raise AssertionError(f"predicted {len(rows)} rows")

    held = np.array([[1.0, np.nan], [1.0, np.nan], [2.0, 3.0]])
    proba = np.array([0.1, 0.2, 0.3])
    got = _multivariate._shuffled_proba(Refuses(), held, proba, 0, np.array([1, 0, 2]))
    np.testing.assert_array_equal(got, proba)
    got = _multivariate._shuffled_proba(Refuses(), held, proba, 1, np.array([1, 0, 2]))  # a gap for a gap
    np.testing.assert_array_equal(got, proba)
    assert _multivariate._shuffled_proba(Refuses(), held, proba, 1, np.array([2, 1, 0]), used=False) is proba


_WORKER = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np, pandas as pd
    from tabloop.monitoring._multivariate import domain_classifier_drift, start_domain_check, start_domain_worker
    from tabloop.spec import DriftSpec

    worker = start_domain_worker()  # before the tables exist, as tabloop monitor forks it
    pid = worker.pid
    rng = np.random.default_rng(0)
    n = 1500
    def frame(shift):
        x = rng.normal(0, 1, n)
        return pd.DataFrame({"x": x, "y": x * (1 + shift) + rng.normal(0, 0.3, n),
                             "c": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])})
    ref, cur = frame(0.0), frame(0.8)
    plan = [("x", "numeric"), ("y", "numeric"), ("c", "categorical")]
    pending = start_domain_check(ref, cur, plan, policy=DriftSpec(), seed=3, worker=worker)
    used = pending._pid == pid and worker.pid is None
    child = pending.result().to_dict()
    unused = start_domain_worker()  # before LightGBM is loaded here, after which nothing is forked
    unused_pid = unused.pid
    unused.close()  # never given work: it exits and is reaped
    try:
        os.waitpid(unused_pid, os.WNOHANG)
        reaped = False
    except ChildProcessError:
        reaped = True
    lightgbm_here = "lightgbm" in sys.modules  # the worker imported it, not this process
    here = domain_classifier_drift(ref, cur, plan, policy=DriftSpec(), seed=3).to_dict()
    print(json.dumps({"used": used, "child": child, "here": here, "reaped": reaped, "lightgbm_here": lightgbm_here}))
    """
)


def test_a_worker_forked_before_the_tables_gives_the_numbers_of_the_in_process_check() -> None:
    out = subprocess.run([sys.executable, "-c", _WORKER], capture_output=True, text=True, timeout=300, check=True)
    doc = json.loads(out.stdout)
    assert doc["used"] is True
    assert doc["child"] == doc["here"]
    assert doc["child"]["drifted"] is True and doc["child"]["separating"][0] == "y"
    assert doc["reaped"] is True
    assert doc["lightgbm_here"] is False


def test_a_worker_that_died_is_replaced_by_the_work_in_this_process(monkeypatch) -> None:
    monkeypatch.setattr(_multivariate, "_fork_is_safe", lambda: True)
    read, write = os.pipe()
    answer_read, answer_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a worker that dies at once, before it reads its work
        os._exit(9)
    os.close(read)
    os.close(answer_write)
    worker = _multivariate.DomainWorker(pid, write, answer_read)
    frame = pd.DataFrame({"x": np.r_[np.zeros(300), np.ones(300)]})
    pending = _multivariate.start_domain_check(frame.iloc[:300], frame.iloc[300:], [("x", "numeric")],
                                               policy=DriftSpec(), seed=1, worker=worker)
    assert worker.pid is None
    got = pending.result()  # the child's pipe was closed or its answer empty: computed here
    expected = _multivariate.domain_classifier_drift(frame.iloc[:300], frame.iloc[300:], [("x", "numeric")],
                                                     policy=DriftSpec(), seed=1)
    assert got.to_dict() == expected.to_dict() and got.auc == 1.0
