"""The numbers behind ``tabloop serve``'s ``/dashboard``: ``tabloop monitor``'s timelines, from the same code.

The server hands the champion's bundle to ``DashboardSource``; it reads the rows,
error records and feedback of the windows shown from the ends of the log's files
(``LogWindow``: a refresh costs what the windows hold, not what the log holds) and runs
the monitor's own ``_over_time`` on them, so a window's volume, latency, error rate,
performance and drift on the page are the report's to the last digit. What the report
takes over the whole log besides its windows (per-group figures, the label-bias warning,
the feedback holdout) is, on the page's data, over the windows shown. The error rate
counts the log's error records (requests the server refused), so it covers every
worker and survives restarts, unlike the process's own counters the page also shows.
The server's ``DashboardCache`` decides how often this runs.
"""

from __future__ import annotations

import threading
from typing import Any

import pandas as pd

from tabloop.api._monitor import PREDICTION_SIGNAL, _calibration, _join_labels, _over_time, _with_signal
from tabloop.api._project import Project
from tabloop.bundle import ModelBundle
from tabloop.predlog import LogWindow

#: drift panels drawn besides the predictions' own
TOP_FEATURES = 6


class DashboardSource:
    """``DashboardSource(project)(bundle)`` -> the dashboard JSON for ``bundle`` over the project's log."""

    def __init__(self, proj: Project, *, top: int = TOP_FEATURES) -> None:
        self.proj = proj
        self.top = top
        self._lock = threading.Lock()
        # the model's output on its reference sample, and the calibration fitted on it, only change
        # with the version: compute them once per version, not on every refresh
        self._reference: dict[tuple[str | None, str | None], tuple[pd.DataFrame, Any]] = {}
        # the windows shown, read from the files' ends; its per-file row counts live as long as the server
        self.window = LogWindow(proj.predlog)

    def reference(self, bundle: ModelBundle) -> tuple[pd.DataFrame, Any]:
        """The reference sample with the model's output on it, and the calibration (or None)."""
        key = (bundle.name, bundle.version)
        with self._lock:
            if key not in self._reference:
                calibrate = self.proj.spec.monitoring.performance.calibrate
                self._reference = {key: (_with_signal(bundle, bundle.reference, "reference"),
                                         _calibration(bundle, bundle.reference) if calibrate else None)}
            return self._reference[key]

    def __call__(self, bundle: ModelBundle) -> dict[str, Any]:
        from tabloop.monitoring import dashboard_data, outputs_over_time, split_windows

        logged, errors, feedback = self.window.read(self.proj.spec.monitoring.timeline)
        logged = _join_labels(logged, feedback)
        if logged.empty:
            if errors.empty:
                return dashboard_data(None, None, None)
            # every request so far was refused: no drift nor outputs to draw, but the error rate is the news
            return dashboard_data(None, self._operational(bundle, logged, errors), None)
        ref_df, calibration = self.reference(bundle)
        windows = split_windows(logged, self.proj.spec.monitoring.timeline, errors)
        timeline, performance = _over_time(self.proj, bundle, ref_df, bundle.reference, logged, errors,
                                           windows=windows, calibration=calibration)
        outputs = outputs_over_time(logged, windows, task=bundle.task, classes=bundle.classes,
                                    reference_signal=ref_df[PREDICTION_SIGNAL])
        return dashboard_data(timeline, performance, outputs, top=self.top, prediction_column=PREDICTION_SIGNAL)

    def _operational(self, bundle: ModelBundle, logged: pd.DataFrame, errors: pd.DataFrame) -> Any:
        from tabloop.monitoring import performance_over_time

        spec = self.proj.spec
        return performance_over_time(
            logged, task=bundle.task, classes=bundle.classes, metric=bundle.manifest.metric or spec.resolved_metric,
            timeline=spec.monitoring.timeline, performance=spec.monitoring.performance, errors=errors,
        )
