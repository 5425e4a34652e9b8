"""The problem spec: pydantic models behind tabloop.yaml."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Task = Literal["binary", "multiclass", "regression"]
#: what a column holds, as inferred from the data or set in data.types (see tabloop.data.infer_semantic_types)
SemanticType = Literal["numeric", "categorical", "boolean", "datetime", "text", "identifier"]
#: the families a spec tries unless it names its own: every family that tends to do well on some tables
DEFAULT_CANDIDATES = ("dummy", "linear", "knn", "svm", "tree", "random_forest", "extra_trees", "lightgbm", "xgboost",
                      "catboost")
CandidateName = Literal[
    "dummy", "linear", "elastic_net", "knn", "svm", "tree", "random_forest", "extra_trees", "lightgbm", "xgboost",
    "catboost",
]

#: the metrics each task understands; the first is the default
METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "average_precision", "log_loss", "accuracy", "balanced_accuracy", "f1"),
    "multiclass": ("log_loss", "roc_auc_ovr", "accuracy", "balanced_accuracy", "f1_macro"),
    "regression": ("rmse", "mae", "r2"),
}


class _Strict(BaseModel):
    # defer_build: pydantic builds a model's validator when it is first used, not when the class is
    # defined; building all of them took 0.18 s of every command's start, standalone monitor included,
    # which uses one (DriftSpec)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)


class DataSpec(_Strict):
    source: str = Field(
        description="Training table: a CSV or Parquet path (relative to this file) "
        "or a SQLAlchemy database URL together with 'table' or 'query'."
    )
    query: str | None = Field(default=None, description="SQL query to run when 'source' is a database URL.")
    table: str | None = Field(
        default=None,
        description="Table to read whole when 'source' is a database URL (schema.table for another schema); "
        "instead of 'query'.",
    )
    target: str = Field(description="The column to predict.")
    task: Task | None = Field(
        default=None, description="binary, multiclass or regression; inferred from the target when empty."
    )
    positive_class: str | None = Field(
        default=None, description="For binary tasks: the label counted as positive (default: the minority class)."
    )
    exclude: list[str] = Field(
        default_factory=list,
        description="Columns kept in the data but never used as features (identifiers, protected attributes, leaks).",
    )
    id_column: str | None = Field(
        default=None, description="A row identifier, copied to batch predictions and never used as a feature."
    )
    missing_target: Literal["refuse", "drop"] = Field(
        default="refuse",
        description="Rows whose target is empty: refuse (training stops and names them, so that no row is lost "
        "unseen) or drop (training leaves them out before the split and says how many in its output and report).",
    )
    types: dict[str, SemanticType] = Field(
        default_factory=dict,
        description="Column types that override the inferred ones: numeric, categorical, boolean, datetime, text "
        "(free text) or identifier. numeric, categorical and boolean columns are features; datetime, text and "
        "identifier columns are kept out of the features (tabloop profile says which and why).",
    )

    @model_validator(mode="after")
    def _table_or_query(self) -> DataSpec:
        if self.table is not None and self.query is not None:
            raise ValueError("data.table and data.query are alternatives: set one")
        return self


class CostSpec(_Strict):
    false_positive: float = Field(default=1.0, ge=0, description="Cost of predicting positive when it is negative.")
    false_negative: float = Field(default=1.0, ge=0, description="Cost of predicting negative when it is positive.")


class EvaluationSpec(_Strict):
    intended_use: str | None = Field(
        default=None,
        description="What the model is for and who acts on it, in a sentence or two; opens the model card "
        "('tabloop evaluate' writes reports/model-card-vN.md and .html).",
    )
    daily_volume: float | None = Field(
        default=None, gt=0,
        description="Expected cases a day: the decision threshold's sentence counts flagged and missed cases "
        "per day from it (unset: per 1,000 cases).",
    )
    target_recall: float | None = Field(
        default=None, gt=0, le=1,
        description="Binary: report the highest threshold that still finds this share of the true cases on the "
        "test part, instead of the cost threshold (costs). Not with target_precision.",
    )
    target_precision: float | None = Field(
        default=None, gt=0, le=1,
        description="Binary: report the lowest threshold whose flagged cases are true at least this often on the "
        "test part, instead of the cost threshold (costs). Not with target_recall.",
    )
    slices: list[str] = Field(
        default_factory=list,
        description="Columns to report metrics for, value by value (the most frequent categories; numbers in "
        "quartiles): the fairness view. Excluded columns (data.exclude) may be named, as long as the data has them.",
    )
    bootstrap_resamples: int = Field(
        default=1000, ge=0, le=100_000,
        description="Bootstrap resamples behind every metric's 95% interval (0: no intervals).",
    )
    confident_errors: int = Field(
        default=10, ge=0, description="How many of the test rows the model got most confidently wrong to show."
    )

    @model_validator(mode="after")
    def _one_target(self) -> EvaluationSpec:
        if self.target_recall is not None and self.target_precision is not None:
            raise ValueError("evaluation.target_recall and evaluation.target_precision are alternatives: set one")
        return self


#: split.validation auto: repeated k-fold below this many training rows (small data: scores vary most
#: with the fold draw, and each trial is cheap), a holdout from the second (large data: one fit says enough).
#: Not lower: at 10,000 a 60 s budget got more trials on diamonds (40,455 training rows) and HI (16,704),
#: but the holdout's wider standard error then kept the simpler model (diamonds' test RMSE 556 vs 547 by 5-fold)
REPEATED_BELOW_ROWS = 1_000
HOLDOUT_FROM_ROWS = 100_000
#: a holdout's validation rows are scored in this many disjoint parts: one score has no spread, and the
#: one-standard-error rule and the ensemble's test need one (the mean of the parts is the holdout's score)
HOLDOUT_PARTS = 5


class SplitSpec(_Strict):
    strategy: Literal["stratified", "random", "group", "time"] = Field(
        default="stratified", description="How rows are split into train/test and into folds."
    )
    test_size: float = Field(default=0.2, gt=0, lt=1, description="Share of rows kept aside for 'tabloop evaluate'.")
    validation: Literal["auto", "holdout", "kfold", "repeated_kfold"] = Field(
        default="auto",
        description="How the training part scores candidates: holdout (one validation part of "
        f"split.validation_size, scored in {HOLDOUT_PARTS} parts for a spread), kfold (split.folds folds) or "
        "repeated_kfold (split.folds folds, split.repeats times, reshuffled; not with strategy time). auto: repeated_kfold under "
        f"{REPEATED_BELOW_ROWS:,} training rows (time: kfold), holdout from {HOLDOUT_FROM_ROWS:,}, kfold between.",
    )
    folds: int = Field(default=5, ge=2, le=20, description="Cross-validation folds inside the training part.")
    repeats: int = Field(default=3, ge=2, le=10, description="How many times repeated_kfold runs its folds.")
    validation_size: float = Field(
        default=0.2, gt=0, lt=1, description="Share of the training part that holdout validation scores on."
    )
    group_column: str | None = Field(default=None, description="Column whose groups never straddle folds.")
    time_column: str | None = Field(default=None, description="Column ordering rows in time (no future in training).")

    @model_validator(mode="after")
    def _needs_column(self) -> SplitSpec:
        if self.strategy == "group" and not self.group_column:
            raise ValueError("strategy 'group' needs split.group_column")
        if self.strategy == "time" and not self.time_column:
            raise ValueError("strategy 'time' needs split.time_column")
        if self.strategy == "time" and self.validation == "repeated_kfold":
            raise ValueError("split.validation 'repeated_kfold' reshuffles rows, which a time split must not: "
                             "use kfold or holdout")
        return self


#: what the search may vary in preparation.search, and the values it tries for each
PreparationChoice = Literal["impute", "missing_indicator", "outliers", "log_transform", "scaling", "encoding"]


class PreparationSpec(_Strict):
    """How features are prepared; every step but dedupe runs inside the saved pipeline, fitted on each fold."""

    impute: Literal["mean", "median", "most_frequent", "constant", "knn"] = Field(
        default="median",
        description="How gaps in numeric columns are filled: mean, median, most_frequent, constant (impute_value) "
        "or knn (the mean of the knn_neighbors nearest rows). Categorical gaps always get the most frequent category.",
    )
    impute_value: float = Field(default=0.0, description="The number impute: constant fills gaps with.")
    knn_neighbors: int = Field(default=5, ge=1, le=100, description="Neighbours impute: knn averages.")
    missing_indicator: bool = Field(
        default=False,
        description="Add a 0/1 column per nullable numeric column saying the value was missing (before imputation).",
    )
    drop_missing_above: float | None = Field(
        default=None, gt=0, le=1,
        description="Drop feature columns whose share of missing values in the rows being fitted is above this "
        "(learned at fit, inside each fold); empty: keep every column.",
    )
    outliers: Literal["none", "clip", "flag"] = Field(
        default="none",
        description="Numeric values outside [Q1 - k*IQR, Q3 + k*IQR] (k: iqr_factor, learned at fit): none; clip "
        "them to the bounds; flag them with a 0/1 column per numeric column. A column whose IQR is 0 (a 0/1 column) "
        "has no outliers.",
    )
    iqr_factor: float = Field(default=1.5, gt=0, description="The k of the outlier bounds Q1 - k*IQR, Q3 + k*IQR.")
    log_transform: Literal["auto", "none"] | list[str] = Field(
        default="none",
        description="Apply sign(x)*log(1+|x|) to numeric columns: none; auto (columns with no negative value "
        "and a skewness above 1 in the rows being fitted); or a list of column names.",
    )
    bins: dict[str, int] = Field(
        default_factory=dict,
        description="Numeric columns to replace by quantile bins, name: number of bins (2 to 100); each bin is "
        "then encoded as categories are (one-hot, else its ordinal).",
    )
    scaling: Literal["standard", "robust", "minmax", "none"] = Field(
        default="standard",
        description="How numeric columns are scaled for the families that need it (linear, elastic_net, knn, "
        "svm): standard (mean 0, sd 1), robust (median and IQR), minmax (0 to 1) or none. Tree families are "
        "never scaled.",
    )
    encoding: Literal["onehot", "ordinal", "target"] = Field(
        default="onehot",
        description="How categorical columns become numbers: onehot, ordinal (one integer per category) or "
        "target (the smoothed mean of the target per category, cross-fitted on the rows being fitted).",
    )
    rare_below: float = Field(
        default=0, ge=0,
        description="Categories seen less often than this in the rows being fitted share one 'rare' bucket "
        "(below 1: a share of the rows; from 1: a count of rows); 0: off. One-hot also sends unseen categories to the "
        "bucket. Target encoding does not use it: its smoothing already shrinks rare categories to the overall mean.",
    )
    dedupe: bool = Field(
        default=False,
        description="Drop exact duplicate rows (features and target) from the training part before fitting; "
        "the number dropped is reported. Never applied to the test part or at serving time.",
    )
    search: list[PreparationChoice] = Field(
        default_factory=list,
        description="Which of these choices the search may vary per trial (impute, missing_indicator, outliers, "
        "log_transform, scaling, encoding); the values above are each family's first trial, and a choice is only "
        "varied where it can change the pipeline (no imputation without a nullable numeric column, no scaling for "
        "trees; k-NN imputation up to 20,000 training rows). Empty: fixed.",
    )

    @model_validator(mode="after")
    def _bins_in_range(self) -> PreparationSpec:
        for name, n in self.bins.items():
            if not 2 <= n <= 100:
                raise ValueError(f"preparation.bins.{name}: {n} bins; use 2 to 100")
        if isinstance(self.log_transform, list) and set(self.log_transform) & set(self.bins):
            both = sorted(set(self.log_transform) & set(self.bins))
            raise ValueError(f"columns {both} are both in preparation.log_transform and preparation.bins; pick one")
        return self


class DaskTrainSpec(_Strict):
    """How ``train.engine: dask`` trains: LightGBM or XGBoost on a Dask cluster, the table never gathered whole."""

    scheduler: str | None = Field(
        default=None,
        description="Address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786; empty: a local cluster of "
        "train.dask.workers processes. Its workers must be able to read data.source at the same path.",
    )
    workers: int = Field(default=2, ge=1, description="Workers of the local cluster started when no scheduler is named.")
    sample_rows: int = Field(
        default=100_000, ge=1000,
        description="Rows of the training part drawn to fit the preparation (medians, categories, encodings) and "
        "to infer the contract when 'tabloop profile' has not written one; the models see every row.",
    )
    refit: bool = Field(
        default=True,
        description="Refit the best family on the whole training part after scoring it on the validation part, "
        "as the local engine refits its winner (false: keep the model fitted without the validation part).",
    )


class TrainSpec(_Strict):
    engine: Literal["local", "dask"] = Field(
        default="local",
        description="local: cross-validate and search in this process. dask: fit lightgbm and/or xgboost (their "
        "defaults, no search) on a Dask cluster from a CSV or Parquet data.source (see train.dask).",
    )
    dask: DaskTrainSpec = Field(default_factory=DaskTrainSpec, description="Settings of train.engine: dask.")
    budget_seconds: float = Field(default=120, gt=0, description=(
        "Wall-clock seconds for the whole train command, from its start to the registered model (at least 10): "
        "the search gets what start-up, preparation, refit, export and registration leave."))
    trials: int | None = Field(
        default=None, ge=1,
        description="Run exactly this many search trials instead of spending the time budget "
        "(the same seed then gives the same leaderboard and model).",
    )
    candidates: list[CandidateName] = Field(
        default_factory=lambda: list(DEFAULT_CANDIDATES),
        description="Model families to try; the dummy baseline is always kept, knn and svm only on small data. "
        "The search shares the budget among them; LightGBM, XGBoost and CatBoost keep as many of a trial's "
        "rounds as score best on the mean over the folds. Also: elastic_net.",
    )
    threads: int = Field(
        default=1, ge=1,
        description="Threads each model may use while fitting. 1 keeps results the same on every machine and "
        "stays fast on a busy one (gradient boosting slows down badly when its threads outnumber the free "
        "cores); on a dedicated machine set the number of free cores. Served models always use one.",
    )
    imbalance: list[Literal["class_weight", "smote"]] = Field(
        default_factory=lambda: ["class_weight", "smote"],
        description="Imbalance remedies the search may choose when classes are imbalanced (empty: none).",
    )
    selection: list[Literal["model", "mutual_info"]] = Field(
        default_factory=lambda: ["model", "mutual_info"],
        description="Feature selection the search may choose: SelectFromModel, mutual information (empty: none).",
    )
    ensemble: bool = Field(
        default=True, description="Also try a weighted ensemble of the best families; it must earn its place."
    )
    storage: str | None = Field(
        default=None,
        description="Optuna study storage URL; empty means .tabloop/optuna.db. A PostgreSQL URL lets several "
        "'tabloop train --worker' processes share one search.",
    )
    reference_rows: int = Field(
        default=5000, ge=100, description="Rows of training data saved with the model as the drift reference."
    )


class TrackingSpec(_Strict):
    uri: str | None = Field(
        default=None,
        description="MLflow tracking URI (server URL or database URL); empty means .tabloop/mlflow.db.",
    )
    experiment: str | None = Field(default=None, description="MLflow experiment name (default: the project name).")
    model_name: str | None = Field(default=None, description="Registered model name (default: the project name).")


class RolloutGuardSpec(_Strict):
    """When a challenger that answers live traffic (ab, canary, bandit) is rolled back by the server itself.

    Every ``interval_s`` the server compares the challenger with the champion on the traffic each
    answered: its error rate (5xx answers; one-sided Fisher exact test), its mean latency (one-sided
    Welch test) and its realized metric on the rows labelled through ``POST /feedback`` (accuracy for
    a classifier, Fisher exact; mean absolute error for a regressor, Welch). A check fires only when
    the difference is past its limit and significant at ``alpha``; then the rollout turns off (the
    champion answers everything), the decision is kept in ``.tabloop/serving/rollout.json`` so a
    restart does not resume it, and a ``rollback`` alert goes out. A challenger the loop promoted to
    champion meanwhile has the champion alias moved back (recorded in the registry's audit log).
    """

    enabled: bool = Field(default=False, description="Watch the rollout and roll it back on a live regression.")
    max_error_rate_increase: float | None = Field(
        default=0.01, ge=0, le=1,
        description="Largest increase of the challenger's error rate (5xx answers per request) over the "
        "champion's, in absolute terms (0.01: one point); null: not checked.",
    )
    max_latency_ratio: float | None = Field(
        default=2.0, gt=0,
        description="Largest ratio of the challenger's mean latency to the champion's; null: not checked.",
    )
    max_metric_drop: float | None = Field(
        default=0.02, ge=0,
        description="Largest drop of the realized metric on labelled rows: accuracy points for a classifier "
        "(0.02: two points), the relative increase of the mean absolute error for a regressor (0.02: 2%); "
        "null: not checked.",
    )
    min_requests: int = Field(default=200, ge=1, description="Requests each variant must have answered before "
                              "errors and latency are judged.")
    min_labels: int = Field(default=100, ge=1, description="Labelled rows each variant needs before the realized "
                            "metric is judged.")
    alpha: float = Field(default=0.01, gt=0, lt=1, description="Significance level of each check (one-sided).")
    interval_s: float = Field(default=10.0, gt=0, description="Seconds between two checks.")


class RolloutSpec(_Strict):
    mode: Literal["off", "shadow", "ab", "canary", "bandit"] = Field(
        default="off",
        description="How the challenger gets traffic: off; shadow (scored on a copy, logged, never returned); "
        "ab (a sticky share); canary (a share by request); bandit (Thompson sampling on the realized reward "
        "of labelled rows: the share moves to the version that answers better, the champion keeps floor).",
    )
    share: float = Field(default=0.0, ge=0, le=1, description="Share of requests the challenger answers (ab, canary).")
    key: str | None = Field(default=None, description="ab: column whose value keeps a caller on one variant.")
    floor: float = Field(
        default=0.1, ge=0, le=1,
        description="bandit: smallest share of requests the champion keeps, whatever the posteriors say.",
    )
    seed: int | None = Field(default=None, description="bandit: seed of the posterior draws (null: random).")
    guard: RolloutGuardSpec = Field(default_factory=RolloutGuardSpec,
                                    description="Automatic rollback on a live regression of the challenger.")


class FeedbackHoldoutSpec(_Strict):
    share: float = Field(
        default=0.0, ge=0, le=1,
        description="Share of traffic the model does not decide: those rows are answered with the training prior "
        "(majority class or mean), the model's own prediction is logged with holdout: true, so labels on them "
        "measure the model without its own choices shaping them (0: off).",
    )
    key: str | None = Field(
        default=None,
        description="Column whose value keeps an entity in or out of the holdout, row by row; "
        "empty: by a hash of the request id.",
    )


#: the contract rules a policy can be set for, and the policies each allows. The other rules (a value
#: of the wrong type, an infinite number, a column missing or not in the contract) always refuse
CONTRACT_POLICIES: dict[str, tuple[str, ...]] = {
    "not_null": ("reject", "warn"),
    "range": ("reject", "warn", "clip"),
    "far_range": ("reject", "warn", "clip"),
    "unseen_category": ("reject", "warn", "unknown"),
}
#: far_range starts this many trained spans (max - min) beyond the trained range
FAR_RANGE_FACTOR = 1.0


class ContractSpec(_Strict):
    """What the data contract does with each kind of row it was not trained on.

    ``reject`` refuses the request or table (422, naming column, row and rule); ``warn``
    answers as sent but marks the row (in the answer, the prediction log and batch output)
    and counts it; ``clip`` moves a number onto the nearest end of the trained range, then
    marks; ``unknown`` answers an unseen category as the model's "none of the known
    categories" (what its encoder gives a value it never saw: all zeros one-hot, the rare bucket,
    the ordinal code -1, the target mean), then marks. Saved with every model
    version (its contract.json), so a version keeps the policies it was trained with.
    """

    not_null: Literal["reject", "warn"] = Field(
        default="reject",
        description="A gap in a column that had none in training: reject, or warn (the model imputes it "
        "as in training). Reject by default: a column that was always filled is usually a required field, "
        "and a gap there is a broken caller.",
    )
    range: Literal["reject", "warn", "clip"] = Field(
        default="warn",
        description="A number a little outside the trained [min, max] (less than far_range_factor spans beyond "
        "it): reject, warn, or clip to the range. Warn by default: new data is always a little wider than "
        "the training sample, and the model still answers sensibly there; the marks show how often.",
    )
    far_range: Literal["reject", "warn", "clip"] = Field(
        default="reject",
        description="A number far outside the trained range: beyond min - k*span or max + k*span, span = max - min "
        "(or max(|min|, 1) for a constant column), k = far_range_factor. Reject by default: that far out the "
        "model extrapolates (trees saturate silently at their last split, linear models grow without bound, "
        "e.g. a probability of 1.0), and such values are usually unit or entry errors (1000 for 1.0, 1.8e19 "
        "for an unset integer).",
    )
    far_range_factor: float = Field(
        default=FAR_RANGE_FACTOR, gt=0,
        description="k of far_range: how many trained spans beyond the range a number is far outside it.",
    )
    unseen_category: Literal["reject", "warn", "unknown"] = Field(
        default="unknown",
        description="A category never seen in training: reject, warn (sent to the model as is), or unknown (answered "
        "as none of the known categories). Unknown by default: new categories (a new product, a new branch) are "
        "routine in production, refusing them takes a service down for a value the model has a neutral answer "
        "for, and every such row is marked and counted.",
    )
    columns: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Per-column overrides of the policies above: {column: {rule: policy}}, "
        "e.g. {dir: {range: clip, far_range: clip}}.",
    )

    @model_validator(mode="after")
    def _policies_fit_rules(self) -> ContractSpec:
        for column, rules in self.columns.items():
            for rule, policy in rules.items():
                where = f"contract.columns.{column}.{rule}"
                if rule not in CONTRACT_POLICIES:
                    raise ValueError(f"{where}: unknown rule; rules with a policy: {', '.join(CONTRACT_POLICIES)}")
                if policy not in CONTRACT_POLICIES[rule]:
                    raise ValueError(
                        f"{where}: {policy!r} is not a policy for {rule}; use one of {', '.join(CONTRACT_POLICIES[rule])}"
                    )
        return self

    def policies(self) -> dict[str, str]:
        """The default policy of each rule."""
        return {rule: getattr(self, rule) for rule in CONTRACT_POLICIES}


#: the value types a feature or an entity's join key may have (Feast's types of the same names)
FeatureType = Literal["float64", "float32", "int64", "int32", "string", "bool"]
_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class FeatureEntitySpec(_Strict):
    name: str = Field(pattern=_NAME, description="The entity's name (customer, driver), as views name it.")
    join_keys: dict[str, FeatureType] = Field(
        min_length=1,
        description="The columns that identify one entity, with their types: {customer_id: int64}. Requests and "
        "the entity table carry them; they are kept out of the model's features.",
    )


class FeatureViewSpec(_Strict):
    name: str = Field(pattern=_NAME, description="The view's name; features are named view:feature in features.use.")
    entities: list[str] = Field(min_length=1, description="The entities (by name) whose join keys find a row.")
    source: str = Field(
        description="Where the feature history is: a Parquet file (relative to this file) or a SQLAlchemy database "
        "URL (PostgreSQL: postgresql+psycopg://...) together with 'table' or 'query'. When every view reads one "
        "PostgreSQL database, it is Feast's offline store (joins and materialize run there); a database view "
        "beside Parquet views is copied into .tabloop/feast/sources/<view>.parquet by 'tabloop features apply' "
        "and 'materialize' (and before a point-in-time join).",
    )
    table: str | None = Field(default=None, description="Table to read when 'source' is a database URL.")
    query: str | None = Field(default=None, description="SQL query to run when 'source' is a database URL.")
    timestamp_field: str = Field(
        default="event_timestamp", description="The column saying when each value became true (UTC when naive)."
    )
    ttl: str | None = Field(
        default=None, pattern=r"^\d+(\.\d+)?[smhd]$",
        description="How long a value stays valid after its timestamp, e.g. 30d, 12h, 90m, 45s: a training row "
        "gets no value older than this (the model imputes it), and at serving time an older value is expired "
        "(features.on_missing). Empty: values never expire.",
    )
    features: dict[str, FeatureType] = Field(min_length=1, description="The features and their types: {spend_30d: float64}.")

    @model_validator(mode="after")
    def _table_or_query(self) -> FeatureViewSpec:
        if self.table is not None and self.query is not None:
            raise ValueError(f"features.views.{self.name}: table and query are alternatives: set one")
        return self

    @property
    def ttl_seconds(self) -> float | None:
        """The ttl in seconds; None when values never expire."""
        if self.ttl is None:
            return None
        return float(self.ttl[:-1]) * _TTL_UNITS[self.ttl[-1]]


class FeaturesSpec(_Strict):
    """Features kept in a Feast feature store: point-in-time training sets, online lookups when serving."""

    project: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_]+$",
        description="The Feast project name (default: the spec's name with other characters as _); it also "
        "prefixes the online store's keys, so two projects can share one Redis.",
    )
    entities: list[FeatureEntitySpec] = Field(default_factory=list, description="The entities features belong to.")
    views: list[FeatureViewSpec] = Field(default_factory=list, description="Feature views over offline sources.")
    use: list[str] = Field(
        default_factory=list,
        description="The features the model uses, as view:feature (empty: every feature of every view).",
    )
    entity_timestamp: str | None = Field(
        default=None,
        description="When set, data.source is an entity table (the join keys, this column saying when each label "
        "was known, and the target) and the training rows are its rows joined point-in-time with the features: "
        "each row gets the newest value at or before its timestamp (within the view's ttl), never a later one.",
    )
    online_store: str | None = Field(
        default=None,
        description="Where served features are looked up: a redis:// URL (redis://host:6379/0), or a SQLite "
        "file path (default: .tabloop/feast/online.db). Also TABLOOP_FEATURES__ONLINE_STORE.",
    )
    on_missing: Literal["reject", "impute"] = Field(
        default="reject",
        description="At serving time, a request's entity the online store does not hold, or a value older than "
        "its view's ttl: reject (422 naming the entity) or impute (the model imputes the feature as in training; "
        "the answer marks the row with rule missing_entity or expired).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> FeaturesSpec:
        entities = {e.name: e for e in self.entities}
        if len(entities) != len(self.entities):
            raise ValueError("features.entities: two entities have the same name")
        views = {v.name: v for v in self.views}
        if len(views) != len(self.views):
            raise ValueError("features.views: two views have the same name")
        keys = {k for e in self.entities for k in e.join_keys}
        for view in self.views:
            for name in view.entities:
                if name not in entities:
                    raise ValueError(f"features.views.{view.name}.entities: {name!r} is not an entity of "
                                     f"features.entities ({sorted(entities)})")
            clash = sorted(set(view.features) & (keys | {view.timestamp_field}))
            if clash:
                raise ValueError(f"features.views.{view.name}.features: {clash} are join keys or the timestamp")
        for ref in self.use:
            view_name, _, feature = ref.partition(":")
            if view_name not in views or feature not in views[view_name].features:
                raise ValueError(f"features.use: {ref!r} is not view:feature of a view in features.views")
        names = [ref.partition(":")[2] for ref in self.feature_refs()]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"features: {doubled} come from more than one view; name them apart or list "
                             "one in features.use")
        if self.entity_timestamp is not None and not self.views:
            raise ValueError("features.entity_timestamp is set but features.views is empty")
        return self

    def feature_refs(self) -> list[str]:
        """The features the model uses, as view:feature."""
        return list(self.use) or [f"{v.name}:{f}" for v in self.views for f in v.features]

    def join_keys(self) -> list[str]:
        """Every entity's join keys, in order."""
        return [k for e in self.entities for k in e.join_keys]


