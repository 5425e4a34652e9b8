"""The monitoring report's inputs: the numbers behind each distribution panel, then the report layer draws.

``drift_report`` keeps the monitor's signature (results and the frames they were
computed on); the histograms and category shares are computed here, with the drift
test's own value readers, and ``tabloop.report`` turns them and the results into HTML.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tabloop.monitoring._columns import category_counts, numeric_values
from tabloop.monitoring._drift import DriftResult, FeatureDrift
from tabloop.report import Report, monitor_report
from tabloop.stats import EXACT_KS_MAX_ROWS, NUMERIC_BINS

if TYPE_CHECKING:
    # annotations only: the A/B and performance modules import scikit-learn's metrics, which a
    # standalone drift report never uses
    from tabloop.monitoring._ab import ABSummary
    from tabloop.monitoring._shadow import ShadowComparison
    from tabloop.monitoring._performance import PerformanceTimeline
    from tabloop.monitoring._timeline import DriftTimeline

__all__ = ["distribution_panels", "drift_report"]

#: bins of a numeric panel's histograms
_HIST_BINS = 30
#: categories drawn one bar each; the rest are summed into one "(other)" bar
_BAR_CATEGORIES = 8
_OTHER = "(other)"


def drift_report(
    result: DriftResult,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    title: str = "Drift report",
    subtitle: str = "",
    timeline: DriftTimeline | None = None,
    performance: PerformanceTimeline | None = None,
    decision: dict[str, Any] | None = None,
    ab: ABSummary | None = None,
    shadow: ShadowComparison | None = None,
) -> Report:
    """Build the HTML + JSON report of ``result``; the frames are the ones it was computed on.

    ``timeline`` (drift per window) and ``performance`` (realized, estimated and
    operational figures per window) add line graphs over time; ``decision`` (``act``
    and its ``reasons``) is the policy's verdict; ``ab`` compares the variants that
    answered traffic; ``shadow`` the shadow challenger beside the champion. Each lands in the
    JSON under its name.
    """
    shown = [*result.features, *([result.prediction] if result.prediction is not None else [])]
    return monitor_report(
        result,
        distribution_panels(shown, reference, current),
        exact_ks_max_rows=EXACT_KS_MAX_ROWS,
        numeric_bins=NUMERIC_BINS,
        title=title,
        subtitle=subtitle,
        timeline=timeline,
        performance=performance,
        decision=decision,
        ab=ab,
        shadow=shadow,
    )


def distribution_panels(
    features: list[FeatureDrift], reference: pd.DataFrame, current: pd.DataFrame
) -> dict[str, dict[str, Any]]:
    """Per column, what its panel draws: histogram densities over shared edges, or category shares."""
    return {
        f.column: _numeric(f, reference[f.column], current[f.column]) if f.kind == "numeric"
        else _categorical(reference[f.column], current[f.column])
        for f in features
    }


def _numeric(f: FeatureDrift, ref: pd.Series, cur: pd.Series) -> dict[str, Any]:
    a = numeric_values(ref, f.column, "reference")
    b = numeric_values(cur, f.column, "current")
    both = np.concatenate([a, b])
    if both.size == 0:
        return {"edges": None, "reference": None, "current": None}
    # clip the view to the central 99% so one outlier does not squash the histogram
    lo, hi = np.quantile(both, [0.005, 0.995])
    if not hi > lo:
        lo, hi = float(both.min()) - 0.5, float(both.max()) + 0.5
    edges = np.linspace(lo, hi, _HIST_BINS + 1)
    ref_density = np.histogram(a, bins=edges, density=True)[0] if a.size else None
    cur_density = np.histogram(b, bins=edges, density=True)[0] if b.size else None
    return {"edges": edges, "reference": ref_density, "current": cur_density}


def _categorical(ref: pd.Series, cur: pd.Series) -> dict[str, Any]:
    rc, cc = category_counts(ref), category_counts(cur)
    union = rc.index.union(cc.index, sort=False)
    rs = rc.reindex(union, fill_value=0) / max(int(rc.sum()), 1)
    cs = cc.reindex(union, fill_value=0) / max(int(cc.sum()), 1)
    order = np.argsort(-np.maximum(rs.to_numpy(), cs.to_numpy()), kind="stable")
    keep = union[order[:_BAR_CATEGORIES]]
    labels = [str(k) for k in keep]
    ref_vals = list(rs[keep].to_numpy())
    cur_vals = list(cs[keep].to_numpy())
    if union.size > _BAR_CATEGORIES:
        labels.append(_OTHER)
        ref_vals.append(max(0.0, 1.0 - sum(ref_vals)))
        cur_vals.append(max(0.0, 1.0 - sum(cur_vals)))
    return {"labels": labels, "reference": ref_vals, "current": cur_vals}
