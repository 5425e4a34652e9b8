"""ONNX converters for the preparation steps skl2onnx does not know, and the check that names a step it cannot convert.

tabloop's own steps (``tabloop.preparation``) and scikit-learn's ``MissingIndicator`` are
composed from plain ONNX operators (IsNaN, Min, Max, Where, Abs, Log, Sign, Gather). A
:class:`~tabloop.preparation.ColumnDropper` in front of a column transformer is left out of the
graph: the column transformer after it was fitted on the columns it kept and picks its inputs by
name, so the dropped columns are inputs nothing reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tabloop.errors import NotConvertible


def register_step_converters() -> None:
    """Make skl2onnx convert tabloop's preparation steps and ``MissingIndicator``."""
    from skl2onnx import update_registered_converter
    from sklearn.impute import MissingIndicator
    from sklearn.preprocessing import OneHotEncoder

    from tabloop.preparation import OutlierClipper, OutlierFlagger, SignedLog1p

    update_registered_converter(OutlierClipper, "TabloopOutlierClipper", _same_width, _convert_clipper)
    update_registered_converter(OutlierFlagger, "TabloopOutlierFlagger", _same_width, _convert_flagger)
    update_registered_converter(SignedLog1p, "TabloopSignedLog1p", _same_width, _convert_log)
    update_registered_converter(MissingIndicator, "SklearnMissingIndicator", _indicator_width, _convert_indicator)
    # the one-hot converter of skl2onnx, plus the rare bucket (preparation.rare_below) it lacks for a tensor of
    # several columns, which is what the imputer before it hands over
    update_registered_converter(OneHotEncoder, "SklearnOneHotEncoder", _one_hot_width, _convert_one_hot)


def without_droppers(model: Any) -> Any:
    """``model`` (a copy the caller owns) with each ColumnDropper that feeds a column transformer taken out.

    Raises :class:`NotConvertible` for a ColumnDropper anywhere else: its output would be a table whose
    columns depend on the data it was fitted on, which the graph's fixed inputs cannot follow.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    from tabloop.preparation import ColumnDropper

    for est, path in walk(model, "pipeline"):
        if not isinstance(est, Pipeline):
            continue
        kept = []
        for i, (name, step) in enumerate(est.steps):
            if isinstance(step, ColumnDropper):
                after = est.steps[i + 1][1] if i + 1 < len(est.steps) else None
                if not isinstance(after, ColumnTransformer):
                    raise NotConvertible(
                        f"step {path}.{name} (ColumnDropper) does not feed a column transformer, so the ONNX graph "
                        "cannot leave its columns out", hint="the server uses the scikit-learn pipeline")
                continue
            kept.append((name, step))
        est.steps = kept
    return model


def check_convertible(model: Any) -> None:
    """Raise :class:`NotConvertible` naming the first step no registered converter handles.

    Without it skl2onnx fails deep inside the conversion with a message about shape calculators.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    try:
        from skl2onnx._supported_operators import sklearn_operator_name_map
    except ImportError:  # another layout of skl2onnx: its own error will have to do
        sklearn_operator_name_map = None
    for est, path in walk(model, "pipeline"):
        if isinstance(est, (Pipeline, ColumnTransformer)):
            continue
        if sklearn_operator_name_map is not None and type(est) not in sklearn_operator_name_map:
            raise NotConvertible(f"step {path} ({type(est).__name__}) has no ONNX converter",
                                 hint="the server uses the scikit-learn pipeline")
        if isinstance(est, OneHotEncoder) and getattr(est, "_infrequent_enabled", False) \
                and getattr(est, "drop_idx_", None) is not None:
            raise NotConvertible(f"step {path} (OneHotEncoder with both drop and a rare-category bucket) has no "
                                 "ONNX converter", hint="the server uses the scikit-learn pipeline")