class ApiKeySpec(_Strict):
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="sha256 hex digest of the key (never the key).")
    scopes: list[Literal["predict", "control"]] = Field(
        default_factory=lambda: ["predict"], min_length=1, description="predict: scoring routes; control: rollout, metrics."
    )


class AuthSpec(_Strict):
    keys: list[ApiKeySpec] = Field(
        default_factory=list, description="Once any key is set, every route but the health probes needs one."
    )


class ServingSpec(_Strict):
    host: str = Field(default="127.0.0.1", description="Address to bind; loopback unless told otherwise.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port to listen on.")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names (or addresses) requests may name in their Host header besides the defaults; "
        "others get 421, which stops a web page that points its own DNS name at this server. Always allowed: "
        "the bound host, plus localhost, 127.0.0.1 and ::1 when it is loopback. Bound to 0.0.0.0 or ::, also "
        "the machine's host name, its fully qualified name and the addresses they resolve to; a name given by a "
        "proxy, load balancer or DNS alias must be listed here. [\"*\"] accepts any Host (only behind a proxy "
        "that checks it). Names only, no scheme or port.",
    )
    max_rows_per_request: int = Field(default=1000, ge=1, description="Requests with more rows get 413.")
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1, description="Larger request bodies get 413.")
    max_concurrency: int = Field(default=64, ge=1, description="Predicting requests in flight beyond this get 429.")
    timeout_s: float = Field(default=30.0, gt=0, description="Predictions taking longer get 504.")
    log_predictions: bool = Field(default=True, description="Append every prediction to .tabloop/predlog.")
    log_sync: Literal["ack", "write", "background"] = Field(
        default="write",
        description="write: answer once the prediction is written to the operating system (a killed server "
        "loses nothing; fsynced in batches every log_sync_interval_s, so a machine crash may lose that much), "
        "503 if it cannot be written; the request's own thread writes, so keep the log on a local disk. "
        "ack: answer only after the prediction is fsynced (503 if it cannot be, or if the disk stalls past "
        "timeout_s), at about two thirds of write's throughput. "
        "background: answer at once, log failures are only counted.",
    )
    log_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://user@host/db; env TABLOOP_PREDLOG_URL) the prediction log and "
        "feedback labels are shipped to, for a team or several machines: the local files stay the durable "
        "buffer (an answer waits for them, never for the database), a background thread copies new lines in "
        "batches, exactly once, and catches up after an outage; monitor, retrain and loop then read the "
        "database (every machine's log), or the local files with a warning when it cannot be reached. "
        "Empty: the local files only.",
    )
    log_sync_interval_s: float = Field(
        default=0.1, gt=0, le=60,
        description="Under log_sync: write, how often the rows written are fsynced (each fsync costs the "
        "server CPU: every 10 ms costs about a fifth of its throughput on 2 cores, every 100 ms little).",
    )
    workers: int = Field(default=1, ge=1, description="Server processes sharing the port, each with its own log segment.")

    @model_validator(mode="after")
    def _log_url_is_postgres(self) -> ServingSpec:
        url = self.log_url
        if url and url.split("://", 1)[0].split("+", 1)[0].lower() not in ("postgresql", "postgres"):
            shown = url.split("://", 1)[0] + "://..." if "://" in url else url[:40]
            raise ValueError(f"serving.log_url (TABLOOP_PREDLOG_URL) must be a PostgreSQL URL (postgresql://user@host/db), "
                             f"got {shown!r}")
        return self
    challenger_alias: str | None = Field(
        default="challenger", description="Alias of the challenger served beside the champion; null for none."
    )
    rollout: RolloutSpec = Field(default_factory=RolloutSpec, description="How champion and challenger share traffic.")
    feedback_holdout: FeedbackHoldoutSpec = Field(
        default_factory=FeedbackHoldoutSpec,
        description="Guard against self-reinforcing feedback: a share of traffic answered without the model.",
    )
    poll_interval_s: float | None = Field(
        default=30.0, gt=0, description="How often the aliases are checked for a new version to hot-swap; null: never."
    )
    auth: AuthSpec = Field(default_factory=AuthSpec, description="API keys (hashed) and their scopes.")


