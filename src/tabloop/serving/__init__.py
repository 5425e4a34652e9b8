"""Online serving (layer 14): one port, three dialects, champion and challenger.

``create_app(ServeConfig(bundle, ...))`` (or ``ServeConfig.from_spec``) gives a FastAPI app speaking tabloop's JSON
(``/predict``), MLflow's scoring protocol (``/invocations``) and the Open Inference
Protocol (``/v2/...``), with Prometheus ``/metrics``, ``/feedback`` and control
routes; ``run_server(app)`` serves it with uvicorn, on loopback unless told
otherwise. Every row is checked against the model's contract; a bad row gets a
4xx naming the column and the rule. ``RowPredictor`` is the seam a faster
predictor (ONNX) plugs into.
"""

from typing import TYPE_CHECKING

from tabloop._lazy import exports

# imported on first use (see tabloop._lazy): a command pays only for the libraries it needs
if TYPE_CHECKING:
    from tabloop.serving._app import create_app
    from tabloop.serving._auth import ApiKeys, hash_key
    from tabloop.serving._features import OnlineFeaturesPredictor, with_online_features
    from tabloop.serving._config import Access, Following, Limits, LogConfig, ServeConfig
    from tabloop.serving._guard import allowed_hosts, check_allowed_hosts
    from tabloop.serving._holdout import Holdout
    from tabloop.serving._models import ModelSource
    from tabloop.serving._predictor import BundlePredictor, FastPredictor, PredictorFactory, RowPredictor
    from tabloop.serving._bandit import Bandit
    from tabloop.serving._rollback import GuardLimits
    from tabloop.serving._rollout import Rollout
    from tabloop.serving._rollout_watch import read_rollout_state
    from tabloop.serving._server import run_server

__getattr__, __dir__ = exports(__name__, __file__)

__all__ = [
    "Access",
    "ApiKeys",
    "Bandit",
    "BundlePredictor",
    "FastPredictor",
    "Following",
    "GuardLimits",
    "Holdout",
    "Limits",
    "LogConfig",
    "ModelSource",
    "OnlineFeaturesPredictor",
    "PredictorFactory",
    "Rollout",
    "RowPredictor",
    "ServeConfig",
    "allowed_hosts",
    "check_allowed_hosts",
    "create_app",
    "hash_key",
    "read_rollout_state",
    "run_server",
    "with_online_features",
]