def walk(est: Any, path: str) -> list[tuple[Any, str]]:
    """Every estimator inside ``est`` (itself first; pipelines, column transformers, the members of a fitted
    ensemble), with a dotted path naming it."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import VotingClassifier, VotingRegressor
    from sklearn.pipeline import Pipeline

    found = [(est, path)]
    if isinstance(est, Pipeline):
        for name, step in est.steps:
            if not isinstance(step, str) and step is not None:
                found += walk(step, f"{path}.{name}")
    elif isinstance(est, ColumnTransformer):
        for name, trans, _ in getattr(est, "transformers_", est.transformers):
            if not isinstance(trans, str):
                found += walk(trans, f"{path}.{name}")
    elif isinstance(est, (VotingClassifier, VotingRegressor)) and hasattr(est, "estimators_"):
        # the fitted members, which the converter reads (the ones in ``estimators`` are never fitted)
        names = [name for name, member in est.estimators if member != "drop"]
        for name, member in zip(names, est.estimators_, strict=False):
            found += walk(member, f"{path}.{name}")
    return found


# -- shapes ----------------------------------------------------------------------
def _width(operator: Any) -> int | None:
    total = 0
    for var in operator.inputs:
        dim = var.type.shape[1] if len(var.type.shape) > 1 else None
        if not isinstance(dim, int):
            return None
        total += dim
    return total


def _same_width(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([n, _width(operator)])


def _indicator_width(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([n, len(operator.raw_operator.features_)])


# -- converters --------------------------------------------------------------------
def _input(operator: Any, container: Any) -> Any:
    """The operator's inputs as one float tensor (a step at the head of a branch gets one input per column)."""
    from skl2onnx.algebra.onnx_ops import OnnxCast, OnnxConcat
    from skl2onnx.proto import onnx_proto

    opv = container.target_opset
    parts = [OnnxCast(v, to=onnx_proto.TensorProto.FLOAT, op_version=opv) for v in operator.inputs]
    return parts[0] if len(parts) == 1 else OnnxConcat(*parts, axis=1, op_version=opv)


def _row(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float32).reshape(1, -1)


def _convert_clipper(scope: Any, operator: Any, container: Any) -> None:
    from skl2onnx.algebra.onnx_ops import OnnxIsNaN, OnnxMax, OnnxMin, OnnxWhere

    op, opv = operator.raw_operator, container.target_opset
    X = _input(operator, container)
    clipped = OnnxMax(OnnxMin(X, _row(op.upper_), op_version=opv), _row(op.lower_), op_version=opv)
    # gaps stay gaps for the imputer after it, whatever Min and Max make of NaN
    out = OnnxWhere(OnnxIsNaN(X, op_version=opv), X, clipped, op_version=opv, output_names=operator.outputs[:1])
    out.add_to(scope, container)


def _convert_flagger(scope: Any, operator: Any, container: Any) -> None:
    from skl2onnx.algebra.onnx_ops import OnnxCast, OnnxGreater, OnnxLess, OnnxOr
    from skl2onnx.proto import onnx_proto

    op, opv = operator.raw_operator, container.target_opset
    X = _input(operator, container)
    outside = OnnxOr(OnnxLess(X, _row(op.lower_), op_version=opv), OnnxGreater(X, _row(op.upper_), op_version=opv),
                     op_version=opv)
    out = OnnxCast(outside, to=onnx_proto.TensorProto.FLOAT, op_version=opv, output_names=operator.outputs[:1])
    out.add_to(scope, container)


def _convert_log(scope: Any, operator: Any, container: Any) -> None:
    from skl2onnx.algebra.onnx_ops import OnnxAbs, OnnxAdd, OnnxLog, OnnxMul, OnnxSign, OnnxWhere

    op, opv = operator.raw_operator, container.target_opset
    X = _input(operator, container)
    logged = OnnxMul(OnnxSign(X, op_version=opv),
                     OnnxLog(OnnxAdd(OnnxAbs(X, op_version=opv), np.array([1.0], dtype=np.float32), op_version=opv),
                             op_version=opv), op_version=opv)
    mask = np.asarray(op.transformed_, dtype=bool).reshape(1, -1)
    out = OnnxWhere(mask, logged, X, op_version=opv, output_names=operator.outputs[:1])
    out.add_to(scope, container)


