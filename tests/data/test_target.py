"""infer_task, class_labels and encode_target."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabloop.data import class_labels, encode_target, infer_task
from tabloop.errors import DataError


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["no", "yes", "no"], "binary"),
        ([0, 1, 1, 0], "binary"),
        ([True, False], "binary"),
        (["a", "b", "c"], "multiclass"),
        ([1, 2, 3] * 20, "multiclass"),  # few whole numbers, many rows each
        ([1.0, 2.0, 3.0] * 20, "multiclass"),
        ([1, 2, 3, 4, 5], "regression"),  # too few rows per value to be classes
        (list(range(100)), "regression"),
        ([0.5, 1.25, 3.0], "regression"),
    ],
)
def test_infer_task(values: list[object], task: str) -> None:
    assert infer_task(pd.Series(values, name="y")) == task


def test_infer_task_on_the_real_target(hmda: pd.DataFrame) -> None:
    assert infer_task(hmda["deny"]) == "binary"
    assert infer_task(hmda["lvr"]) == "regression"


def test_infer_task_ignores_gaps_and_refuses_a_constant() -> None:
    assert infer_task(pd.Series(["a", None, "b"], name="y")) == "binary"
    with pytest.raises(DataError, match=r"column 'y': the target has 1 distinct value\(s\)"):
        infer_task(pd.Series(["a", "a", None], name="y"))


def test_binary_positive_class_is_the_minority(hmda: pd.DataFrame) -> None:
    assert class_labels(hmda["deny"], "binary") == ["no", "yes"]
    flipped = hmda["deny"].map({"no": "yes", "yes": "no"})
    assert class_labels(flipped, "binary") == ["yes", "no"]


def test_positive_class_from_the_spec_wins_and_is_matched_as_text() -> None:
    y = pd.Series([0, 0, 0, 1], name="y")
    assert class_labels(y, "binary") == [0, 1]
    assert class_labels(y, "binary", positive_class="0") == [1, 0]
    with pytest.raises(DataError, match=r"column 'y': positive_class '2' is not one of \[0, 1\]"):
        class_labels(y, "binary", positive_class="2")


def test_balanced_binary_takes_the_last_label() -> None:
    assert class_labels(pd.Series(["b", "a", "a", "b"]), "binary") == ["a", "b"]


def test_labels_are_plain_python_values() -> None:
    labels = class_labels(pd.Series(np.array([3, 1, 2, 2], dtype=np.int64)), "multiclass")
    assert labels == [1, 2, 3]
    assert all(type(v) is int for v in labels)
    assert class_labels(pd.Series([1.5, 2.5]), "regression") == []


def test_encode_target_in_class_order(hmda: pd.DataFrame) -> None:
    y = encode_target(hmda["deny"], ["no", "yes"])
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, (hmda["deny"] == "yes").to_numpy().astype(int))
    np.testing.assert_array_equal(encode_target(pd.Series([0, 1, 0]), [1, 0]), [1, 0, 1])


def test_encode_target_regression_values() -> None:
    out = encode_target(pd.Series([1, 2.5], name="y"), [])
    assert out.dtype == np.float64 and out.tolist() == [1.0, 2.5]
    with pytest.raises(DataError, match="column 'y': a regression target must be numeric"):
        encode_target(pd.Series(["a", "b"], name="y"), [])


def test_encode_target_names_missing_rows() -> None:
    y = pd.Series(["no", None, "yes", np.nan], name="deny")
    with pytest.raises(DataError, match=r"column 'deny': the target is missing in 2 row\(s\), first at positions \[1, 3\]") as err:
        encode_target(y, ["no", "yes"])
    assert "drop or label" in (err.value.hint or "")


def test_encode_target_refuses_unknown_labels() -> None:
    y = pd.Series(["no", "maybe", "yes", "perhaps"], name="deny")
    with pytest.raises(DataError, match=r"column 'deny': labels \['maybe', 'perhaps'\] are not among the known classes \['no', 'yes'\]"):
        encode_target(y, ["no", "yes"])


# -- a newcomer's mistakes (#14) ------------------------------------------------
def test_a_target_of_one_class_is_refused_before_training() -> None:
    with pytest.raises(DataError, match=r"the target holds only 'Y' in the 30 training rows; a classifier"):
        class_labels(pd.Series(["Y"] * 30, name="vote"), "multiclass")


def test_a_binary_spec_on_a_target_of_more_classes_says_what_to_set() -> None:
    with pytest.raises(DataError, match=r"the spec says binary but the target holds 3 classes") as err:
        class_labels(pd.Series(list("ABCABC"), name="vote"), "binary")
    assert err.value.hint and "multiclass" in err.value.hint
