"""The Feast repository built from the spec: apply, the point-in-time join, materialize, sources that are wrong."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from tabloop.errors import DataError, FeatureStoreError
from ._store import T, entity_table, history, make_repo


def _latest_join(entities: pd.DataFrame, hist: pd.DataFrame) -> pd.DataFrame:
    """What a naive join does: each entity's newest value, whatever the label's time."""
    latest = hist.sort_values("event_timestamp").groupby("customer_id").tail(1)
    return entities.merge(latest[["customer_id", "spend", "visits"]], on="customer_id", how="left")


def test_the_point_in_time_join_gives_the_value_known_at_the_label_time_where_a_latest_join_leaks(applied) -> None:
    entities = entity_table()
    naive = _latest_join(entities, history())
    joined = applied.historical(entities, "label_time")
    # customers 1 and 2 at T-5d: the latest join sees T-2d's values, three days in the future
    assert naive["spend"].tolist()[:2] == [1001.0, 1002.0]
    assert joined.frame["spend"].tolist()[:2] == [10.0, 20.0]
    assert joined.frame["visits"].tolist()[:2] == [1, 2]
    # the same customer labelled at T gets T-2d's value: the newest at or before its time
    assert joined.frame["spend"].iloc[4] == 1001.0


def test_the_join_keeps_every_row_in_order_and_leaves_values_past_the_ttl_or_never_seen_empty(applied) -> None:
    entities = entity_table()
    joined = applied.historical(entities, "label_time")
    frame = joined.frame
    assert len(frame) == len(entities)
    pd.testing.assert_frame_equal(frame[entities.columns.tolist()], entities)
    # customer 3's value is 55 days old at its label (ttl 30d), customer 4 has none
    assert frame["spend"].isna().tolist() == [False, False, True, True, False]
    assert joined.missing == 2
    assert joined.features == ["spend", "visits"]


def test_the_join_names_what_the_entity_table_lacks(applied) -> None:
    with pytest.raises(DataError, match=r"entities.csv: column\(s\) \['label_time'\] are missing"):
        applied.historical(entity_table().drop(columns="label_time"), "label_time", source="entities.csv")
    bad = entity_table().astype({"label_time": object})
    bad.loc[2, "label_time"] = None
    with pytest.raises(DataError, match="'label_time' is empty in row 2"):
        applied.historical(bad, "label_time")
    with pytest.raises(DataError, match=r"\['spend'\] are also features"):
        applied.historical(entity_table().assign(spend=1.0), "label_time")


def test_apply_writes_a_feature_store_yaml_feast_can_read(applied) -> None:
    config = yaml.safe_load((applied.root / "feature_store.yaml").read_text())
    assert config["project"] == applied.project
    assert config["online_store"] == {"type": "sqlite", "path": str(applied.root / "online.db")}
    assert {fv.name for fv in applied.store.list_feature_views()} == {"stats"}


def test_materialize_loads_the_newest_values_and_a_second_run_starts_where_the_first_stopped(applied) -> None:
    again = applied.materialize(T.to_pydatetime())
    assert again["stats"]["skipped"] == "up to date"
    later = applied.materialize((T + pd.Timedelta(hours=1)).to_pydatetime())
    assert pd.Timestamp(later["stats"]["start"]) == T


def test_a_source_without_the_named_columns_is_refused_naming_view_and_columns(tmp_path) -> None:
    repo = make_repo(tmp_path)
    history().drop(columns="visits").to_parquet(tmp_path / "stats.parquet", index=False)
    with pytest.raises(FeatureStoreError, match=r"features.views.stats .*column\(s\) \['visits'\] are missing"):
        repo.apply()


def test_reading_before_apply_says_to_apply(tmp_path) -> None:
    repo = make_repo(tmp_path)
    with pytest.raises(FeatureStoreError, match="tabloop features apply"):
        repo.historical(entity_table(), "label_time")


def test_materialize_remembers_where_it_stopped_per_online_store(tmp_path) -> None:
    repo = make_repo(tmp_path)
    repo.apply()
    repo.materialize(T.to_pydatetime())
    # the same registry, another online store: its first run loads from the start, not from the first store's end
    other = make_repo(tmp_path, project=repo.project, online_store=str(tmp_path / "other.db"))
    first = other.materialize(T.to_pydatetime())
    assert pd.Timestamp(first["stats"]["start"]) == T - pd.Timedelta(days=30)
    from tabloop.features import Lookup

    assert Lookup(other).fill([{"customer_id": 1}], now=T.timestamp()).rows[0]["spend"] == 1001.0


def test_a_redis_url_becomes_feasts_connection_string_with_timeouts_and_no_retries() -> None:
    from tabloop.features import redis_connection_string

    # without timeouts a hung Redis held every served request; redis-py's retries made a down one cost 4 s each
    assert redis_connection_string("redis://:s3cret@cache:6380/2") == (
        "cache:6380,db=2,password=s3cret,socket_connect_timeout=1,socket_timeout=2,retry=null")
    assert redis_connection_string("rediss://cache/0?socket_timeout=0.25") == (
        "cache:6379,db=0,ssl=true,socket_connect_timeout=1,socket_timeout=0.25,retry=null")
    with pytest.raises(FeatureStoreError, match="'retries'"):
        redis_connection_string("redis://cache:6379/0?retries=3")
    with pytest.raises(FeatureStoreError, match="socket_timeout='soon'"):
        redis_connection_string("redis://cache:6379/0?socket_timeout=soon")
    with pytest.raises(FeatureStoreError, match="not a redis:// URL"):
        redis_connection_string("postgresql://cache/0")


def test_an_online_store_that_lost_its_values_is_loaded_again_not_skipped_as_up_to_date(tmp_path) -> None:
    from tabloop.features import Lookup

    repo = make_repo(tmp_path, online_store=str(tmp_path / "online.db"))
    repo.materialize(T.to_pydatetime())
    assert repo.materialize(T.to_pydatetime())["stats"]["skipped"] == "up to date"  # still holds them
    # what a Redis restarted without persistence is: the same address, nothing in it
    (tmp_path / "online.db").unlink()
    fresh = make_repo(tmp_path, project=repo.project, online_store=str(tmp_path / "online.db"))
    fresh.apply()  # its tables, empty
    assert Lookup(fresh).fill([{"customer_id": 1}], now=T.timestamp()).gaps  # empty: missing_entity
    again = fresh.materialize(T.to_pydatetime())
    assert "skipped" not in again["stats"]
    assert pd.Timestamp(again["stats"]["start"]) == T - pd.Timedelta(days=30)
    assert again["stats"]["reloaded"]
    assert Lookup(fresh).fill([{"customer_id": 1}], now=T.timestamp()).rows[0]["spend"] == 1001.0
