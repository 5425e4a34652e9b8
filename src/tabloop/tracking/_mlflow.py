"""The one adapter to MLflow: runs, the registry, aliases, and model bundles in and out."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import EllipsisType
from typing import Any

from tabloop.errors import DataError, ModelNotFoundError, PromotionConflictError, TrackingError
from tabloop.tracking._alias_lock import alias_lock
from tabloop.tracking._audit import AliasMove, moves_from_tags, new_move
from tabloop.tracking._relocate import owned_store, relocate_store
from tabloop.bundle import MANIFEST_FILE, ModelBundle
from tabloop.workspace import SigningKey, file_sha256

log = logging.getLogger(__name__)
BUNDLE_SHA_TAG = "tabloop.bundle_sha256"
MODEL_ARTIFACT = "model"


@dataclass(frozen=True)
class VersionRef:
    name: str
    version: str
    run_id: str | None = None


def _quiet_mlflow() -> None:
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    for name in ("mlflow", "alembic", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)


class Tracker:
    """Experiment runs and the model registry at one tracking URI."""

    def __init__(
        self, uri: str, experiment: str, *, artifact_root: Path | None = None, project_root: Path | None = None
    ) -> None:
        """``project_root``: the project whose ``artifact_root`` this is; a SQLite store inside it follows it
        when the folder is copied or moved (``_relocate``)."""
        _quiet_mlflow()
        import mlflow
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self._mlflow = mlflow
        try:
            mlflow.set_tracking_uri(uri)
            mlflow.set_registry_uri(uri)
            self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            exp = self.client.get_experiment_by_name(experiment)
            if exp is None:
                location = artifact_root.as_uri() if artifact_root is not None else None
                self.experiment_id = self.client.create_experiment(experiment, artifact_location=location)
            else:
                self.experiment_id = exp.experiment_id
                self._follow_a_moved_project(exp.artifact_location, artifact_root, project_root)
        except Exception as exc:
            raise TrackingError(f"tracking store {uri}: {exc}", hint="check tracking.uri or TABLOOP_TRACKING_URI") from exc

    def _follow_a_moved_project(self, stored: str, artifact_root: Path | None, project_root: Path | None) -> None:
        if artifact_root is None or project_root is None or stored == artifact_root.as_uri():
            return
        db = owned_store(self.uri, project_root)
        if db is not None:
            relocate_store(db, stored, artifact_root, project_root)

    # -- runs ----------------------------------------------------------------
    @contextlib.contextmanager
    def run(self, name: str, *, nested: bool = False, tags: dict[str, str] | None = None) -> Iterator[str]:
        mlflow = self._mlflow
        with mlflow.start_run(run_name=name, experiment_id=self.experiment_id, nested=nested, tags=tags) as active:
            yield active.info.run_id

    def log_params(self, params: dict[str, Any]) -> None:
        self._mlflow.log_params({k: str(v)[:500] for k, v in params.items()})

    def log_metrics(self, metrics: dict[str, float | None], *, run_id: str | None = None) -> None:
        clean = {k: float(v) for k, v in metrics.items() if v is not None}
        if run_id is None:
            self._mlflow.log_metrics(clean)
        else:
            for k, v in clean.items():
                self.client.log_metric(run_id, k, v)

    def log_artifact(self, path: Path, *, artifact_path: str | None = None, run_id: str | None = None) -> None:
        if run_id is None:
            self._mlflow.log_artifact(str(path), artifact_path=artifact_path)
        else:
            self.client.log_artifact(run_id, str(path), artifact_path=artifact_path)

    def download_run_artifact(self, run_id: str, path: str, dst: Path) -> Path:
        dst.mkdir(parents=True, exist_ok=True)
        try:
            return Path(self._mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=str(dst)))
        except Exception as exc:
            raise TrackingError(f"run {run_id}: cannot fetch artifact {path!r}: {exc}") from exc

    # -- registry ------------------------------------------------------------
    def register_bundle(self, bundle: ModelBundle, model_name: str, *, key: SigningKey,
                        tags: dict[str, str] | None = None) -> VersionRef:
        """Log the bundle, its manifest signed with ``key``, as an MLflow pyfunc model and register a new version."""
        from tabloop.tracking._pyfunc import BUNDLE_ARTIFACT

        with tempfile.TemporaryDirectory(prefix="tabloop-bundle-") as tmp:
            bundle_dir = Path(tmp) / BUNDLE_ARTIFACT
            bundle.save(bundle_dir, key=key)
            return self.register_bundle_dir(bundle_dir, bundle, model_name, tags=tags)

    def register_bundle_dir(self, bundle_dir: Path, bundle: ModelBundle, model_name: str, *,
                            tags: dict[str, str] | None = None) -> VersionRef:
        """Register the saved, signed bundle in ``bundle_dir`` (``bundle`` is what was loaded from it) as it is:
        the very bytes, so that the new version's manifest hash and signature are the folder's."""
        from tabloop.tracking._pyfunc import BUNDLE_ARTIFACT

        sha = file_sha256(bundle_dir / MANIFEST_FILE)
        if self._mlflow.active_run() is None:
            # outside a run MLflow logs the model into its active experiment, by default "Default", whose
            # artifacts go to ./mlruns of whatever folder the process runs in: this project's experiment
            # keeps them in the workspace
            self._mlflow.set_experiment(experiment_id=self.experiment_id)
        with warnings.catch_warnings():
            # the signature comes from the contract, so MLflow's advice to add an input example does not apply
            warnings.filterwarnings("ignore", message=".*input example.*")
            info = self._mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT,
                python_model=str(Path(__file__).with_name("_pyfunc_entry.py")),
                signature=_signature(bundle),
                artifacts={BUNDLE_ARTIFACT: str(bundle_dir)},
                registered_model_name=model_name,
                pip_requirements=[f"tabloop=={(bundle.manifest.versions or {}).get('tabloop', '0')}"],
            )
        version = str(info.registered_model_version)
        for key, value in {BUNDLE_SHA_TAG: sha, **(tags or {})}.items():
            self.client.set_model_version_tag(model_name, version, key, value)
        run_id = self._mlflow.active_run().info.run_id if self._mlflow.active_run() else None
        return VersionRef(model_name, version, run_id)

    def set_alias(
        self, model_name: str, alias: str, version: str, *, expected_previous: str | None | EllipsisType = ...,
        how: str = "set", why: str = "", by: str | None = None,
    ) -> str | None:
        """Point ``alias`` at ``version``; returns the version it pointed at just before, if any.

        With ``expected_previous`` (a version, or None for "no such alias yet") this is a
        compare-and-set: the alias moves only if it still points there, else
        ``PromotionConflictError`` names the version found. Read and move happen under the
        store's alias lock (``_alias_lock``); on a store without one (an http tracking server)
        the alias is re-read after the move and a lost race seen then is raised: best effort.
        Every move is recorded in the audit log (``_audit``) with ``how`` and ``why``, and ``by``
        (default: ``TABLOOP_USER``, else user@host; the server's rollout guard says ``tabloop``).
        """
        self.get_version(model_name, version)
        with alias_lock(self.uri, model_name, alias) as locked:
            previous = self.alias_version(model_name, alias)
            if expected_previous is not ... and previous != expected_previous:
                raise _conflict(alias, previous, str(version))
            self.client.set_registered_model_alias(model_name, alias, str(version))
            if not locked:
                now = self.alias_version(model_name, alias)
                if now != str(version):
                    raise _conflict(alias, now, str(version))
            moves = self.alias_history(model_name)
            move = new_move(moves[-1].seq + 1 if moves else 1, alias, previous, str(version), how=how, why=why,
                            by=by)
            self.client.set_registered_model_tag(model_name, *move.tag())
        return previous

    def alias_history(self, model_name: str, alias: str | None = None) -> list[AliasMove]:
        """Every recorded move of ``alias`` (all aliases when None), oldest first."""
        try:
            tags = self.client.get_registered_model(model_name).tags or {}
        except Exception:
            return []
        return [m for m in moves_from_tags(tags) if alias is None or m.alias == alias]

    def alias_version(self, model_name: str, alias: str) -> str | None:
        try:
            return str(self.client.get_model_version_by_alias(model_name, alias).version)
        except Exception:
            return None

    def get_version(self, model_name: str, version: str) -> Any:
        try:
            return self.client.get_model_version(model_name, str(version))
        except Exception as exc:
            known = [v.version for v in self.list_versions(model_name)]
            raise ModelNotFoundError(
                f"model {model_name!r} has no version {version!r} (versions: {known or 'none'})",
                hint="run 'tabloop train' to register one",
            ) from exc

    def list_versions(self, model_name: str) -> list[Any]:
        try:
            versions = self.client.search_model_versions(f"name = '{model_name}'")
        except Exception:
            return []
        return sorted(versions, key=lambda v: int(v.version))

    def resolve(self, model_name: str, ref: str | None) -> VersionRef:
        """A version number, an alias (``champion``), ``latest``, or None (champion, else latest)."""
        if ref is None:
            found = self.alias_version(model_name, "champion")
            if found is None:
                raise ModelNotFoundError(
                    f"model {model_name!r} has no champion yet",
                    hint="run 'tabloop promote VERSION --alias champion', or pass --model VERSION",
                )
            ref = found
        elif ref == "latest":
            versions = self.list_versions(model_name)
            if not versions:
                raise ModelNotFoundError(f"model {model_name!r} has no versions", hint="run 'tabloop train' first")
            ref = str(versions[-1].version)
        elif not str(ref).isdigit():
            found = self.alias_version(model_name, ref)
            if found is None:
                raise ModelNotFoundError(f"model {model_name!r} has no alias {ref!r}")
            ref = found
        mv = self.get_version(model_name, str(ref))
        return VersionRef(model_name, str(mv.version), mv.run_id)

    def load_bundle(self, ref: VersionRef, *, cache: Path, key: SigningKey) -> ModelBundle:
        """Fetch a registered bundle (cached by version), check it against the registry's hash and ``key``'s signature.

        The registry hash only finds a stale cache: whoever can write the registry can rewrite it.
        The signature, checked by ``ModelBundle.load`` before anything is unpickled, is what is trusted.
        """
        mv = self.get_version(ref.name, ref.version)
        expected = (mv.tags or {}).get(BUNDLE_SHA_TAG)
        if not expected:
            raise TrackingError(f"model {ref.name!r} version {ref.version} was not registered by tabloop; refusing to load")
        target = cache / _safe(ref.name) / ref.version
        bundle_dir = cached_bundle_dir(cache, ref)
        fresh = False
        if not (bundle_dir / MANIFEST_FILE).exists() or file_sha256(bundle_dir / MANIFEST_FILE) != expected:
            self._download(ref, target, cache)
            fresh = True
        if file_sha256(bundle_dir / MANIFEST_FILE) != expected:
            raise TrackingError(f"model {ref.name!r} version {ref.version}: manifest hash differs from the registry; refusing to load")
        try:
            return ModelBundle.load(bundle_dir, key=key, name=ref.name, version=ref.version)
        except DataError as exc:
            if fresh:
                raise _damaged(ref, exc) from exc
            # the cache copy was damaged after download (disk, a stray edit): the registry's copy may be whole
            log.warning("model %r version %s: cached copy is damaged (%s); fetching it again", ref.name, ref.version, exc)
        self._download(ref, target, cache)
        try:
            return ModelBundle.load(bundle_dir, key=key, name=ref.name, version=ref.version)
        except DataError as exc:
            raise _damaged(ref, exc) from exc

    def _download(self, ref: VersionRef, target: Path, cache: Path) -> None:
        """Replace the cached copy of a version with a fresh one from the registry."""
        shutil.rmtree(target, ignore_errors=True)
        cache.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=cache))
        try:
            self._mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{ref.name}/{ref.version}", dst_path=str(tmp))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(target, ignore_errors=True)  # another process may have filled it meanwhile
            tmp.replace(target)
        except Exception as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise TrackingError(f"model {ref.name!r} version {ref.version}: cannot download: {exc}") from exc


def cached_bundle_dir(cache: Path, ref: VersionRef) -> Path:
    """Where ``load_bundle`` keeps a version's bundle under ``cache``."""
    return cache / _safe(ref.name) / ref.version / "artifacts" / "bundle"


def _signature(bundle: ModelBundle) -> Any:
    """Input columns and types from the contract, outputs from the model's answer on the reference."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = Schema([
        ColSpec("double" if c.kind == "numeric" else "string", c.name, required=not c.nullable)
        for c in bundle.contract.columns
    ])
    outputs = [ColSpec("double" if bundle.task == "regression" else "string", "prediction")]
    outputs += [ColSpec("double", f"proba_{c}") for c in bundle.classes]
    return ModelSignature(inputs=inputs, outputs=Schema(outputs))


def _damaged(ref: VersionRef, exc: DataError) -> TrackingError:
    return TrackingError(
        f"model {ref.name!r} version {ref.version}: the registry's copy is damaged ({exc.message}); refusing to load",
        hint="restore the artifact store from a backup, or train and register the model again",
    )


def _conflict(alias: str, found: str | None, version: str) -> PromotionConflictError:
    where = f"moved to version {found}" if found is not None else "was removed"
    return PromotionConflictError(
        f"alias {alias!r} {where} while promoting {version}",
        hint="another process moved it at the same time; run promote again if you still want it",
    )


def _safe(name: str) -> str:
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) + "-" + digest
