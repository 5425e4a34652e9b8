"""The preprocessing pipeline, built from the contract and the spec's ``preparation:`` as one scikit-learn object."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import KNNImputer, MissingIndicator, SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    KBinsDiscretizer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
    TargetEncoder,
)

from tabloop.data import Contract
from tabloop.errors import SpecError
from tabloop.preparation._steps import ColumnDropper, OutlierClipper, OutlierFlagger, SignedLog1p
from tabloop.spec import PreparationSpec

#: the spec's task to TargetEncoder's target_type (a regression target of whole numbers would look multiclass)
_TARGET_TYPES = {"binary": "binary", "multiclass": "multiclass", "regression": "continuous"}


def make_preprocessor(
    contract: Contract,
    *,
    scale: bool = True,
    preparation: PreparationSpec | None = None,
    task: str | None = None,
    seed: int = 0,
) -> ColumnTransformer | Pipeline:
    """Prepare numbers and categories as ``preparation`` says (default: median imputation, standard
    scaling when ``scale``, most-frequent imputation and one-hot encoding).

    The same object runs inside every CV fold, in the registered model and at serving time, so
    training and serving cannot disagree, and every statistic (medians, bounds, bins, which columns
    to drop or log, target means) is learned from the rows being fitted. An unseen category reaches
    the encoders as the contract's ``UNKNOWN_CATEGORY`` marker under its default ``unknown`` policy
    (or not at all under ``reject``): their handling of unknown values is the intended path, the
    same in scikit-learn and in the ONNX graph.
    ``scale``: whether the model needs scaled numbers (linear models, k-NN, SVM); ``task`` sets
    what target encoding learns.
    """
    prep = preparation or PreparationSpec()
    check_preparation(prep, contract)
    dropping = prep.drop_missing_above is not None

    def columns(names: list[str]) -> Any:
        # after the dropper, a branch takes the columns of its list that are left
        return _Present(names) if dropping else names

    numeric = contract.numeric
    binned = [c for c in numeric if c in prep.bins]
    logged = [c for c in numeric if isinstance(prep.log_transform, list) and c in prep.log_transform]
    plain = [c for c in numeric if c not in binned and c not in logged]
    scaling = prep.scaling if scale else "none"

    transformers: list[tuple[str, Any, Any]] = []
    if plain:
        transformers.append(("numeric", _numeric(prep, scaling, log="auto" if prep.log_transform == "auto" else None),
                             columns(plain)))
    if logged:
        transformers.append(("log", _numeric(prep, scaling, log="all"), columns(logged)))
    for name in binned:
        transformers.append((f"bin_{name}", _binned(prep, prep.bins[name], seed), columns([name])))
    nullable = [c for c in numeric if contract.column(c).nullable]
    if prep.missing_indicator and nullable:
        transformers.append(("missing", MissingIndicator(features="all", error_on_new=False), columns(nullable)))
    if prep.outliers == "flag" and plain + logged:
        transformers.append(("outliers", OutlierFlagger(prep.iqr_factor), columns(plain + logged)))
    if contract.categorical:
        categorical = Pipeline([("impute", SimpleImputer(strategy="most_frequent")), (prep.encoding, _encoder(prep, task))])
        transformers.append(("categorical", categorical, columns(contract.categorical)))
    ct = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
    if not dropping:
        return ct
    return Pipeline([("drop", ColumnDropper(prep.drop_missing_above)), ("columns", ct)])


def check_preparation(prep: PreparationSpec, contract: Contract) -> None:
    """The columns ``preparation`` names are numeric feature columns of the contract."""
    named = [("bins", c) for c in prep.bins]
    if isinstance(prep.log_transform, list):
        named += [("log_transform", c) for c in prep.log_transform]
    known = set(contract.feature_names)
    for key, name in named:
        if name not in known:
            raise SpecError(f"preparation.{key} names {name!r}, which is not a feature column",
                            hint=f"use one of the numeric columns: {', '.join(contract.numeric) or 'none'}")
        if contract.column(name).kind != "numeric":
            raise SpecError(f"preparation.{key} names {name!r}, a categorical column; only numbers can be "
                            f"{'binned' if key == 'bins' else 'log-transformed'}",
                            hint="remove it from the list")


def _numeric(prep: PreparationSpec, scaling: str, *, log: str | None) -> Pipeline:
    steps: list[tuple[str, Any]] = []
    if prep.outliers == "clip":
        steps.append(("clip", OutlierClipper(prep.iqr_factor)))
    if log is not None:
        steps.append(("log", SignedLog1p(columns=log)))
    steps.append(("impute", _imputer(prep)))
    if scaling != "none":
        steps.append(("scale", {"standard": StandardScaler, "robust": RobustScaler, "minmax": MinMaxScaler}[scaling]()))
    return Pipeline(steps)


def _imputer(prep: PreparationSpec) -> Any:
    if prep.impute == "knn":
        return KNNImputer(n_neighbors=prep.knn_neighbors)
    if prep.impute == "constant":
        return SimpleImputer(strategy="constant", fill_value=prep.impute_value)
    return SimpleImputer(strategy=prep.impute)


def _binned(prep: PreparationSpec, n_bins: int, seed: int) -> Pipeline:
    impute = SimpleImputer(strategy="median") if prep.impute == "knn" else _imputer(prep)  # one column: no neighbours
    encode = "ordinal" if prep.encoding == "ordinal" else "onehot-dense"
    return Pipeline([("impute", impute),
                     ("bins", KBinsDiscretizer(n_bins=n_bins, encode=encode, strategy="quantile", random_state=seed))])


def _encoder(prep: PreparationSpec, task: str | None) -> Any:
    rare = rare_threshold(prep.rare_below)
    if prep.encoding == "target":
        return TargetEncoder(target_type=_TARGET_TYPES.get(task or "", "auto"))
    if prep.encoding == "ordinal":
        return OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, min_frequency=rare)
    if rare is None:
        return OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    return OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=rare, sparse_output=False)


def rare_threshold(rare_below: float) -> int | float | None:
    """``preparation.rare_below`` as scikit-learn's ``min_frequency``: a share below 1, a count from 1, None for 0."""
    if rare_below <= 0:
        return None
    return float(rare_below) if rare_below < 1 else int(rare_below)


class _Present:
    """A column selector: the columns of ``names`` the frame still has (after :class:`ColumnDropper`)."""

    def __init__(self, names: list[str]) -> None:
        self.names = list(names)

    def __call__(self, X: pd.DataFrame) -> list[str]:
        return [n for n in self.names if n in X.columns]

    def __repr__(self) -> str:
        return f"_Present({self.names!r})"
