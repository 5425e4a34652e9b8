"""Serving with online feature lookups: requests/s when rows carry entity keys (Redis, SQLite) vs all features.

One model (logistic regression on channel + two stored features, ONNX-exported as registration
does), one feature repository materialized into Redis (a project name of its own, torn down
afterwards) and into SQLite. Each mode's app (``create_app``) runs in its own server process on
loopback, all at once; in interleaved rounds a client keeps ``--concurrency`` one-row requests in flight for
``--seconds`` and counts the 200s. ``direct`` sends every feature (no lookup: the predictor
sees the row complete); ``redis`` and ``sqlite`` send only ``customer_id`` and ``channel``.
The inner figure is the lookup alone (``Lookup.fill`` of one row), in the benchmark process.

    PYTHONPATH=src .venv/bin/python benchmarks/features/run.py [--seconds 4] [--rounds 3] [--concurrency 8]

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


def _start(mode: str, payload: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """One server process for ``mode``, answering /health."""
    import httpx

    port = _free_port()
    args = pickle.loads(payload.read_bytes())
    run_args = payload.with_suffix(f".{mode}.pkl")
    run_args.write_bytes(pickle.dumps((args[0], args[1], mode, port)))
    err = run_args.with_suffix(".err")
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(run_args)], stdout=subprocess.DEVNULL,
                            stderr=open(err, "wb"), env=os.environ)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url, err
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit(f"{mode}: the server did not start: {err.read_text()[-4000:]}")
        time.sleep(0.2)


def _rounds(payload: Path, bodies: dict[str, list[dict]], seconds: float, concurrency: int,
            rounds: int) -> dict[str, dict[str, float]]:
    """Every mode's server up at once, then ``rounds`` interleaved loads (a shared machine's load drifts
    over minutes: each mode meets the same drift); per mode the median round."""
    servers = {}
    try:
        for mode in bodies:
            servers[mode] = _start(mode, payload)
        for mode, (_, url, _) in servers.items():
            asyncio.run(_load(url, bodies[mode][:50], 1.0, concurrency))  # warm-up
        runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in bodies}
        for _ in range(rounds):
            for mode, (_, url, _) in servers.items():
                runs[mode].append(asyncio.run(_load(url, bodies[mode], seconds, concurrency)))
    except BaseException:
        for _, _, err in servers.values():
            sys.stderr.write(err.read_text()[-2000:])
        raise
    finally:
        for proc, _, _ in servers.values():
            proc.kill()  # the figures are taken; a graceful drain is not what is measured
            proc.wait(30)
    out = {}
    for mode, got in runs.items():
        got.sort(key=lambda r: r["requests_per_s"])
        out[mode] = {**got[len(got) // 2], "rounds_requests_per_s": [round(r["requests_per_s"], 1) for r in got],
                     "errors": sum(r["errors"] for r in got)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=3)
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
            results = _rounds(payload, {"direct": direct, "sqlite": keyed, "redis": keyed}, opts.seconds,
                              opts.concurrency, opts.rounds)
        finally:
            with contextlib_quiet():
                stores["redis"].store.teardown()
    for mode in ("sqlite", "redis"):
        results[mode]["lookup_ms_per_row"] = inner[mode]
        results[mode]["ratio_to_direct"] = results[mode]["requests_per_s"] / results["direct"]["requests_per_s"]
    out = {"settings": {"seconds": opts.seconds, "rounds": opts.rounds, "concurrency": opts.concurrency,
                        "rows_per_request": 1,
                        "entities": N},
           "load_before": load_before, "load_after": os.getloadavg(), "cpus": os.cpu_count(),
           "python": platform.python_version(), "results": results}
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / "features.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = ["# Serving with online feature lookups", "",
             f"One-row requests, concurrency {opts.concurrency}, {opts.rounds} interleaved rounds of {opts.seconds:g} s per "
             f"mode (the median round), {os.cpu_count()} CPUs, "
             f"load {load_before[0]:.1f} before / {out['load_after'][0]:.1f} after (a shared machine: compare the "
             "ratios, not the absolute figures).", "",
             "| mode | requests/s | vs direct | each round | lookup alone (ms/row) | errors |",
             "|---|---|---|---|---|---|"]
    for mode, r in results.items():
        lookup = f"{r['lookup_ms_per_row']:.2f}" if "lookup_ms_per_row" in r else "-"
        lines.append(f"| {mode} | {r['requests_per_s']:.0f} | {r.get('ratio_to_direct', 1.0):.2f} | "
                     f"{', '.join(f'{x:g}' for x in r['rounds_requests_per_s'])} | {lookup} | {r['errors']} |")
    (opts.out / "features.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def contextlib_quiet():
    from tabloop.features import feast_quiet

    return feast_quiet()


if __name__ == "__main__":
    main()
