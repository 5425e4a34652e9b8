"""Categorical encodings looked up, not computed, on the request path.

The exported graph encodes categorical columns with string operators (an imputer
spelled as label encoders and ``Where``, column extraction, one-hot) that cost
onnxruntime most of a one-row run: about 39 µs of the HMDA model's 40-odd nodes, against
12 µs for the rest. Yet a column's encoding depends on nothing but its own value, and
the contract lists every value a checked row can hold. So the graph itself computes,
once, the encoding of every value of every categorical column, and a request looks
its values up and feeds the numbers to the rest of the graph.

``fold_categoricals`` cuts the graph where the categorical part ends (the first numeric
tensors computed from categorical inputs alone) and returns the cut graph and the
lookup tables, or None when the graph does not split that way: a tensor mixing several
categorical columns, string values crossing the cut, control flow. It checks the tables
against the graph on every value and on random combinations; the caller still checks
the whole cut graph against the whole original before serving from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tabloop.data import MISSING_SENTINEL, Contract
from tabloop.export._runtime import make_session

#: random rows (fixed seed) on which the assembled lookups must equal the graph's own encoding
CHECK_ROWS = 64
_NUMERIC_TYPES = {1: np.float32, 11: np.float64}  # TensorProto FLOAT, DOUBLE


@dataclass(frozen=True)
class _Block:
    """One tensor where the categorical part ends: a constant row plus each column's share of it."""

    name: str
    tail: tuple[int, ...]  # its shape after the batch dimension
    base: np.ndarray  # flat, dtype of the tensor
    # (column, the positions it owns: a slice when they are contiguous, as one-hot blocks are; value -> values)
    columns: tuple[tuple[str, slice | np.ndarray, dict[str, np.ndarray]], ...]

    def encode(self, values: Mapping[str, Sequence[str]], n: int) -> np.ndarray:
        if n == 1:
            row = self.base.copy()
            for name, owned, table in self.columns:
                row[owned] = table[values[name][0]]
            return row.reshape((1, *self.tail))
        out = np.tile(self.base, (n, 1))
        for name, owned, table in self.columns:
            column = values[name]
            for i in range(n):
                out[i, owned] = table[column[i]]
        return out.reshape((n, *self.tail))


@dataclass(frozen=True)
class FoldedGraph:
    """The graph from the numeric inputs and the encoded blocks to the original outputs, and the lookups."""

    onnx_bytes: bytes
    blocks: tuple[_Block, ...]
    categorical: tuple[str, ...]

    def feed(self, feed: dict[str, Any], values: Mapping[str, Sequence[str]], n: int) -> dict[str, Any]:
        """``feed`` (numeric inputs) plus every block, from each categorical column's values (a category or the gap sentinel)."""
        for block in self.blocks:
            feed[block.name] = block.encode(values, n)
        return feed

    def encode_columns(self, feed: dict[str, Any], columns: Mapping[str, np.ndarray], n: int) -> dict[str, Any] | None:
        """``feed`` plus every block, from whole checked columns (a category string, or a gap), looked up for all
        ``n`` rows at once: a batch's way to ``feed``, which goes row by row. None when a value has no entry
        (the whole graph then answers)."""
        import pandas as pd

        for block in self.blocks:
            out = np.tile(block.base, (n, 1))
            for name, owned, table in block.columns:
                keys = list(table)
                values = np.asarray(columns[name], dtype=object)
                codes = pd.Categorical(values, categories=keys).codes.astype(np.intp)
                gaps = pd.isna(values)  # another value that is not a string has no code: the whole graph answers
                if gaps.any():  # as onnx_feed: a gap travels as the gap marker
                    if MISSING_SENTINEL not in table:
                        return None
                    codes[gaps] = keys.index(MISSING_SENTINEL)
                if (codes < 0).any():
                    return None
                out[:, owned] = np.stack([table[k] for k in keys])[codes]
            feed[block.name] = out.reshape((n, *block.tail))
        return feed

    def knows(self, name: str, value: str) -> bool:
        return all(value in table for block in self.blocks for column, _, table in block.columns if column == name)


