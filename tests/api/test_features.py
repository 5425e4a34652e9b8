"""The facade's feature store: the training table of a spec with features.entity_timestamp is the point-in-time join."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tabloop.api import feature_repo, features_apply
from tabloop.api._profile import ignored_columns
from tabloop.api._project import Project

from ..features._store import entity_table, history

SPEC = """\
name: featured-api
data: {source: entities.csv, target: churn}
features:
  entity_timestamp: label_time
  entities: [{name: customer, join_keys: {customer_id: int64}}]
  views: [{name: stats, entities: [customer], source: stats.parquet, ttl: 30d,
           features: {spend: float64, visits: int64}}]
"""


def test_read_data_joins_the_entity_table_point_in_time_and_keeps_keys_and_time_out_of_the_features(
    tmp_path: Path,
) -> None:
    history().to_parquet(tmp_path / "stats.parquet", index=False)
    entity_table().to_csv(tmp_path / "entities.csv", index=False)
    (tmp_path / "tabloop.yaml").write_text(SPEC)
    applied = features_apply(tmp_path)
    assert applied.to_dict()["views"] == {"stats": ["spend", "visits"]}
    assert (tmp_path / ".tabloop" / "feast" / "feature_store.yaml").exists()
    proj = Project.open(tmp_path)
    assert feature_repo(proj).project == "featured_api"
    df = proj.read_data()
    assert df.columns.tolist() == ["customer_id", "label_time", "churn", "spend", "visits"]
    # T-10d's values at the labels' T-5d, never T-2d's (see tests/features/_store.py)
    assert df["spend"].tolist()[:2] == [10.0, 20.0]
    assert pd.isna(df["spend"].iloc[2])
    assert {"customer_id", "label_time"} <= set(ignored_columns(proj.spec))
