"""The training report: the leaderboard, how the winner was chosen, the time budget, the search and importances."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from tabloop.report._document import Report, table_html
from tabloop.report._figures import figure_to_html, plot_label, subplots
from tabloop.report._findings_section import LEAKAGE_HEADING, findings_html

__all__ = ["leaderboard_report"]


def leaderboard_report(data: dict[str, Any], *, title: str) -> Report:
    """The leaderboard as HTML (table and plots) with the same numbers as JSON."""
    metric = data["metric"]
    higher = data.get("greater_is_better", True)
    report = Report(title=title, data=data, subtitle=f"winner: {data['winner']} ({data['rule']})")
    for warning in data.get("warnings") or []:
        report.add("Warning", f"<p class='bad'>{html.escape(str(warning))}</p>")
    if data.get("findings"):
        report.add("Findings about the data", findings_html(data["findings"], none="Nothing found that needs acting on."))
    if "leakage" in data:  # absent when the checks did not run (a retraining set)
        report.add(LEAKAGE_HEADING, findings_html(data["leakage"], none=(
            "No column of the training part predicts the target too well alone (copies, identifiers, timestamps, "
            "gaps, the row order) and no classifier tells the test part from it.")))
    rows = []
    for c in data["leaderboard"]:
        row = {"candidate": c["name"], "status": c["status"], "trials": c.get("trials", 0),
               "fit s": round(c["fit_seconds"], 2),
               "predict ms/row": round(c.get("predict_seconds_per_row", 0.0) * 1000, 4),
               "size KB": round(c.get("model_bytes", 0) / 1024, 1)}
        for m, s in c["metrics"].items():
            low, high = (c.get("ci95") or {}).get(m) or (None, None)
            shown = f"{s['mean']:.4f} ± {s['std']:.4f}"
            row[m] = shown if low is None or low != low else f"{shown} [{low:.4f}, {high:.4f}]"
        row["note"] = c["note"]
        rows.append(row)
    validation = data.get("validation") or f"{data.get('folds', '?')} folds"
    report.add(f"Leaderboard (validation on the training part: {validation}; mean ± sd over its folds, or a "
               "holdout's parts, and a 95% interval of the mean: a t interval whose variance is corrected for the "
               "training rows the folds share, Nadeau and Bengio 2003)", table_html(rows))
    report.add("How the winner was chosen", (
        f"<p>Rule: <b>the simplest candidate whose mean {html.escape(metric)} is within one standard error of "
        f"the best mean, the standard error of the paired per-fold differences between the two</b> (both are "
        f"scored on the same folds, so a fold that is hard for every model cancels out; sd of the differences "
        f"/ &radic;n, n the independent scores: the folds of one repeat, or a holdout's parts). An ensemble is "
        f"the most complex candidate, so it wins only when it beats the best single model by more than the "
        f"standard error of their paired differences. Winner: <b>{html.escape(str(data['winner']))}"
        f"</b> &mdash; {html.escape(str(data['rule']))}.</p><p class='meta'>search: {len(data.get('trials', []))} "
        f"trials in study {html.escape(str(data.get('study', '')))}; stopped: "
        f"{html.escape(str(data.get('stopped_because', '')))}</p>"))
    spent = data.get("time") or {}
    if spent:
        after = spent.get("estimated_after_search", {})
        report.add("Time budget", (
            f"<p>{spent['budget_seconds']:g}s for the whole command, from its start to the registered model; "
            f"{spent['wall_seconds']:.1f}s had passed by the end of the last phase below; registration (estimated "
            f"at {after.get('register', 0.0):.1f}s) was under way when this report was written.</p>"
            + table_html([{"phase": k, "seconds": round(v, 2)} for k, v in spent["spent"].items()])
            + "".join(f"<p class='bad'>{html.escape(n)}</p>" for n in spent.get("notes", []))))
    ok = [c for c in data["leaderboard"] if c["status"] == "ok"]
    if ok:
        fig, ax = subplots((6, 0.5 * len(ok) + 1.2))
        names = [c["name"] for c in ok]
        means = [c["metrics"][metric]["mean"] for c in ok]
        stds = [c["metrics"][metric]["std"] for c in ok]
        ax.barh(names, means, xerr=stds, color=["#dd8452" if n == data["winner"] else "#4c72b0" for n in names])
        ax.set_xlabel(f"{metric} (mean ± sd over validation splits)")
        report.add("Metric by candidate", figure_to_html(fig, "metric by candidate"))
        fig, ax = subplots((6, 3))
        for c in ok:
            ax.plot(np.arange(1, len(c["fold_scores"][metric]) + 1), c["fold_scores"][metric], marker="o", label=c["name"])
        ax.set_xlabel("fold")
        ax.set_ylabel(metric)
        ax.legend(fontsize="small")
        report.add("Scores by fold", figure_to_html(fig, "scores by fold"))
    trials = [t for t in data.get("trials", []) if t.get("value") is not None]
    if trials:
        report.add("Learning curve of the search", figure_to_html(_learning_curve(trials, metric, higher),
                                                                  "best score vs trial"))
        report.add("Metric by family (every trial)", figure_to_html(_by_family(trials, metric), "metric by family"))
        shown = sorted(data["trials"], key=lambda t: t["number"])[-200:]
        report.add("Trials", table_html([
            {"trial": t["number"], "candidate": t["name"], "state": t["state"],
             metric: None if t.get("value") is None else round(t["value"], 4), "s": round(t.get("seconds", 0.0), 2),
             "params": ", ".join(f"{k}={_short(v)}" for k, v in t["params"].items()), "note": t.get("note", "")}
            for t in shown]))
    importance = data.get("importance") or {}
    if importance:
        top = list(importance.items())[:20]
        fig, ax = subplots((6, 0.3 * len(top) + 1.2))
        ax.barh([plot_label(k) for k, _ in top][::-1], [v for _, v in top][::-1], color="#4c72b0")
        ax.set_xlabel(f"drop in {metric} when the column is shuffled")
        report.add(f"Feature importance of the winner ({data['winner']}; permutation, training sample)",
                   figure_to_html(fig, "feature importance"))
    return report


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _learning_curve(trials: list[dict[str, Any]], metric: str, higher: bool) -> Any:
    trials = sorted(trials, key=lambda t: t["number"])
    xs, ys, best = [], [], None
    for t in trials:
        if t["state"] != "complete":
            continue
        v = t["value"]
        best = v if best is None or (v > best if higher else v < best) else best
        xs.append(t["number"])
        ys.append(best)
    fig, ax = subplots((6, 3))
    ax.scatter([t["number"] for t in trials], [t["value"] for t in trials], s=10, color="#999999", label="trial")
    ax.step(xs, ys, where="post", color="#dd8452", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.legend(fontsize="small")
    return fig


def _by_family(trials: list[dict[str, Any]], metric: str) -> Any:
    names = sorted({t["name"] for t in trials})
    fig, ax = subplots((6, 0.45 * len(names) + 1.2))
    for i, n in enumerate(names):
        vals = [t["value"] for t in trials if t["name"] == n]
        ax.scatter(vals, [i] * len(vals), s=14, alpha=0.7)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel(f"{metric} (CV mean of each trial)")
    return fig
