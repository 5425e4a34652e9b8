"""Export (layer 13): the pipeline as ONNX with a parity check, and fast row predictors for serving."""

from typing import TYPE_CHECKING

from tabloop._lazy import exports

# imported on first use (see tabloop._lazy): a command pays only for the libraries it needs
if TYPE_CHECKING:
    from tabloop.export._onnx import (
        DEFAULT_TOLERANCE,
        OnnxExport,
        check_parity,
        export_bundle,
        export_onnx,
        parity_rows,
        to_onnx,
        with_gaps,
    )
    from tabloop.export._predict import OnnxRowPredictor, SklearnRowPredictor, make_row_predictor

__getattr__, __dir__ = exports(__name__, __file__)

__all__ = [
    "DEFAULT_TOLERANCE",
    "OnnxExport",
    "OnnxRowPredictor",
    "SklearnRowPredictor",
    "check_parity",
    "export_bundle",
    "export_onnx",
    "make_row_predictor",
    "parity_rows",
    "to_onnx",
    "with_gaps",
]
