"""The live dashboard's page: one self-contained HTML document drawing ``/dashboard/data``.

The page, its stylesheet and its script are package data (``assets/dashboard.html``,
``dashboard.css``, ``dashboard.js``), inlined into one document: no CDN, no fetch but
its own data. A strict Content-Security-Policy lets the page run only its own inline
script and style (pinned by their SHA-256) and talk only to its own origin.

Every number drawn is also written, unrounded, into data-value attributes: on each point
(circle) and in a visually hidden table per chart, which screen readers and tests read;
the visible labels are rounded for the eye only.

Keys: the page holds no data. When the data answers 401 or 403 the page asks for the
key, keeps it in ``sessionStorage`` (this tab only, gone when it closes) and sends it as
``X-API-Key``; the key never travels in a URL, so no access log, history or Referer holds it.
"""

from __future__ import annotations

import base64
import hashlib

from tabloop.report._assets import asset_text

__all__ = ["DEFAULT_REFRESH_S", "dashboard_html"]

#: seconds between the page's refreshes unless the server says otherwise
DEFAULT_REFRESH_S = 5.0


def dashboard_html(*, refresh_s: float = DEFAULT_REFRESH_S) -> tuple[str, str]:
    """The page (inline CSS and script only) and the Content-Security-Policy that lets exactly those run."""
    style = asset_text("dashboard.css")
    script = asset_text("dashboard.js").replace("__REFRESH_MS__", str(int(refresh_s * 1000)))
    page = asset_text("dashboard.html").replace("{style}", style, 1).replace("{script}", script, 1)
    return page, _csp(style, script)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _csp(style: str, script: str) -> str:
    # only this page's own inline script and style may run, and it may talk to its own origin only
    return (
        f"default-src 'none'; script-src {_sha256(script)}; style-src {_sha256(style)}; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
