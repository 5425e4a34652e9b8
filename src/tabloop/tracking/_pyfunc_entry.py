"""Models-from-code entry point: MLflow runs this file to build the pyfunc, so nothing is cloudpickled."""

import mlflow.models

from tabloop.tracking._pyfunc import TabloopPyfunc

mlflow.models.set_model(TabloopPyfunc())
