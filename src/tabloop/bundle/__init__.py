"""The model bundle (layer 6): the artifact every stage after training shares.

A bundle is the fitted pipeline with its contract, a reference sample, the spec it came
from, the ONNX graph when one converted, and a signed manifest of their hashes; loading one
verifies the signature and every hash before anything is unpickled. Serving, export, batch
scoring, tracking and monitoring depend on this package, not on the trainer.
"""

from typing import TYPE_CHECKING

from tabloop._lazy import exports

# imported on first use (see tabloop._lazy): a command pays only for the libraries it needs
if TYPE_CHECKING:
    from tabloop.bundle._bundle import (
        PREDICTION_COLUMN,
        ModelBundle,
        Predictions,
        library_versions,
        proba_column,
        training_prior,
    )

__getattr__, __dir__ = exports(__name__, __file__)

__all__ = [
    "PREDICTION_COLUMN",
    "ModelBundle",
    "Predictions",
    "library_versions",
    "proba_column",
    "training_prior",
]
