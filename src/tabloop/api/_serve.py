"""``tabloop serve`` and ``tabloop predict``: the champion meets the world, online and in batch."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tabloop.api._project import Project
from tabloop.errors import ServingError
from tabloop.spec import ServingSpec, setting
from tabloop.tracking import VersionRef
from tabloop.bundle import ModelBundle

if TYPE_CHECKING:
    from fastapi import FastAPI

    from tabloop.serving import ApiKeys, ServeConfig

log = logging.getLogger("tabloop.serving")

# how `serve` tells the worker processes uvicorn spawns what to build (spawned, so nothing else is shared)
WORKER_ARGS_ENV = "TABLOOP_SERVE_WORKER_ARGS"
WORKER_FACTORY = "tabloop.api._serve:worker_app"


API_KEY_ENV = {
    "TABLOOP_API_KEY": ("predict", "control"),
    "TABLOOP_PREDICT_API_KEY": ("predict",),
    "TABLOOP_CONTROL_API_KEY": ("control",),
}


class _RegistrySource:
    """The registry as the server sees it: which version an alias names, and that version's bundle."""

    def __init__(self, proj: Project) -> None:
        self.proj = proj

    def version(self, alias: str) -> str | None:
        return self.proj.tracker.alias_version(self.proj.spec.model_name, alias)

    def load(self, alias: str, version: str) -> ModelBundle:
        ref = VersionRef(self.proj.spec.model_name, version)
        return self.proj.tracker.load_bundle(ref, cache=self.proj.workspace.home / "cache",
                                             key=self.proj.workspace.signing_key())


def api_keys(serving: ServingSpec, environ: Mapping[str, str] | None = None) -> ApiKeys:
    """Keys from the spec (sha256 digests) and from TABLOOP_*API_KEY variables (hashed at once)."""
    from tabloop.serving import ApiKeys

    env = os.environ if environ is None else environ
    hashed = [(k.sha256, list(k.scopes)) for k in serving.auth.keys]
    plain = [(env[name], scopes) for name, scopes in API_KEY_ENV.items() if env.get(name)]
    keys = ApiKeys.of(hashed)
    from_env = ApiKeys.from_secrets(plain)
    merged: dict[str, frozenset[str]] = dict(keys.hashes)
    for digest, scopes in from_env.hashes.items():
        merged[digest] = merged.get(digest, frozenset()) | scopes
    return ApiKeys(merged)


def serve(
    project: str | Path | None = None,
    *,
    model: str | None = None,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
) -> None:
    """Serve ``model`` (default: the champion, and the challenger beside it) over HTTP until stopped.

    When the model is named by alias the server follows the alias (and the
    challenger's) every ``serving.poll_interval_s`` seconds and hot-swaps new versions.
    With ``workers`` (default ``serving.workers``) above 1, that many processes share
    the port; each loads the model itself and writes its own prediction log segment.
    """
    from tabloop.serving import run_server

    proj = Project.open(project)
    serving = proj.spec.serving
    n = setting(proj.spec, "serving.workers", workers)
    if n < 1:
        raise ServingError(f"workers must be at least 1, got {n}")
    bind_host = setting(proj.spec, "serving.host", host or None)
    bind_port = setting(proj.spec, "serving.port", port or None)
    server_logging()
    if n == 1:
        app, bundle, challenger, keys = _build(proj, model, bind_host=bind_host)
        _announce(bundle, challenger, serving, bind_host, bind_port, bool(keys), 1)
        run_server(app, host=bind_host, port=bind_port)
        return
    # load once here so a model that cannot load fails now, not in every worker in turn
    bundle = proj.load_bundle(model)
    keys = api_keys(serving)
    _announce(bundle, None, serving, bind_host, bind_port, bool(keys), n)
    os.environ[WORKER_ARGS_ENV] = json.dumps(
        {"project": str(proj.workspace.root), "model": model, "host": bind_host}
    )
    run_server(WORKER_FACTORY, host=bind_host, port=bind_port, workers=n, authenticated=bool(keys))


