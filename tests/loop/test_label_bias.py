"""The loop's label-bias warning over the whole log, and the holdout rows its decision record measures."""

from __future__ import annotations

import pandas as pd

from tabloop.loop import holdout_labelled_rows, join_labels, label_bias_warning


def _logged(n: int = 400) -> pd.DataFrame:
    return pd.DataFrame({
        "request_id": [f"r{i}" for i in range(n)], "row": 0, "source": "http", "version": "1",
        "variant": "champion", "prediction": ["yes" if i % 4 == 0 else "no" for i in range(n)],
        "probabilities": [{"no": 0.3, "yes": 0.7} if i % 4 == 0 else {"no": 0.8, "yes": 0.2} for i in range(n)],
        "holdout": [i % 10 == 0 for i in range(n)],
    })


def test_the_whole_log_shows_which_predicted_classes_never_got_a_label() -> None:
    logged = _logged()
    chosen = logged[logged["prediction"] == "yes"]
    labels = pd.DataFrame({"request_id": chosen["request_id"], "row": 0, "label": "no"})
    joined = join_labels(logged, labels).joined
    warning = label_bias_warning(joined, ["no", "yes"], logged=logged)
    assert warning is not None and "none of the" in warning and "predicted 'no'" in warning
    # every prediction labelled: nothing chosen
    everything = pd.DataFrame({"request_id": logged["request_id"], "row": 0, "label": "no"})
    assert label_bias_warning(join_labels(logged, everything).joined, ["no", "yes"], logged=logged) is None
    # without the log it still catches the plain case: all labels on one predicted class
    assert label_bias_warning(joined, ["no", "yes"]) is not None


def test_holdout_rows_for_the_decision_record_leave_shadow_copies_out() -> None:
    logged = _logged()
    labels = pd.DataFrame({"request_id": logged["request_id"], "row": 0, "label": "no"})
    joined = join_labels(logged, labels).joined
    held = holdout_labelled_rows(joined)
    assert len(held) == 40 and held["holdout"].all()
    assert holdout_labelled_rows(joined.assign(source="shadow")).empty
    assert holdout_labelled_rows(joined.drop(columns=["holdout"])).empty
