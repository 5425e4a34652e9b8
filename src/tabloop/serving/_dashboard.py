"""``GET /dashboard``: a live page drawing the monitoring figures from the prediction log.

The serving layer cannot import ``tabloop.monitoring`` (they are siblings), so the
numbers come from a provider the caller hands to ``create_app``: a function of the
champion's bundle returning the dashboard JSON (``tabloop.api`` builds it from the
monitor's own functions). ``/dashboard/data`` answers that JSON, recomputed at most
every ``ttl_s`` seconds so that a page refreshing in several tabs does not re-run
the drift tests on every hit; ``/dashboard`` is one self-contained HTML page (inline
script and SVG, no CDN, no fetch but its own data) that draws it and refreshes.

Keys: the page itself holds no data and is served to anyone, because a browser
cannot put a header on a plain navigation; ``/dashboard/data`` needs the ``control``
scope once keys are configured. When the data answers 401 or 403 the page asks for
the key, keeps it in ``sessionStorage`` (this tab only, gone when it closes) and
sends it as ``X-API-Key``; the key never travels in a URL, so no access log,
history or Referer holds it. A strict Content-Security-Policy lets the page run
only its own inline script and talk only to its own origin.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from tabloop.errors import TabloopError
from tabloop.serving._errors import InternalError
from tabloop.bundle import ModelBundle

__all__ = [
    "DASHBOARD_TTL_S",
    "DashboardCache",
    "DashboardProvider",
    "dashboard_html",
    "install_dashboard",
    "server_counters",
]

#: what the caller provides: the champion's bundle -> the dashboard JSON (plain, JSON-safe types)
DashboardProvider = Callable[[ModelBundle], dict[str, Any]]
#: seconds a computed dashboard is reused; the page refreshes at the same pace
DASHBOARD_TTL_S = 5.0


class DashboardCache:
    """Calls ``provider`` at most once per ``ttl_s`` seconds for the same model version.

    Callers that arrive while it computes wait for that result instead of starting
    their own: the drift tests over every window are the expensive part. A failed
    computation is not kept, so the next hit tries again.
    """

    def __init__(
        self, provider: DashboardProvider, ttl_s: float = DASHBOARD_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not ttl_s >= 0:
            raise ValueError(f"ttl_s must be zero or more, got {ttl_s}")
        self.provider = provider
        self.ttl_s = ttl_s
        self.clock = clock
        self.computed = 0
        self._lock = threading.Lock()
        self._key: tuple[str | None, str | None] | None = None
        self._at = 0.0
        self._value: dict[str, Any] | None = None

    def get(self, bundle: ModelBundle) -> dict[str, Any]:
        key = (bundle.name, bundle.version)
        with self._lock:
            now = self.clock()
            if self._value is not None and self._key == key and now - self._at < self.ttl_s:
                return self._value
            value = dict(self.provider(bundle))
            value["generated_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
            value["model"] = {"name": bundle.name, "version": bundle.version, "task": bundle.task}
            value["refresh_s"] = self.ttl_s
            self._key, self._at, self._value = key, now, value
            self.computed += 1
            return value


def server_counters(requests: int, rows: int, errors: Mapping[str, int]) -> dict[str, Any]:
    """This process's own figures since it started: requests answered, refused (any 4xx/5xx) and their share.

    The error rate over time comes from the prediction log's error records (every worker,
    every restart, predicting routes only); these counters are this process's alone and
    also count what the log leaves out: refusals on other routes, auth rejections and
    answers lost to an unwritable log.
    """
    refused = int(sum(errors.values()))
    total = requests + refused
    return {"requests": int(requests), "rows": int(rows), "errors": refused,
            "errors_by_code": {str(k): int(v) for k, v in sorted(errors.items())},
            "error_rate": refused / total if total else None}


def install_dashboard(
    app: FastAPI,
    provider: DashboardProvider,
    *,
    champion: Callable[[], ModelBundle],
    live: Callable[[], dict[str, Any]],
    ttl_s: float = DASHBOARD_TTL_S,
) -> DashboardCache:
    """Add ``GET /dashboard`` and ``GET /dashboard/data`` to ``app``.

    ``champion`` gives the bundle served now (so the page follows hot swaps) and
    ``live`` this process's own counters, which are read on every hit, never cached.
    """
    cache = DashboardCache(provider, ttl_s)
    page, csp = dashboard_html(refresh_s=max(ttl_s, 1.0))
    headers = {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }

    @app.get("/dashboard", summary="Live monitoring dashboard (HTML; draws /dashboard/data)", response_class=Response)
    async def dashboard_page() -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=headers)

    @app.get("/dashboard/data", summary="The live dashboard's numbers: monitoring timelines over the prediction log")
    async def dashboard_data() -> Response:
        bundle = champion()
        try:
            data = await run_in_threadpool(cache.get, bundle)
        except TabloopError:
            raise
        except Exception as exc:
            raise InternalError("the dashboard could not be computed from the prediction log") from exc
        body = orjson.dumps({**data, "server": live()}, option=orjson.OPT_SERIALIZE_NUMPY)
        return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})

    app.state.dashboard = cache
    return cache


def dashboard_html(*, refresh_s: float = DASHBOARD_TTL_S) -> tuple[str, str]:
    """The page (inline CSS and script only) and the Content-Security-Policy that lets exactly those run."""
    script = _SCRIPT.replace("__REFRESH_MS__", str(int(refresh_s * 1000)))
    return _PAGE.format(style=_STYLE, script=script), _csp(script)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1240px;padding:16px;color:#222}
h1{font-size:20px;margin:0 0 4px}
.meta{color:#666;font-size:13px;margin:2px 0}
.bad{color:#b00020}
#summary{display:flex;gap:24px;flex-wrap:wrap;margin:12px 0}
#summary div{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:120px}
#summary dt{font-size:12px;color:#666}
#summary dd{margin:0;font-size:20px;font-weight:600}
#charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(580px,1fr));gap:16px}
figure{margin:0;border:1px solid #e4e4e4;border-radius:6px;padding:8px}
figcaption{font-size:14px;font-weight:600}
figcaption small{font-weight:400;color:#666}
svg text{font-size:11px;fill:#444}
.legend span{font-size:12px;margin-right:12px}
.legend b{display:inline-block;width:14px;height:3px;vertical-align:middle;margin-right:4px}
h2{font-size:16px;grid-column:1/-1;margin:12px 0 0}
.visually-hidden{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
form{margin:8px 0;font-size:13px}
"""

