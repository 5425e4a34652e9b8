"""Serving with online feature lookups: requests/s when rows carry entity keys (Redis, SQLite) vs all features.

One model (logistic regression on channel + two stored features, ONNX-exported as registration
does), one feature repository materialized into Redis (a project name of its own, torn down
afterwards) and into SQLite. For each mode the same app (``create_app``) runs in its own server
process on loopback; a client keeps ``--concurrency`` one-row requests in flight for
``--seconds`` and counts the 200s. ``direct`` sends every feature (no lookup: the predictor
sees the row complete); ``redis`` and ``sqlite`` send only ``customer_id`` and ``channel``.
The inner figure is the lookup alone (``Lookup.fill`` of one row), in the benchmark process.

    PYTHONPATH=src .venv/bin/python benchmarks/features/run.py [--seconds 5] [--concurrency 8]

Writes benchmarks/results/features.json and features.md. Needs Redis on 127.0.0.1:6379.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
REDIS = "redis://127.0.0.1:6379/0"
N = 1000

SERVER = r"""
import pickle, sys
from tabloop.serving import FastPredictor, ServeConfig, create_app, run_server, with_online_features
from tabloop.features import FeatureRepo, Lookup
bundle, repo_args, mode, port = pickle.load(open(sys.argv[1], "rb"))
config = ServeConfig(bundle)
if mode != "direct":
    spec, project, base, root, online = repo_args[mode]
    lookup = Lookup(FeatureRepo(spec, project, base, root, online_store=online))
    lookup.warm()  # as tabloop serve does (api/_features.py: online_lookup)
    config = ServeConfig(bundle, predictor=with_online_features(FastPredictor, lookup, "reject"))
