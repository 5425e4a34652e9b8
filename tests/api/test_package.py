"""tabloop package: the build context's server command starts the server here and it answers."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml

from tabloop.api import PackageResult, package
from tabloop.deploy import PROJECT_DIR
from tabloop.errors import PackagingError

from ..deploy._checks import actionlint, dockerfile_cmd, dockerfile_env, hadolint, validate_manifest, yaml_docs


@pytest.fixture(scope="module")
def baked(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> PackageResult:
    return package(None, out=tmp_path_factory.mktemp("ctx") / "deploy", project=trained_project)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _key(project: Path) -> str:
    return (project / ".tabloop" / "keys" / "signing.key").read_text().strip()


@pytest.fixture()
def start_server(tmp_path: Path) -> Iterator[Any]:
    """Run the Dockerfile's CMD here: its paths mapped into tmp_path, its port a free one on loopback."""
    procs: list[subprocess.Popen[str]] = []

    def start(context: Path, extra_env: dict[str, str]) -> tuple[str, Path]:
        text = (context / "Dockerfile").read_text()
        model_dir = tmp_path / "app-model"
        shutil.copytree(context / "model", model_dir)
        scratch = tmp_path / "scratch"
        scratch.mkdir()
        mapped = {PROJECT_DIR: str(model_dir), "/tmp/tabloop": str(scratch)}

        def local(value: str) -> str:
            for image_path, here in mapped.items():
                value = value.replace(image_path, here)
            return value

        port = _free_port()
        cmd = [local(a) for a in dockerfile_cmd(text)]
        assert cmd[0] == "tabloop"
        cmd = [sys.executable, "-m", "tabloop", *cmd[1:]]
        cmd[cmd.index("--host") + 1] = "127.0.0.1"
        cmd[cmd.index("--port") + 1] = str(port)
        env = {**os.environ, **{k: local(v) for k, v in dockerfile_env(text).items()}, **extra_env}
        if "TABLOOP_TRACKING_URI" not in extra_env:
            env.pop("TABLOOP_TRACKING_URI", None)  # a baked image knows no tracking server
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"the server exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                    return url, model_dir
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("the server did not become ready in 120 s")

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _rows(hmda: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(hmda.drop(columns=["deny"]).head(2).to_json(orient="records"))


@pytest.mark.integration
def test_the_dockerfiles_server_command_serves_the_baked_model(
    baked: PackageResult, trained_project: Path, hmda: pd.DataFrame, start_server: Any,
) -> None:
    before_files = {p: p.stat().st_mtime_ns for p in (baked.out / "model").rglob("*") if p.is_file()}
    # the Secret's api-key as the manifests pass it: the probes stay open (start_server polls without a key)
    api_key = {"Authorization": "Bearer packaged-test-key-0123456789"}
    url, model_dir = start_server(baked.out, {"TABLOOP_SIGNING_KEY": _key(trained_project),
                                              "TABLOOP_API_KEY": api_key["Authorization"].split()[1]})
    assert httpx.get(f"{url}/v2/health/live", timeout=10).status_code == 200
    health = httpx.get(f"{url}/health", timeout=10).json()
    assert health["status"] == "ok" and health["model"]["version"] == baked.version
    assert httpx.post(f"{url}/predict", json={"rows": _rows(hmda)}, timeout=30).status_code == 401
    answer = httpx.post(f"{url}/predict", json={"rows": _rows(hmda)}, headers=api_key, timeout=30)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 2
    v2 = httpx.get(f"{url}/v2/models/{baked.model}", headers=api_key, timeout=10).json()
    assert v2["versions"] == [baked.version]
    # the image's root filesystem may be read-only: the server wrote only where the manifests mount volumes
    written = {p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file()
               and before_files.get(baked.out / "model" / p.relative_to(model_dir)) != p.stat().st_mtime_ns}
    assert written and all(w.startswith((".tabloop/predlog/", ".tabloop/alerts/")) for w in written), written


def test_the_context_holds_no_secret_and_checks_clean(baked: PackageResult, trained_project: Path) -> None:
    key = _key(trained_project).encode()
    for path in baked.out.rglob("*"):
        if path.is_file():
            assert key not in path.read_bytes(), path
    assert not (baked.out / "model" / ".tabloop" / "keys").exists()
    spec = yaml.safe_load((baked.out / "model" / "tabloop.yaml").read_text())
    assert spec["tracking"]["uri"] is None and spec["alerts"]["webhook"] is None
    assert spec["serving"]["challenger_alias"] is None  # one version in the image: no challenger to serve
    assert hadolint(baked.out / "Dockerfile").returncode == 0
    assert actionlint(baked.out / ".github/workflows/retrain.yaml").returncode == 0
    for rel in ("k8s/deployment.yaml", "k8s/service.yaml", "kserve/inferenceservice.yaml"):
        for doc in yaml_docs(baked.out / rel):
            validate_manifest(doc)
    record = json.loads((baked.out / "package.json").read_text())
    assert record["version"] == baked.version and record["bundle_sha256"] == baked.bundle_sha256
    # files the image's non-root user must read are readable by all
    assert all(p.stat().st_mode & 0o004 for p in baked.out.rglob("*"))


def test_a_full_folder_is_refused_unless_forced(baked: PackageResult, trained_project: Path) -> None:
    with pytest.raises(PackagingError, match="not empty"):
        package(None, out=baked.out, project=trained_project)
    with pytest.raises(PackagingError, match="unknown mode"):
        package(None, out=baked.out.parent / "other", project=trained_project, mode="docker")
    assert not (baked.out.parent / "other").exists()
    for unsafe in (trained_project, trained_project.parent, trained_project / ".tabloop" / "deploy"):
        with pytest.raises(PackagingError, match="would replace the project"):
            package(None, out=unsafe, project=trained_project, force=True)
    assert (trained_project / "tabloop.yaml").is_file()


@pytest.mark.integration
def test_pull_mode_downloads_the_champion_at_start(
    trained_project: Path, hmda: pd.DataFrame, tmp_path: Path, start_server: Any,
) -> None:
    res = package("champion", out=tmp_path / "pull", project=trained_project, mode="pull")
    assert res.alias == "champion" and "--model" in res.command and "champion" in res.command
    assert not (res.out / "model" / ".tabloop").exists()  # nothing but the spec: the model comes at start
    uri = f"sqlite:///{trained_project / '.tabloop' / 'mlflow.db'}"
    url, model_dir = start_server(res.out, {"TABLOOP_SIGNING_KEY": _key(trained_project), "TABLOOP_TRACKING_URI": uri})
    answer = httpx.post(f"{url}/predict", json={"rows": _rows(hmda)}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert (model_dir / ".tabloop" / "cache").is_dir()
