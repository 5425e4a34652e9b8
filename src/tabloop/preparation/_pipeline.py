"""The preprocessing pipeline, built from the contract as one scikit-learn object."""

from __future__ import annotations

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tabloop.data import Contract


def make_preprocessor(contract: Contract, *, scale: bool = True) -> ColumnTransformer:
    """Impute and scale numbers, impute and one-hot encode categories.

    The same object runs inside every CV fold, in the registered model and at
    serving time, so training and serving cannot disagree. Unseen categories are
    stopped earlier by the contract; ``handle_unknown='ignore'`` is the safety net.
    """
    numeric_steps: list[tuple[str, object]] = [("impute", SimpleImputer(strategy="median"))]
    if scale:
        numeric_steps.append(("scale", StandardScaler()))
    transformers = []
    if contract.numeric:
        transformers.append(("numeric", Pipeline(numeric_steps), contract.numeric))
    if contract.categorical:
        categorical = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )
        transformers.append(("categorical", categorical, contract.categorical))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