class DriftSpec(_Strict):
    # A feature drifts when the Holm-adjusted test is significant AND the effect size
    # for its kind reaches its threshold. The test keeps sampling noise in small windows
    # out; the effect size keeps trivial shifts in huge windows out (at a million rows
    # KS calls a 0.01 sd shift significant). The default effects are those of Evidently's
    # DataDriftPreset for references over 1,000 rows, with its thresholds: the
    # Wasserstein distance in reference standard deviations (0.1 = a tenth of an sd
    # of mean shift, or about a 13% change of scale) and the Jensen-Shannon distance.
    # PSI over deciles was the default before and missed moderate drift Evidently
    # catches: a 0.2 sd mean shift has PSI about 0.04, and a 30% change in a category
    # mix often has PSI under 0.1 (0.06 to 0.09 for the benchmark's), while their
    # Wasserstein (0.2) and Jensen-Shannon (0.11 to 0.13) distances are over 0.1.
    p_value: float = Field(
        default=0.05, gt=0, lt=1, description="Significance level, Holm-corrected across the features tested."
    )
    psi_threshold: float = Field(
        default=0.1, gt=0, description="Smallest population stability index counted as drift (effect size)."
    )
    wasserstein_threshold: float = Field(
        default=0.1,
        gt=0,
        description="Smallest Wasserstein distance, in units of the reference's standard deviation, counted as drift "
        "(0.1: a mean shift of a tenth of a standard deviation, or about a 13% change of spread; Evidently's default).",
    )
    # base 2 keeps the distance in [0, 1]; Evidently uses the natural log, in which our
    # 0.1 is 0.083, so on categories tabloop is a little more sensitive than Evidently
    # (the chi-square test still vetoes noise in small windows)
    jensen_shannon_threshold: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="Smallest Jensen-Shannon distance (base 2, 0 to 1) counted as drift (0.1: about a 30% change "
        "in the share of a main category).",
    )
    numeric_effect: Literal["psi", "wasserstein"] = Field(
        default="wasserstein",
        description="The effect size that decides drift for numeric columns (PSI over deciles misses "
        "mean shifts under about 0.3 standard deviations).",
    )
    categorical_effect: Literal["psi", "jensen_shannon"] = Field(
        default="jensen_shannon", description="The effect size that decides drift for categorical columns."
    )
    min_rows: int = Field(default=50, ge=1, description="Windows smaller than this are reported as too small to judge.")
    max_drifted_features: int = Field(
        default=0, ge=0, description="Policy: 'tabloop monitor' exits non-zero when more features than this drift."
    )
    domain_classifier: bool = Field(
        default=True, description="Also test for multivariate drift with a classifier that tells the windows apart."
    )
    domain_auc_threshold: float = Field(
        default=0.55, gt=0.5, lt=1, description="Cross-validated ROC AUC of the domain classifier counted as drift."
    )
    domain_rows: int = Field(
        default=5000, ge=50, description="Rows sampled from each window to train the domain classifier."
    )
    act_on_multivariate: bool = Field(
        default=False, description="Policy: 'tabloop monitor' also exits non-zero on multivariate drift alone."
    )


