"""CatBoost inside a scikit-learn pipeline's ONNX graph: CatBoost's own ONNX export, spliced in as one node.

CatBoost writes ONNX itself (``catboost.utils.convert_to_onnx_object``): one ``TreeEnsembleClassifier`` or
``TreeEnsembleRegressor`` node of the ``ai.onnx.ml`` domain. Its ONNX export does not take categorical,
text or embedding features (CatBoost's documentation: "only models trained on datasets without categorical
features"), and it need not: tabloop's preparation encodes every categorical column before the model, so
CatBoost sees numbers only. A CatBoost model fitted with ``cat_features`` (not one tabloop trains) is refused,
naming them. The node is copied, attributes and all, into the graph skl2onnx builds for the preparation, which
is the composition of the two graphs (skl2onnx's own example does the same).
"""

from __future__ import annotations

from typing import Any

from tabloop.errors import NotConvertible

#: the node types CatBoost's export may produce (a ZipMap after the classifier is dropped: probabilities stay a tensor)
_ENSEMBLES = ("TreeEnsembleClassifier", "TreeEnsembleRegressor")


def register_catboost() -> None:
    """Register converters for ``CatBoostClassifier`` and ``CatBoostRegressor`` with skl2onnx (if installed)."""
    try:
        import catboost as cb
    except ImportError:
        return
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    update_registered_converter(
        cb.CatBoostClassifier, "CatBoostCatBoostClassifier", calculate_linear_classifier_output_shapes,
        _convert, parser=_parse_classifier, options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
    )
    update_registered_converter(
        cb.CatBoostRegressor, "CatBoostCatBoostRegressor", calculate_linear_regressor_output_shapes, _convert,
    )


def _parse_classifier(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> list[Any]:
    """A label and a probability tensor (skl2onnx's default parser would ask for a ZipMap the graph never wants)."""
    from skl2onnx._parse import _apply_zipmap, _get_sklearn_operator_name
    from skl2onnx.common.data_types import Int64TensorType, guess_tensor_type

    options = scope.get_options(model, dict(zipmap=True))
    operator = scope.declare_local_operator(_get_sklearn_operator_name(type(model)), model)
    operator.inputs = inputs
    label = scope.declare_local_variable("label", Int64TensorType())
    proba = scope.declare_local_variable("probabilities", guess_tensor_type(inputs[0].type))
    operator.outputs.append(label)
    operator.outputs.append(proba)
    if isinstance(options["zipmap"], bool) and not options["zipmap"]:
        return list(operator.outputs)
    return list(_apply_zipmap(options["zipmap"], scope, model, inputs[0].type, operator.outputs))


def _convert(scope: Any, operator: Any, container: Any) -> None:
    from catboost.utils import convert_to_onnx_object
    from onnx.helper import get_attribute_value

    model = operator.raw_operator
    _refuse_non_numeric(model)
    onx = convert_to_onnx_object(model)
    nodes = [n for n in onx.graph.node if n.op_type != "ZipMap"]
    if len(nodes) != 1 or nodes[0].op_type not in _ENSEMBLES or len(onx.graph.initializer):
        kinds = ", ".join(n.op_type for n in onx.graph.node)
        raise NotConvertible(f"CatBoost's ONNX export gave nodes [{kinds}], not one tree ensemble: not composable")
    node = nodes[0]
    opsets = {d.domain: d.version for d in onx.opset_import}
    attrs = {a.name: get_attribute_value(a) for a in node.attribute}
    outputs = [o.full_name for o in operator.outputs[: len(node.output)]]
    container.add_node(node.op_type, [operator.inputs[0].full_name], outputs, op_domain=node.domain,
                       op_version=opsets.get(node.domain), name=scope.get_unique_operator_name(node.op_type), **attrs)


def _refuse_non_numeric(model: Any) -> None:
    """CatBoost's ONNX export takes numeric features only: name the others."""
    for kind, getter in (("categorical", "get_cat_feature_indices"), ("text", "get_text_feature_indices"),
                         ("embedding", "get_embedding_feature_indices")):
        try:
            indices = list(getattr(model, getter)())
        except Exception:  # an older CatBoost without the getter: its export raises its own error below
            continue
        if indices:
            raise NotConvertible(
                f"CatBoost model fitted with {kind} features at positions {indices}: CatBoost's ONNX export takes "
                "numeric features only",
                hint="let tabloop's preparation encode the categories before CatBoost (its default)")
