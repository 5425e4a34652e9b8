"""Prometheus metrics for one app (its own registry, so several apps never collide)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from tabloop.bundle import Predictions

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SCORE_BUCKETS = tuple(i / 10 for i in range(1, 11))


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        model = ["dialect", "variant", "model_version"]
        self.requests = Counter("tabloop_requests", "Predicting requests answered 200", model, registry=r)
        self.errors = Counter(
            "tabloop_request_errors", "Requests answered with an error", ["dialect", "status", "code"], registry=r
        )
        self.latency = Histogram(
            "tabloop_request_latency_seconds", "Time from request to answer (predicting routes)", model,
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.rows = Counter("tabloop_rows", "Rows predicted", ["variant", "model_version"], registry=r)
        self.labels = Counter(
            "tabloop_predictions", "Predicted labels (classifiers)", ["variant", "model_version", "label"], registry=r
        )
        self.scores = Histogram(
            "tabloop_prediction_score", "Highest class probability (classifiers) per row",
            ["variant", "model_version"], buckets=_SCORE_BUCKETS, registry=r,
        )
        self.values = Histogram(
            "tabloop_prediction_value", "Predicted values (regression) per row", ["variant", "model_version"], registry=r
        )
        self.out_of_contract = Counter(
            "tabloop_out_of_contract", "Contract marks on rows answered out of contract (one per column and rule)",
            ["variant", "model_version", "column", "rule", "policy"], registry=r,
        )
        self.shadow = Counter(
            "tabloop_shadow", "Shadow scoring by the challenger", ["outcome"], registry=r
        )
        self.swaps = Counter("tabloop_model_swaps", "Hot swaps of a variant's version", ["variant", "outcome"], registry=r)
        self.in_flight = Gauge("tabloop_in_flight", "Predicting requests in flight", registry=r)
        self._request_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._row_children: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
        self._label_children: dict[tuple[str, str, Any], Any] = {}
        self.served = Gauge("tabloop_model_info", "Model versions served (value 1)", ["variant", "model", "model_version"], registry=r)

    def observe(self, dialect: str, variant: str, version: str | None, seconds: float, preds: Predictions) -> None:
        v = version or ""
        key = (dialect, variant, v)
        children = self._request_children.get(key)
        if children is None:
            # .labels() takes a lock and builds a key on every call; once per label set is enough
            children = self._request_children[key] = (self.requests.labels(*key), self.latency.labels(*key))
        children[0].inc()
        children[1].observe(seconds)
        self.observe_rows(variant, v, preds)

    def observe_rows(self, variant: str, version: str, preds: Predictions) -> None:
        key = (variant, version)
        children = self._row_children.get(key)
        if children is None:
            children = self._row_children[key] = (
                self.rows.labels(*key), self.values.labels(*key), self.scores.labels(*key)
            )
        rows, values, scores = children
        rows.inc(len(preds.labels))
        if preds.marks:
            for marks in preds.marks.values():
                for m in marks:
                    self.out_of_contract.labels(variant, version, m.column, m.rule, m.policy).inc()
        if preds.proba is None:
            for value in preds.labels:
                values.observe(float(value))
            return
        counts: dict[Any, int] = {}
        for label in preds.labels:
            counts[label] = counts.get(label, 0) + 1
        for label, k in counts.items():
            child = self._label_children.get((variant, version, label))
            if child is None:
                child = self._label_children[(variant, version, label)] = self.labels.labels(variant, version, str(label))
            child.inc(k)
        if len(preds.labels) == 1:
            scores.observe(max(preds.proba[0].tolist()))  # plain floats: max over NumPy scalars is slower
        else:
            for p in preds.proba.max(axis=1):
                scores.observe(float(p))

    def set_served(self, variant: str, name: str | None, version: str | None, previous: str | None = None) -> None:
        if previous is not None and previous != version:
            try:
                self.served.remove(variant, name or "", previous)
            except KeyError:
                pass
        self.served.labels(variant, name or "", version or "").set(1)

    def watch_log(self, status: Callable[[], dict[str, Any]]) -> None:
        """Expose the prediction log writer's counts, read when scraped (the writer thread keeps them)."""
        self.registry.register(_LogCollector(status))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _LogCollector:
    """Rows written and lost by the prediction log, and whether its latest write worked."""

    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        self.status = status

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration; names are fixed below

    def collect(self) -> Iterator[Metric]:
        s = self.status()
        yield CounterMetricFamily("tabloop_prediction_log_rows_written", "Rows written to the prediction log",
                                  value=s["written"])
        yield CounterMetricFamily("tabloop_prediction_log_rows_failed",
                                  "Rows the prediction log could not write (disk full, read-only, unencodable)",
                                  value=s["failed"])
        yield CounterMetricFamily("tabloop_prediction_log_write_failures", "Batched log writes that failed",
                                  value=s.get("failed_writes", 0))
        yield GaugeMetricFamily("tabloop_prediction_log_ok", "1 while the latest prediction log write succeeded",
                                value=1.0 if s.get("ok", True) else 0.0)
        shipping = s.get("shipping")
        if shipping is not None:
            yield CounterMetricFamily("tabloop_prediction_log_rows_shipped",
                                      "Rows this process shipped from the local log to its database (serving.log_url)",
                                      value=shipping["shipped"])
            yield GaugeMetricFamily("tabloop_prediction_log_shipping_ok",
                                    "1 while the latest round of shipping the log to its database succeeded",
                                    value=1.0 if shipping["ok"] else 0.0)
