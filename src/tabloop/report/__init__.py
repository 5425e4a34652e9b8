"""Presentation (layer 6): every HTML document tabloop writes or serves, and all of its matplotlib.

The stage packages compute numbers; this layer draws them. ``Report`` is one
self-contained HTML document (styles inline, plots inline as PNG or SVG) with the same numbers
as JSON; one module per report (profile, evaluation, training leaderboard, monitoring)
turns plain data or a stage's dataclasses into one; ``dashboard_html`` is the live page
``tabloop serve`` shows at ``/dashboard``. Styles, the page and its script are package
data (``assets/``). It sits below every stage so that each may import it, and imports
none of them: what it draws is handed in. matplotlib is imported on the first PNG figure; the
profile and monitoring reports draw SVG (``_svg``, ``_svg_panels``) and never load it.
"""

from typing import TYPE_CHECKING

from tabloop._lazy import exports

# imported on first use (see tabloop._lazy): a command pays only for the libraries it needs
if TYPE_CHECKING:
    from tabloop.report._dashboard_page import dashboard_html
    from tabloop.report._document import Report, table_html
    from tabloop.report._evaluation_report import evaluation_report
    from tabloop.report._figures import figure_to_html, plot_label
    from tabloop.report._findings_section import LEAKAGE_HEADING, findings_html
    from tabloop.report._model_card import model_card
    from tabloop.report._monitor_report import monitor_report
    from tabloop.report._profile_report import profile_report
    from tabloop.report._training_report import leaderboard_report

__getattr__, __dir__ = exports(__name__, __file__)

__all__ = [
    "LEAKAGE_HEADING",
    "dashboard_html",
    "evaluation_report",
    "figure_to_html",
    "findings_html",
    "leaderboard_report",
    "model_card",
    "monitor_report",
    "plot_label",
    "profile_report",
    "Report",
    "table_html",
]
