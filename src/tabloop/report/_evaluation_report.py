"""The evaluation report: metrics with intervals and baseline, the decision threshold in a sentence, the
confusion matrix, ROC, precision-recall and calibration curves (regression: predicted against actual and
the residuals), slices, the most confidently wrong rows, permutation importance and SHAP values."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import numpy as np

from tabloop.report._document import Report, table_html
from tabloop.report._figures import figure_to_html, plot_label, subplots

__all__ = ["evaluation_report", "interval_text"]

#: features shown in the importance plots, at most
TOP_FEATURES = 15


def interval_text(ci: list[float] | None) -> str:
    return "" if not ci else f"[{ci[0]:.4g}, {ci[1]:.4g}]"


def _metrics_table(data: Mapping[str, Any]) -> str:
    intervals, baseline = data.get("intervals") or {}, data.get("baseline") or {}
    rows = []
    for name, value in data["metrics"].items():
        row: dict[str, Any] = {"metric": name + (" (spec)" if name == data.get("metric") else ""), "value": value}
        if intervals:
            row["95% interval"] = interval_text(intervals.get(name))
        if baseline:
            row["baseline"] = baseline.get(name)
        rows.append(row)
    note = ""
    if intervals:
        note += f"<p class='meta'>intervals: percentile bootstrap, {data.get('resamples', 0)} resamples of the rows"
    if baseline:
        note += ("; " if note else "<p class='meta'>") + ("baseline: a model without features (the training part's "
                                                          "class shares, or its mean)")
    return table_html(rows) + (note + "</p>" if note else "")


def _decision(data: Mapping[str, Any]) -> str:
    d = data["decision"]
    parts = [f"<p><b>{html.escape(d['sentence'][0].upper() + d['sentence'][1:])}.</b></p>"]
    parts += [f"<p class='meta'>{html.escape(n)}</p>" for n in d.get("notes", [])]
    ci = d.get("intervals") or {}
    rows = [
        {"": "flagged", "value": d["flagged"], "95% interval": interval_text(ci.get("flagged"))},
        {"": "missed true cases", "value": d["missed"], "95% interval": interval_text(ci.get("missed"))},
        {"": "false negative rate", "value": d["false_negative_rate"],
         "95% interval": interval_text(ci.get("false_negative_rate"))},
        {"": "false positive rate", "value": d["false_positive_rate"],
         "95% interval": interval_text(ci.get("false_positive_rate"))},
    ]
    per = "a day" if d.get("daily_volume") is not None else f"per {d['per']:,.0f} cases"
    parts.append(table_html(rows) + f"<p class='meta'>counts {per}; test part: {d['true_positives']} true positives, "
                 f"{d['false_positives']} false positives, {d['false_negatives']} false negatives, "
                 f"{d['true_negatives']} true negatives at threshold {d['threshold']:.4g} ({d['rule']})</p>")
    curve = d.get("curve") or {}
    if curve.get("threshold"):
        fig, ax = subplots((5, 3.2))
        ax.plot(curve["threshold"], curve["flagged_share"], label="share flagged")
        if curve.get("false_negative_rate"):
            ax.plot(curve["threshold"], curve["false_negative_rate"], label="false negative rate")
        if curve.get("false_positive_rate"):
            ax.plot(curve["threshold"], curve["false_positive_rate"], label="false positive rate")
        ax.axvline(d["threshold"], color="grey", linestyle="--")
        ax.set_xlabel("threshold")
        ax.set_ylim(0, 1)
        ax.legend(loc="upper right", fontsize=8)
        parts.append(figure_to_html(fig, "rates against the threshold"))
    return "".join(parts)


def _confusion(data: Mapping[str, Any]) -> str:
    labels = [str(c) for c in data.get("classes") or []] or [str(i) for i in range(len(data["confusion_matrix"]))]
    rows = [{"actual \\ predicted": labels[i], **{labels[j]: n for j, n in enumerate(r)}}
            for i, r in enumerate(data["confusion_matrix"])]
    fig, ax = subplots((3.5, 3))
    cm = np.asarray(data["confusion_matrix"])
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), [plot_label(lbl) for lbl in labels])
    ax.set_yticks(range(len(labels)), [plot_label(lbl) for lbl in labels])
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    for (i, j), n in np.ndenumerate(cm):
        ax.text(j, i, str(n), ha="center", va="center", color="white" if n > cm.max() / 2 else "black")
    return table_html(rows) + figure_to_html(fig, "confusion matrix")


def _curve(x: list[float], y: list[float], *, xlabel: str, ylabel: str, label: str, diagonal: bool,
           alt: str, step: bool = False) -> str:
    fig, ax = subplots((4, 4))
    if step:
        ax.step(x, y, where="post", label=label)
    else:
        ax.plot(x, y, marker="o" if len(x) <= 20 else None, label=label)
    if diagonal:
        ax.plot([0, 1], [0, 1], "--", color="grey")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower right" if diagonal else "lower left", fontsize=8)
    return figure_to_html(fig, alt)


def _regression_plots(report: Report, data: Mapping[str, Any]) -> None:
    points = data["predictions"]
    actual, predicted = np.asarray(points["actual"]), np.asarray(points["predicted"])
    if not actual.size:
        return
    fig, ax = subplots((4.5, 4.5))
    ax.scatter(actual, predicted, s=8, alpha=0.5)
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    ax.plot([low, high], [low, high], "--", color="grey")
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    report.add("Predicted against actual", figure_to_html(fig, "predicted against actual"))
    fig, axes = subplots((9, 3.5), 1, 2)
    residual = actual - predicted
    axes[0].scatter(predicted, residual, s=8, alpha=0.5)
    axes[0].axhline(0, color="grey", linestyle="--")
    axes[0].set_xlabel("predicted")
    axes[0].set_ylabel("residual (actual - predicted)")
    axes[1].hist(residual, bins=30)
    axes[1].set_xlabel("residual")
    axes[1].set_ylabel("rows")
    report.add("Residuals", figure_to_html(fig, "residuals"))


def _slices(groups: list[dict[str, Any]]) -> str:
    parts = []
    for group in groups:
        metric = group["metric"]
        rows = []
        for s in group["slices"]:
            row: dict[str, Any] = {"slice": s["slice"], "rows": s["rows"]}
            for name, value in s["metrics"].items():
                row[name] = value
                if s["intervals"].get(name):
                    row[f"{name} 95%"] = interval_text(s["intervals"][name])
            row[f"gap in {metric}"] = s.get("gap")
            row["gap 95%"] = interval_text(s.get("gap_interval"))
            row["too small to judge"] = s["too_small"]
            rows.append(row)
        columns = list(dict.fromkeys(k for r in rows for k in r))
        parts.append(f"<h3>{html.escape(group['column'])} ({html.escape(group['cut'])})</h3>"
                     f"<p>{html.escape(group['summary'])}</p>" + _wide(table_html(rows, columns)))
    return "".join(parts)


def _wide(table: str) -> str:
    """A table with many columns scrolls sideways inside the page instead of widening it."""
    return f"<div style='overflow-x:auto'>{table}</div>"


def _errors(rows: list[dict[str, Any]]) -> str:
    flat = []
    for r in rows:
        head = {k: v for k, v in r.items() if k != "features"}
        flat.append({**head, **{f"[{k}]" if k in head else k: v for k, v in r["features"].items()}})
    columns = list(dict.fromkeys(k for r in flat for k in r))
    return _wide(table_html(flat, columns)) + "<p class='meta'>row: position in the held-out test part</p>"


def _bars(names: list[str], values: list[float], *, xlabel: str, alt: str, errors: list[float] | None = None) -> str:
    fig, ax = subplots((5.5, 0.3 * len(names) + 1))
    ax.barh(range(len(names)), values, xerr=errors, color="#4c72b0")
    ax.set_yticks(range(len(names)), [plot_label(n) for n in names])
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    return figure_to_html(fig, alt)


def _importance(report: Report, importance: Mapping[str, Any], metric: str) -> None:
    perm = list(importance.get("permutation") or [])[:TOP_FEATURES]
    if perm:
        body = _bars([p["feature"] for p in perm], [p["mean"] for p in perm], errors=[p["std"] for p in perm],
                     xlabel=f"drop in {metric} when shuffled", alt="permutation importance")
        report.add("Permutation importance", body + table_html(perm))
    shap = importance.get("shap") or {}
    if shap.get("features"):
        top = shap["features"][:TOP_FEATURES]
        body = _bars([f["feature"] for f in top], [f["mean_abs"] for f in top], xlabel="mean |SHAP value|",
                     alt="SHAP values")
        report.add("SHAP values", body + f"<p class='meta'>{html.escape(str(shap.get('method')))}, "
                   f"{shap.get('rows')} rows; one-hot columns summed into their input</p>")
    elif shap.get("note"):
        report.add("SHAP values", f"<p class='meta'>{html.escape(shap['note'])}</p>")


def evaluation_report(result: Mapping[str, Any], *, title: str, subtitle: str = "") -> Report:
    """Draw an evaluation's numbers (``EvaluationResult.to_dict()``); the JSON is that dict."""
    data = dict(result)
    report = Report(title=title, data=data, subtitle=subtitle)
    report.add("Metrics", _metrics_table(data)
               + "".join(f"<p class='meta'>{html.escape(n)}</p>" for n in data.get("notes") or []))
    if data.get("decision") is not None:
        report.add("Decision threshold", _decision(data))
    if data.get("cost") is not None:
        threshold = data.get("threshold")
        note = "highest probability" if threshold is None else f"{threshold:.3f}"
        report.add("Cost of mistakes", table_html([data["cost"]]) + f"<p class='meta'>decision threshold {note}</p>")
    if data.get("confusion_matrix") is not None:
        report.add("Confusion matrix", _confusion(data))
    metrics = data["metrics"]
    roc = data.get("roc_curve")
    if roc is not None:
        report.add("ROC curve", _curve(roc["fpr"], roc["tpr"], xlabel="false positive rate", ylabel="true positive rate",
                                       label=f"AUC {metrics.get('roc_auc') or 0:.3f}", diagonal=True, alt="ROC curve"))
    pr = data.get("pr_curve")
    if pr is not None:
        report.add("Precision-recall curve", _curve(
            pr["recall"], pr["precision"], xlabel="recall", ylabel="precision", diagonal=False, step=True,
            label=f"average precision {metrics.get('average_precision') or 0:.3f}", alt="precision-recall curve"))
    calibration = data.get("calibration")
    if calibration is not None:
        top = calibration.get("of") == "top class"
        report.add("Calibration", _curve(
            calibration["predicted"], calibration["observed"],
            xlabel="probability of the model's answer" if top else "mean predicted probability",
            ylabel="share of answers right" if top else "observed share of positives", diagonal=True,
            label=f"Brier {metrics.get('brier') or 0:.3f}", alt="calibration curve")
            + "<p class='meta'>10 bins of the predicted probability" + (" of the class the model answers" if top else "")
            + f" (rows per bin: {', '.join(str(n) for n in calibration.get('rows', []))}); on the diagonal, a predicted "
            "30% comes true 30% of the time</p>")
    if data.get("predictions") is not None:
        _regression_plots(report, data)
    if data.get("slices"):
        report.add("Slices", _slices(data["slices"]))
    if data.get("confident_errors"):
        kind = "largest errors" if data["task"] == "regression" else "most confidently wrong"
        report.add(f"Test rows: {kind}", _errors(data["confident_errors"]))
    if data.get("importance"):
        _importance(report, data["importance"], data["metric"])
    return report
