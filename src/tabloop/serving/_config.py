"""What a server is told, in one typed value: ``ServeConfig``, built by hand or from ``serving:`` in the spec."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tabloop.errors import ServingError
from tabloop.predlog import RETRY_S, SYNC_INTERVAL_S, LogShipper, LogSync, PredictionLog, check_log_policy
from tabloop.serving._auth import ApiKeys
from tabloop.serving._dashboard import DashboardProvider
from tabloop.serving._guard import allowed_hosts, check_allowed_hosts
from tabloop.serving._holdout import Holdout
from tabloop.serving._http import MAX_BODY_BYTES
from tabloop.serving._models import ModelSource
from tabloop.serving._predictor import PredictorFactory
from tabloop.serving._rollback import GuardLimits
from tabloop.serving._rollout import Rollout

if TYPE_CHECKING:
    from tabloop.bundle import ModelBundle, RowPredictor
    from tabloop.spec import ServingSpec


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the server."""

    max_rows: int = 1000
    max_body_bytes: int = MAX_BODY_BYTES
    max_concurrency: int = 64
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_rows < 1:
            raise ServingError(f"max_rows must be at least 1, got {self.max_rows}")
        if self.max_body_bytes < 1 or self.max_concurrency < 1 or not self.timeout_s > 0:
            raise ServingError("max_body_bytes, max_concurrency and timeout_s must be positive")


@dataclass(frozen=True)
class LogConfig:
    """The prediction log (None: none kept) and its policy (see ``tabloop.predlog.make_sink``).

    ``sync``: ``"write"`` (answer once the rows are with the operating system, fsynced every
    ``sync_interval_s``), ``"ack"`` (answer once they are fsynced) or ``"background"``
    (answer at once; failures only counted). ``retry_s``: while the log cannot be written,
    how often the writer probes it by itself, so readiness comes back without traffic.
    ``shipper``: started and stopped with the server; never on the request path, so a
    database that goes away costs no answer (the local files buffer until it is back).
    """

    predlog: PredictionLog | None = None
    sync: LogSync = "write"
    retry_s: float = RETRY_S
    sync_interval_s: float = SYNC_INTERVAL_S
    #: copies the log folder's new lines to PostgreSQL in the background (``serving.log_url``); None: none
    shipper: LogShipper | None = None

    def __post_init__(self) -> None:
        check_log_policy(self.sync, retry_s=self.retry_s, sync_interval_s=self.sync_interval_s)


@dataclass(frozen=True)
class Following:
    """Follow model aliases (variant -> alias) in ``source`` every ``poll_interval_s`` seconds, and swap versions in."""

    source: ModelSource | None = None
    aliases: Mapping[str, str] = field(default_factory=dict)
    poll_interval_s: float | None = None

    def __post_init__(self) -> None:
        if self.poll_interval_s is not None and not self.poll_interval_s > 0:
            raise ServingError(f"poll_interval_s must be positive, got {self.poll_interval_s}")

    @property
    def polls(self) -> bool:
        return self.source is not None and bool(self.aliases) and bool(self.poll_interval_s)


@dataclass(frozen=True)
class Access:
    """Who may call: API keys (none: anyone), and the names a request's ``Host`` may carry (None: any).

    Whatever they are, a request that changes something sent by a browser page of another
    origin is refused (403), and the JSON routes take ``application/json`` only (415): see ``_guard``.
    """

    api_keys: ApiKeys = field(default_factory=ApiKeys)
    allowed_hosts: frozenset[str] | None = None


