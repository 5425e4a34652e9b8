"""Training (layer 4): candidates, cross-validation, search, ensembles, selection; the model bundle."""

from typing import TYPE_CHECKING

from tabloop._lazy import exports

# imported on first use (see tabloop._lazy): a command pays only for the libraries it needs
if TYPE_CHECKING:
    from tabloop.train._bundle import (
        PREDICTION_COLUMN,
        ModelBundle,
        Predictions,
        library_versions,
        proba_column,
        training_prior,
    )
    from tabloop.train._budget import MIN_BUDGET_SECONDS, AfterSearch, Budget, process_started
    from tabloop.train._candidates import Candidate, Options, make_candidates
    from tabloop.train._search import SearchOutcome, TrialRecord, study_name
    from tabloop.train._train import CandidateResult, TrainResult, search_trials, train_candidates

__getattr__, __dir__ = exports(__name__, __file__)

__all__ = [
    "MIN_BUDGET_SECONDS",
    "PREDICTION_COLUMN",
    "AfterSearch",
    "Budget",
    "Candidate",
    "CandidateResult",
    "ModelBundle",
    "Options",
    "Predictions",
    "SearchOutcome",
    "TrainResult",
    "TrialRecord",
    "library_versions",
    "make_candidates",
    "process_started",
    "proba_column",
    "search_trials",
    "study_name",
    "train_candidates",
    "training_prior",
]