def _convert_indicator(scope: Any, operator: Any, container: Any) -> None:
    from skl2onnx.algebra.onnx_ops import OnnxCast, OnnxGather, OnnxIsNaN
    from skl2onnx.proto import onnx_proto

    op, opv = operator.raw_operator, container.target_opset
    mv = op.missing_values
    if not (isinstance(mv, float) and np.isnan(mv)):
        raise NotConvertible(f"MissingIndicator with missing_values={mv!r}: only NaN gaps convert")
    X = _input(operator, container)
    picked = OnnxGather(OnnxIsNaN(X, op_version=opv), np.asarray(op.features_, dtype=np.int64), axis=1, op_version=opv)
    out = OnnxCast(picked, to=onnx_proto.TensorProto.FLOAT, op_version=opv, output_names=operator.outputs[:1])
    out.add_to(scope, container)


def _one_hot_width(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType
    from skl2onnx.shape_calculators.one_hot_encoder import calculate_sklearn_one_hot_encoder_output_shapes

    op = operator.raw_operator
    if not getattr(op, "_infrequent_enabled", False):
        calculate_sklearn_one_hot_encoder_output_shapes(operator)
        return
    n = operator.inputs[0].get_first_dimension()
    width = sum(len(op._compute_transformed_categories(i)) for i in range(len(op.categories_)))
    operator.outputs[0].type = FloatTensorType([n, width])


def _convert_one_hot(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx's converter, or with a rare bucket: each column's frequent categories looked up to their
    position (anything else, rare or unseen, to the next one), then compared with the positions."""
    from skl2onnx.common.data_types import StringTensorType
    from skl2onnx.operator_converters.one_hot_encoder import convert_sklearn_one_hot_encoder
    from skl2onnx.proto import onnx_proto

    op = operator.raw_operator
    if not getattr(op, "_infrequent_enabled", False):
        convert_sklearn_one_hot_encoder(scope, operator, container)
        return
    if any(not isinstance(v.type, StringTensorType) for v in operator.inputs):
        raise NotConvertible("a OneHotEncoder with a rare-category bucket converts for string columns only")
    columns = [(v.full_name, j, v.type.shape[1]) for v in operator.inputs for j in range(v.type.shape[1])]
    parts = []
    for i, (name, j, width) in enumerate(columns):
        col = name
        if width != 1:
            index = scope.get_unique_variable_name("ohe_col")
            container.add_initializer(index, onnx_proto.TensorProto.INT64, [1], [j])
            col = scope.get_unique_variable_name("ohe_in")
            container.add_node("Gather", [name, index], col, axis=1, name=scope.get_unique_operator_name("Gather"))
        shown = [str(c) for c in op._compute_transformed_categories(i)]
        bucket = op.infrequent_categories_[i] is not None  # then the last output column is the bucket
        frequent = shown[:-1] if bucket else shown
        position = scope.get_unique_variable_name("ohe_pos")
        container.add_node("LabelEncoder", [col], [position], keys_strings=frequent,
                           values_int64s=list(range(len(frequent))), default_int64=len(frequent),
                           op_domain="ai.onnx.ml", op_version=2, name=scope.get_unique_operator_name("LabelEncoder"))
        positions = scope.get_unique_variable_name("ohe_range")
        container.add_initializer(positions, onnx_proto.TensorProto.INT64, [1, len(shown)], list(range(len(shown))))
        equal = scope.get_unique_variable_name("ohe_eq")
        container.add_node("Equal", [position, positions], equal, name=scope.get_unique_operator_name("Equal"))
        hot = scope.get_unique_variable_name("ohe_hot")
        container.add_node("Cast", [equal], hot, to=onnx_proto.TensorProto.FLOAT, name=scope.get_unique_operator_name("Cast"))
        parts.append(hot)
    container.add_node("Concat", parts, operator.outputs[0].full_name, axis=1,
                       name=scope.get_unique_operator_name("Concat"))
