"""normalise_labels (checked feedback) and join_labels (unmatched labels kept)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tabloop.errors import DataError
from tabloop.loop import join_labels, normalise_labels

CLASSES = ["no", "yes"]


def _preds(*keys: tuple[str, int], version: str = "1") -> pd.DataFrame:
    return pd.DataFrame({
        "request_id": [k[0] for k in keys],
        "row": [k[1] for k in keys],
        "prediction": ["no"] * len(keys),
        "version": version,
    })


def test_label_column_may_be_named_label_or_as_the_target() -> None:
    a = normalise_labels(pd.DataFrame({"request_id": ["r1"], "row": [2], "label": ["yes"]}), target="deny", classes=CLASSES, source="f")
    b = normalise_labels(pd.DataFrame({"request_id": ["r1"], "row": [2], "deny": ["yes"]}), target="deny", classes=CLASSES, source="f")
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["request_id", "row", "label"]
    assert a.to_dict("records") == [{"request_id": "r1", "row": 2, "label": "yes"}]


def test_row_defaults_to_zero_and_ids_become_text() -> None:
    out = normalise_labels(pd.DataFrame({"request_id": [101, 102], "label": ["no", "yes"]}), target="deny", classes=CLASSES, source="f")
    assert out["request_id"].tolist() == ["101", "102"]
    assert out["row"].tolist() == [0, 0] and out["row"].dtype == "int64"


def test_labels_are_mapped_to_the_model_classes_by_text() -> None:
    out = normalise_labels(pd.DataFrame({"request_id": ["a", "b"], "label": ["1", 0]}), target="y", classes=[0, 1], source="f")
    assert out["label"].tolist() == [1, 0]
    assert [type(v) for v in out["label"]] == [int, int]
    rows = normalise_labels(pd.DataFrame({"request_id": ["a"], "row": [3.0], "label": [2.5]}), target="y", classes=[], source="f")
    assert rows["row"].tolist() == [3] and rows["label"].tolist() == [2.5]  # regression labels pass through


def test_missing_columns_are_named_with_the_source() -> None:
    with pytest.raises(DataError, match=r"^labels\.csv: no 'request_id' column") as err:
        normalise_labels(pd.DataFrame({"label": ["no"]}), target="deny", classes=CLASSES, source="labels.csv")
    assert "request id" in (err.value.hint or "")
    with pytest.raises(DataError, match=r"^labels\.csv: no label column; name it 'label' or 'deny'"):
        normalise_labels(pd.DataFrame({"request_id": ["a"], "y": ["no"]}), target="deny", classes=CLASSES, source="labels.csv")


def test_empty_ids_or_labels_name_the_rows() -> None:
    df = pd.DataFrame({"request_id": ["a", None, "c", "d"], "label": ["no", "yes", None, "no"]})
    with pytest.raises(DataError, match=r"^f\.csv: request_id or label is empty in 2 row\(s\), first at rows \[1, 2\]"):
        normalise_labels(df, target="deny", classes=CLASSES, source="f.csv")


@pytest.mark.parametrize("bad", [-1, 1.5, "x"])
def test_bad_row_numbers_name_the_rows(bad: object) -> None:
    df = pd.DataFrame({"request_id": ["a", "b", "c"], "row": [0, bad, 2], "label": ["no", "no", "yes"]})
    with pytest.raises(DataError, match=r"^f\.csv: column 'row' must hold non-negative whole numbers; bad at rows \[1\]"):
        normalise_labels(df, target="deny", classes=CLASSES, source="f.csv")


def test_unknown_labels_name_labels_and_rows() -> None:
    df = pd.DataFrame({"request_id": ["a", "b", "c", "d"], "label": ["no", "Yes", "yes", "maybe"]})
    with pytest.raises(DataError) as err:
        normalise_labels(df, target="deny", classes=CLASSES, source="f.csv")
    assert str(err.value) == "f.csv: labels ['Yes', 'maybe'] are not classes the model knows ['no', 'yes']; rows [1, 3]"


def test_join_keeps_unmatched_labels() -> None:
    preds = _preds(("a", 0), ("a", 1), ("b", 0))
    labels = normalise_labels(
        pd.DataFrame({"request_id": ["a", "b", "zz", "a"], "row": [1, 0, 0, 7], "label": ["yes", "no", "yes", "no"]}),
        target="deny", classes=CLASSES, source="f",
    )
    out = join_labels(preds, labels)
    assert sorted(zip(out.joined["request_id"], out.joined["row"], out.joined["label"], strict=True)) == [
        ("a", 1, "yes"), ("b", 0, "no"),
    ]
    assert {"prediction", "version", "label"} <= set(out.joined.columns)
    assert list(zip(out.unmatched["request_id"], out.unmatched["row"], strict=True)) == [("zz", 0), ("a", 7)]
    assert list(out.unmatched.index) == [0, 1]


def test_a_prediction_logged_twice_joins_once_with_the_last_record() -> None:
    preds = pd.concat([_preds(("a", 0), version="1"), _preds(("a", 0), version="2")], ignore_index=True)
    labels = pd.DataFrame({"request_id": ["a"], "row": [0], "label": ["yes"]})
    out = join_labels(preds, labels)
    assert len(out.joined) == 1 and out.joined.loc[0, "version"] == "2"
    assert out.unmatched.empty


def test_a_shadow_copy_logged_after_the_answer_does_not_take_its_label() -> None:
    answered = _preds(("a", 0), version="1").assign(source="http", variant="champion")
    shadow = _preds(("a", 0), version="2").assign(source="shadow", variant="challenger", prediction="yes")
    labels = pd.DataFrame({"request_id": ["a"], "row": [0], "label": ["yes"]})
    out = join_labels(pd.concat([answered, shadow], ignore_index=True), labels)
    assert out.joined[["version", "variant", "prediction"]].to_dict("records") == [
        {"version": "1", "variant": "champion", "prediction": "no"}
    ]


def test_an_error_record_under_a_reused_request_id_never_takes_the_label() -> None:
    # the client sent id "a" again and was refused (429): that error record came after the answer; a reader that
    # fills a missing row with 0 (as the monitor's does) puts it on the answered row's key
    answered = _preds(("a", 0), version="1").assign(source="http")
    refused = pd.DataFrame({"kind": ["error"], "request_id": ["a"], "row": [0], "source": ["http"], "version": ["1"],
                            "status": [429], "prediction": [None]})
    labels = pd.DataFrame({"request_id": ["a"], "row": [0], "label": ["yes"]})
    out = join_labels(pd.concat([answered, refused], ignore_index=True), labels)
    assert len(out.joined) == 1 and out.joined.loc[0, "prediction"] == "no" and out.joined.loc[0, "label"] == "yes"
    assert (out.joined["kind"] != "error").all()
    assert out.unmatched.empty


def test_labels_for_a_refused_request_stay_unmatched_through_the_log(tmp_path: Path) -> None:
    from tabloop.predlog import PredictionLog, error_record, utc_now

    log = PredictionLog(tmp_path)
    log.append([
        error_record(request_id="refused", status=422, code="contract_violation", message="bad", dialect="tabloop",
                     model="m", version="1", variant="champion", rows=1),
        {"request_id": "ok", "row": 0, "ts": utc_now(), "source": "http", "model": "m", "version": "1",
         "variant": "champion", "inputs": {"x": 1}, "prediction": "no", "probabilities": None, "latency_ms": 1.0},
    ])
    labels = pd.DataFrame({"request_id": ["refused", "ok"], "row": [0, 0], "label": ["yes", "no"]})
    out = join_labels(log.read_predictions(), labels)
    assert out.joined[["request_id", "label"]].to_dict("records") == [{"request_id": "ok", "label": "no"}]
    assert out.unmatched["request_id"].tolist() == ["refused"]
    assert "status" not in out.joined.columns  # nothing of the error record leaked into the joined rows


def test_nothing_logged_means_every_label_is_unmatched() -> None:
    labels = pd.DataFrame({"request_id": ["a", "b"], "row": [0, 0], "label": ["no", "yes"]})
    out = join_labels(pd.DataFrame(columns=["request_id", "row", "prediction"]), labels)
    assert out.joined.empty and "label" in out.joined.columns
    pd.testing.assert_frame_equal(out.unmatched, labels)
