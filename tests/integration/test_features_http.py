"""A project whose training rows come from the feature store, served over HTTP to requests carrying entity keys.

The whole path as a user takes it: ``tabloop features apply`` (one JSON document on stdout) and
``materialize``, ``train`` on the point-in-time training set, ``tabloop serve`` on loopback;
a request with only ``customer_id`` and the request-time ``channel`` is answered as the same
row with the online store's features, and an unknown customer is refused naming it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

import tabloop

from ._server import wait_until_answering
from .test_serve_http import free_port

pytestmark = pytest.mark.integration

SPEC = """\
name: featured
data:
  source: entities.csv
  target: churn
train:
  budget_seconds: 20
  candidates: [linear]
features:
  project: {project}
  entity_timestamp: label_time
  entities:
    - name: customer
      join_keys: {{customer_id: int64}}
  views:
    - name: stats
      entities: [customer]
      source: stats.parquet
      ttl: 30d
      features: {{spend: float64, visits: float64}}
"""


def _project(root: Path) -> None:
    rng = np.random.default_rng(0)
    now = pd.Timestamp.now(tz="UTC").floor("s")
    n = 160
    ids = np.arange(n)
    label_at = now - pd.to_timedelta(rng.integers(10, 20, n), unit="D")
    spend = rng.normal(50, 20, n)
    hist = pd.DataFrame({
        "customer_id": np.r_[ids, ids],
        # the value at the label's time decides the label; the one after it (the latest) is noise
        "spend": np.r_[spend, rng.normal(50, 20, n)],
        "visits": rng.integers(0, 9, 2 * n).astype(float),
        "event_timestamp": np.r_[label_at - pd.Timedelta(days=2), label_at + pd.Timedelta(days=3)],
    })
    hist.to_parquet(root / "stats.parquet", index=False)
    churn = np.where(spend + rng.normal(0, 5, n) > 50, "yes", "no")
    pd.DataFrame({"customer_id": ids, "label_time": label_at.astype(str), "channel": rng.choice(["web", "shop"], n),
                  "churn": churn}).to_csv(root / "entities.csv", index=False)
    (root / "tabloop.yaml").write_text(SPEC.format(project=f"featured_{os.getpid()}"))


def _cli(root: Path, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "tabloop", *args, "--project", str(root), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # exactly one document, Feast's progress lines went to stderr


def test_keys_only_requests_are_answered_from_the_online_store_and_unknown_entities_refused(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    _project(root)
    applied = _cli(root, "features", "apply")
    assert applied["views"] == {"stats": ["spend", "visits"]}
    assert applied["source_rows"] == {"stats": 320}
    from tabloop.api import features_materialize

    assert set(features_materialize(root).views) == {"stats"}

    result = tabloop.train(root, trials=2)
    bundle = tabloop.load_model(result.version, project=root).bundle
    assert sorted(bundle.contract.feature_names) == ["channel", "spend", "visits"]
    assert {"customer_id", "label_time"} <= set(bundle.contract.ignored)
    # the point-in-time rows carry the signal; the latest values (after the labels) would carry none
    assert result.cv_mean > 0.8
    from tabloop.api._project import Project

    trained_on = Project.open(root).read_data()
    history = pd.read_parquet(root / "stats.parquet")
    assert trained_on["spend"].tolist() == history["spend"].tolist()[:160]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stderr = tmp_path / "server.stderr"
    with open(stderr, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "tabloop", "serve", "--project", str(root), "--model",
                                 result.version, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_until_answering(proc, url, stderr)
        from tabloop.api import feature_repo
        from tabloop.features import Lookup

        online = Lookup(feature_repo(Project.open(root))).fill([{"customer_id": 3}, {"customer_id": 4}]).rows
        with httpx.Client(base_url=url, timeout=60.0) as client:
            keyed = client.post("/predict", json={"rows": [{"customer_id": 3, "channel": "web"},
                                                           {"customer_id": 4, "channel": "shop"}]})
            direct = client.post("/predict", json={"rows": [{**online[0], "channel": "web"},
                                                            {**online[1], "channel": "shop"}]})
            unknown = client.post("/predict", json={"rows": [{"customer_id": 999_999, "channel": "web"}]})
        assert keyed.status_code == 200, keyed.text
        assert keyed.json()["predictions"] == direct.json()["predictions"]
        assert unknown.status_code == 422
        (violation,) = unknown.json()["error"]["violations"]
        assert (violation["column"], violation["rule"]) == ("customer_id", "missing_entity")
        assert "customer_id=999999" in violation["message"]
    finally:
        proc.terminate()
        proc.wait(30)
    _batch_rows_are_completed_from_the_offline_store(root, tmp_path, result.version, keyed.json()["predictions"],
                                                     trained_on)


def _batch_rows_are_completed_from_the_offline_store(root: Path, tmp_path: Path, version: str, served: list[dict],
                                                     trained_on: pd.DataFrame) -> None:
    """tabloop predict on key-only rows: the offline store's values point in time, Feast's way to score in batch."""
    keys = tmp_path / "keys.csv"
    pd.DataFrame({"customer_id": [3, 4, 999_999], "channel": ["web", "shop", "web"]}).to_csv(keys, index=False)
    out = tmp_path / "scored.csv"
    scored = tabloop.predict(keys, out, model=version, project=root, log_predictions=False)
    assert (scored.rows_scored, scored.rows_rejected) == (2, 1)
    # as of now: the newest values, the ones the server looked up in the online store, so the same answers
    assert pd.read_csv(out)["prediction"].tolist() == [p["prediction"] for p in served]
    rejects = pd.read_csv(scored.rejects)
    assert rejects[["row", "column", "value", "rule"]].values.tolist() == [[2, "customer_id", 999999, "no_value"]]
    # as of each row's label_time (a backfill): the features training joined, so the model's answers on those rows
    entities = pd.read_csv(root / "entities.csv").drop(columns="churn")
    from tabloop.features import FeatureRepo

    reads: list[int] = []
    refresh = FeatureRepo.refresh_sources
    FeatureRepo.refresh_sources = lambda self: reads.append(1) or refresh(self)  # type: ignore[method-assign]
    try:
        again = tabloop.predict(root / "entities.csv", tmp_path / "backfill.parquet", model=version, project=root,
                                log_predictions=False, chunk_rows=40)
    finally:
        FeatureRepo.refresh_sources = refresh  # type: ignore[method-assign]
    assert again.rows_scored == len(entities)
    assert len(reads) == 1  # four chunks, the sources checked once (not re-read per chunk)
    expected = tabloop.load_model(version, project=root).predict(trained_on.drop(columns="churn"))
    assert pd.read_parquet(tmp_path / "backfill.parquet")["prediction"].tolist() == expected["prediction"].tolist()
    # features.on_missing: impute scores the unknown customer, its looked-up features marked
    spec = root / "tabloop.yaml"
    spec.write_text(spec.read_text() + "  on_missing: impute\n")
    imputed = tabloop.predict(keys, tmp_path / "imputed.csv", model=version, project=root, log_predictions=False)
    assert (imputed.rows_scored, imputed.rows_rejected) == (3, 0)
    marks = pd.read_csv(tmp_path / "imputed.csv")["out_of_contract"].tolist()
    assert marks[2] == "spend:no_value:impute; visits:no_value:impute"
    assert pd.isna(marks[0]) and pd.isna(marks[1])