def worker_app() -> FastAPI:
    """The app of one worker process (uvicorn's factory): its own model copy and log segment."""
    args: dict[str, Any] = json.loads(os.environ[WORKER_ARGS_ENV])
    server_logging()
    app, _, _, _ = _build(Project.open(args["project"]), args["model"], segment=str(os.getpid()),
                          bind_host=args.get("host"))
    return app


def server_logging() -> None:
    """Let the server's INFO lines (what it serves, swaps, rollout changes) through.

    The CLI keeps the ``tabloop`` logger at WARNING so that one-shot commands stay quiet,
    which is why these lines were once logged at WARNING to be seen at all. A server's
    info is its operational log: ``tabloop.serving`` logs at INFO unless a level was set
    for it already (by ``--verbose``'s DEBUG or by the embedding application).
    """
    serve_log = logging.getLogger("tabloop.serving")
    if serve_log.level == logging.NOTSET and serve_log.getEffectiveLevel() > logging.INFO:
        serve_log.setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        # a worker process uvicorn spawned has no handler for tabloop's loggers: as the CLI's, on stderr
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _announce(
    bundle: ModelBundle, challenger: ModelBundle | None, serving: ServingSpec, host: str, port: int, keys: bool,
    workers: int,
) -> None:
    log.info(
        "serving %s v%s%s on http://%s:%s%s%s (prediction log: %s)",
        bundle.name, bundle.version,
        f" (challenger v{challenger.version}, rollout {serving.rollout.mode})" if challenger is not None else "",
        host, port, "" if keys else " (no API keys)", f" with {workers} workers" if workers > 1 else "",
        f"log_sync={serving.log_sync}" if serving.log_predictions else "off",
    )


def _build(
    proj: Project, model: str | None, *, segment: str | None = None, bind_host: str | None = None
) -> tuple[FastAPI, ModelBundle, ModelBundle | None, ApiKeys]:
    """The app for ``model`` as the spec configures it, with its bundle, challenger and keys.

    ``bind_host`` (default ``serving.host``) is the address the server listens on: with
    ``serving.allowed_hosts`` it decides which ``Host`` headers are answered.
    """
    from tabloop.api._dashboard_source import DashboardSource  # here, so that 'tabloop predict' skips the monitor
    from tabloop.predlog import LogShipper, PredictionLog
    from tabloop.serving import ServeConfig, check_allowed_hosts, create_app

    serving = proj.spec.serving
    check_allowed_hosts(serving.allowed_hosts)
    bundle = proj.load_bundle(model)
    by_alias = model is None or not (model.isdigit() or model == "latest")
    variant = model if model and by_alias else "champion"
    source = _RegistrySource(proj)
    aliases: dict[str, str] = {}
    if by_alias:
        aliases["champion"] = model or "champion"
    challenger = None
    alias = serving.challenger_alias
    if alias and alias != (model or "champion"):
        aliases["challenger"] = alias
        version = source.version(alias)
        if version is not None:
            try:
                challenger = source.load(alias, version)
            except Exception as exc:  # the champion still serves; the poller retries later
                log.error("challenger v%s could not be loaded (%s); serving the champion alone", version, exc)
    keys = api_keys(serving)
    predlog = PredictionLog(proj.workspace.predlog, segment=segment) if serving.log_predictions else None
    # each worker ships the whole folder (its own segment, the others', feedback): the database's row locks
    # let them share the work, and the log reaches the database while any one worker runs
    shipper = (LogShipper(proj.workspace.predlog, serving.log_url, proj.spec.model_name)
               if serving.log_url and predlog is not None else None)
    config = ServeConfig.from_spec(
        serving, bundle, bind_host=bind_host, predlog=predlog, shipper=shipper, variant=variant, challenger=challenger,
        source=source, aliases=aliases, api_keys=keys,
        # /dashboard: the monitor's own timelines over the whole log (every worker's segment)
        dashboard=DashboardSource(proj),
        on_server_error=ServerErrorAlerts(proj) if proj.spec.alerts.webhook or proj.spec.alerts.command else None,
        state_dir=proj.workspace.home / "serving", on_rollback=RolloutRollbacks(proj),
    )
    config = _with_features(proj, config)
    app = create_app(config)
    return app, bundle, challenger, keys


