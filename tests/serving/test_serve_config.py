"""ServeConfig: what ``serving:`` in the spec becomes, and the checks made when a config is built."""

from __future__ import annotations

from typing import Any

import pytest

from tabloop.bundle import ModelBundle
from tabloop.errors import ServingError
from tabloop.serving import Access, ApiKeys, Following, Limits, LogConfig, ServeConfig
from tabloop.spec import ServingSpec


def test_from_spec_groups_the_serving_keys(bundle: ModelBundle) -> None:
    spec = ServingSpec(
        max_rows_per_request=7, max_body_bytes=2048, max_concurrency=3, timeout_s=2.5, log_sync="ack",
        log_sync_interval_s=0.5, poll_interval_s=4.0, allowed_hosts=["api.example.com"],
        rollout={"mode": "canary", "share": 0.2}, feedback_holdout={"share": 0.1},
    )
    config = ServeConfig.from_spec(spec, bundle, aliases={"champion": "champion"}, variant="champion")
    assert config.limits == Limits(max_rows=7, max_body_bytes=2048, max_concurrency=3, timeout_s=2.5)
    assert (config.log.predlog, config.log.sync, config.log.sync_interval_s) == (None, "ack", 0.5)
    assert config.following == Following(None, {"champion": "champion"}, 4.0) and not config.following.polls
    assert (config.rollout.mode, config.rollout.share) == ("canary", 0.2)
    assert config.holdout.share == 0.1
    assert config.access.api_keys == ApiKeys()
    hosts = config.access.allowed_hosts
    assert hosts is not None and "api.example.com" in hosts and "127.0.0.1" in hosts


@pytest.mark.parametrize(
    "build",
    [
        lambda b: ServeConfig(b, variant=""),
        lambda b: ServeConfig(b, limits=Limits(max_rows=0)),
        lambda b: ServeConfig(b, log=LogConfig(sync="sometimes")),  # type: ignore[arg-type]
        lambda b: ServeConfig(b, log=LogConfig(retry_s=0.0)),
        lambda b: ServeConfig(b, log=LogConfig(sync_interval_s=-1.0)),
        lambda b: ServeConfig(b, following=Following(poll_interval_s=0.0)),
    ],
    ids=["empty-variant", "max-rows-0", "log-sync", "retry", "sync-interval", "poll-interval"],
)
def test_a_config_no_server_could_follow_is_refused_when_built(bundle: ModelBundle, build: Any) -> None:
    with pytest.raises(ServingError):
        build(bundle)


def test_the_default_config_is_open_and_unlogged(bundle: ModelBundle) -> None:
    config = ServeConfig(bundle)
    assert config.access == Access() and not config.access.api_keys and config.access.allowed_hosts is None
    assert config.log == LogConfig() and config.log.predlog is None and config.log.sync == "write"
