"""The feature store against real servers: Redis as the online store, a PostgreSQL table as an offline source."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pandas as pd
import pytest
import yaml

from tabloop.features import Lookup

from ..features._store import T, entity_table, history, make_repo
from .._postgres import scratch_database

pytestmark = pytest.mark.integration

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture()
def redis_repo(tmp_path):
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"no Redis on 127.0.0.1:6379: {exc}")
    # a project name of its own: Feast puts it in every key, so other users of this Redis are not touched
    project = f"tabloop_test_{uuid.uuid4().hex[:12]}"
    repo = make_repo(tmp_path, online_store=REDIS, project=project)
    yield repo, client, project
    try:
        repo.store.teardown()
    finally:
        for key in client.scan_iter(match=f"*{project}*"):
            client.delete(key)
        client.close()


def test_redis_online_store_gives_what_sqlite_gives_and_teardown_leaves_no_keys(redis_repo, tmp_path) -> None:
    repo, client, project = redis_repo
    repo.apply()
    repo.materialize(T.to_pydatetime())
    assert repo.online_name == REDIS
    assert any(True for _ in client.scan_iter(match=f"*{project}*"))
    sqlite = make_repo(tmp_path / "sqlite")
    sqlite.apply()
    sqlite.materialize(T.to_pydatetime())
    keys = [{"customer_id": c} for c in (1, 2, 3, 4)]
    on_redis = Lookup(repo).fill(keys, now=T.timestamp())
    on_sqlite = Lookup(sqlite).fill(keys, now=T.timestamp())
    assert on_redis.rows == on_sqlite.rows
    assert on_redis.rows[0]["spend"] == 1001.0
    assert sorted(on_redis.gaps) == [2, 3]
    repo.store.teardown()
    assert not any(True for _ in client.scan_iter(match=f"*{project}*"))


@pytest.fixture()
def database() -> Iterator[str]:
    """A database of this test's own (unique name), dropped afterwards whatever happens."""
    with scratch_database("tabloop_feast") as url:
        yield url


def _table(url: str, name: str = "customer_stats") -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    history().to_sql(name, engine, index=False)  # event_timestamp as timestamp with time zone
    engine.dispose()


@pytest.mark.parametrize("where", [{"table": "customer_stats"},
                                   {"query": "SELECT * FROM customer_stats WHERE customer_id < 100"}])
def test_a_postgresql_source_is_feasts_offline_store_and_joins_point_in_time_as_the_parquet_file_does(
    database, tmp_path, where,
) -> None:
    _table(database)
    on_pg = make_repo(tmp_path / "pg", source=database, **where)
    assert on_pg.apply() == {"stats": 5}
    config = yaml.safe_load((on_pg.root / "feature_store.yaml").read_text())
    assert config["offline_store"]["type"] == "postgres"
    assert (config["offline_store"]["database"], config["offline_store"]["sslmode"]) == (database.rsplit("/", 1)[1],
                                                                                         "prefer")
    (view,) = on_pg.store.list_feature_views()
    assert type(view.batch_source).__name__ == "PostgreSQLSource"
    from_file = make_repo(tmp_path / "file")
    from_file.apply()
    entities = entity_table()
    joined = on_pg.historical(entities, "label_time")
    # read in place: no snapshot of the table was written
    assert not (on_pg.root / "sources").exists()
    # the leak a latest-value join has: customers 1 and 2 labelled at T-5d would get T-2d's 1001, 1002
    latest = history().sort_values("event_timestamp").groupby("customer_id").tail(1).set_index("customer_id")
    assert latest.loc[[1, 2], "spend"].tolist() == [1001.0, 1002.0]
    assert joined.frame["spend"].tolist()[:2] == [10.0, 20.0]
    assert joined.frame["spend"].iloc[4] == 1001.0  # customer 1 at T: the newest value at or before T
    assert joined.frame["spend"].isna().tolist() == [False, False, True, True, False]  # past the ttl, never seen
    assert joined.missing == 2
    pd.testing.assert_frame_equal(joined.frame, from_file.historical(entities, "label_time").frame)
    # materialized from PostgreSQL (from its oldest value: this view's first run), looked up online
    on_pg.materialize(T.to_pydatetime())
    online = Lookup(on_pg).fill([{"customer_id": 1}, {"customer_id": 2}], now=T.timestamp())
    assert [r["spend"] for r in online.rows] == [1001.0, 1002.0]
    # the run's probe (its newest entity, read from PostgreSQL) is found online: nothing to load again
    assert on_pg.materialize(T.to_pydatetime())["stats"]["skipped"] == "up to date"


def test_feature_store_yaml_names_the_passwords_feast_reads_from_the_environment(database, tmp_path,
                                                                                 monkeypatch) -> None:
    from feast.repo_config import load_repo_config

    # tabloop uses the URLs' passwords; the file Feast's CLI reads holds none, it names variables instead
    with_password = database.replace("postgres@", "postgres:s3cret@")
    repo = make_repo(tmp_path, source=with_password, table="customer_stats",
                     online_store="redis://:r3dis@127.0.0.1:6379/0")
    repo.write_config()
    text = (repo.root / "feature_store.yaml").read_text()
    assert "s3cret" not in text and "r3dis" not in text
    assert repo.config_dict()["offline_store"]["password"] == "s3cret"  # what tabloop opens the store with
    monkeypatch.setenv("TABLOOP_FEAST_POSTGRES_PASSWORD", "s3cret")
    monkeypatch.setenv("TABLOOP_FEAST_REDIS_PASSWORD", "r3dis")
    config = load_repo_config(repo.root, repo.root / "feature_store.yaml")
    assert config.offline_store.password == "s3cret"
    assert ",password=r3dis," in config.online_store.connection_string


def test_a_postgresql_table_beside_a_parquet_view_is_snapshotted_and_joins_as_well(database, tmp_path) -> None:
    # Feast joins within one offline store: with a Parquet view in the repository, the table is copied to Parquet
    from tabloop.features import FeatureRepo
    from tabloop.spec import FeaturesSpec

    _table(database)
    root = tmp_path / "mixed"
    root.mkdir()
    history().rename(columns={"spend": "spend_b", "visits": "visits_b"}).to_parquet(root / "b.parquet", index=False)
    spec = FeaturesSpec.model_validate({
        "entity_timestamp": "label_time",
        "entities": [{"name": "customer", "join_keys": {"customer_id": "int64"}}],
        "views": [{"name": "stats", "entities": ["customer"], "source": database, "table": "customer_stats",
                   "ttl": "30d", "features": {"spend": "float64", "visits": "int64"}},
                  {"name": "other", "entities": ["customer"], "source": "b.parquet", "ttl": "30d",
                   "features": {"spend_b": "float64", "visits_b": "int64"}}],
    })
    repo = FeatureRepo(spec, f"t_{uuid.uuid4().hex[:10]}", root, root / ".tabloop" / "feast")
    assert repo.postgres is None
    assert repo.apply() == {"stats": 5, "other": 5}
    assert (repo.root / "sources" / "stats.parquet").exists()
    frame = repo.historical(entity_table(), "label_time").frame
    assert frame["spend"].tolist()[:2] == frame["spend_b"].tolist()[:2] == [10.0, 20.0]
    assert frame["spend"].isna().tolist() == frame["spend_b"].isna().tolist() == [False, False, True, True, False]
