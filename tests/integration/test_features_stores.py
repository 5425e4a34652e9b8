"""The feature store against real servers: Redis as the online store, a PostgreSQL table as an offline source."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pandas as pd
import pytest

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


def test_a_postgresql_table_as_offline_source_joins_as_the_parquet_file_does(database, tmp_path) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(database)
    history().to_sql("customer_stats", engine, index=False)
    engine.dispose()
    on_pg = make_repo(tmp_path / "pg", source=database, table="customer_stats")
    rows = on_pg.apply()
    assert rows == {"stats": 5}
    from_file = make_repo(tmp_path / "file")
    from_file.apply()
    entities = entity_table()
    joined = on_pg.historical(entities, "label_time").frame
    pd.testing.assert_frame_equal(joined, from_file.historical(entities, "label_time").frame)
    assert joined["spend"].tolist()[:2] == [10.0, 20.0]
    # materialized from the table, looked up online
    on_pg.materialize(T.to_pydatetime())
    assert Lookup(on_pg).fill([{"customer_id": 2}], now=T.timestamp()).rows[0]["spend"] == 1002.0