class TimelineSpec(_Strict):
    by: Literal["rows", "time"] = Field(default="rows", description="Cut the prediction log into windows by row count or by time.")
    rows: int = Field(default=1000, ge=1, description="Rows per window when cutting by rows.")
    every: str = Field(default="1D", description="Window length when cutting by time (a pandas frequency: 1h, 1D, 7D).")
    max_windows: int = Field(default=30, ge=1, description="Newest windows shown in the report.")


class PerformanceSpec(_Strict):
    threshold: float | None = Field(
        default=None,
        description="Policy: act when the spec's metric, realized or estimated on the newest window, is worse "
        "than this (below it for scores, above it for losses); empty means never.",
    )
    min_labels: int = Field(
        default=30, ge=1, description="Labelled rows a window needs before its realized performance is reported."
    )
    calibrate: bool = Field(
        default=True,
        description="Calibrate the model's probabilities on the reference sample before estimating performance.",
    )


class ABTestSpec(_Strict):
    alpha: float = Field(
        default=0.05, gt=0, lt=1, description="Significance level of the A/B test between champion and challenger."
    )
    min_labels: int = Field(
        default=50, ge=2, description="Labelled answered rows each variant needs before the A/B test is judged."
    )


class ShadowSpec(_Strict):
    tolerance: float | None = Field(
        default=None, ge=0,
        description="Regression: the challenger's shadow answer agrees with the champion's when they differ by at most "
        "this (in the target's units); empty: a tenth of the standard deviation of the champion's answers on the "
        "compared rows. Classification agrees on the class.",
    )
    min_labels: int = Field(
        default=30, ge=2,
        description="Labelled paired rows (champion and shadow challenger on the same request row) needed before the "
        "shadow comparison's paired test is judged, in 'tabloop monitor' and in the loop's gate after "
        "retraining.shadow_requests.",
    )


