"""Which rows a retraining uses: the newest labelled rows, split into adaptation and holdout, plus older data."""

from __future__ import annotations

import pandas as pd


def labelled_window(joined: pd.DataFrame, window_rows: int) -> pd.DataFrame:
    """The newest ``window_rows`` labelled predictions (the log is in arrival order)."""
    return joined.iloc[-window_rows:]


def split_recent(
    recent: pd.DataFrame, *, target: str, task: str, holdout_fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(adapt, holdout)``: the holdout judges champion and challenger on the same recent rows.

    Stratified when every class has at least two rows (a split cannot stratify a class of one).
    """
    from sklearn.model_selection import train_test_split  # heavy: imported by the one command that splits

    stratify = recent[target] if task != "regression" and recent[target].value_counts().min() >= 2 else None
    adapt, holdout = train_test_split(recent, test_size=holdout_fraction, random_state=seed, stratify=stratify)
    return adapt, holdout.reset_index(drop=True)


def retraining_frame(
    adapt: pd.DataFrame, original: pd.DataFrame | None, *, older_data_fraction: float, seed: int
) -> pd.DataFrame:
    """The rows a challenger trains on: a sample of the original data (when the policy keeps some) then ``adapt``.

    ``original`` is the spec's training table with the contract's features and the target;
    the caller reads it only when ``older_data_fraction > 0`` (see :func:`uses_older_data`).
    """
    frames = [adapt]
    if original is not None and older_data_fraction > 0:
        if older_data_fraction < 1:
            original = original.sample(frac=older_data_fraction, random_state=seed)
        frames.insert(0, original)
    return pd.concat(frames, ignore_index=True)


def uses_older_data(older_data_fraction: float) -> bool:
    """Whether the retraining policy keeps any of the original training data."""
    return older_data_fraction > 0
