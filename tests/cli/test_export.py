"""``tabloop export``: one JSON document, a file that answers as the version does, refusals that write nothing,
and the README's example run with onnxruntime alone, in a clean virtual environment without tabloop."""

from __future__ import annotations

import ast
import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import tabloop
from tabloop.cli import app

pytest.importorskip("onnxruntime")
runner = CliRunner()
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(autouse=True)
def fewer_timing_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Latency is reported, never asserted on: a few runs are enough here."""
    from tabloop.export import _standalone

    monkeypatch.setattr(_standalone, "ONE_ROW_RUNS", 10)
    monkeypatch.setattr(_standalone, "BATCH_RUNS", 2)


def run(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture(scope="module")
def exported(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("export") / "loans.onnx"
    code, stdout, stderr = run("export", "--out", str(out), "--project", str(trained_project), "--json")
    assert code == 0, stdout + stderr
    return out, json.loads(stdout)


def test_export_json_is_one_document_and_the_file_answers_as_the_version(
        exported: tuple[Path, dict], trained_project: Path) -> None:
    import onnxruntime as ort

    out, doc = exported
    assert doc["ok"] and doc["version"] == "1" and doc["format"] == "onnx" and doc["written"] == "float"
    assert Path(doc["path"]) == out.resolve() and out.stat().st_size == doc["bytes"]
    assert doc["parity"]["ok"] and doc["parity"]["max_abs_diff"] <= 1e-4 and doc["parity"]["class_agreement"] == 1.0
    assert doc["held_out_rows"] > 100 and doc["float"]["metric"] is not None and doc["int8"] is None
    model = tabloop.load_model(project=trained_project)
    assert [i["name"] for i in doc["inputs"]] == model.contract.feature_names
    rows = tabloop.api.held_out_rows(project=trained_project).head(40)
    want = model.predict(rows.drop(columns=["deny"]))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    meta = json.loads(session.get_modelmeta().custom_metadata_map["tabloop"])
    feed = {}
    for col in meta["inputs"]:
        values = rows[col["name"]]
        if col["type"] == "float32":
            feed[col["name"]] = values.to_numpy(dtype=np.float32).reshape(-1, 1)
        else:
            feed[col["name"]] = np.array([[meta["missing_category"] if not isinstance(v, str) else v] for v in values],
                                         dtype=object)
    labels, proba = session.run(["label", "probabilities"], feed)
    assert list(labels) == list(want["prediction"])
    np.testing.assert_allclose(proba[:, 1], want[f"proba_{meta['classes'][1]}"], atol=1e-4)


def test_int8_and_distill_report_beside_the_float_model(trained_project: Path, tmp_path: Path) -> None:
    out = tmp_path / "small.onnx"
    code, stdout, stderr = run("export", "champion", "--out", str(out), "--quantize", "int8", "--distill",
                               "--project", str(trained_project), "--json")
    assert code == 0, stdout + stderr
    doc = json.loads(stdout)
    assert doc["written"] == "student" and out.stat().st_size == doc["bytes"]
    d = doc["distill"]
    for m in (d["teacher"], d["student_model"], doc["int8"]):
        assert {"bytes", "p50_one_row_ms", "p50_batch_ms", "metric"} <= set(m)
    assert doc["int8"]["quantized_nodes"] == 0 and "TreeEnsembleClassifier" in doc["int8"]["note"]
    assert 0.8 < d["vs_teacher"]["class_agreement"] <= 1.0


def test_human_output_says_what_was_written(trained_project: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    code, stdout, stderr = run("export", "--out", str(out), "--project", str(trained_project))
    assert code == 0
    text = stdout + stderr
    assert f"wrote {out.resolve()}" in text and "parity on" in text and "roc_auc" in text


def test_a_parity_break_exits_1_with_the_numbers_and_writes_nothing(trained_project: Path, tmp_path: Path) -> None:
    out = tmp_path / "kept.onnx"
    out.write_bytes(b"an older export")
    code, stdout, _ = run("export", "--out", str(out), "--tolerance", "1e-12", "--project", str(trained_project),
                          "--json")
    assert code == 1
    err = json.loads(stdout)["error"]
    assert err["code"] == "export_refused" and "tolerance 1e-12" in err["message"]
    assert err["report"]["max_abs_diff"] > 1e-12
    assert out.read_bytes() == b"an older export"  # untouched
    assert [p.name for p in tmp_path.iterdir()] == ["kept.onnx"]  # no temporary file left either


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "pmml"], "unknown export format 'pmml'"),
    (["--quantize", "int4"], "unknown quantization 'int4'"),
    (["--distill", "--student", "forest"], "unknown student 'forest'"),
    (["--tolerance", "-1"], "must be a positive number"),
])
def test_mistakes_are_one_line(args: list[str], message: str, trained_project: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.onnx"
    code, stdout, stderr = run("export", "--out", str(out), *args, "--project", str(trained_project))
    assert code == 1 and message in stderr and "Traceback" not in stderr
    assert not out.exists()


def test_an_unwritable_path_is_refused_before_the_work(trained_project: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    code, stdout, stderr = run("export", "--out", str(tmp_path / "file" / "m.onnx"), "--project", str(trained_project))
    assert code == 1 and "is a file, not a folder" in stderr and "internal" not in stderr
    code, stdout, stderr = run("export", "--out", str(tmp_path), "--project", str(trained_project))
    assert code == 1 and "is a folder" in stderr


def test_an_unknown_version_is_refused(trained_project: Path, tmp_path: Path) -> None:
    code, stdout, _ = run("export", "99", "--out", str(tmp_path / "x.onnx"), "--project", str(trained_project), "--json")
    assert code == 1 and json.loads(stdout)["error"]["code"] == "model_not_found"


def _readme_snippet() -> str:
    section = README.read_text().split("## Run the model without tabloop", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return block


def _clean_venv(where: Path) -> Path:
    """A virtual environment with onnxruntime and NumPy only (the versions tested here), from uv's cache when it
    has them, else from the package index; skips with the reason when neither works."""
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if not Path(uv).exists():
        pytest.skip("uv is not installed, so no clean environment can be made")
    venv = where / "venv"
    made = subprocess.run([uv, "venv", "-q", str(venv), "--python", sys.executable], capture_output=True, text=True,
                          timeout=300)
    if made.returncode:
        pytest.skip(f"uv venv failed: {made.stderr[-500:]}")
    python = venv / "bin" / "python"
    wanted = [f"onnxruntime=={md.version('onnxruntime')}", f"numpy=={md.version('numpy')}"]
    errors = []
    for offline in (["--offline"], []):
        done = subprocess.run([uv, "pip", "install", "-q", *offline, "--python", str(python), *wanted],
                              capture_output=True, text=True, timeout=600)
        if done.returncode == 0:
            return python
        errors.append(done.stderr[-300:])
    pytest.skip(f"onnxruntime and numpy could not be installed in a clean venv (offline, then online): {errors}")


def test_the_readme_example_runs_with_onnxruntime_alone(exported: tuple[Path, dict], tmp_path: Path) -> None:
    out, doc = exported
    python = _clean_venv(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    probe = subprocess.run([str(python), "-c", "import tabloop"], capture_output=True, text=True, env=env, timeout=60)
    assert probe.returncode != 0 and "No module named 'tabloop'" in probe.stderr  # the environment is clean
    shutil.copy(out, tmp_path / "loans.onnx")
    done = subprocess.run([str(python), "-c", _readme_snippet()], cwd=tmp_path, capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2
    for line in lines:
        label, _, probs = line.partition(" ")
        assert label in ("no", "yes")
        shares = ast.literal_eval(probs)  # the snippet prints a dict of class -> probability
        assert set(shares) == {"no", "yes"} and abs(sum(shares.values()) - 1) < 1e-3
