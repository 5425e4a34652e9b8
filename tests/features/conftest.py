"""The feature store's shared fixture: one repository applied and materialized (see _store.py for its data)."""

from __future__ import annotations

import pytest

from ._store import T, make_repo


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory):
    """A repository applied and materialized up to T into its SQLite online store."""
    repo = make_repo(tmp_path_factory.mktemp("features"))
    repo.apply()
    repo.materialize(T.to_pydatetime())
    return repo
