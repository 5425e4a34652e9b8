"""One small feature history with a known answer at every time, shared by the feature store's tests.

Customer c has spend 10*c from T-10d, then 1000+c from T-2d (after every label time in the
entity table, T-5d): a join that takes the latest value gives the 1000s, a point-in-time join
the 10s. Customer 3's only value is from T-60d, past the 30d ttl; customer 4 has no history.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd

from tabloop.spec import FeaturesSpec

#: the time the history is built around (whole seconds, UTC)
T = pd.Timestamp("2026-06-01 12:00:00", tz="UTC")


def history() -> pd.DataFrame:
    rows = []
    for c in (1, 2):
        rows.append({"customer_id": c, "spend": 10.0 * c, "visits": c, "event_timestamp": T - pd.Timedelta(days=10)})
        rows.append({"customer_id": c, "spend": 1000.0 + c, "visits": 100 + c, "event_timestamp": T - pd.Timedelta(days=2)})
    rows.append({"customer_id": 3, "spend": 30.0, "visits": 3, "event_timestamp": T - pd.Timedelta(days=60)})
    df = pd.DataFrame(rows)
    df["visits"] = df["visits"].astype("int64")
    return df


def entity_table() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [1, 2, 3, 4, 1], "label_time": [T - pd.Timedelta(days=5)] * 4 + [T],
                         "churn": [0, 1, 0, 1, 1]})


def features_spec(source: str, **view: object) -> FeaturesSpec:
    return FeaturesSpec.model_validate({
        "entity_timestamp": "label_time",
        "entities": [{"name": "customer", "join_keys": {"customer_id": "int64"}}],
        "views": [{"name": "stats", "entities": ["customer"], "source": source, "ttl": "30d",
                   "features": {"spend": "float64", "visits": "int64"}, **view}],
    })


def make_repo(root: Path, *, online_store: str | None = None, project: str | None = None, **view: object):
    from tabloop.features import FeatureRepo

    root.mkdir(parents=True, exist_ok=True)
    if not (root / "stats.parquet").exists():
        history().to_parquet(root / "stats.parquet", index=False)
    return FeatureRepo(features_spec(view.pop("source", "stats.parquet"), **view),
                       project or f"t_{uuid.uuid4().hex[:10]}", root, root / ".tabloop" / "feast",
                       online_store=online_store)
