"""``tabloop export``: a registered version as one ONNX file that runs without tabloop, parity-checked first."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabloop.api._project import Project
from tabloop.api._results import Result

FORMATS = ("onnx",)


@dataclass
class ExportResult(Result):
    model: str
    version: str
    format: str
    path: Path
    bytes: int
    #: what the file holds: float, float-int8 (quantized), student, student-int8
    written: str
    metric: str
    #: the written graph against the pipeline it came from, on the held-out rows (+ copies with gaps)
    parity: dict[str, Any]
    #: size, p50 latency of one row and of a batch, the metric on the held-out rows: the float graph
    #: (the student's with --distill)
    float: dict[str, Any]
    inputs: list[dict[str, str]] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    int8: dict[str, Any] | None = None
    distill: dict[str, Any] | None = None
    held_out_rows: int = 0


def export_model(
    version: str | None = None,
    *,
    out: str | Path,
    format: str = "onnx",
    quantize: str | None = None,
    distill: bool = False,
    student: str = "trees",
    tolerance: float | None = None,
    int8_tolerance: float | None = None,
    project: str | Path | None = None,
) -> ExportResult:
    """Write ``version`` (a number or alias; default: the champion) to ``out`` as one ONNX file.

    The graph holds the preparation and the model, one named input per column (float32 numbers, string
    categories), and outputs ``label`` + ``probabilities`` (classifiers) or ``value``. It is written only if it
    answers as the version's pipeline does on the held-out test part (maximum difference within ``tolerance``,
    labels equal away from the threshold); otherwise ``ExportError`` says why and nothing is written.
    ``quantize="int8"``: dynamic int8 quantization, measured beside the float graph (size, latency, metric) and
    held to ``int8_tolerance``. ``distill``: a small ``student`` ("trees" or "linear") fitted on the version's
    answers over its training rows (the reference sample) is written instead, measured beside the teacher.
    """
    from tabloop.errors import DataError, ExportError
    from tabloop.export import DEFAULT_TOLERANCE, INT8_TOLERANCE, STUDENTS, build_artifact
    from tabloop.workspace import atomic_write_bytes

    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}", hint=f"use one of {list(FORMATS)}")
    if distill and student not in STUDENTS:
        raise ExportError(f"unknown student {student!r}", hint=f"use one of {list(STUDENTS)}")
    for name, value in (("tolerance", tolerance), ("int8 tolerance", int8_tolerance)):
        if value is not None and not value > 0:
            raise ExportError(f"the {name} must be a positive number, not {value}")
    path = Path(out)
    _check_writable(path)
    proj = Project.open(project)
    ref = proj.resolve(version or "champion")
    if not ref.run_id:
        raise DataError(f"model {ref.name!r} version {ref.version} has no training run to take its held-out part "
                        "from, so parity cannot be checked", hint="export a version trained by 'tabloop train'")
    bundle = proj.load_bundle(ref.version)
    from tabloop.api._model import download_test_part

    held_out = download_test_part(proj, ref.run_id)
    target = bundle.target or proj.spec.data.target
    artifact = build_artifact(
        bundle, held_out, target=target, metric=proj.spec.resolved_metric, train_rows=bundle.reference,
        quantize=quantize, distill_student=student if distill else None,
        tolerance=DEFAULT_TOLERANCE if tolerance is None else tolerance,
        int8_tolerance=INT8_TOLERANCE if int8_tolerance is None else int8_tolerance, seed=proj.spec.seed,
    )
    try:
        atomic_write_bytes(path, artifact.onnx)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}", hint="choose another --out") from exc
    r = artifact.report
    return ExportResult(ref.name, ref.version, format, path.resolve(), len(artifact.onnx), r["written"], r["metric"],
                        r["parity"], r["float"], r["inputs"], r["outputs"], r.get("int8"), r.get("distill"),
                        r["held_out_rows"])


def _check_writable(path: Path) -> None:
    """Refuse a path that cannot become a file before the minutes of conversion and measurement, not after."""
    from tabloop.errors import ExportError

    if path.is_dir():
        raise ExportError(f"{path} is a folder", hint="give the file to write, e.g. --out model.onnx")
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise ExportError(f"cannot write {path}: {parent} is a file, not a folder", hint="choose another --out")
            break
