"""The drift report, and drift on the bundled HMDA table."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabloop.data import infer_contract
from tabloop.monitoring import compute_drift, drift_report
from tabloop.spec import DriftSpec

POLICY = DriftSpec()


def _windows(n: int, seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame(
        {
            "income": rng.normal(50.0, 10.0, n),
            "age": rng.normal(40.0, 12.0, n),
            "region": rng.choice(np.array(["north", "south", "east", "west"]), n, p=[0.4, 0.3, 0.2, 0.1]),
            "score": rng.beta(2, 5, n),
        }
    )
    current = pd.DataFrame(
        {
            "income": rng.normal(55.0, 10.0, n),
            "age": rng.normal(40.0, 12.0, n),
            "region": rng.choice(np.array(["north", "south", "east", "west"]), n, p=[0.2, 0.3, 0.2, 0.3]),
            "score": rng.beta(2, 5, n),
        }
    )
    return reference, current


def test_report_writes_html_and_json(tmp_path: Path) -> None:
    reference, current = _windows(3_000)
    result = compute_drift(reference, current, policy=POLICY, prediction_column="score")
    assert sorted(result.drifted_features) == ["income", "region"]
    report = drift_report(result, reference, current, title="Drift: demo", subtitle="window 1")
    html_path, json_path = report.write(tmp_path, "drift")
    assert html_path == tmp_path / "drift.html" and json_path == tmp_path / "drift.json"
    text = html_path.read_text()
    # one SVG panel per feature and one for the predictions, drawn without matplotlib
    assert text.count("aria-label='reference and current distribution of") == 4
    assert "aria-label='reference and current distribution of income — drifted'" in text
    assert "aria-label='reference and current distribution of age'" in text
    assert "data:image/png" not in text
    assert "income" in text and "region" in text
    assert "2 of 3 features drifted (income, region)" in text
    # drifted rows come first in the table
    body = text[text.index("<h2>Features</h2>") :]
    assert body.index(">income<") < body.index(">age<") and body.index(">region<") < body.index(">age<")
    assert "<h2>Predictions</h2>" in text
    assert json.loads(json_path.read_text()) == result.to_dict()


def test_report_of_a_too_small_window_never_says_no_drift(tmp_path: Path) -> None:
    reference, current = _windows(40)
    result = compute_drift(reference, current, policy=POLICY)
    assert result.too_small
    html_path, json_path = drift_report(result, reference, current).write(tmp_path, "small")
    text = html_path.read_text().lower()
    assert "too small to judge" in text
    assert "no drift" not in text
    payload = json.loads(json_path.read_text())
    assert payload["status"] == "too_small" and payload["drifted_features"] == []


def test_report_handles_many_columns_and_categories(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 500
    cols = {f"x{i}": rng.normal(size=n) for i in range(30)}
    cols["many"] = rng.integers(0, 40, n).astype(str)
    cols["gone"] = np.full(n, np.nan)
    reference = pd.DataFrame(cols)
    current = reference.sample(frac=1.0, random_state=1).reset_index(drop=True)
    result = compute_drift(reference, current, policy=POLICY)
    text = drift_report(result, reference, current).to_html()
    assert text.count("aria-label='reference and current distribution of") == 32
    # the all-missing column has a panel that says so rather than an empty plot
    gone = text[text.index("aria-label='reference and current distribution of gone"):]
    assert "no values" in gone[: gone.index("</svg>")]


@pytest.fixture(scope="module")
def hmda() -> pd.DataFrame:
    path = resources.files("tabloop") / "datasets" / "hmda.csv"
    with resources.as_file(path) as p:
        return pd.read_csv(p)


def _halves(df: pd.DataFrame, seed: int = 2024) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = np.random.default_rng(seed).permutation(len(df))
    half = len(df) // 2
    return df.iloc[order[:half]].reset_index(drop=True), df.iloc[order[half:]].reset_index(drop=True)


def test_hmda_random_halves_do_not_drift(hmda: pd.DataFrame) -> None:
    contract = infer_contract(hmda, target="deny")
    first, second = _halves(hmda)
    result = compute_drift(first, second, policy=POLICY, contract=contract)
    assert len(result.features) == len(hmda.columns) - 1
    assert "deny" not in [f.column for f in result.features]
    assert result.drifted_features == []
    assert result.status == "no_drift"


def test_hmda_scaled_debt_ratio_is_the_only_drift(hmda: pd.DataFrame) -> None:
    contract = infer_contract(hmda, target="deny")
    first, second = _halves(hmda)
    second = second.assign(dir=second["dir"] * 1.5)
    result = compute_drift(first, second, policy=POLICY, contract=contract)
    assert result.drifted_features == ["dir"]
    assert result.policy_crossed


def test_dollar_signs_and_markup_in_names_and_categories_are_drawn_literally(tmp_path: Path) -> None:
    # matplotlib read text between two $ as math ("$price$" came out as an italic "price", "$unit_$"
    # sank the whole report); the panels are SVG text now, where a name is only ever escaped text
    rng = np.random.default_rng(3)
    n = 500

    def frame(shift: float) -> pd.DataFrame:
        return pd.DataFrame({
            "$price$": rng.normal(10.0 + shift, 1.0, n),
            "$unit_$": rng.normal(0.0, 1.0, n),
            "<b>size</b>": rng.choice(np.array(["$5$", "$10$", "<i>free</i>"]), n),
        })

    reference, current = frame(0.0), frame(1.0)
    result = compute_drift(reference, current, policy=POLICY)
    assert "$price$" in result.drifted_features
    text = drift_report(result, reference, current, title="Drift").write(tmp_path, "drift")[0].read_text()
    assert ">$price$ — drifted</text>" in text and ">$unit_$</text>" in text
    assert ">$5$</text>" in text and ">$10$</text>" in text
    assert "&lt;b&gt;size&lt;/b&gt;" in text and "&lt;i&gt;free&lt;/i&gt;" in text
    assert "<b>size" not in text and "<i>free" not in text
