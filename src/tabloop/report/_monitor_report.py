"""The monitoring report: drift verdicts and distributions, and line graphs over time, inline.

The HTML shows what the JSON holds: every number drawn is in ``Report.data``. The
monitor's results come in as its dataclasses (``DriftResult``, ``DriftTimeline``,
``PerformanceTimeline``, ``ABSummary``), read by attribute only: this layer sits below
``tabloop.monitoring`` and never imports it. The distribution panels' numbers
(histogram densities, category shares) are computed by the monitor and handed in.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any


from tabloop.report._document import Report, table_html
from tabloop.report._svg_panels import Series, legend_html, lines_panel_svg, overlay_panel_svg, panels_html

__all__ = ["monitor_report"]

_REF_COLOR = "#4c72b0"
_CUR_COLOR = "#dd8452"
_BAD_COLOR = "#b00020"


def monitor_report(
    result: Any,
    panels: Mapping[str, Mapping[str, Any]],
    *,
    exact_ks_max_rows: int,
    numeric_bins: int,
    title: str = "Drift report",
    subtitle: str = "",
    timeline: Any = None,
    performance: Any = None,
    decision: dict[str, Any] | None = None,
    ab: Any = None,
    shadow: Any = None,
) -> Report:
    """Draw the HTML + JSON report of ``result`` (a ``DriftResult``).

    ``panels`` holds, per column (features and the prediction), the numbers of its
    distribution panel; ``exact_ks_max_rows`` and ``numeric_bins`` are the drift test's
    constants the method section states. ``timeline`` (a ``DriftTimeline``) and
    ``performance`` (a ``PerformanceTimeline``) add line graphs over time; ``decision``
    (``act`` and its ``reasons``) is the policy's verdict; ``ab`` (an ``ABSummary``)
    compares the variants that answered traffic; ``shadow`` (a ``ShadowComparison``) sets the shadow
    challenger's answers beside the champion's. Each lands in the JSON under its name.
    """
    data = result.to_dict()
    if decision is not None:
        data["decision"] = decision
    if timeline is not None:
        data["timeline"] = timeline.to_dict()
    if performance is not None:
        data["performance"] = performance.to_dict()
    if ab is not None:
        data["ab"] = ab.to_dict()
    if shadow is not None:
        data["shadow"] = shadow.to_dict()
    report = Report(title=title, data=data, subtitle=subtitle)
    report.add("Summary", _summary_html(result, decision))
    ordered = _ordered(result.features) if not any(f.importance for f in result.features) else result.ranked
    report.add("Features", table_html([_row(f, result.too_small) for f in ordered], _TABLE_COLUMNS))
    if result.multivariate is not None:
        report.add("Multivariate drift", _multivariate_html(result))
    if timeline is not None and timeline.windows:
        report.add("Drift over time", _drift_timeline_html(timeline))
    if performance is not None and performance.windows:
        report.add("Performance over time", _performance_html(performance))
    if ab is not None:
        report.add("A/B test", _ab_html(ab))
    if shadow is not None:
        report.add("Shadow comparison", _shadow_html(shadow))
    if result.prediction is not None:
        pred = result.prediction
        body = table_html([_row(pred, result.too_small)], _TABLE_COLUMNS)
        body += _figures([pred], panels)
        report.add("Predictions", body)
    if ordered:
        report.add("Distributions", _figures(ordered, panels))
    report.add("Method", _method_html(result, exact_ks_max_rows, numeric_bins))
    return report


_TABLE_COLUMNS = [
    "feature",
    "kind",
    "test",
    "statistic",
    "p",
    "adjusted p",
    "PSI",
    "Wasserstein (sd)",
    "Jensen-Shannon",
    "decided by",
    "importance",
    "drifted",
    "missing (ref)",
    "missing (cur)",
    "unseen rows",
    "note",
]


def _ordered(features: list[Any]) -> list[Any]:
    # drifted first, then the effect that decides, as a multiple of its threshold (numeric and
    # categorical effects have different scales); untestable columns (effect undefined) last
    def ratio(f: Any) -> float:
        return f.effect_value / f.effect_threshold if f.effect_threshold > 0 else math.nan

    return sorted(features, key=lambda f: (not f.drifted, math.isnan(ratio(f)), -(0.0 if math.isnan(ratio(f)) else ratio(f))))


def _row(f: Any, too_small: bool) -> dict[str, Any]:
    return {
        "feature": f.column,
        "kind": f.kind,
        "test": f.test,
        "statistic": _num(f.statistic),
        "p": _num(f.p_value),
        "adjusted p": _num(f.p_value_adjusted) if f.in_family else "(not adjusted)",
        "PSI": _num(f.psi),
        "Wasserstein (sd)": _num(f.wasserstein),
        "Jensen-Shannon": _num(f.jensen_shannon),
        "decided by": f"{f.effect} >= {f.effect_threshold:g}",
        "importance": f.importance,
        "drifted": "too small to judge" if too_small else f.drifted,
        "missing (ref)": f"{f.reference_missing:.1%}",
        "missing (cur)": f"{f.current_missing:.1%}",
        "unseen rows": f.unseen_categories if f.kind == "categorical" else None,
        "note": f.note,
    }


def _num(x: float) -> float | None:
    return None if math.isnan(x) else x


def _summary_html(result: Any, decision: dict[str, Any] | None = None) -> str:
    css = "bad" if result.status == "drift" or result.too_small else "ok"
    line = f"<p class='{css}'>{html.escape(result.summary)}</p>"
    if decision is not None:
        if decision.get("act"):
            reasons = "; ".join(decision.get("reasons") or [])
            line += f"<p class='bad'>Act: {html.escape(reasons)}.</p>"
        else:
            line += "<p class='ok'>The policy says no action is needed.</p>"
    meta = (
        f"<p class='meta'>Reference: {result.reference_rows:,} rows. Current: {result.current_rows:,} rows. "
        f"Features compared: {len(result.features)}.</p>"
    )
    return line + meta


def _method_html(result: Any, exact_ks_max_rows: int, numeric_bins: int) -> str:
    p = result.policy
    return (
        "<p class='meta'>"
        "Numeric columns: two-sample Kolmogorov-Smirnov test on the non-missing values "
        f"(exact p-value up to {exact_ks_max_rows:,} rows per window, Kolmogorov's limiting distribution above) "
        f"PSI over {numeric_bins} bins cut at the reference's quantiles, and the Wasserstein distance "
        "divided by the reference's standard deviation. "
        "Categorical columns: chi-square test of homogeneity on the counts per category, missing values "
        "counted as their own category, PSI and the Jensen-Shannon distance (base 2) over the same categories. "
        f"P-values are Holm-adjusted across the features; a feature counts as drifted when its adjusted p "
        f"is below {p['p_value']} and its effect size reaches the threshold "
        f"(numeric: {p['numeric_effect']} &ge; {p[p['numeric_effect'] + '_threshold']}; "
        f"categorical: {p['categorical_effect']} &ge; {p[p['categorical_effect'] + '_threshold']}), "
        "or when a numeric column that had values in the reference has none in the current window. "
        + (
            f"Multivariate: a LightGBM classifier tells up to {p['domain_rows']:,} rows of each window apart; "
            f"a cross-validated ROC AUC of at least {p['domain_auc_threshold']} counts as drift, and each "
            "feature's importance is the AUC lost when it is shuffled on held-out rows. "
            if p.get("domain_classifier") else ""
        )
        + 
        "Predictions are judged the same way, outside the Holm family. "
        f"Windows with fewer than {p['min_rows']} rows are too small to judge."
        "</p>"
    )


def _figures(features: list[Any], panels: Mapping[str, Mapping[str, Any]]) -> str:
    charts = []
    for f in features:
        panel = panels[f.column]
        title = f"{f.column} — drifted" if f.drifted else str(f.column)
        if f.kind == "numeric":
            charts.append(overlay_panel_svg(title, reference=panel["reference"], current=panel["current"],
                                            edges=panel["edges"], bad=f.drifted, xlabel=_effect_label(f),
                                            colors=(_REF_COLOR, _CUR_COLOR)))
        else:
            charts.append(overlay_panel_svg(title, reference=list(panel["reference"]), current=list(panel["current"]),
                                            labels=[str(v) for v in panel["labels"]], bad=f.drifted,
                                            xlabel=_effect_label(f), colors=(_REF_COLOR, _CUR_COLOR)))
    legend = legend_html([("reference", _REF_COLOR, 0.5), ("current", _CUR_COLOR, 0.85)])
    return legend + panels_html(charts)


_EFFECT_NAMES = {"psi": "PSI", "wasserstein": "Wasserstein (sd)", "jensen_shannon": "Jensen-Shannon"}


def _effect_label(f: Any) -> str:
    """The effect that decides, beside its threshold: what the panel's verdict rests on."""
    name = _EFFECT_NAMES.get(f.effect, f.effect)
    if math.isnan(f.effect_value):
        return f"{name} n/a"
    return f"{name} {f.effect_value:.3g} (drift from {f.effect_threshold:g})"


