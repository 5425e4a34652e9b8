"""The files ``tabloop test`` writes into a project's tests/model/: ordinary pytest over tabloop's public API.

They are templates only in name: nothing is substituted, every threshold is read from tabloop.yaml's
``model_tests:`` section when the tests run, so a changed budget needs no regeneration and the
files stay the user's to edit (``api/_model_tests.py`` keeps edited files).
"""

from __future__ import annotations

CONFTEST = '''"""Fixtures of the model tests: the project, the version under test, its held-out rows, the champion."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

import tabloop
from tabloop.api import LoadedModel, held_out_rows

#: the project folder: TABLOOP_PROJECT (set by `tabloop test`), else the folder above tests/model
PROJECT = Path(os.environ.get("TABLOOP_PROJECT") or Path(__file__).resolve().parents[2])
#: the version under test: TABLOOP_TEST_VERSION (set by `tabloop test VERSION`), else the champion
VERSION = os.environ.get("TABLOOP_TEST_VERSION") or "champion"


@pytest.fixture(scope="session")
def project() -> Path:
    return PROJECT


@pytest.fixture(scope="session")
def spec(project: Path) -> tabloop.Spec:
    return tabloop.load_spec(project)


@pytest.fixture(scope="session")
def model(project: Path) -> LoadedModel:
    return tabloop.load_model(VERSION, project=project)


@pytest.fixture(scope="session")
def champion(project: Path) -> LoadedModel | None:
    try:
        return tabloop.load_model("champion", project=project)
    except tabloop.ModelNotFoundError:
        return None


@pytest.fixture(scope="session")
def target(spec: tabloop.Spec) -> str:
    return spec.data.target


@pytest.fixture(scope="session")
def held_out(model: LoadedModel, project: Path, target: str) -> pd.DataFrame:
    """The rows kept aside when the version under test was trained (labelled ones only)."""
    rows = held_out_rows(str(model.version), project=project)
    return rows[rows[target].notna()].reset_index(drop=True)


@pytest.fixture(scope="session")
def features(held_out: pd.DataFrame, target: str) -> pd.DataFrame:
    return held_out.drop(columns=[target])
'''

