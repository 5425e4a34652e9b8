"""A model bundle: the fitted pipeline with everything needed to serve, monitor and retrain it."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import platform
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tabloop.bundle._manifest import Manifest
from tabloop.bundle._predictions import Predictions
from tabloop.bundle._signature import MANIFEST_FILE, verify_signature, write_signature
from tabloop.data import Contract, screen_frame
from tabloop.errors import DataError
from tabloop.workspace import SigningKey, atomic_write_bytes, atomic_write_json, file_sha256

BUNDLE_FORMAT = 1
PIPELINE_FILE = "pipeline.joblib"
CONTRACT_FILE = "contract.json"
REFERENCE_FILE = "reference.parquet"
SPEC_FILE = "spec.yaml"
ONNX_FILE = "model.onnx"  # optional: the pipeline as ONNX, see tabloop.export


@dataclass
class ModelBundle:
    """What a model version holds (docs/architecture.md, 'The model bundle').

    ``manifest`` (see ``Manifest``) carries: format, task, classes, threshold, metric,
    data_hash, spec_hash, cv summary, library versions, and the sha256 of each file.
    A plain mapping given for it is validated into a ``Manifest``.
    """

    pipeline: Any
    contract: Contract
    manifest: Manifest
    reference: pd.DataFrame
    spec_yaml: str
    name: str | None = None
    version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: the pipeline exported to ONNX, when it converted; manifest.onnx says whether parity held
    onnx: bytes | None = None

    def __post_init__(self) -> None:
        if isinstance(self.manifest, Mapping):
            self.manifest = Manifest.from_dict(self.manifest)

    @property
    def pipeline_loaded(self) -> bool:
        """Whether the pipeline has been unpickled (``load`` defers it to its first use)."""
        return not isinstance(self.__dict__.get("_pipeline"), _Pickled)

    @property
    def task(self) -> str:
        """The manifest's task; KeyError when it has none (a bundle that cannot be served or scored)."""
        if self.manifest.task is None:
            raise KeyError("task")
        return self.manifest.task

    @property
    def classes(self) -> list[Any]:
        return list(self.manifest.classes or [])

    @property
    def threshold(self) -> float | None:
        return self.manifest.threshold

    @property
    def target(self) -> str | None:
        """The target column: the manifest's, else the contract's (bundles from before the manifest held it)."""
        return self.manifest.target or self.contract.target

    @functools.cached_property
    def prior(self) -> dict[str, Any] | None:
        """The answer a model without features would give (see ``training_prior``), or None when unknown.

        Bundles trained before the manifest held ``prior`` fall back to the reference sample's target.
        """
        stored = self.manifest.prior
        if stored is not None and "prediction" in stored:
            return stored
        target = self.target
        if not target or target not in self.reference.columns:
            return None
        try:
            return training_prior(self.reference[target], self.task, self.classes)
        except DataError:
            return None

    def prior_predictions(self, n: int) -> Predictions:
        """``n`` rows answered with the prior: what a holdout row gets instead of the model's own answer."""
        prior = self.prior
        if prior is None:
            raise DataError(
                f"model {self.name or 'bundle'} v{self.version or '?'}: no training prior is stored and its reference "
                "sample has no target column to derive one",
                hint="retrain the model (new bundles store manifest['prior']) "
                "or set serving.feedback_holdout.share to 0",
            )
        if self.task == "regression":
            return Predictions(labels=[float(prior["prediction"])] * n, proba=None, classes=[])
        proba = np.tile(np.asarray(prior["probabilities"], dtype=float), (n, 1))
        return Predictions(labels=[prior["prediction"]] * n, proba=proba, classes=self.classes)

    def predict(self, df: pd.DataFrame, *, source: str = "input", checked: bool = False) -> Predictions:
        """Check ``df`` against the contract (unless ``checked``) and predict; rows the contract let
        through out of contract carry their marks (``Predictions.marks``)."""
        if checked:
            X, marks = df, {}
        else:
            screened = screen_frame(df, self.contract, source=source)
            X, marks = screened.values, screened.marks
        if self.task == "regression":
            preds = self.predictions_from(self.pipeline.predict(X))
        else:
            preds = self.predictions_from(self.pipeline.predict_proba(X))
        preds.marks = marks
        return preds

    def predictions_from(self, output: Any) -> Predictions:
        """Predictions from the model's raw output: values (regression) or probabilities in ``classes`` order.

        The one place the threshold (binary) and argmax rules live, whichever runtime produced ``output``.
        """
        if self.task == "regression":
            values = np.asarray(output, dtype=float).reshape(-1)
            return Predictions(labels=[float(v) for v in values], proba=None, classes=[])
        proba = np.asarray(output, dtype=float)
        threshold = self.threshold
        if self.task == "binary" and threshold is not None:
            idx = (proba[:, 1] >= threshold).tolist()
        else:
            idx = proba.argmax(axis=1).tolist()
        classes = self.classes
        return Predictions(labels=[classes[i] for i in idx], proba=proba, classes=classes)

    # -- files -------------------------------------------------------------
    def save(self, directory: str | Path, *, key: SigningKey) -> dict[str, Path]:
        """Write the bundle's files into ``directory``, the manifest signed with ``key``; returns name -> path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        held = self.__dict__.get("_pipeline")
        if isinstance(held, _Pickled):  # loaded and never used: the very bytes it was loaded from
            pickled = held.data
        else:
            import joblib

            buf = io.BytesIO()
            joblib.dump(self.pipeline, buf)
            pickled = buf.getvalue()
        paths = {
            "pipeline": atomic_write_bytes(directory / PIPELINE_FILE, pickled),
            "contract": self.contract.save(directory / CONTRACT_FILE),
            "spec": atomic_write_bytes(directory / SPEC_FILE, self.spec_yaml.encode()),
        }
        ref = directory / REFERENCE_FILE
        tmp = directory / f".{REFERENCE_FILE}.tmp"
        self.reference.to_parquet(tmp, index=False)
        tmp.replace(ref)
        paths["reference"] = ref
        if self.onnx is not None:
            paths["onnx"] = atomic_write_bytes(directory / ONNX_FILE, self.onnx)
        changes: dict[str, Any] = {"format": BUNDLE_FORMAT, "files": {k: file_sha256(p) for k, p in paths.items()}}
        if "versions" not in self.manifest.model_fields_set:  # a present key is kept, even null, as before
            changes["versions"] = library_versions()
        manifest = self.manifest.replace(**changes)
        paths["manifest"] = atomic_write_json(directory / MANIFEST_FILE, manifest.to_dict())
        # the signature covers the manifest's bytes as written, and the manifest holds every file's hash,
        # so one signature binds the whole bundle
        paths["signature"] = write_signature(directory, paths["manifest"].read_bytes(), key)
        self.manifest = manifest
        return paths

    @classmethod
    def load(cls, directory: str | Path, *, key: SigningKey, name: str | None = None,
             version: str | None = None) -> ModelBundle:
        """Load a bundle whose manifest ``key`` signed, refusing files whose hashes do not match the manifest.

        Nothing is unpickled before the signature and every hash have been checked, and each file is
        parsed from the very bytes that were hashed, so it cannot be swapped in between. The pipeline
        is unpickled from those bytes on its first use: a caller that answers with the ONNX graph
        (``tabloop predict``, the server) never imports scikit-learn, which was most of a second.
        """
        directory = Path(directory)
        what = f"model {name!r} version {version} ({directory})" if name else str(directory)
        try:
            manifest_bytes = (directory / MANIFEST_FILE).read_bytes()
        except OSError as exc:
            raise DataError(f"{directory}: not a tabloop model bundle ({exc})") from exc
        verify_signature(directory, manifest_bytes, key, what)
        try:
            raw = json.loads(manifest_bytes)
        except ValueError as exc:
            raise DataError(f"{directory}: not a tabloop model bundle ({exc})") from exc
        if not isinstance(raw, dict):
            raise DataError(f"{directory}: not a tabloop model bundle ({MANIFEST_FILE} is not a JSON object)")
        if raw.get("format") != BUNDLE_FORMAT:
            raise DataError(f"{directory}: bundle format {raw.get('format')!r} is not supported")
        manifest = Manifest.from_dict(raw, where=str(directory / MANIFEST_FILE))
        hashes = manifest.files or {}
        files = {"pipeline": PIPELINE_FILE, "contract": CONTRACT_FILE, "spec": SPEC_FILE, "reference": REFERENCE_FILE}
        if "onnx" in hashes:
            files["onnx"] = ONNX_FILE
        data: dict[str, bytes] = {}
        for part, fname in files.items():
            expected = hashes.get(part)
            try:
                data[part] = (directory / fname).read_bytes()
            except FileNotFoundError:
                raise DataError(f"{directory / fname}: file of the model bundle is missing; refusing to load") from None
            if expected is None or hashlib.sha256(data[part]).hexdigest() != expected:
                raise DataError(
                    f"{directory / fname}: hash does not match the manifest; refusing to load",
                    hint="the artifact was changed after registration; register the model again",
                )
        try:
            contract = Contract.from_dict(json.loads(data["contract"]))
        except DataError as exc:
            raise DataError(f"{directory / CONTRACT_FILE}: {exc.message}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{directory / CONTRACT_FILE}: not a readable contract: {exc}") from exc
        return cls(
            pipeline=_Pickled(data["pipeline"]),
            contract=contract,
            manifest=manifest,
            reference=pd.read_parquet(io.BytesIO(data["reference"])),
            spec_yaml=data["spec"].decode(),
            name=name,
            version=version,
            onnx=data.get("onnx"),
        )


@dataclass(frozen=True)
class _Pickled:
    """A pipeline's verified pickle, not yet unpickled (``ModelBundle.load``)."""

    data: bytes