_LINE_COLOR = "#4c72b0"
_EST_COLOR = "#dd8452"


def _multivariate_html(result: Any) -> str:
    mv = result.multivariate
    assert mv is not None
    if mv.auc is None:
        return f"<p class='meta'>Domain classifier: {html.escape(mv.note or 'not run')}.</p>"
    css = "bad" if mv.drifted else "ok"
    folds = ", ".join(f"{a:.3f}" for a in mv.auc_folds)
    head = (
        f"<p class='{css}'>Domain classifier ROC AUC {mv.auc:.3f} (folds {folds}; threshold {mv.threshold}): "
        + ("the windows can be told apart" + (f", mostly by {html.escape(', '.join(mv.separating))}" if mv.separating else ""))
        if mv.drifted else f"<p class='{css}'>Domain classifier ROC AUC {mv.auc:.3f} (threshold {mv.threshold}): "
        "the windows cannot be told apart"
    ) + f". Rows used: {mv.reference_rows:,} reference, {mv.current_rows:,} current.</p>"
    rows = [{"feature": c, "share of importance": s} for c, s in mv.importances]
    return head + table_html(rows, ["feature", "share of importance"])


def _drift_timeline_html(timeline: Any) -> str:
    labels = [str(w["label"]) for w in timeline.windows]
    charts = []
    for col in timeline.values:
        flagged = [bool(b) for b in timeline.drifted[col]]
        charts.append(lines_panel_svg(
            str(col), labels,
            [Series(timeline.effects[col], list(timeline.values[col]), color=_LINE_COLOR, flagged=flagged)],
            threshold=timeline.thresholds[col], ylabel=timeline.effects[col], bad=any(flagged)))
    rows = [
        {"window": w["label"], "rows": w["rows"],
         "drifted": "too small to judge" if w["too_small"] else (", ".join(w["drifted_features"]) or "none")}
        for w in timeline.windows
    ]
    note = ("<p class='meta'>One point per window of the prediction log: the effect size that decides drift for "
            "that feature (red: drifted in that window). Dashed line: the policy's threshold.</p>")
    return note + panels_html(charts) + table_html(rows, ["window", "rows", "drifted"])