def fold_categoricals(onnx_bytes: bytes, contract: Contract) -> FoldedGraph | None:
    """The cut graph and lookup tables for ``contract``'s categorical columns, or None when it does not split."""
    import onnx
    import onnx.shape_inference
    import onnx.utils

    categorical = contract.categorical
    if not categorical or any(not contract.column(n).categories for n in categorical):
        return None
    model = onnx.shape_inference.infer_shapes(onnx.load_from_string(onnx_bytes))
    graph = model.graph
    if any(attr.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in graph.node for attr in n.attribute):
        return None  # control flow: dependencies are not what the node lists say
    inputs = [i.name for i in graph.input]
    if set(categorical) - set(inputs):
        return None
    cats = frozenset(categorical)
    deps: dict[str, frozenset[str]] = {name: frozenset([name]) for name in inputs}
    for node in graph.node:
        needs = frozenset().union(*(deps.get(i, frozenset()) for i in node.input if i))
        for out in node.output:
            deps[out] = needs
    outputs = {o.name for o in graph.output}
    cut: list[str] = []
    for node in graph.node:
        if not node.output or deps[node.output[0]] <= cats:
            continue  # inside the categorical part (or a constant)
        # a node that mixes in something else: what it takes from the categorical part alone crosses the cut
        for name in node.input:
            if name and deps.get(name) and deps[name] <= cats and name not in cut:
                cut.append(name)
    cut += [o for o in outputs if deps.get(o) and deps[o] <= cats and o not in cut]
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.value_info, *graph.input, *graph.output]}
    if not cut or any(types.get(name) not in _NUMERIC_TYPES for name in cut):
        return None  # strings (or unknown types) cross the cut: nothing to look up
    numeric = [n for n in inputs if n not in cats]
    extractor = onnx.utils.Extractor(model)
    probe = make_session(extractor.extract_model(categorical, cut).SerializeToString())
    rest = extractor.extract_model(numeric + cut, [o.name for o in graph.output])
    if {i.name for i in rest.graph.input} & cats:
        return None
    blocks = _tables(probe, cut, categorical, contract)
    if blocks is None:
        return None
    return FoldedGraph(rest.SerializeToString(), blocks, tuple(categorical))


def _tables(probe: Any, cut: list[str], categorical: list[str], contract: Contract) -> tuple[_Block, ...] | None:
    """Each cut tensor's encoding of every value, one column at a time; None if a position depends on two columns."""
    domains = {}
    for name in categorical:
        column = contract.column(name)
        domains[name] = [*(column.categories or ()), *([MISSING_SENTINEL] if column.nullable else [])]
    base_row = {name: domains[name][0] for name in categorical}
    rows: list[dict[str, str]] = [base_row]
    where: dict[str, list[int]] = {}
    for name in categorical:
        where[name] = []
        for value in domains[name]:
            where[name].append(len(rows))
            rows.append({**base_row, name: value})
    outputs = _run(probe, cut, rows, categorical)
    blocks = []
    for name, out in zip(cut, outputs, strict=True):
        flat = out.reshape(len(rows), -1)
        base = flat[0]
        owner = np.full(flat.shape[1], -1)
        for k, column in enumerate(categorical):
            moved = (flat[where[column]] != base).any(axis=0)
            if (owner[moved] >= 0).any():
                return None  # a position that two columns move: not a per-column encoding
            owner[moved] = k
        columns = []
        for k, column in enumerate(categorical):
            positions = np.flatnonzero(owner == k)
            if positions.size:
                table = {v: flat[r, positions].copy() for v, r in zip(domains[column], where[column], strict=True)}
                contiguous = positions[-1] - positions[0] + 1 == positions.size
                owned = slice(int(positions[0]), int(positions[-1]) + 1) if contiguous else positions
                columns.append((column, owned, table))
        blocks.append(_Block(name, tuple(out.shape[1:]), base.copy(), tuple(columns)))
    folded = tuple(blocks)
    rng = np.random.default_rng(0)
    check = [{name: domains[name][rng.integers(len(domains[name]))] for name in categorical} for _ in range(CHECK_ROWS)]
    values = {name: [r[name] for r in check] for name in categorical}
    for block, out in zip(folded, _run(probe, cut, check, categorical), strict=True):
        if not np.array_equal(block.encode(values, len(check)), out):
            return None  # an interaction the one-at-a-time probe missed
    return folded


def _run(session: Any, cut: list[str], rows: list[dict[str, str]], categorical: list[str]) -> list[np.ndarray]:
    feed = {}
    for name in categorical:
        arr = np.empty((len(rows), 1), dtype=object)
        for i, row in enumerate(rows):
            arr[i, 0] = row[name]
        feed[name] = arr
    outs = session.run(cut, feed)
    for out in outs:
        if out.ndim < 1 or out.shape[0] != len(rows):
            raise ValueError("a cut tensor is not one row per input row")
    return list(outs)
