"""The promotion gate, one code path for every command that may replace a champion.

``tabloop promote``, ``tabloop retrain`` and ``tabloop loop run`` all judge a candidate here: the
paired test of ``tabloop.loop.paired_gate`` on labelled rows both versions score (margin
``retraining.min_improvement``, significance ``retraining.significance``), then, when that passes
and ``model_tests.gate`` is on, the candidate's model tests (``tabloop test``). The commands differ
only in which rows they hand in (the candidate's held-out test part, a ``--holdout`` table, the
loop's recent labelled holdout) and in what they do with a refusal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tabloop.api._project import Project
from tabloop.data import encode_target
from tabloop.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from tabloop.bundle import ModelBundle
    from tabloop.loop import Answers, GateVerdict

__all__ = ["answers_of", "judge"]


def judge(proj: Project, candidate: ModelBundle, champion: ModelBundle, rows: pd.DataFrame, *,
          source: str) -> GateVerdict:
    """The whole gate of ``candidate`` against ``champion`` on the labelled ``rows`` (the spec's target column)."""
    from tabloop.loop import paired_gate, with_model_tests

    spec = proj.spec
    target = spec.data.target
    if target not in rows.columns:
        raise DataError(f"{source}: no target column {target!r}", hint="the gate needs labelled rows")
    rows = rows[rows[target].notna()]
    features = rows.drop(columns=[target])
    if candidate.task == "regression":
        y = rows[target].to_numpy(dtype="float64")
    else:
        if [str(c) for c in candidate.classes] != [str(c) for c in champion.classes]:
            raise DataError(f"version {candidate.version} predicts classes {list(candidate.classes)} and the champion "
                            f"{list(champion.classes)}: they cannot be compared row by row",
                            hint="use --force if the change of classes is intended")
        y = encode_target(rows[target], candidate.classes)
    verdict = paired_gate(candidate.task, spec.resolved_metric, y, answers_of(champion, features, source),
                          answers_of(candidate, features, source), margin=spec.retraining.min_improvement,
                          significance=spec.retraining.significance, seed=spec.seed, source=source)
    if verdict.promote and spec.model_tests.gate:
        from tabloop.api._model_tests import run_model_tests

        report = run_model_tests(proj.workspace.root, candidate.version)
        with_model_tests(verdict, version=str(candidate.version), passed=report.passed, counts=report.counts,
                         failures=report.describe_failures())
    return verdict


def answers_of(bundle: ModelBundle, features: pd.DataFrame, source: str) -> Answers:
    """``bundle``'s answers on ``features`` as the paired test takes them."""
    import numpy as np

    from tabloop.loop import Answers

    preds = bundle.predict(features, source=source)
    if bundle.task == "regression":
        return Answers(np.asarray(preds.labels, dtype="float64"))
    lookup = {str(c): i for i, c in enumerate(bundle.classes)}
    return Answers(np.array([lookup[str(p)] for p in preds.labels]), np.asarray(preds.proba))
