"""The deployment files' text, from the templates in ``templates/`` and one ``Deployment`` value.

Templates are ``string.Template`` text (``$$`` is a literal ``$``, as GitHub Actions' ``$${{ }}``
needs); everything that varies is computed here, where it can be tested, and YAML fragments
are dumped by PyYAML rather than spliced by hand, so a name with a colon stays a string.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Any

import yaml

#: where the project folder sits in the image, and the user the server runs as
PROJECT_DIR = "/app/model"
UID = 10001
PORT = 8080

BAKED, PULL = "baked", "pull"


@dataclass(frozen=True)
class Deployment:
    """What the files describe: the model, how the image gets it, and the names around it."""

    model_name: str
    #: the version number (baked) or the alias the server follows (pull)
    model_ref: str
    mode: str
    image: str
    base_image: str
    python_version: str
    wheel: str
    namespace: str = "default"
    #: the build context's folder inside the project's repository, for CI
    context_dir: str = "deploy"
    #: the project folder inside its repository ("." when tabloop.yaml is at its top)
    project_in_repo: str = "."
    written_at: str = ""

    @property
    def name(self) -> str:
        """A Kubernetes name (RFC 1123 label) from the model's name."""
        return k8s_name(self.model_name)

    @property
    def secret(self) -> str:
        return f"{self.name}-secrets"

    @property
    def command(self) -> list[str]:
        """The server command: the CMD of the image."""
        return ["tabloop", "serve", "--project", PROJECT_DIR, "--model", self.model_ref, "--host", "0.0.0.0",
                "--port", str(PORT)]

    @property
    def writable_dirs(self) -> list[str]:
        """Folders the server writes: the whole workspace when it downloads the model, else the log and alerts."""
        if self.mode == PULL:
            return [f"{PROJECT_DIR}/.tabloop"]
        return [f"{PROJECT_DIR}/.tabloop/predlog", f"{PROJECT_DIR}/.tabloop/alerts"]


def k8s_name(text: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].strip("-")
    return name or "tabloop-model"


def _template(name: str) -> Template:
    return Template(resources.files("tabloop.deploy").joinpath("templates", name).read_text(encoding="utf-8"))


def _block(value: Any, indent: int) -> str:
    """``value`` as block YAML, every line indented by ``indent`` spaces."""
    text = yaml.safe_dump(value, default_flow_style=False, sort_keys=False, width=10_000).rstrip("\n")
    return "\n".join(" " * indent + line for line in text.splitlines())


def _flow(value: Any) -> str:
    return json.dumps(value)  # JSON is YAML's flow style


def _env(d: Deployment, *, any_host: bool) -> list[dict[str, Any]]:
    def secret(var: str, key: str, optional: bool = False) -> dict[str, Any]:
        ref: dict[str, Any] = {"name": d.secret, "key": key}
        if optional:
            ref["optional"] = True
        return {"name": var, "valueFrom": {"secretKeyRef": ref}}

    env = [secret("TABLOOP_SIGNING_KEY", "signing-key")]
    if d.mode == PULL:
        env.append(secret("TABLOOP_TRACKING_URI", "tracking-uri"))
    env.append(secret("TABLOOP_API_KEY", "api-key", optional=True))
    svc = d.name
    hosts = ["*"] if any_host else [svc, f"{svc}.{d.namespace}", f"{svc}.{d.namespace}.svc",
                                     f"{svc}.{d.namespace}.svc.cluster.local"]
    env.append({"name": "TABLOOP_SERVING__ALLOWED_HOSTS", "value": json.dumps(hosts)})
    return env


def _volumes(d: Deployment) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    mounts = [{"name": "tmp", "mountPath": "/tmp/tabloop"}]
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]
    for i, path in enumerate(d.writable_dirs):
        vol = f"state-{i}"
        mounts.append({"name": vol, "mountPath": path})
        # pull mode downloads the bundle here; the log grows until the pod goes
        volumes.append({"name": vol, "emptyDir": {"sizeLimit": "2Gi"}})
    return mounts, volumes


