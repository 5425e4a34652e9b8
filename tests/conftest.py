"""Shared fixtures: the bundled real table, and one trained project reused across tests."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import pytest

import tabloop
from tabloop.cli._quickstart import bundled_table

os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


@pytest.fixture(scope="session")
def two_versions_template(tmp_path_factory: pytest.TempPathFactory, hmda_csv: Path) -> Path:
    """A project (named 'gate') to copy, never to change: version 1, the dummy baseline, is champion; version 2,
    logistic regression (a few search trials), is clearly better on ROC AUC and has no alias."""
    from ._spec_edit import set_spec

    root = tmp_path_factory.mktemp("two-versions") / "gate"
    tabloop.init(root, data=str(hmda_csv), target="deny", exclude=["black"])
    set_spec(root, **{"train.candidates": ["dummy"], "split.folds": 3, "train.ensemble": False, "train.trials": 4})
    assert tabloop.train(root).version == "1"
    tabloop.promote("1", project=root, reason="first model")
    set_spec(root, **{"train.candidates": ["linear"]})
    assert tabloop.train(root).version == "2"
    return root


@pytest.fixture(scope="session")
def hmda() -> pd.DataFrame:
    return bundled_table()


@pytest.fixture(scope="session")
def hmda_csv(tmp_path_factory: pytest.TempPathFactory, hmda: pd.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("data") / "hmda.csv"
    hmda.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory, hmda_csv: Path) -> Path:
    """A project with version 1 trained (dummy + logistic, to stay quick) and promoted to champion."""
    root = tmp_path_factory.mktemp("project")
    tabloop.init(root, data=str(hmda_csv), target="deny", exclude=["black"])
    spec = (root / "tabloop.yaml").read_text()
    trimmed = re.sub(r"(?m)^(\s*)candidates: \[[^\]]*\]$", r"\1candidates: [dummy, linear]", spec)
    assert trimmed != spec, "tabloop.yaml no longer writes train.candidates on one line: update this fixture"
    (root / "tabloop.yaml").write_text(trimmed)
    tabloop.profile(root)
    result = tabloop.train(root)
    tabloop.promote(result.version, project=root)
    return root


_REPO = Path(__file__).resolve().parent.parent
#: what pytest and Hypothesis keep in the folder they run from, and the browser test's screenshots
#: (.gitignore'd, kept for a person to look at), on purpose
_OWN_CACHES = {".pytest_cache", ".hypothesis", ".import_linter_cache", ".pytest-artifacts"}


@pytest.fixture(autouse=True)
def _leaves_the_repository_alone() -> object:
    """Fail the test that writes into the repository's own folder (an ./mlruns, mlflow.db, report folder or
    catboost_info left by a library's default path): a user's current folder would get the same litter."""
    before = set(os.listdir(_REPO))
    yield
    new = set(os.listdir(_REPO)) - before - _OWN_CACHES
    if new:
        pytest.fail(f"this test left {sorted(new)} in {_REPO}: give the library a path inside tmp_path")
