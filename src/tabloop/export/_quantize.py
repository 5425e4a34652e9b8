"""int8 dynamic quantization of an exported graph (onnxruntime.quantization), and what it changed.

Dynamic quantization stores the weights of ``MatMul``, ``Gemm``, ``Conv``, ``Attention``, ``LSTM``...
as int8 and quantizes activations at run time. tabloop's graphs hold none of those for most models: tree
ensembles are ``TreeEnsemble*`` nodes and linear models ``LinearClassifier``/``LinearRegressor`` of the
``ai.onnx.ml`` domain, which have no int8 kernels in onnxruntime, and the preparation is element-wise. So
:func:`quantize_int8` says how many nodes it quantized; when none, the answer is the float graph unchanged
(``quantized_nodes: 0``, with the op types that stayed float), never a file that only claims to be int8.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import tempfile
from dataclasses import dataclass
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: node types onnxruntime's dynamic quantization writes in place of float ones
QUANTIZED_OPS = frozenset({
    "DynamicQuantizeLinear", "DynamicQuantizeMatMul", "MatMulInteger", "ConvInteger", "QLinearMatMul",
    "QuantizeLinear", "DequantizeLinear", "QAttention", "DynamicQuantizeLSTM", "QGemm", "MatMulIntegerToFloat",
})
#: node types that carry weights (the ones the float graph spends its size on)
_WEIGHTED = ("TreeEnsemble", "Linear", "SVM", "MatMul", "Gemm", "Conv", "LSTM", "Attention")


@dataclass
class Quantized:
    onnx: bytes
    quantized_nodes: int
    stayed_float: dict[str, int]  # op type -> nodes with weights that were not quantized
    note: str


def quantize_int8(onnx_bytes: bytes) -> Quantized:
    """``onnx_bytes`` with int8 weights where onnxruntime can quantize them (weights ``QInt8``, per tensor)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    before = onnx.load_from_string(onnx_bytes)
    with tempfile.TemporaryDirectory(prefix="tabloop-int8-") as tmp:
        src, dst = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(onnx_bytes)
        with _quiet_root():
            quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
        after = onnx.load_from_string(dst.read_bytes())
    counts = collections.Counter(n.op_type for n in after.graph.node)
    quantized = sum(n for op, n in counts.items() if op in QUANTIZED_OPS)
    stayed = dict(collections.Counter(n.op_type for n in after.graph.node if n.op_type.startswith(_WEIGHTED)
                                      and n.op_type not in QUANTIZED_OPS))
    if quantized == 0:
        kinds = ", ".join(f"{op} x{n}" for op, n in sorted(stayed.items())) or "no weighted operator"
        return Quantized(onnx_bytes, 0, stayed,
                         f"nothing to quantize: the graph's weights sit in {kinds}, which onnxruntime has no int8 "
                         "kernels for; the file is the float graph")
    # the metadata (names, classes, the missing-category marker) must survive the rewrite
    del after.metadata_props[:]
    after.metadata_props.extend(before.metadata_props)
    after.graph.doc_string = before.graph.doc_string
    note = f"{quantized} node(s) quantized to int8"
    if stayed:
        note += "; still float: " + ", ".join(f"{op} x{n}" for op, n in sorted(stayed.items()))
    return Quantized(bytes(after.SerializeToString()), quantized, stayed, note)


@contextlib.contextmanager
def _quiet_root() -> Iterator[None]:
    """onnxruntime's quantizer logs advice about image models on the root logger: not for tabular graphs."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def op_counts(onnx_bytes: bytes) -> dict[str, Any]:
    """Node types of a graph and how many of each (for reports)."""
    import onnx

    return dict(collections.Counter(n.op_type for n in onnx.load_from_string(onnx_bytes).graph.node))