def _with_features(proj: Project, config: ServeConfig) -> ServeConfig:
    """``config`` whose predictors complete rows from the online store, when the model uses stored features."""
    from tabloop.api._features import online_lookup

    lookup = online_lookup(proj, config.bundle)
    if lookup is None:
        return config
    import dataclasses

    from tabloop.serving import FastPredictor, with_online_features

    log.info("features %s come from the online store %s when a request sends only %s",
             lookup.features, lookup.repo.online_name, lookup.keys)
    return dataclasses.replace(config, predictor=with_online_features(FastPredictor, lookup,
                                                                       proj.spec.features.on_missing))


class ServerErrorAlerts:
    """The server's 5xx answers as ``errors`` alerts (spec: alerts), sent off the request's thread.

    A failing disk answers every request with a 503: at most one delivery per status and code is
    attempted every ``MIN_GAP_S`` seconds in this process, and the alerts' own de-duplication
    keeps every worker together to one alert per ``alerts.repeat_minutes``.
    """

    MIN_GAP_S = 30.0

    def __init__(self, proj: Project) -> None:
        self._spec, self._name = proj.spec.alerts, proj.spec.name
        self._state = proj.workspace.home / "alerts"
        self._tried: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, status: int, code: str) -> None:
        key = f"{status}:{code}"
        now = time.monotonic()
        with self._lock:
            if now - self._tried.get(key, -self.MIN_GAP_S) < self.MIN_GAP_S:
                return
            self._tried[key] = now
        threading.Thread(target=self._send, args=(status, code), name="tabloop-alert", daemon=True).start()

    def _send(self, status: int, code: str) -> None:
        from tabloop.alerts import Alert, send_alert

        try:
            send_alert(Alert("errors", f"{self._name}: the server answered {status} ({code})", self._name,
                             f"{status}:{code}", {"status": status, "code": code}), self._spec, self._state)
        except Exception:  # noqa: BLE001 - an alert must never hurt the server that raised it
            log.exception("the errors alert could not be sent")


class RolloutRollbacks:
    """What the server's rollout guard does beyond its own routing when it rolls a challenger back.

    When the loop had promoted the challenger meanwhile (the champion alias names it), the alias
    moves back to the version it was judged against, by ``tabloop``, with the numbers as the reason:
    a compare-and-set, recorded in the registry's audit log as ``how: rollback`` (as ``tabloop
    rollback`` does). Either way a ``rollback`` alert goes out (spec: alerts). Runs in the server's
    rollback thread; returns what it did, for tests and the log.
    """

    def __init__(self, proj: Project) -> None:
        self.proj = proj

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        from tabloop.alerts import Alert, send_alert

        proj = self.proj
        name = proj.spec.model_name
        bad, back = event.get("candidate"), event.get("baseline")
        moved = None
        why = f"automatic rollback of v{bad} on live traffic: {event.get('why')}"
        if bad is not None and back is not None and proj.tracker.alias_version(name, "champion") == str(bad):
            try:
                proj.tracker.set_alias(name, "champion", str(back), expected_previous=str(bad), how="rollback",
                                       why=why, by="tabloop")
                moved = {"alias": "champion", "from": bad, "to": back}
            except Exception:  # noqa: BLE001 - someone moved it meanwhile: their move stands, the alert still goes
                log.exception("the champion alias could not be moved back from v%s to v%s", bad, back)
        alert = Alert("rollback", f"{name}: challenger v{bad} rolled back on live traffic ({event.get('why')})",
                      proj.spec.name, f"rollout:{bad}", {**event, "alias_moved": moved})
        outcome = send_alert(alert, proj.spec.alerts, proj.workspace.home / "alerts")
        log.warning("rollback of v%s: alert %s%s", bad, outcome.status,
                    f", champion alias moved back to v{back}" if moved else "")
        return {"alias_moved": moved, "alert": outcome.to_dict()}