@dataclass(frozen=True)
class ServeConfig:
    """Everything ``create_app`` needs to serve ``bundle``.

    ``predictor`` is a ``RowPredictor`` for ``bundle``, or a factory taking a bundle (used
    for the challenger and every version swapped in later); the default is ``FastPredictor``
    (ONNX when the bundle has a checked graph). ``holdout`` answers a share of rows with the
    training prior and logs the model's own prediction flagged. ``dashboard`` (the champion's
    bundle -> the monitoring JSON) adds ``GET /dashboard`` and ``/dashboard/data``.
    """

    bundle: ModelBundle
    variant: str = "champion"
    predictor: RowPredictor | PredictorFactory | None = None
    challenger: ModelBundle | None = None
    rollout: Rollout = field(default_factory=Rollout)
    holdout: Holdout = field(default_factory=Holdout)
    limits: Limits = field(default_factory=Limits)
    log: LogConfig = field(default_factory=LogConfig)
    following: Following = field(default_factory=Following)
    access: Access = field(default_factory=Access)
    dashboard: DashboardProvider | None = None
    #: told of every 5xx the server answers (status, error code), e.g. to raise an alert; it must not block
    on_server_error: Callable[[int, str], None] | None = None
    #: the rollout guard's limits (None: a regressing challenger is not rolled back automatically)
    guard: GuardLimits | None = None
    #: where the rollout's state (a rollback, the bandit's sums) is kept across restarts (None: in memory only)
    state_dir: Path | None = None
    #: told of every automatic rollback (the event: versions, numbers, why), in a thread of its own: the
    #: facade moves the champion alias back when the challenger was promoted meanwhile, and alerts
    on_rollback: Callable[[dict[str, Any]], None] | None = None

    def __post_init__(self) -> None:
        if not self.variant:
            raise ServingError("variant must be a non-empty name such as 'champion'")

    @classmethod
    def from_spec(
        cls,
        serving: ServingSpec,
        bundle: ModelBundle,
        *,
        bind_host: str | None = None,
        predlog: PredictionLog | None = None,
        shipper: LogShipper | None = None,
        variant: str = "champion",
        challenger: ModelBundle | None = None,
        source: ModelSource | None = None,
        aliases: Mapping[str, str] | None = None,
        api_keys: ApiKeys | None = None,
        dashboard: DashboardProvider | None = None,
        on_server_error: Callable[[int, str], None] | None = None,
        state_dir: Path | None = None,
        on_rollback: Callable[[dict[str, Any]], None] | None = None,
    ) -> ServeConfig:
        """The config ``serving:`` describes; what the spec cannot hold (the log, models, keys) is passed in.

        ``bind_host`` (default ``serving.host``) is the address the server listens on: with
        ``serving.allowed_hosts`` it decides which ``Host`` headers are answered.
        """
        return cls(
            bundle,
            variant=variant,
            challenger=challenger,
            rollout=Rollout(mode=serving.rollout.mode, share=serving.rollout.share, key=serving.rollout.key,
                            floor=serving.rollout.floor, seed=serving.rollout.seed),
            holdout=Holdout(share=serving.feedback_holdout.share, key=serving.feedback_holdout.key),
            limits=Limits(
                max_rows=serving.max_rows_per_request,
                max_body_bytes=serving.max_body_bytes,
                max_concurrency=serving.max_concurrency,
                timeout_s=serving.timeout_s,
            ),
            log=LogConfig(predlog, sync=serving.log_sync, sync_interval_s=serving.log_sync_interval_s, shipper=shipper),
            following=Following(source, dict(aliases or {}), serving.poll_interval_s),
            access=Access(
                api_keys if api_keys is not None else ApiKeys(),
                allowed_hosts(bind_host or serving.host, check_allowed_hosts(serving.allowed_hosts)),
            ),
            dashboard=dashboard,
            on_server_error=on_server_error,
            guard=guard_limits(serving),
            state_dir=state_dir,
            on_rollback=on_rollback,
        )


def guard_limits(serving: ServingSpec) -> GuardLimits | None:
    """The rollout guard ``serving.rollout.guard`` asks for; None when it is not enabled."""
    g = serving.rollout.guard
    if not g.enabled:
        return None
    return GuardLimits(
        max_error_rate_increase=g.max_error_rate_increase, max_latency_ratio=g.max_latency_ratio,
        max_metric_drop=g.max_metric_drop, min_requests=g.min_requests, min_labels=g.min_labels, alpha=g.alpha,
        interval_s=g.interval_s,
    )
