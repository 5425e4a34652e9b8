"""The deployment files as CI would check them: they parse, validate, lint clean and keep secrets out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tabloop.deploy import BAKED, PORT, PROJECT_DIR, PULL, UID, Deployment, k8s_name, render

from ._checks import (
    SECRET_NAME,
    actionlint,
    dockerfile_cmd,
    dockerfile_env,
    dockerfile_instructions,
    hadolint,
    validate_manifest,
    yaml_docs,
)


def _deployment(mode: str, **kw: str) -> Deployment:
    ref = "7" if mode == BAKED else "champion"
    values = dict(model_name="Loans: Approval", model_ref=ref, mode=mode, image="ghcr.io/acme/loans:v7",
                  base_image="python:3.11.7-slim-bookworm", python_version="3.11.7",
                  wheel="tabloop-0.1.0-py3-none-any.whl", written_at="2026-01-01 00:00 UTC")
    values.update(kw)
    return Deployment(**values)  # type: ignore[arg-type]


@pytest.fixture(params=[BAKED, PULL])
def context(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Deployment, Path]:
    d = _deployment(request.param)
    for rel, text in render(d).items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return d, tmp_path


def test_every_manifest_parses_and_validates(context: tuple[Deployment, Path]) -> None:
    _, root = context
    kinds = []
    for rel in ("k8s/deployment.yaml", "k8s/service.yaml", "kserve/inferenceservice.yaml"):
        for doc in yaml_docs(root / rel):
            validate_manifest(doc)
            kinds.append(doc["kind"])
    assert kinds == ["Deployment", "Service", "ServingRuntime", "InferenceService"]


def test_a_broken_manifest_is_caught_by_the_checks(context: tuple[Deployment, Path]) -> None:
    """The checks above would fail on a mistake: a misspelt field, a KServe spec without its model."""
    import jsonschema
    import kubernetes_validate

    _, root = context
    deployment = yaml_docs(root / "k8s/deployment.yaml")[0]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_manifest(deployment)
    runtime, isvc = yaml_docs(root / "kserve/inferenceservice.yaml")
    del isvc["spec"]["predictor"]["model"]
    with pytest.raises(jsonschema.ValidationError):
        validate_manifest(isvc)
    runtime["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_manifest(runtime)


def test_probes_resources_and_security(context: tuple[Deployment, Path]) -> None:
    d, root = context
    pod = yaml_docs(root / "k8s/deployment.yaml")[0]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert c["ports"][0]["containerPort"] == PORT
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == UID
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    # a read-only root, so every folder the server writes is a volume
    mounted = {m["mountPath"] for m in c["volumeMounts"]}
    assert set(d.writable_dirs) <= mounted
    service = yaml_docs(root / "k8s/service.yaml")[0]
    assert service["spec"]["selector"].items() <= pod.get("labels", yaml_docs(root / "k8s/deployment.yaml")[0][
        "spec"]["template"]["metadata"]["labels"]).items()
    runtime, isvc = yaml_docs(root / "kserve/inferenceservice.yaml")
    assert isvc["spec"]["predictor"]["model"]["protocolVersion"] == "v2"
    assert isvc["spec"]["predictor"]["model"]["runtime"] == runtime["metadata"]["name"]
    assert runtime["spec"]["protocolVersions"] == ["v2"]


def test_secrets_come_from_secret_refs_only(context: tuple[Deployment, Path]) -> None:
    d, root = context
    pod = yaml_docs(root / "k8s/deployment.yaml")[0]["spec"]["template"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["TABLOOP_SIGNING_KEY"]["valueFrom"]["secretKeyRef"]["name"] == d.secret
    assert ("TABLOOP_TRACKING_URI" in env) == (d.mode == PULL)
    for name, e in env.items():
        if SECRET_NAME.search(name):
            assert "value" not in e, name
    hosts = yaml.safe_load(env["TABLOOP_SERVING__ALLOWED_HOSTS"]["value"])
    assert f"{d.name}.default.svc.cluster.local" in hosts
    workflow = (root / ".github/workflows/retrain.yaml").read_text()
    for var in ("TABLOOP_SIGNING_KEY", "TABLOOP_TRACKING_URI", "KUBECONFIG_DATA"):
        assert re.search(rf"{var}: \$\{{\{{ secrets\.\w+ \}}\}}", workflow), var


def test_the_dockerfile_lints_clean_and_runs_the_server_as_a_user(context: tuple[Deployment, Path]) -> None:
    d, root = context
    result = hadolint(root / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr
    text = (root / "Dockerfile").read_text()
    steps = dockerfile_instructions(text)
    words = [w for w, _ in steps]
    assert words[0] == "FROM" and re.fullmatch(r"python:3\.11\.7-slim-bookworm", steps[0][1])
    user = [rest for w, rest in steps if w == "USER"]
    assert user == [f"{UID}:{UID}"] and words.index("USER") < words.index("CMD")
    assert "HEALTHCHECK" in words and "/v2/health/ready" in dict(steps)["HEALTHCHECK"]
    assert not [k for k in dockerfile_env(text) if SECRET_NAME.search(k)]
    assert dockerfile_cmd(text) == d.command
    assert d.command[:2] == ["tabloop", "serve"] and d.command[d.command.index("--project") + 1] == PROJECT_DIR


def test_hadolint_would_catch_a_root_server(context: tuple[Deployment, Path]) -> None:
    _, root = context
    text = (root / "Dockerfile").read_text().replace("USER 10001:10001\n", "USER root\n")
    (root / "Dockerfile").write_text(text)
    assert hadolint(root / "Dockerfile").returncode != 0


def test_the_workflow_lints_clean_and_gates_before_it_deploys(context: tuple[Deployment, Path]) -> None:
    _, root = context
    path = root / ".github/workflows/retrain.yaml"
    result = actionlint(path)
    assert result.returncode == 0, result.stdout + result.stderr
    flow = yaml.safe_load(path.read_text())
    assert {"schedule", "workflow_dispatch"} <= set(flow[True])  # YAML 1.1 reads the key `on` as True
    steps = flow["jobs"]["retrain"]["steps"]
    text = [s.get("run", "") + s.get("uses", "") for s in steps]
    order = [next(i for i, t in enumerate(text) if needle in t) for needle in (
        "actions/checkout", "actions/setup-python", "tabloop retrain", "tabloop test", "tabloop promote",
        "tabloop package", "docker/build-push-action", "kubectl apply")]
    assert order == sorted(order)
    deploys = [s for s in steps if "kubectl apply" in s.get("run", "") or "build-push" in s.get("uses", "")]
    assert all(s["if"] == "steps.gate.outputs.promoted == 'true'" for s in deploys)


def test_actionlint_would_catch_a_broken_expression(context: tuple[Deployment, Path]) -> None:
    _, root = context
    path = root / ".github/workflows/retrain.yaml"
    path.write_text(path.read_text().replace("steps.retrain.outputs.version != ''", "steps.retrain.outputs.version !="))
    assert actionlint(path).returncode != 0


@pytest.mark.parametrize(("text", "name"), [("Loans: Approval", "loans-approval"), ("__", "tabloop-model"),
                                            ("a" * 80, "a" * 63)])
def test_k8s_names(text: str, name: str) -> None:
    assert k8s_name(text) == name