#: one unpickling at a time: two server threads asking at once get the same pipeline object
_UNPICKLING = threading.Lock()


def _get_pipeline(self: ModelBundle) -> Any:
    held = self.__dict__["_pipeline"]
    if isinstance(held, _Pickled):
        with _UNPICKLING:
            held = self.__dict__["_pipeline"]
            if isinstance(held, _Pickled):
                import joblib

                held = self.__dict__["_pipeline"] = joblib.load(io.BytesIO(held.data))
    return held


def _set_pipeline(self: ModelBundle, value: Any) -> None:
    self.__dict__["_pipeline"] = value


# after @dataclass, so that the field keeps no default and __init__ assigns through the property
ModelBundle.pipeline = property(  # type: ignore[assignment]
    _get_pipeline, _set_pipeline, doc="The fitted scikit-learn pipeline, unpickled on first use after ``load``.")


def training_prior(y: pd.Series, task: str, classes: list[Any]) -> dict[str, Any]:
    """What the training target says with no features: the majority class and the class shares, or the mean.

    Returns ``{"prediction": ..., "probabilities": [share per class in classes order] | None, "rows": n}``,
    JSON-safe so it can live in the manifest.
    """
    values = y.dropna()
    if values.empty:
        raise DataError(f"column {y.name!r}: no target values to take a prior from")
    if task == "regression":
        try:
            mean = float(pd.to_numeric(values, errors="raise").mean())
        except (TypeError, ValueError) as exc:
            raise DataError(f"column {y.name!r}: a regression target must be numeric ({exc})") from exc
        return {"prediction": mean, "probabilities": None, "rows": int(len(values))}
    counts = values.map(str).value_counts()
    shares = [float(counts.get(str(c), 0)) / float(len(values)) for c in classes]
    if not classes or sum(shares) == 0:
        raise DataError(f"column {y.name!r}: none of its values is one of the classes {classes}")
    # ties go to the earlier class, so the prior does not depend on the sample's row order
    majority = classes[int(np.argmax(shares))]
    return {"prediction": majority, "probabilities": shares, "rows": int(len(values))}


def library_versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("tabloop", "scikit-learn", "lightgbm", "pandas", "numpy", "mlflow"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out