run_server(create_app(config), host="127.0.0.1", port=port)
"""


def _data(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    now = pd.Timestamp.now(tz="UTC").floor("s")
    hist = pd.DataFrame({"customer_id": np.arange(N), "spend": rng.normal(50, 20, N),
                         "visits": rng.integers(0, 9, N).astype(float),
                         "event_timestamp": now - pd.to_timedelta(rng.integers(1, 48, N), unit="h")})
    hist.to_parquet(root / "stats.parquet", index=False)
    train = hist[["customer_id", "spend", "visits"]].assign(channel=rng.choice(["web", "shop"], N))
    train["churn"] = np.where(train["spend"] + rng.normal(0, 5, N) > 50, "yes", "no")
    return hist, train


def _bundle(train: pd.DataFrame):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from tabloop.bundle import ModelBundle
    from tabloop.data import check_frame, infer_contract
    from tabloop.export import export_bundle
    from tabloop.preparation import make_preprocessor

    # the join key may be sent and is not a feature, as training through the feature store makes it
    contract = infer_contract(train, target="churn", ignored=["customer_id"])
    X = check_frame(train, contract)
    pipe = Pipeline([("prep", make_preprocessor(contract)), ("model", LogisticRegression(max_iter=1000))])
    pipe.fit(X, (train["churn"] == "yes").astype(int))
    bundle = ModelBundle(pipeline=pipe, contract=contract, reference=train.head(200), spec_yaml="", name="bench",
                         version="1", manifest={"task": "binary", "classes": ["no", "yes"], "threshold": 0.5})
    assert export_bundle(bundle, train.tail(300)).used
    return bundle


def _spec():
    from tabloop.spec import FeaturesSpec

    return FeaturesSpec.model_validate({
        "entities": [{"name": "customer", "join_keys": {"customer_id": "int64"}}],
        "views": [{"name": "stats", "entities": ["customer"], "source": "stats.parquet", "ttl": "30d",
                   "features": {"spend": "float64", "visits": "float64"}}]})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _load(url: str, bodies: list[dict], seconds: float, concurrency: int) -> dict[str, float]:
    import httpx

    ok = bad = 0
    stop = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        async def worker(k: int) -> None:
            nonlocal ok, bad
            i = k
            while time.perf_counter() < stop:
                r = await client.post("/predict", json={"rows": [bodies[i % len(bodies)]]})
                ok += r.status_code == 200
                bad += r.status_code != 200
                i += concurrency
        started = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        took = time.perf_counter() - started
    return {"requests_per_s": ok / took, "ok": ok, "errors": bad, "seconds": took}


def _serve_and_load(mode: str, payload: Path, bodies: list[dict], seconds: float, concurrency: int) -> dict[str, float]:
    import httpx

    port = _free_port()
    args = pickle.loads(payload.read_bytes())
    args[3] = port
    run_args = payload.with_suffix(f".{mode}.pkl")
    run_args.write_bytes(pickle.dumps((args[0], args[1], mode, port)))
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(run_args)], stdout=subprocess.DEVNULL,
                            stderr=open(run_args.with_suffix('.err'), 'wb'), env=os.environ)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"{mode}: the server did not start: {run_args.with_suffix('.err').read_text()}")
            time.sleep(0.2)
        asyncio.run(_load(url, bodies[:50], 1.0, concurrency))  # warm-up
        return asyncio.run(_load(url, bodies, seconds, concurrency))
    except BaseException:
        sys.stderr.write(run_args.with_suffix(".err").read_text()[-4000:])
        raise
    finally:
        proc.kill()  # the figures are taken; a graceful drain is not what is measured
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--out", type=Path, default=RESULTS)
    opts = ap.parse_args()
    from tabloop.features import FeatureRepo, Lookup

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        hist, train = _data(root)
        bundle = _bundle(train)
        spec = _spec()
        project = f"bench_{uuid.uuid4().hex[:10]}"
        repos = {"sqlite": (spec, project, root, root / "feast-sqlite", None),
                 "redis": (spec, project, root, root / "feast-redis", REDIS)}
        inner: dict[str, float] = {}
        stores = {}
        for mode, (s, p, base, r, online) in repos.items():
            repo = FeatureRepo(s, p, base, r, online_store=online)
            repo.apply()
            repo.materialize()
            stores[mode] = repo
            lookup = Lookup(repo)
            lookup.fill([{"customer_id": 0}])
            started = time.perf_counter()
            for i in range(500):
                lookup.fill([{"customer_id": i}])
            inner[mode] = (time.perf_counter() - started) / 500 * 1000
        rng = np.random.default_rng(1)
        channel = rng.choice(["web", "shop"], N)
        direct = [{"spend": float(h.spend), "visits": float(h.visits), "channel": str(c)}
                  for h, c in zip(hist.itertuples(), channel, strict=True)]
        keyed = [{"customer_id": int(h.customer_id), "channel": str(c)} for h, c in zip(hist.itertuples(), channel, strict=True)]
        payload = root / "server.pkl"
        payload.write_bytes(pickle.dumps([bundle, repos, None, None]))
        try:
            results = {"direct": _serve_and_load("direct", payload, direct, opts.seconds, opts.concurrency),
                       "sqlite": _serve_and_load("sqlite", payload, keyed, opts.seconds, opts.concurrency),
                       "redis": _serve_and_load("redis", payload, keyed, opts.seconds, opts.concurrency)}
        finally:
            with contextlib_quiet():
                stores["redis"].store.teardown()
    for mode in ("sqlite", "redis"):
        results[mode]["lookup_ms_per_row"] = inner[mode]
        results[mode]["ratio_to_direct"] = results[mode]["requests_per_s"] / results["direct"]["requests_per_s"]
    out = {"settings": {"seconds": opts.seconds, "concurrency": opts.concurrency, "rows_per_request": 1,
                        "entities": N},
           "load_before": load_before, "load_after": os.getloadavg(), "cpus": os.cpu_count(),
           "python": platform.python_version(), "results": results}
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / "features.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = ["# Serving with online feature lookups", "",
             f"One-row requests, concurrency {opts.concurrency}, {opts.seconds:g} s per mode, {os.cpu_count()} CPUs, "
             f"load {load_before[0]:.1f} before / {out['load_after'][0]:.1f} after (a shared machine: compare the "
             "ratios, not the absolute figures).", "",
             "| mode | requests/s | vs direct | lookup alone (ms/row) | errors |", "|---|---|---|---|---|"]
    for mode, r in results.items():
        lines.append(f"| {mode} | {r['requests_per_s']:.0f} | {r.get('ratio_to_direct', 1.0):.2f} | "
                     f"{r.get('lookup_ms_per_row', float('nan')):.2f} | {r['errors']} |")
    (opts.out / "features.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def contextlib_quiet():
    from tabloop.features import feast_quiet

    return feast_quiet()


if __name__ == "__main__":
    main()
