"""Start-up: a command imports only the libraries it uses (issue #14; timings are in benchmarks/startup/)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import pandas as pd

HEAVY = ("sklearn", "mlflow", "optuna", "lightgbm", "xgboost", "catboost", "matplotlib", "feast")
#: libraries no drift computation needs: training, tracking and ONNX
NOT_FOR_MONITOR = ("mlflow", "optuna", "xgboost", "catboost", "onnxruntime", "skl2onnx", "fastapi")
LAZY_PACKAGES = ("alerts", "api", "bundle", "data", "deploy", "evaluation", "export", "features", "loop", "monitoring", "predlog", "report", "serving", "stats", "training")


def _imported_after(code: str, watched: tuple[str, ...]) -> list[str]:
    """The ``watched`` top-level modules in sys.modules after running ``code`` in a fresh interpreter."""
    probe = (
        f"import sys\n{code}\n"
        f"print('\\n' + __import__('json').dumps(sorted(m for m in {watched!r} if m in sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("code", ["import tabloop", "import tabloop.cli", "import tabloop.api", "import tabloop.training",
                                  "from tabloop import load_model"])
def test_importing_the_package_imports_no_heavy_library(code: str) -> None:
    assert _imported_after(code, HEAVY) == []


@pytest.mark.parametrize("argv", [["--help"], ["monitor", "--help"], ["predict", "--help"], ["train", "--help"]])
def test_help_imports_no_heavy_library(argv: list[str]) -> None:
    code = (
        "from tabloop.cli import app\n"
        f"try:\n    app({argv!r}, prog_name='tabloop')\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code"
    )
    assert _imported_after(code, HEAVY) == []


def test_the_monitor_command_does_not_import_training_or_tracking() -> None:
    assert _imported_after("from tabloop.api import monitor", NOT_FOR_MONITOR) == []


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_lazy_package_exports_what_it_lists(package: str) -> None:
    module = importlib.import_module(f"tabloop.{package}")
    assert module.__all__, package
    for name in module.__all__:
        assert getattr(module, name) is not None, f"tabloop.{package}.{name}"
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        module.nope  # noqa: B018


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_lazy_export_is_listed_in_all(package: str) -> None:
    from tabloop._lazy import _type_checking_imports

    module = importlib.import_module(f"tabloop.{package}")
    assert module.__file__ is not None
    assert set(_type_checking_imports(Path(module.__file__), module.__name__)) == set(module.__all__)


def test_the_predict_command_does_not_import_training_or_the_monitor() -> None:
    watched = ("optuna", "matplotlib", "scipy.stats", "tabloop.monitoring", "tabloop.api._monitor", "fastapi")
    assert _imported_after("from tabloop.api import predict", watched) == []


def test_scoring_with_the_onnx_graph_imports_no_scikit_learn(tmp_path: Path, hmda: pd.DataFrame) -> None:
    """A bundle loaded for ONNX scoring (predict, the server) keeps its pipeline pickled: no scikit-learn."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from tabloop.bundle import ModelBundle
    from tabloop.data import check_frame, encode_target, infer_contract
    from tabloop.export import export_bundle
    from tabloop.preparation import make_preprocessor
    from tabloop.workspace import SigningKey

    contract = infer_contract(hmda, target="deny", ignored=["black"])
    pipeline = Pipeline([("prepare", make_preprocessor(contract)), ("model", LogisticRegression(max_iter=1000))])
    pipeline.fit(check_frame(hmda, contract), encode_target(hmda["deny"], ["no", "yes"]))
    bundle = ModelBundle(pipeline, contract, manifest={"task": "binary", "classes": ["no", "yes"], "threshold": 0.5},
                         reference=hmda.head(100), spec_yaml="x: 1")
    assert export_bundle(bundle, None).used
    bundle.save(tmp_path / "bundle", key=SigningKey.from_text("the start-up test key", source="test"))
    hmda.head(50).to_csv(tmp_path / "rows.csv", index=False)
    expected = bundle.predict(hmda.head(50)).proba
    code = (
        "import numpy as np, pandas as pd\n"
        "from tabloop.batch import ChunkScorer\n"
        "from tabloop.bundle import ModelBundle\n"
        "from tabloop.workspace import SigningKey\n"
        f"b = ModelBundle.load({str(tmp_path / 'bundle')!r}, key=SigningKey.from_text('the start-up test key', source='test'))\n"
        "scorer = ChunkScorer(b, request_id='r')\n"
        f"out = scorer(pd.read_csv({str(tmp_path / 'rows.csv')!r}), 0).frame\n"
        "assert scorer.engine == 'onnx'\n"
        f"np.testing.assert_allclose(out[['proba_no', 'proba_yes']].to_numpy(), np.array({expected.tolist()!r}),"
        " atol=1e-5)\n"
    )
    assert _imported_after(code, ("sklearn", "scipy.stats", "joblib")) == []
