"""``tabloop package``: a build context that deploys a model version (Docker, Kubernetes, KServe, CI).

Nothing secret goes into the folder: the signing key, the tracking URI and API keys reach the
server from its environment at run time (docs/trust.md: a server verifies each model with the
key before it unpickles it, so a baked model is verified in the container as anywhere else).
The folder is written whole under a temporary name beside ``out`` and then renamed into place.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import tabloop
from tabloop.api._project import Project
from tabloop.api._results import Result
from tabloop.errors import PackagingError
from tabloop.spec import Spec, spec_to_yaml
from tabloop.workspace import Workspace, atomic_write_text, file_sha256

MODES = ("baked", "pull")


@dataclass
class PackageResult(Result):
    out: Path
    model: str
    #: the version packaged (baked) or the one the alias names now (pull)
    version: str
    mode: str
    #: the alias the server follows (pull); None when a version is baked
    alias: str | None
    image: str
    base_image: str
    #: the image's CMD, the command that starts the server
    command: list[str]
    #: the sha256 of the version's manifest.json (what its signature covers)
    bundle_sha256: str
    files: list[str] = field(default_factory=list)


def package(
    model: str | None = None,
    *,
    out: str | Path,
    project: str | Path | None = None,
    mode: str = "baked",
    image: str | None = None,
    base_image: str | None = None,
    namespace: str = "default",
    force: bool = False,
) -> PackageResult:
    """Write ``out``: Dockerfile, Kubernetes and KServe manifests, a CI workflow and a README for ``model``.

    ``model`` is a version number or alias (default: the champion). ``mode="baked"`` puts that
    version into the image; ``mode="pull"`` makes a server that downloads the version the alias
    names (default ``champion``) from ``TABLOOP_TRACKING_URI`` at start and follows it. ``out``
    must not exist or be empty unless ``force``.
    """
    from tabloop.deploy import BAKED, PROJECT_DIR, Deployment, build_wheel, k8s_name, lock_text, render, runtime_pins
    from tabloop.tracking import BUNDLE_SHA_TAG, cached_bundle_dir, write_single_version_store

    if mode not in MODES:
        raise PackagingError(f"unknown mode {mode!r}", hint=f"use one of {list(MODES)}")
    target = Path(out).expanduser().resolve()
    _check_target(target, force)
    proj = Project.open(project)
    root = proj.workspace.root.resolve()
    if target == root or root.is_relative_to(target) or target.is_relative_to(proj.workspace.home.resolve()):
        # --force replaces the folder: never the project itself, a folder holding it, or its workspace
        raise PackagingError(f"{target}: would replace the project or its workspace",
                             hint="choose a new folder, e.g. --out deploy inside the project")
    ref = proj.resolve(model)  # names a version that exists, or says which do
    bundle = proj.load_bundle(ref.version)  # verified with the key now: a model the server could not load is refused here
    alias = None if mode == BAKED else (model or "champion")
    if alias is not None and alias.isdigit():
        alias = None  # a pinned version, downloaded at start and never swapped
    spec = proj.spec
    registered_sha = (proj.tracker.get_version(ref.name, ref.version).tags or {}).get(BUNDLE_SHA_TAG, "")
    name = k8s_name(spec.model_name)
    python_version = platform.python_version()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        wheel = build_wheel(Path(tabloop.__file__).parent, tmp / "wheels")
        deployment = Deployment(
            model_name=spec.model_name,
            model_ref=ref.version if alias is None else alias,
            mode=mode,
            image=image or f"{name}:{'v' + ref.version if mode == BAKED else 'pull-' + (alias or 'v' + ref.version)}",
            base_image=base_image or f"python:{python_version}-slim-bookworm",
            python_version=python_version,
            wheel=wheel.name,
            namespace=namespace,
            context_dir=_context_dir(target, proj.workspace.root),
            written_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        )
        model_dir = tmp / "model"
        model_dir.mkdir()
        atomic_write_text(model_dir / "tabloop.yaml", spec_to_yaml(_shippable_spec(spec, baked=mode == BAKED)))
        if mode == BAKED:
            source = cached_bundle_dir(proj.workspace.home / "cache", ref)  # where load_bundle verified it
            _, baked = write_single_version_store(source, bundle, ref, Workspace(model_dir),
                                                  experiment=spec.experiment_name, key=proj.workspace.signing_key(),
                                                  serve_root=Path(PROJECT_DIR))
            if file_sha256(baked / "manifest.json") != registered_sha:
                raise PackagingError(f"{spec.model_name} v{ref.version}: the baked manifest differs from the registered one",
                                     hint="report this as a bug: the image would serve other bytes than the registry holds")
        atomic_write_text(tmp / "requirements.lock", lock_text(runtime_pins()))
        for rel, text in render(deployment).items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, text)
        sha = registered_sha
        record = {
            "model": spec.model_name, "version": ref.version, "alias": alias, "mode": mode, "image": deployment.image,
            "base_image": deployment.base_image, "bundle_sha256": sha, "tabloop": tabloop_version(),
            "python": python_version, "command": deployment.command, "written_at": deployment.written_at,
        }
        atomic_write_text(tmp / "package.json", json.dumps(record, indent=2) + "\n")
        _readable(tmp)
        files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        _swap_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return PackageResult(target, spec.model_name, ref.version, mode, alias, deployment.image, deployment.base_image,
                         deployment.command, sha, files)


def tabloop_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tabloop")
    except PackageNotFoundError:
        return "unknown"


def _check_target(target: Path, force: bool) -> None:
    if target.exists() and not target.is_dir():
        raise PackagingError(f"{target}: exists and is not a folder", hint="choose another --out")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise PackagingError(f"{target}: the folder is not empty",
                             hint="choose an empty or new --out, or pass --force to replace it")


def _context_dir(target: Path, root: Path) -> str:
    """Where the build context sits in the project's repository, as CI checks it out."""
    try:
        rel = target.relative_to(root.resolve())
    except ValueError:
        return "deploy"  # outside the project: the README says to commit it there
    return rel.as_posix() or "."


def _shippable_spec(spec: Spec, *, baked: bool) -> Spec:
    """The spec without what must not travel in an image: URLs that may hold passwords, alert targets.

    The tracking URI comes from the environment in pull mode and is the image's own registry when
    baked; alerts are configured where the server runs (TABLOOP_ALERTS_WEBHOOK). A baked image holds
    one version, so it serves no challenger.
    """
    from tabloop.data import is_database_url, redact_url

    data = spec.data
    source = redact_url(data.source) if is_database_url(data.source) else data.source
    serving = spec.serving.model_copy(update={"challenger_alias": None}) if baked else spec.serving
    return spec.model_copy(update={
        "data": data.model_copy(update={"source": source}),
        "train": spec.train.model_copy(update={"storage": redact_url(spec.train.storage) if spec.train.storage else None}),
        "tracking": spec.tracking.model_copy(update={"uri": None}),
        "alerts": spec.alerts.model_copy(update={"webhook": None, "command": None}),
        "serving": serving,
    })


def _readable(root: Path) -> None:
    """Files 0644, folders 0755: the image copies them as root, and its non-root server must read them."""
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), 0o644)


def _swap_into_place(tmp: Path, target: Path) -> None:
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
        try:
            tmp.rename(target)
        except BaseException:
            old.rename(target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(target)