def _performance_html(perf: Any) -> str:
    windows = perf.windows
    labels = [w.label for w in windows]
    metrics = list(dict.fromkeys([perf.metric, *perf.estimable]))
    with_errors = any(w.error_rate is not None for w in windows)
    charts = []
    for name in metrics:
        series = [Series("realized", [w.realized.get(name) for w in windows], color=_LINE_COLOR)]
        if name in perf.estimable:
            series.append(Series("estimated (CBPE)", [w.estimated.get(name) for w in windows], color=_EST_COLOR,
                                 dashed=True))
        threshold = perf.threshold if name == perf.metric else None
        charts.append(lines_panel_svg(name, labels, series, threshold=threshold))
    charts.append(lines_panel_svg("volume and labels", labels, [
        Series("rows", [w.rows for w in windows], color=_LINE_COLOR, bars=True, opacity=0.5),
        Series("labelled", [w.labelled for w in windows], color=_EST_COLOR, bars=True, opacity=0.9)]))
    charts.append(lines_panel_svg("latency (ms)", labels, [
        Series("p50", [w.latency_ms.get("p50") for w in windows], color=_LINE_COLOR),
        Series("p99", [w.latency_ms.get("p99") for w in windows], color=_LINE_COLOR, dashed=True)]))
    if with_errors:
        charts.append(lines_panel_svg("error rate (refused / all requests)", labels, [
            Series("error rate", [w.error_rate for w in windows], color=_BAD_COLOR)], from_zero=True))
    body = panels_html(charts)
    calib = (f"calibrated on {perf.calibration_rows:,} reference rows (isotonic)" if perf.calibrated
             else "the model's own probabilities, uncalibrated")
    body = (
        f"<p class='meta'>{perf.labelled:,} of {perf.rows:,} logged rows have a label. Realized metrics need at "
        f"least the policy's minimum of labelled rows per window. Estimated: confidence-based performance "
        f"estimation from {calib}; estimate error is the estimate on the labelled rows minus the realized value "
        f"on them.</p>" + body
    )
    rows = []
    for w in windows:
        row: dict[str, Any] = {"window": w.label, "rows": w.rows, "labelled": w.labelled}
        for m in metrics:
            row[f"{m} realized"] = w.realized.get(m)
            if m in perf.estimable:
                row[f"{m} estimated"] = w.estimated.get(m)
                row[f"{m} estimate error"] = w.estimate_error.get(m)
        row["latency p50"] = w.latency_ms.get("p50")
        row["latency p99"] = w.latency_ms.get("p99")
        row["requests"] = w.requests
        row["errors"] = w.errors
        row["error rate"] = w.error_rate
        rows.append(row)
    body += table_html(rows)
    groups = [
        {"version": g.version, "variant": g.variant, "rows": g.rows, "labelled": g.labelled,
         f"{perf.metric} realized": g.realized, f"{perf.metric} estimated": g.estimated,
         "latency p50": g.latency_ms.get("p50"), "latency p90": g.latency_ms.get("p90"),
         "latency p99": g.latency_ms.get("p99"), "requests": g.requests, "errors": g.errors,
         "error rate": g.error_rate}
        for g in perf.groups
    ]
    body += "<p class='meta'>Per model version and variant, over the whole log:</p>" + table_html(groups)
    if all(g.requests is None for g in perf.groups) and all(w.requests is None for w in windows):
        body += "<p class='meta'>Error rate: the log's error records were not read, so none is reported.</p>"
    elif all(w.requests is None for w in windows):
        body += ("<p class='meta'>Error rate: the error records have no readable time, so they are counted per "
                 "model version and variant above but placed in no window.</p>")
    else:
        body += ("<p class='meta'>Error rate: requests the server refused (its error records in the log) over all "
                 "its requests, answered or refused; shadow copies and batch scoring are not counted. A refusal "
                 "that came before any model was chosen (an unreadable body, a limit) has no version nor variant. "
                 "Empty where a window or group holds no server request.</p>")
    return _feedback_html(perf) + body


