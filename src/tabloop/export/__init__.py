"""Export (layer 13): the pipeline as ONNX with a parity check, fast row predictors for serving, and the file
``tabloop export`` writes (int8 and distilled variants measured beside it)."""

from typing import TYPE_CHECKING

from tabloop._lazy import exports

# imported on first use (see tabloop._lazy): a command pays only for the libraries it needs
if TYPE_CHECKING:
    from tabloop.export._artifact import INT8_TOLERANCE, Artifact, build_artifact
    from tabloop.export._distill import STUDENTS, distill
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
    from tabloop.export._predict import OnnxRowPredictor, SklearnRowPredictor, make_row_predictor, predict_batch
    from tabloop.export._quantize import quantize_int8
    from tabloop.export._standalone import METADATA_KEY, FileExport, export_file

__getattr__, __dir__ = exports(__name__, __file__)

__all__ = [
    "Artifact",
    "DEFAULT_TOLERANCE",
    "FileExport",
    "INT8_TOLERANCE",
    "METADATA_KEY",
    "STUDENTS",
    "build_artifact",
    "distill",
    "export_file",
    "quantize_int8",
    "OnnxExport",
    "OnnxRowPredictor",
    "SklearnRowPredictor",
    "check_parity",
    "export_bundle",
    "export_onnx",
    "make_row_predictor",
    "parity_rows",
    "predict_batch",
    "to_onnx",
    "with_gaps",
]