def render(d: Deployment) -> dict[str, str]:
    """Each file of the build context that is text written from a template: relative path -> text."""
    labels = {"app.kubernetes.io/name": d.name, "app.kubernetes.io/component": "model-server",
              "app.kubernetes.io/managed-by": "tabloop"}
    selector = {"app.kubernetes.io/name": d.name, "app.kubernetes.io/component": "model-server"}
    mounts, volumes = _volumes(d)
    pull = d.mode == PULL
    registry = d.image.split("/", 1)[0] if "/" in d.image and re.search(r"[.:]|^localhost$", d.image.split("/", 1)[0]) \
        else "docker.io"
    image_repo = d.image.rsplit(":", 1)[0] if ":" in d.image.rsplit("/", 1)[-1] else d.image
    writable = " ".join(d.writable_dirs)
    values: dict[str, Any] = {
        "model_name": d.model_name,
        "model_ref": f"v{d.model_ref}" if d.mode == BAKED else f"@{d.model_ref}",
        "mode": d.mode,
        "image": d.image,
        # YAML values from outside (a model name with a colon, an image with a port) go in quoted
        "image_q": json.dumps(d.image),
        "image_repo_q": json.dumps(image_repo),
        "registry_q": json.dumps(registry),
        "workflow_name_q": json.dumps(f"retrain {d.model_name}"),
        "context_dir_q": json.dumps(d.context_dir),
        "project_in_repo_q": json.dumps(d.project_in_repo),
        "base_image": d.base_image,
        "python_version": d.python_version,
        "wheel": d.wheel,
        "uid": UID,
        "port": PORT,
        "project_dir": PROJECT_DIR,
        "name": d.name,
        "secret": d.secret,
        "runtime": f"{d.name}-tabloop",
        "labels": _flow(labels),
        "selector": _flow(selector),
        "command_json": json.dumps(d.command),
        "command_text": " ".join(d.command),
        "writable_dirs": writable,
        "writable_dirs_text": ", ".join(f"`{p}`" for p in d.writable_dirs),
        "env_lines": "",
        "env_yaml": _block(_env(d, any_host=False), 12),
        "mounts_yaml": _block(mounts, 12),
        "volumes_yaml": _block(volumes, 8),
        "kserve_env_yaml": _block(_env(d, any_host=True), 8),
        "kserve_mounts_yaml": _block(mounts, 8),
        "kserve_volumes_yaml": _block(volumes, 4),
        "context_dir": d.context_dir,
        "project_in_repo": d.project_in_repo,
        "project_note": "" if d.project_in_repo == "." else f", at {d.project_in_repo}/",
        "written_at": d.written_at,
        "model_dir_note": (
            "tabloop.yaml (tracking and alert URLs removed) and a registry of this one version, its bundle cached"
            if not pull else
            "tabloop.yaml only (tracking and alert URLs removed); the server downloads the model at start from "
            "TABLOOP_TRACKING_URI and follows the alias"
        ),
        "model_dir_short": "the model baked in" if not pull else f"the model pulled by alias ({d.model_ref}) at start",
        "pull_secret_note": " and TABLOOP_TRACKING_URI, where the model is pulled from," if pull else "",
        "pull_secret_readme": (
            "; nor does it contain the tracking URI (it may hold a password): the server reads it from "
            "`TABLOOP_TRACKING_URI`" if pull else ""
        ),
        "pull_secret_cmd": ' \\\n  --from-literal=tracking-uri="$TABLOOP_TRACKING_URI"' if pull else "",
        "pull_docker_env": ' -e TABLOOP_TRACKING_URI="$TABLOOP_TRACKING_URI"' if pull else "",
        "pull_ci_note": (
            "\nIn pull mode a running server follows the alias itself (every `serving.poll_interval_s`), so a "
            "promotion reaches it without a rollout; the rollout ships a new tabloop or dependency." if pull else ""
        ),
    }
    files = {
        "Dockerfile": "Dockerfile.tmpl",
        ".dockerignore": "dockerignore.tmpl",
        "k8s/deployment.yaml": "deployment.yaml.tmpl",
        "k8s/service.yaml": "service.yaml.tmpl",
        "kserve/inferenceservice.yaml": "inferenceservice.yaml.tmpl",
        ".github/workflows/retrain.yaml": "retrain.yaml.tmpl",
        "README.md": "README.md.tmpl",
    }
    return {path: _template(tmpl).substitute(values) for path, tmpl in files.items()}
