"""The manifest of a model bundle: what the model is, what it was trained on, and each file's hash.

``manifest.json`` is signed as bytes (docs/trust.md), so a manifest read and written back
must give the very bytes it was read from: ``to_dict`` returns the keys in the order they
came, with the values exactly as given (an integer threshold stays an integer), and keys
this version does not know (from an older or newer tabloop) are kept. Typed fields are the
view every reader uses; ``replace`` is the one way to a changed manifest.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, model_validator

from tabloop.errors import DataError

#: a class label as JSON holds it
Label = str | int | float | bool


class Manifest(BaseModel):
    """``manifest.json``: every field is optional, as bundles written by older versions lack some."""

    model_config = ConfigDict(frozen=True, strict=True, extra="allow")

    #: the bundle layout; ``ModelBundle.load`` refuses any other than its own
    format: int | None = None
    #: "binary", "multiclass" or "regression"
    task: str | None = None
    #: the class labels in the order of the probability columns (binary: [negative, positive])
    classes: list[Label] | None = None
    #: binary only: the probability of the positive class from which it is predicted (None: argmax)
    threshold: float | None = None
    target: str | None = None
    #: the metric the winner was chosen on
    metric: str | None = None
    winner: str | None = None
    #: how the winner was chosen among the candidates, in words
    rule: str | None = None
    #: the winner's cross-validated scores: metric -> {"mean": ..., "std": ...}
    cv: dict[str, dict[str, float]] | None = None
    data_hash: str | None = None
    spec_hash: str | None = None
    train_rows: int | None = None
    #: ISO 8601, UTC
    trained_at: str | None = None
    #: the answer without features (see ``training_prior``): {"prediction", "probabilities", "rows"}
    prior: dict[str, Any] | None = None
    #: library -> version at training time
    versions: dict[str, str] | None = None
    #: the ONNX export's report (see tabloop.export): "used" says whether the graph serves
    onnx: dict[str, Any] | None = None
    #: bundle part ("pipeline", "contract", ...) -> sha256 of its file
    files: dict[str, str] | None = None

    # the mapping validated, as given: what ``to_dict`` writes back
    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_raw(cls, data: Any, handler: Any) -> Any:
        manifest = handler(data)
        if isinstance(data, Mapping):
            manifest._raw = copy.deepcopy(dict(data))
        return manifest

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "manifest") -> Manifest:
        """Validate ``data`` (as read from ``manifest.json``), or DataError naming ``where`` and the bad key."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors())
            raise DataError(f"{where}: not a readable model manifest ({problems})") from None

    def to_dict(self) -> dict[str, Any]:
        """The manifest as ``manifest.json`` holds it: keys in their first order, values as given."""
        return copy.deepcopy(self._raw)

    def replace(self, **changes: Any) -> Manifest:
        """A copy with ``changes``: a key already present keeps its place, a new one goes last."""
        return Manifest.model_validate({**self._raw, **changes})

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Manifest:
        # pydantic's copy would not carry the update into what is written; replace does
        return self.replace(**(update or {}))