def _feedback_html(perf: Any) -> str:
    """The self-reinforcing-feedback warning and the holdout rows' own performance."""
    out = ""
    if perf.label_bias:
        out += f"<p class='bad'>Warning: {html.escape(perf.label_bias)}.</p>"
    h = perf.holdout
    if h is not None:
        out += (f"<p class='meta'>Feedback holdout: {h.rows:,} rows answered with the training prior, {h.labelled:,} "
                "labelled. The model's own predictions on them, beside those on the labelled rows it decided:</p>")
        rows = [{"rows": "holdout (model did not decide)", "labelled": h.labelled, **h.realized},
                {"rows": "decided by the model", "labelled": h.decided_labelled, **h.decided_realized}]
        out += table_html(rows)
        if h.note:
            out += f"<p class='meta'>{html.escape(h.note)}</p>"
    return out


def _ab_html(ab: Any) -> str:
    rows = []
    for v in ab.variants:
        row: dict[str, Any] = {"variant": v.variant, "versions": ", ".join(v.versions), "requests": v.requests,
                               "rows": v.rows, "labelled": v.labelled, ab.metric: v.metric}
        row.update(v.errors)
        rows.append(row)
    out = table_html(rows)
    for c in ab.comparisons:
        css = "ok" if c.verdict != "not_enough_labels" else "meta"
        out += f"<p class='{css}'>{html.escape(c.variant)} vs {html.escape(c.baseline)}: {html.escape(c.detail)}.</p>"
    if ab.excluded.get("shadow") or ab.excluded.get("holdout"):
        out += (f"<p class='meta'>Left out: {ab.excluded.get('shadow', 0):,} shadow rows (never returned) and "
                f"{ab.excluded.get('holdout', 0):,} holdout rows (answered with the prior).</p>")
    return out


def _shadow_html(shadow: Any) -> str:
    from tabloop.report._svg import histogram_svg

    agreement = None if shadow.agreement is None else round(shadow.agreement, 4)
    row: dict[str, Any] = {"champion": ", ".join(f"v{v}" for v in shadow.champion_versions),
                           "challenger": f"v{shadow.challenger_version}", "rows compared": shadow.rows,
                           "requests": shadow.requests, "agreement": agreement, "labelled": shadow.labelled}
    if shadow.realized is not None:
        row[f"{shadow.metric} champion"] = round(shadow.realized["champion"], 4)
        row[f"{shadow.metric} challenger"] = round(shadow.realized["challenger"], 4)
        row["p"] = shadow.realized["test"]["p_value"]
    out = table_html([row])
    out += f"<p class='meta'>Agreement: {html.escape(shadow.agreement_basis)}.</p>"
    diff = shadow.differences
    if diff.get("rows"):
        q = diff["quantiles"]
        out += (f"<p>Challenger minus champion, {html.escape(str(diff['of']))}: mean {diff['mean']:+.4g}, mean absolute "
                f"{diff['mean_abs']:.4g}, median {q['p50']:+.4g}, 5-95% {q['p5']:+.4g} to {q['p95']:+.4g}.</p>")
        out += histogram_svg(diff["histogram"]["edges"], diff["histogram"]["counts"],
                             label=f"challenger minus champion: {diff['of']}")
    if shadow.disagreements:
        out += table_html(shadow.disagreements[:10])
    css = "ok" if shadow.verdict == "challenger_better" else "meta"
    out += f"<p class='{css}'>{html.escape(shadow.detail)}.</p>"
    if shadow.unpaired:
        out += f"<p class='meta'>{shadow.unpaired:,} shadow rows had no champion answer in the log to pair with.</p>"
    if shadow.unshadowed:
        out += (f"<p class='meta'>{shadow.unshadowed:,} rows answered since the challenger's first shadow copy have "
                "none (dropped under load, refused by its contract, or failed: tabloop_shadow_total counts why).</p>")
    return out
