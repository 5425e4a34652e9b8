"""Folded categorical encodings: the cut graph fed looked-up encodings answers exactly as the whole graph."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tabloop.data import MISSING_SENTINEL, Contract, infer_contract
from tabloop.export import OnnxRowPredictor, export_bundle
from tabloop.export._fold import FoldedGraph, fold_categoricals
from tabloop.export._predict import _same_answers
from tabloop.bundle import ModelBundle

from .conftest import gappy

Rows = list[dict[str, Any]]


@pytest.fixture(scope="module")
def exported(logistic: ModelBundle, lightgbm: ModelBundle, ridge: ModelBundle,
             split: tuple[pd.DataFrame, pd.DataFrame]) -> dict[str, ModelBundle]:
    for bundle in (logistic, lightgbm, ridge):
        if bundle.onnx is None:
            export_bundle(bundle, split[1])
    return {"logistic": logistic, "lightgbm": lightgbm, "ridge": ridge}


@pytest.mark.parametrize("name", ["logistic", "lightgbm", "ridge"])
def test_the_folded_graph_answers_every_category_and_gap_as_the_whole_graph(
    name: str, exported: dict[str, ModelBundle], make_rows: Callable[..., Rows]
) -> None:
    bundle = exported[name]
    folded = OnnxRowPredictor(bundle)
    assert folded.folded is True
    whole = OnnxRowPredictor(bundle, fold=False)  # the same small path, on the whole graph
    assert whole.folded is False
    rows = make_rows(200) + gappy(make_rows(40, start=200), bundle.contract)
    # every value of every categorical column, gap included where allowed, in some row
    for i, column in enumerate(c for c in bundle.contract.columns if c.kind == "categorical"):
        for j, value in enumerate([*(column.categories or ()), *([None] if column.nullable else [])]):
            rows[(7 * i + j) % len(rows)][column.name] = value
    for size in (1, 3, 16):  # one row at a time and small batches: the requests the small path takes
        for start in range(0, len(rows), size):
            part = rows[start : start + size]
            got, expected = folded.predict_rows(part), whole.predict_rows(part)
            np.testing.assert_array_equal(got.labels, expected.labels)
            if expected.proba is not None:
                np.testing.assert_allclose(got.proba, expected.proba, rtol=1e-6, atol=1e-7)


def test_fold_tables_hold_each_columns_encoding(exported: dict[str, ModelBundle]) -> None:
    bundle = exported["logistic"]
    assert bundle.onnx is not None
    folded = fold_categoricals(bundle.onnx, bundle.contract)
    assert folded is not None and folded.categorical == tuple(bundle.contract.categorical)
    (block,) = folded.blocks  # one-hot blocks of all categorical columns, concatenated
    everywhere = np.arange(block.base.size)
    owned = {name: everywhere[positions].tolist() for name, positions, _ in block.columns}
    assert all(isinstance(positions, slice) for _, positions, _ in block.columns)  # one-hot blocks are contiguous
    assert set(owned) == set(bundle.contract.categorical)
    assert sorted(p for ps in owned.values() for p in ps) == list(range(block.base.size))  # each position one column's
    for name, _, table in block.columns:
        column = bundle.contract.column(name)
        assert set(table) == set(column.categories or ()) | ({MISSING_SENTINEL} if column.nullable else set())
        for vector in table.values():  # one-hot: exactly one 1 per value (a gap takes the imputed category's)
            assert sorted(vector.tolist()) == [0.0] * (len(vector) - 1) + [1.0]


def test_a_graph_without_categorical_columns_or_with_mixed_encodings_is_not_folded() -> None:
    from onnx import TensorProto, helper

    from tabloop.data import ColumnContract

    def graph(nodes: list[Any], inputs: list[Any]) -> bytes:
        out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])
        model = helper.make_model(helper.make_graph(nodes, "g", inputs, [out]),
                                  opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
        model.ir_version = 9  # what the installed onnxruntime reads
        return model.SerializeToString()

    numeric = Contract([ColumnContract("x", "numeric", nullable=False)])
    only_numeric = graph([helper.make_node("Identity", ["x"], ["y"])],
                         [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])])
    assert fold_categoricals(only_numeric, numeric) is None
    # y = code(a) + code(b): one position moved by two columns, which no per-column table can hold
    two = Contract([ColumnContract("a", "categorical", nullable=False, categories=["p", "q"]),
                    ColumnContract("b", "categorical", nullable=False, categories=["p", "q"])])
    encode = {"keys_strings": ["p", "q"], "values_floats": [1.0, 2.0], "default_float": 0.0, "domain": "ai.onnx.ml"}
    mixed = graph(
        [helper.make_node("LabelEncoder", ["a"], ["ca"], **encode),
         helper.make_node("LabelEncoder", ["b"], ["cb"], **encode),
         helper.make_node("Add", ["ca", "cb"], ["y"])],
        [helper.make_tensor_value_info(n, TensorProto.STRING, [None, 1]) for n in ("a", "b")],
    )
    assert fold_categoricals(mixed, two) is None
    # the same encoding of one column alone folds: a table of its two values
    one = Contract([two.columns[0]])
    single = graph([helper.make_node("LabelEncoder", ["a"], ["y"], **encode)],
                   [helper.make_tensor_value_info("a", TensorProto.STRING, [None, 1])])
    folded = fold_categoricals(single, one)
    assert folded is not None
    (block,) = folded.blocks
    assert {k: v.tolist() for k, v in block.columns[0][2].items()} == {"p": [1.0], "q": [2.0]}


def test_a_folded_graph_that_disagrees_is_not_used(exported: dict[str, ModelBundle]) -> None:
    bundle = exported["logistic"]
    assert bundle.onnx is not None
    predictor = OnnxRowPredictor(bundle)
    folded = fold_categoricals(bundle.onnx, bundle.contract)
    assert folded is not None
    assert _same_answers(predictor.session, predictor._small_session, folded, bundle, predictor._output)
    block = folded.blocks[0]
    name, positions, table = block.columns[0]
    wrong = {value: vector[::-1].copy() for value, vector in table.items()}  # one column's one-hot swapped
    spoiled = FoldedGraph(folded.onnx_bytes, (type(block)(block.name, block.tail, block.base,
                                                          ((name, positions, wrong), *block.columns[1:])),),
                          folded.categorical)
    assert not _same_answers(predictor.session, predictor._small_session, spoiled, bundle, predictor._output)


def test_a_contract_category_the_reference_never_shows_still_folds(
    exported: dict[str, ModelBundle], table: pd.DataFrame
) -> None:
    bundle = exported["logistic"]
    contract = infer_contract(table, target="deny", ignored=["black"])
    assert bundle.contract.categorical == contract.categorical
    only_no = bundle.reference[bundle.reference[contract.categorical[0]] == "no"]
    narrow = ModelBundle(bundle.pipeline, bundle.contract, manifest=bundle.manifest, reference=only_no,
                         spec_yaml="", name="hmda", version="1", onnx=bundle.onnx)
    predictor = OnnxRowPredictor(narrow)
    assert predictor.folded is True  # the tables come from the contract, the reference only checks them
