"""``app_for(bundle, **settings)``: the app ``create_app`` makes from a ``ServeConfig`` with those settings.

The tests name one or two settings each; this spells them flat (as ``serve`` options
read) and groups them into the config's parts, so each test says only what it changes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from tabloop.bundle import ModelBundle
from tabloop.serving import Access, ApiKeys, Following, Holdout, Limits, LogConfig, Rollout, ServeConfig, create_app


def config_for(
    bundle: ModelBundle,
    *,
    predlog: Any = None,
    log_sync: Any = "write",
    log_retry_s: float | None = None,
    log_sync_interval_s: float | None = None,
    max_rows: int | None = None,
    limits: Limits | None = None,
    source: Any = None,
    aliases: dict[str, str] | None = None,
    poll_interval_s: float | None = None,
    api_keys: ApiKeys | None = None,
    allowed_hosts: frozenset[str] | None = None,
    rollout: Rollout | None = None,
    holdout: Holdout | None = None,
    **rest: Any,
) -> ServeConfig:
    """The ``ServeConfig`` of ``bundle`` with these settings (the rest: ``variant``, ``predictor``, ``challenger``, ``dashboard``)."""
    limits = limits or Limits()
    if max_rows is not None:
        limits = Limits(max_rows, limits.max_body_bytes, limits.max_concurrency, limits.timeout_s)
    log = LogConfig(predlog, log_sync)
    timings = {k: v for k, v in (("retry_s", log_retry_s), ("sync_interval_s", log_sync_interval_s)) if v is not None}
    if timings:
        log = LogConfig(predlog, log_sync, **timings)
    return ServeConfig(
        bundle,
        limits=limits,
        log=log,
        following=Following(source, aliases or {}, poll_interval_s),
        access=Access(api_keys or ApiKeys(), allowed_hosts),
        rollout=rollout or Rollout(),
        holdout=holdout or Holdout(),
        **rest,
    )


def app_for(bundle: ModelBundle, **settings: Any) -> FastAPI:
    """``create_app(config_for(bundle, **settings))``."""
    return create_app(config_for(bundle, **settings))