class MonitoringSpec(_Strict):
    window_rows: int = Field(default=5000, ge=1, description="Newest logged rows compared with the reference.")
    drift: DriftSpec = Field(default_factory=DriftSpec, description="When a feature counts as drifted.")
    timeline: TimelineSpec = Field(default_factory=TimelineSpec, description="Windows over the prediction log.")
    performance: PerformanceSpec = Field(
        default_factory=PerformanceSpec, description="Realized and estimated performance, and when it is too low."
    )
    ab: ABTestSpec = Field(
        default_factory=ABTestSpec,
        description="The A/B summary of variants that answered traffic (rollout ab or canary), once labels arrive.",
    )
    shadow: ShadowSpec = Field(
        default_factory=ShadowSpec,
        description="The shadow comparison (rollout shadow): the challenger's answers beside the champion's on the "
        "same rows, and the paired test once labels arrive.",
    )


class AlertSpec(_Strict):
    webhook: str | None = Field(
        default=None,
        description="URL that receives each alert as an HTTP POST of JSON (kind, title, subject, details, project, "
        "at); e.g. a Slack or Teams incoming webhook, or your own service. TABLOOP_ALERTS_WEBHOOK overrides it.",
    )
    command: list[str] | None = Field(
        default=None,
        description="A command run for each alert with the same JSON on stdin, e.g. [\"/usr/local/bin/page-oncall\"]; "
        "it is run directly, not through a shell.",
    )
    on: list[Literal["drift", "performance", "errors", "rollback"]] = Field(
        default_factory=lambda: ["drift", "performance", "errors", "rollback"],
        description="Which events alert: drift or performance past the monitoring policy (tabloop monitor, loop run), "
        "server errors (a 5xx answer or a log that cannot be written), and champion rollbacks.",
    )
    repeat_minutes: float = Field(
        default=60, ge=0,
        description="The same alert (kind and subject, e.g. the same drifted columns) is sent again only after this "
        "many minutes, however many processes find it.",
    )


