"""The model bundle (layer 8): the artifact every stage after training shares.

A bundle is the fitted pipeline with its contract, a reference sample, the spec it came
from, the ONNX graph when one converted, and a signed manifest of their hashes; loading one
verifies the signature and every hash before anything is unpickled. Serving, export, batch
scoring, tracking and monitoring depend on this package, not on the trainer.

- ``ModelBundle``: the files, saving and loading (``_bundle``);
- ``Manifest``: ``manifest.json`` typed, written back byte for byte (``_manifest``);
- ``Predictions``: what any runtime answers for a batch of rows (``_predictions``);
- ``RowPredictor``, ``Rows``: the seam between JSON rows and a model (``_predictor``);
- the HMAC signature over the manifest (``_signature``, docs/trust.md).
"""

from typing import TYPE_CHECKING

from tabloop._lazy import exports

# imported on first use (see tabloop._lazy): a command pays only for the libraries it needs
if TYPE_CHECKING:
    from tabloop.bundle._bundle import ModelBundle, library_versions, training_prior
    from tabloop.bundle._manifest import Label, Manifest
    from tabloop.bundle._predictions import CONTRACT_KEY, PREDICTION_COLUMN, Predictions, proba_column
    from tabloop.bundle._predictor import RowPredictor, Rows
    from tabloop.bundle._signature import MANIFEST_FILE, SIGNATURE_FILE

__getattr__, __dir__ = exports(__name__, __file__)

__all__ = [
    "MANIFEST_FILE",
    "CONTRACT_KEY",
    "PREDICTION_COLUMN",
    "SIGNATURE_FILE",
    "Label",
    "Manifest",
    "ModelBundle",
    "Predictions",
    "RowPredictor",
    "Rows",
    "library_versions",
    "proba_column",
    "training_prior",
]