# every number drawn is also written, unrounded, into data-value attributes: on each
# point (circle) and in a visually hidden table per chart, which screen readers and
# tests read; the visible labels are rounded for the eye only
_SCRIPT = r"""
(function () {
  "use strict";
  var REFRESH_MS = __REFRESH_MS__;
  var KEY = "tabloop.dashboard.key";
  var SVGNS = "http://www.w3.org/2000/svg";
  var COLORS = ["#4c72b0", "#dd8452", "#55a868", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974"];
  var BAD = "#b00020";
  var W = 560, H = 210, L = 56, R = 12, T = 10, B = 44;
  var timer = null, refreshes = 0;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  function sv(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs || {}) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  function isNum(v) { return typeof v === "number" && isFinite(v); }
  function raw(v) { return isNum(v) ? String(v) : ""; }
  function fmt(v, pct) {
    if (!isNum(v)) { return "n/a"; }
    if (pct) { return (v * 100).toFixed(1) + "%"; }
    if (Number.isInteger(v)) { return String(v); }
    var a = Math.abs(v);
    return a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toPrecision(3);
  }

  // one line chart over the windows: series [{name, values, drifted?}], lines [{name, value}]
  function chart(id, title, sub, labels, series, lines, opts) {
    opts = opts || {};
    var fig = el("figure", {"data-chart": id});
    var cap = el("figcaption", {}, title + " ");
    if (sub) { cap.appendChild(el("small", {}, sub)); }
    fig.appendChild(cap);
    var all = [];
    series.forEach(function (s) { s.values.forEach(function (v) { if (isNum(v)) { all.push(v); } }); });
    lines.forEach(function (l) { if (isNum(l.value)) { all.push(l.value); } });
    var svg = sv("svg", {viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img",
                         "aria-label": title});
    var n = labels.length;
    var lo = all.length ? Math.min.apply(null, all) : 0, hi = all.length ? Math.max.apply(null, all) : 1;
    if (opts.zero) { lo = Math.min(lo, 0); }
    if (hi === lo) { hi = lo + (Math.abs(lo) || 1) * 0.1; lo = lo - (Math.abs(lo) || 1) * 0.1; }
    var pad = (hi - lo) * 0.08; hi += pad; if (!(opts.zero && lo === 0)) { lo -= pad; }
    function x(i) { return L + (n <= 1 ? (W - L - R) / 2 : i * (W - L - R) / (n - 1)); }
    function y(v) { return T + (H - T - B) * (1 - (v - lo) / (hi - lo)); }
    svg.appendChild(sv("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999"}));
    svg.appendChild(sv("line", {x1: L, y1: T, x2: L, y2: H - B, stroke: "#999"}));
    for (var t = 0; t <= 4 && all.length; t++) {
      var tv = lo + (hi - lo) * t / 4;
      svg.appendChild(sv("line", {x1: L, y1: y(tv), x2: W - R, y2: y(tv), stroke: "#eee"}));
      svg.appendChild(sv("text", {x: L - 4, y: y(tv) + 4, "text-anchor": "end"}, fmt(tv, opts.pct)));
    }
    // windows cut by rows can start in the same minute: number them so the axis stays readable
    var repeated = labels.some(function (lab, i) { return labels.indexOf(lab) !== i; });
    var step = Math.max(1, Math.ceil(n / 6));
    for (var i = 0; i < n; i += step) {
      var anchor = n > 1 && i === 0 ? "start" : n > 1 && i === n - 1 ? "end" : "middle";
      svg.appendChild(sv("text", {x: x(i), y: H - B + 14, "text-anchor": anchor},
                         repeated ? "#" + (i + 1) + " " + labels[i] : labels[i]));
    }
    if (!all.length) {
      svg.appendChild(sv("text", {x: W / 2, y: H / 2, "text-anchor": "middle"}, opts.empty || "no data yet"));
    }
    lines.forEach(function (l) {
      if (!isNum(l.value)) { return; }
      var g = sv("line", {x1: L, x2: W - R, y1: y(l.value), y2: y(l.value), stroke: l.color || BAD,
                          "stroke-dasharray": "6 4", "data-line": l.name, "data-value": raw(l.value)});
      g.appendChild(sv("title", {}, l.name + ": " + fmt(l.value, opts.pct)));
      svg.appendChild(g);
    });
    var legend = el("div", {"class": "legend"});
    series.forEach(function (s, k) {
      var color = COLORS[k % COLORS.length], d = "", pen = false;
      s.values.forEach(function (v, i) {
        if (isNum(v)) { d += (pen ? " L " : " M ") + x(i).toFixed(1) + " " + y(v).toFixed(1); pen = true; }
        else { pen = false; }
      });
      if (d) { svg.appendChild(sv("path", {d: d, fill: "none", stroke: color, "stroke-width": 2,
                                           "data-series": s.name})); }
      s.values.forEach(function (v, i) {
        if (!isNum(v)) { return; }
        var bad = s.drifted && s.drifted[i];
        var c = sv("circle", {cx: x(i), cy: y(v), r: bad ? 4.5 : 3, fill: bad ? BAD : color,
                              "data-series": s.name, "data-window": i, "data-value": raw(v)});
        if (bad) { c.setAttribute("data-drifted", "1"); }
        c.appendChild(sv("title", {}, labels[i] + " " + s.name + ": " + fmt(v, opts.pct) + (bad ? " (drifted)" : "")));
        svg.appendChild(c);
      });
      // CSSOM, not a style attribute: the Content-Security-Policy allows the one but not the other
      var item = el("span", {}), sw = el("b", {"data-color": color});
      sw.style.background = color; item.appendChild(sw); item.appendChild(document.createTextNode(s.name));
      legend.appendChild(item);
    });
    lines.forEach(function (l) { if (isNum(l.value)) { legend.appendChild(el("span", {}, "- - " + l.name + " " + fmt(l.value, opts.pct))); } });
    fig.appendChild(svg);
    fig.appendChild(legend);
    if (opts.note) { fig.appendChild(el("p", {"class": "meta"}, opts.note)); }
    // the numbers drawn, unrounded, for screen readers and tests
    var table = el("table", {"class": "visually-hidden numbers", "data-chart": id});
    var head = el("tr");
    head.appendChild(el("th", {}, "window"));
    series.forEach(function (s) { head.appendChild(el("th", {}, s.name)); });
    table.appendChild(head);
    labels.forEach(function (lab, i) {
      var tr = el("tr", {"data-window": i, "data-label": lab});
      tr.appendChild(el("th", {}, lab));
      series.forEach(function (s) {
        tr.appendChild(el("td", {"data-series": s.name, "data-value": raw(s.values[i])}, fmt(s.values[i], opts.pct)));
      });
      table.appendChild(tr);
    });
    lines.forEach(function (l) {
      var tr = el("tr", {"data-line": l.name});
      tr.appendChild(el("th", {}, l.name));
      tr.appendChild(el("td", {"data-line": l.name, "data-value": raw(l.value)}, fmt(l.value, opts.pct)));
      table.appendChild(tr);
    });
    fig.appendChild(table);
    return fig;
  }

  function pick(list, f) { return list.map(function (w) { var v = f(w); return isNum(v) ? v : null; }); }

  function figure(name, value, pct) {
    var box = el("div");
    box.appendChild(el("dt", {}, name));
    box.appendChild(el("dd", {"data-figure": name, "data-value": raw(value)}, fmt(value, pct)));
    return box;
  }

  function render(data) {
    var model = data.model || {};
    document.getElementById("meta").textContent =
      "Model " + (model.name || "?") + " v" + (model.version || "?") + " (" + (model.task || "?") + "). Computed " +
      data.generated_at + " from the prediction log; refreshed every " + (REFRESH_MS / 1000) + " s.";
    var server = data.server || {};
    var summary = document.getElementById("summary");
    summary.replaceChildren();
    var perf = data.performance;
    summary.appendChild(figure("rows logged", perf ? perf.rows : 0));
    summary.appendChild(figure("rows labelled", perf ? perf.labelled : 0));
    summary.appendChild(figure("requests answered (this process)", server.requests));
    summary.appendChild(figure("requests refused (this process)", server.errors));
    summary.appendChild(figure("error rate (this process)", server.error_rate, true));
    summary.appendChild(figure("requests (log)", perf ? perf.requests : null));
    summary.appendChild(figure("requests refused (log)", perf ? perf.errors : null));
    summary.appendChild(figure("error rate (log)", perf ? perf.error_rate : null, true));
    var charts = document.getElementById("charts");
    var out = [];
    if (!perf || !perf.windows.length) {
      out.push(el("p", {"class": "meta", "data-empty": "1"}, "No predictions logged yet: the charts appear once the server has answered."));
    } else {
      var ws = perf.windows, labels = ws.map(function (w) { return w.label; });
      out.push(el("h2", {}, "Traffic"));
      out.push(chart("volume", "Volume", "rows per window", labels,
        [{name: "rows", values: pick(ws, function (w) { return w.rows; })},
         {name: "labelled", values: pick(ws, function (w) { return w.labelled; })}], [], {zero: true}));
      out.push(chart("latency", "Latency", "ms, per window", labels,
        [{name: "p50", values: pick(ws, function (w) { return w.latency_ms.p50; })},
         {name: "p99", values: pick(ws, function (w) { return w.latency_ms.p99; })}], [], {zero: true}));
      var rates = pick(ws, function (w) { return w.error_rate; });
      out.push(chart("error_rate", "Error rate", "share of requests refused, from the log's error records", labels,
        [{name: "error rate", values: rates}], [], {zero: true, pct: true,
         empty: "no server requests", note: rates.every(function (v) { return v === null; }) ?
         "No request the server answered or refused is in these windows (batch scoring only), so there is no error rate." : null}));
      var outputs = data.outputs;
      if (outputs) {
        var names = Object.keys(outputs.series), ref = outputs.reference || {};
        var pct = names.length && names[0] !== "mean_prediction";
        out.push(chart("outputs", "Predictions", pct ? "what the model answered" : "mean prediction", labels,
          names.map(function (s) { return {name: s, values: outputs.series[s]}; }),
          names.filter(function (s) { return isNum(ref[s]); }).map(function (s, k) {
            return {name: "reference " + s, value: ref[s], color: COLORS[(names.indexOf(s)) % COLORS.length]};
          }), {pct: pct}));
      }
      out.push(el("h2", {}, "Performance"));
      var metrics = [perf.metric].concat(perf.estimable.filter(function (m) { return m !== perf.metric; }));
      metrics.forEach(function (m) {
        var series = [{name: "realized", values: pick(ws, function (w) { return w.realized[m]; })}];
        if (perf.estimable.indexOf(m) >= 0) {
          series.push({name: "estimated", values: pick(ws, function (w) { return w.estimated[m]; })});
        }
        var lines = m === perf.metric && isNum(perf.threshold) ? [{name: "threshold", value: perf.threshold}] : [];
        out.push(chart("metric:" + m, m, "realized on labelled rows; estimated (CBPE) on all", labels, series, lines));
      });
      var tl = data.timeline;
      if (tl) {
        out.push(el("h2", {}, "Drift"));
        var tlabels = tl.windows.map(function (w) { return w.label; });
        var cols = (data.prediction_column ? [data.prediction_column] : []).concat(data.top_features || []);
        cols.forEach(function (c) {
          var title = c === data.prediction_column ? "predictions" : c;
          out.push(chart("drift:" + c, title, tl.effects[c] + " per window; red: drifted", tlabels,
            [{name: tl.effects[c], values: tl.values[c].map(function (v) { return isNum(v) ? v : null; }),
              drifted: tl.drifted[c]}],
            [{name: "threshold", value: tl.thresholds[c]}], {zero: true,
             empty: "windows too small to judge"}));
        });
      }
    }
    charts.replaceChildren.apply(charts, out);
    refreshes += 1;
    document.body.setAttribute("data-state", "ready");
    document.body.setAttribute("data-refreshes", String(refreshes));
    document.body.setAttribute("data-generated-at", data.generated_at || "");
  }

  function status(text, bad) {
    var s = document.getElementById("status");
    s.textContent = text;
    s.className = bad ? "meta bad" : "meta";
  }

  function schedule() {
    if (timer !== null) { clearTimeout(timer); }
    timer = setTimeout(load, REFRESH_MS);
  }

  function load() {
    var headers = {"Accept": "application/json"};
    var key = sessionStorage.getItem(KEY);
    if (key) { headers["X-API-Key"] = key; }
    var url = location.pathname.replace(/\/+$/, "") + "/data";
    fetch(url, {headers: headers, cache: "no-store", credentials: "omit"}).then(function (resp) {
      if (resp.status === 401 || resp.status === 403) {
        document.getElementById("keyform").hidden = false;
        document.body.setAttribute("data-state", "needs-key");
        status(resp.status === 401 ? "This server needs its control API key to show the dashboard."
                                   : "That key may not read the dashboard (it needs the control scope).", true);
        return null;
      }
      if (!resp.ok) { throw new Error("HTTP " + resp.status); }
      return resp.json().then(function (data) {
        render(data);
        status("Last refreshed " + new Date().toLocaleTimeString() + ".", false);
        schedule();
      });
    }).catch(function (err) {
      document.body.setAttribute("data-state", document.body.getAttribute("data-state") === "ready" ? "ready" : "error");
      status("Could not load the dashboard data (" + err.message + "); retrying.", true);
      schedule();
    });
  }

  document.getElementById("keyform").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = document.getElementById("key");
    if (input.value) { sessionStorage.setItem(KEY, input.value); }
    input.value = "";
    document.getElementById("keyform").hidden = true;
    load();
  });
  load();
})();
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tabloop live dashboard</title>
<link rel="icon" href="data:,">
<style>{style}</style>
</head>
<body data-state="loading">
<header>
<h1>tabloop live dashboard</h1>
<p id="meta" class="meta">Loading the figures from the prediction log&hellip;</p>
<p id="status" class="meta" role="status"></p>
<form id="keyform" hidden>
<label>Control API key <input id="key" type="password" autocomplete="off"></label>
<button type="submit">Use key</button>
<span class="meta">kept in this browser tab only and sent as the X-API-Key header</span>
</form>
</header>
<dl id="summary"></dl>
<main id="charts"></main>
<noscript>This page draws its charts with JavaScript; the numbers are at ./dashboard/data.</noscript>
<script>{script}</script>
</body>
</html>
"""



def _csp(script: str) -> str:
    # only this page's own inline script and style may run, and it may talk to its own origin only
    return (
        f"default-src 'none'; script-src {_sha256(script)}; style-src {_sha256(_STYLE)}; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