class TriggerSpec(_Strict):
    drift: bool = Field(default=True, description="Retrain when drift crosses the monitoring policy.")
    performance_floor: float | None = Field(
        default=None,
        description="Retrain when realized performance on the spec's metric is worse than this "
        "(below it for scores, above it for losses); empty means never.",
    )
    new_labels: int | None = Field(
        default=None, ge=1, description="Retrain when this many new labels arrived since the last retraining."
    )
    schedule_hours: float | None = Field(
        default=None, gt=0, description="Retrain when this many hours passed since the last retraining."
    )


class RetrainingSpec(_Strict):
    triggers: TriggerSpec = Field(default_factory=TriggerSpec, description="What starts a retraining ('tabloop loop run').")
    min_new_labels: int = Field(default=100, ge=1, description="Labelled rows needed before retraining.")
    window_rows: int = Field(default=5000, ge=1, description="Newest labelled rows used for retraining.")
    holdout_fraction: float = Field(
        default=0.3, gt=0, lt=1, description="Share of the newest labelled rows kept to compare champion and challenger."
    )
    older_data_fraction: float = Field(
        default=1.0, ge=0, le=1,
        description="Share of the original training data mixed with the new rows (0: new rows only).",
    )
    min_improvement: float = Field(
        default=0.0, description="Promote only when the challenger beats the champion by at least this much."
    )
    significance: float = Field(
        default=0.05, gt=0, le=1,
        description="'tabloop promote' moves the champion only when a paired test on the same labelled rows "
        "(DeLong for roc_auc, McNemar for accuracy, a paired bootstrap otherwise) gives a one-sided p-value below "
        "this for the candidate beating the champion by min_improvement; 1 turns the test off (the margin alone "
        "decides). --force skips the gate and is recorded as forced.",
    )
    approval: Literal["auto", "manual"] = Field(
        default="manual", description="auto: promote when the gate passes; manual: wait for 'tabloop approve'."
    )
    shadow_requests: int = Field(
        default=0, ge=0,
        description="Requests the challenger must answer in shadow before it can be promoted; then the loop's gate also "
        "asks the paired test on the live rows both answered, once monitoring.shadow.min_labels of them are labelled "
        "(it waits for them, and refuses a challenger that is not better there).",
    )