TEST_MODEL = '''"""Model tests of one registered version: what it must do before it serves.

`tabloop test [VERSION]` runs this folder (plain `pytest tests/model` tests the champion). The thresholds
come from tabloop.yaml's model_tests: section. Add tests of your own below: the fixtures `model`, `champion`,
`held_out`, `features`, `spec` and `project` live in conftest.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabloop import ContractViolation, Spec
from tabloop.api import LoadedModel, metric_on

#: how far two runs of the same rows may differ and still count as the same answer
ATOL = 1e-9


def _probabilities(frame: pd.DataFrame) -> np.ndarray:
    return frame[[c for c in frame.columns if c.startswith("proba_")]].to_numpy(dtype=float)


def _difference(expected: pd.DataFrame, got: pd.DataFrame, regression: bool) -> str | None:
    """The first difference between two scored tables of the same rows, or None."""
    if list(got.columns) != list(expected.columns):
        return f"columns {list(got.columns)} instead of {list(expected.columns)}"
    if len(got) != len(expected):
        return f"{len(got)} rows instead of {len(expected)}"
    if regression:
        a, b = expected["prediction"].to_numpy(dtype=float), got["prediction"].to_numpy(dtype=float)
        off = np.flatnonzero(~np.isclose(a, b, rtol=1e-7, atol=ATOL))
        return f"row {off[0]}: prediction {b[off[0]]!r} instead of {a[off[0]]!r} ({len(off)} rows differ)" if len(off) else None
    a, b = expected["prediction"].astype(str).to_numpy(), got["prediction"].astype(str).to_numpy()
    off = np.flatnonzero(a != b)
    if len(off):
        return f"row {off[0]}: label {b[off[0]]!r} instead of {a[off[0]]!r} ({len(off)} rows differ)"
    pa, pb = _probabilities(expected), _probabilities(got)
    gap = np.abs(pa - pb).max(axis=1) if pa.size else np.zeros(0)
    off = np.flatnonzero(gap > ATOL)
    return f"row {off[0]}: probabilities differ by {gap[off[0]]:.3g} > {ATOL:g} ({len(off)} rows differ)" if len(off) else None


def test_outputs_have_the_right_shape_and_range(model: LoadedModel, features: pd.DataFrame, held_out: pd.DataFrame,
                                                target: str) -> None:
    out = model.predict(features)
    assert len(out) == len(features), f"{len(out)} predictions for {len(features)} rows"
    assert "prediction" in out.columns, f"no prediction column in {list(out.columns)}"
    if model.task == "regression":
        values = out["prediction"].to_numpy(dtype=float)
        bad = int((~np.isfinite(values)).sum())
        assert bad == 0, f"{bad} of {len(values)} predictions are not finite numbers"
        y = held_out[target].to_numpy(dtype=float)
        lo, hi = float(y.min()), float(y.max())
        span = (hi - lo) or max(abs(lo), 1.0)
        outside = values[(values < lo - span) | (values > hi + span)]
        assert len(outside) == 0, (
            f"{len(outside)} of {len(values)} predictions outside [{lo - span:.4g}, {hi + span:.4g}] (the held-out "
            f"target's range {lo:.4g} to {hi:.4g}, widened by its span on each side), e.g. {outside[0]:.4g}")
        return
    classes = [str(c) for c in model.classes]
    unknown = sorted(set(out["prediction"].astype(str)) - set(classes))
    assert not unknown, f"predicted labels {unknown} are not classes of the model {classes}"
    proba = _probabilities(out)
    assert proba.shape == (len(features), len(classes)), (
        f"probabilities of shape {proba.shape}; expected ({len(features)}, {len(classes)}), one column per class")
    assert np.isfinite(proba).all(), f"{int((~np.isfinite(proba)).sum())} probabilities are not finite"
    assert proba.min() >= 0 and proba.max() <= 1, f"probabilities range from {proba.min():.6g} to {proba.max():.6g}, outside [0, 1]"


def test_probabilities_sum_to_one(model: LoadedModel, features: pd.DataFrame) -> None:
    if model.task == "regression":
        pytest.skip("a regression model gives no probabilities")
    sums = _probabilities(model.predict(features)).sum(axis=1)
    worst = int(np.abs(sums - 1).argmax())
    assert abs(sums[worst] - 1) <= 1e-6, (
        f"row {worst}: probabilities sum to {sums[worst]:.9f} (|sum - 1| = {abs(sums[worst] - 1):.2e} > 1e-6)")


def test_predictions_do_not_depend_on_column_order(model: LoadedModel, features: pd.DataFrame) -> None:
    rows = features.head(200)
    expected = model.predict(rows)
    shuffled = list(np.random.default_rng(0).permutation(list(rows.columns)))
    for order, name in ((list(reversed(rows.columns)), "reversed"), (shuffled, "shuffled")):
        diff = _difference(expected, model.predict(rows[order]), model.task == "regression")
        assert diff is None, f"columns in {name} order {order}: {diff}"


def test_missing_values_follow_the_contract(model: LoadedModel, features: pd.DataFrame) -> None:
    contract = model.contract
    rows = features.head(20)
    problems = []
    for column in contract.columns:
        if column.name not in rows.columns:
            continue
        gap = rows.copy()
        gap[column.name] = np.nan if column.kind == "numeric" else None
        policy = contract.policy.of(column.name)["not_null"]
        if column.nullable or policy == "warn":
            why = "nullable" if column.nullable else "not_null: warn"
            try:
                out = model.predict(gap)
            except ContractViolation as exc:
                problems.append(f"{column.name} ({why}): a gap was refused: {exc.message}")
                continue
            if len(out) != len(gap):
                problems.append(f"{column.name} ({why}): {len(out)} answers for {len(gap)} rows with a gap")
            elif model.task == "regression" and not np.isfinite(out["prediction"].to_numpy(dtype=float)).all():
                problems.append(f"{column.name} ({why}): a gap gave a prediction that is not a finite number")
        else:
            try:
                model.predict(gap)
            except ContractViolation as exc:
                if column.name not in str(exc):
                    problems.append(f"{column.name} (not nullable): refused, but the error does not name it: {exc}")
            else:
                problems.append(f"{column.name} (not nullable, not_null: {policy}): {len(gap)} rows with a gap were "
                                "answered instead of refused")
    assert not problems, f"{len(problems)} of {len(contract.columns)} columns: " + "; ".join(problems)


def test_single_row_predictions_equal_the_batch(model: LoadedModel, features: pd.DataFrame,
                                                spec: Spec) -> None:
    n = min(spec.model_tests.single_rows, len(features))
    rows = features.head(n)
    batch = model.predict(rows)
    single = pd.concat([model.predict(rows.iloc[[i]]) for i in range(n)], ignore_index=True)
    diff = _difference(batch, single, model.task == "regression")
    assert diff is None, f"{n} rows predicted one at a time vs as one batch: {diff}"


def test_one_row_latency_is_within_budget(model: LoadedModel, features: pd.DataFrame, spec: Spec) -> None:
    budget, calls = spec.model_tests.latency_ms, spec.model_tests.latency_calls
    rows = [features.iloc[[i % len(features)]] for i in range(calls)]  # sliced before the clock starts
    for row in rows[:5]:
        model.predict(row)
    took = []
    for row in rows:
        start = time.perf_counter()
        model.predict(row)
        took.append((time.perf_counter() - start) * 1000)
    p95, median = float(np.percentile(took, 95)), float(np.median(took))
    assert p95 <= budget, (f"p95 one-row latency {p95:.1f} ms > budget {budget:g} ms over {calls} calls "
                           f"(median {median:.1f} ms; model_tests.latency_ms in tabloop.yaml)")


def test_metric_meets_the_minimum(model: LoadedModel, held_out: pd.DataFrame, spec: Spec, project: Path) -> None:
    minimum = spec.model_tests.min_metric
    if minimum is None:
        pytest.skip("model_tests.min_metric is not set in tabloop.yaml")
    score = metric_on(model, held_out, project=project)
    side = "below" if score.greater_is_better else "above"
    shown = "undefined" if score.value is None else f"{score.value:.4f}"
    assert score.at_least_as_good(minimum), (
        f"{score.metric} {shown} on {score.rows} held-out rows is {side} model_tests.min_metric {minimum:g}")


def test_no_regression_against_the_champion(model: LoadedModel, champion: LoadedModel | None,
                                            held_out: pd.DataFrame, spec: Spec, project: Path) -> None:
    if champion is None:
        pytest.skip("no champion to compare with")
    if str(champion.version) == str(model.version):
        pytest.skip(f"version {model.version} is the champion")
    ours = metric_on(model, held_out, project=project)
    theirs = metric_on(champion, held_out, project=project)
    if theirs.value is None or ours.value is None:
        pytest.skip(f"{ours.metric} is undefined on these {ours.rows} rows")
    allowed = spec.model_tests.max_regression
    bound = theirs.value - allowed if ours.greater_is_better else theirs.value + allowed
    worse = (theirs.value - ours.value) if ours.greater_is_better else (ours.value - theirs.value)
    assert ours.at_least_as_good(bound), (
        f"{ours.metric} {ours.value:.4f} vs champion v{champion.version} {theirs.value:.4f} on the same "
        f"{ours.rows} held-out rows: worse by {worse:.4f} > model_tests.max_regression {allowed:g}")
'''

#: what tabloop writes, by file name under tests/model/
FILES: dict[str, str] = {"conftest.py": CONFTEST, "test_model.py": TEST_MODEL}
