"""Training: candidates, cross-validation, the Optuna search, ensembles, selection, the time budget."""

from typing import TYPE_CHECKING

from tabloop._lazy import exports

# imported on first use (see tabloop._lazy): a command pays only for the libraries it needs
if TYPE_CHECKING:
    from tabloop.training._budget import MIN_BUDGET_SECONDS, AfterSearch, Budget, process_started
    from tabloop.training._dask import DASK_FAMILIES, DaskFit, DaskTraining, dask_families, dask_predictions, train_on_dask
    from tabloop.training._candidates import Candidate, Options, make_candidates
    from tabloop.training._search import SearchOutcome, TrialRecord, study_name
    from tabloop.training._train import CandidateResult, TrainResult, search_trials, train_candidates

__getattr__, __dir__ = exports(__name__, __file__)

__all__ = [
    "DASK_FAMILIES",
    "DaskFit",
    "DaskTraining",
    "dask_families",
    "dask_predictions",
    "train_on_dask",
    "MIN_BUDGET_SECONDS",
    "AfterSearch",
    "Budget",
    "Candidate",
    "CandidateResult",
    "Options",
    "SearchOutcome",
    "TrainResult",
    "TrialRecord",
    "make_candidates",
    "process_started",
    "search_trials",
    "study_name",
    "train_candidates",
]