class ModelTestsSpec(_Strict):
    """The checks of the generated model tests (``tabloop test``, tests/model/test_model.py)."""

    latency_ms: float = Field(
        default=50.0, gt=0,
        description="Budget for the 95th percentile of a one-row prediction in this process "
        "(tabloop.load_model's predict, the contract check included), in milliseconds.",
    )
    latency_calls: int = Field(
        default=200, ge=20, le=100_000, description="One-row predictions timed for the latency test (after 5 warm-up calls)."
    )
    min_metric: float | None = Field(
        default=None,
        description="The spec's metric on the held-out test part must be at or above this (at or below it for "
        "losses: log_loss, rmse, mae); empty: no minimum.",
    )
    max_regression: float = Field(
        default=0.0, ge=0,
        description="How much worse than the champion the tested version may score on the same held-out rows "
        "(in the metric's units; a difference within 1e-9 counts as equal). A test of the champion itself skips it.",
    )
    single_rows: int = Field(
        default=50, ge=1, le=10_000,
        description="Held-out rows predicted one by one and compared with the same rows predicted as one batch.",
    )
    gate: bool = Field(
        default=True,
        description="'tabloop promote' replaces the champion only with a version that passes its model tests "
        "(after the paired gate; --force skips both).",
    )


class Spec(_Strict):
    version: Literal[1] = Field(default=1, description="Spec format version.")
    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Project name; names the experiment and registered model."
    )
    seed: int = Field(default=42, description="Drives every random choice: same spec and data, same model.")
    data: DataSpec = Field(description="Where the data is and what to predict.")
    metric: str | None = Field(
        default=None, description="Metric that picks the model (default: roc_auc, log_loss or rmse by task)."
    )
    costs: CostSpec = Field(default_factory=CostSpec, description="What mistakes cost; sets the decision threshold.")
    evaluation: EvaluationSpec = Field(
        default_factory=EvaluationSpec,
        description="'tabloop evaluate': the decision threshold's terms, slices, intervals and the model card.",
    )
    split: SplitSpec = Field(default_factory=SplitSpec, description="Held-out test part and cross-validation.")
    preparation: PreparationSpec = Field(
        default_factory=PreparationSpec, description="Feature preparation inside the saved pipeline, and what the search varies."
    )
    train: TrainSpec = Field(default_factory=TrainSpec, description="Training budget and candidates.")
    tracking: TrackingSpec = Field(default_factory=TrackingSpec, description="Experiment tracking and model registry.")
    contract: ContractSpec = Field(
        default_factory=ContractSpec,
        description="What the data contract does with rows outside it, per rule and column (saved with each version).",
    )
    serving: ServingSpec = Field(default_factory=ServingSpec, description="Online serving.")
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec, description="Drift and performance monitoring.")
    retraining: RetrainingSpec = Field(default_factory=RetrainingSpec, description="Retraining and promotion policy.")
    model_tests: ModelTestsSpec = Field(
        default_factory=ModelTestsSpec,
        description="What 'tabloop test' checks: one-row latency, a minimum metric, no regression against the champion.",
    )
    alerts: AlertSpec = Field(default_factory=AlertSpec, description="Where alerts go (a webhook, a command) and on what.")
    features: FeaturesSpec = Field(
        default_factory=FeaturesSpec,
        description="Features from a Feast feature store: entities, views over Parquet or database tables, the "
        "point-in-time training set and online lookups when serving ('tabloop features apply|materialize').",
    )

    @model_validator(mode="after")
    def _metric_fits_task(self) -> Spec:
        task = self.data.task
        if self.metric is not None and task is not None and self.metric not in METRICS[task]:
            raise ValueError(f"metric {self.metric!r} does not apply to a {task} task; use one of {list(METRICS[task])}")
        return self

    @model_validator(mode="after")
    def _features_fit_data(self) -> Spec:
        features = self.features
        if features.entity_timestamp is not None:
            clash = {features.entity_timestamp, *features.join_keys()} & {self.data.target}
            if clash:
                raise ValueError(f"features: {sorted(clash)} is data.target; the target cannot be a join key or the timestamp")
        return self

    @property
    def features_project(self) -> str:
        """The Feast project's name."""
        return self.features.project or "".join(c if c.isalnum() else "_" for c in self.name)

    @property
    def task(self) -> Task:
        if self.data.task is None:
            raise ValueError("the task is not known yet")
        return self.data.task

    @property
    def resolved_metric(self) -> str:
        return self.metric or METRICS[self.task][0]

    @property
    def experiment_name(self) -> str:
        return self.tracking.experiment or self.name

    @property
    def model_name(self) -> str:
        return self.tracking.model_name or self.name
