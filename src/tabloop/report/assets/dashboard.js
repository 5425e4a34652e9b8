
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
