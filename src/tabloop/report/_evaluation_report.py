"""The evaluation report: metrics, the cost of mistakes, the confusion matrix and the ROC curve."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tabloop.report._document import Report, table_html
from tabloop.report._figures import figure_to_html, plot_label, subplots

__all__ = ["evaluation_report"]


def evaluation_report(result: Mapping[str, Any], *, title: str, subtitle: str = "") -> Report:
    """Draw an evaluation's numbers (``EvaluationResult.to_dict()``); the JSON is that dict."""
    data = dict(result)
    report = Report(title=title, data=data, subtitle=subtitle)
    report.add("Metrics", table_html([{"metric": k, "value": v} for k, v in data["metrics"].items()]))
    if data.get("cost") is not None:
        threshold = data.get("threshold")
        note = "highest probability" if threshold is None else f"{threshold:.3f}"
        report.add("Cost of mistakes", table_html([data["cost"]]) + f"<p class='meta'>decision threshold {note}</p>")
    if data.get("confusion_matrix") is not None:
        labels = [str(c) for c in data.get("classes") or []]
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
            ax.text(j, i, str(n), ha="center", va="center", color="black")
        report.add("Confusion matrix", table_html(rows) + figure_to_html(fig, "confusion matrix"))
    roc = data.get("roc_curve")
    if roc is not None:
        fig, ax = subplots((4, 4))
        ax.plot(roc["fpr"], roc["tpr"], label=f"AUC {data['metrics'].get('roc_auc') or 0:.3f}")
        ax.plot([0, 1], [0, 1], "--", color="grey")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend(loc="lower right")
        report.add("ROC curve", figure_to_html(fig, "ROC curve"))
    return report
