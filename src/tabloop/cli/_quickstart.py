"""``tabloop quickstart``: the product in miniature, on real data, through the public commands."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from tabloop.cli._output import err_console
from tabloop.errors import TabloopError, WorkspaceError

SEED = 7
DRIFT_COLUMN = "dir"
DRIFT_FACTOR = 1.5
HTTP_ROWS = 20


def bundled_table() -> pd.DataFrame:
    """The Boston HMDA mortgage table shipped inside the package (see datasets/README.md)."""
    with resources.as_file(resources.files("tabloop") / "datasets" / "hmda.csv") as path:
        return pd.read_csv(path)


def run_quickstart(directory: Path, *, budget: float = 30, as_json: bool = False, force: bool = False) -> dict[str, Any]:
    start = time.perf_counter()
    root = directory.resolve()
    if root.exists() and any(root.iterdir()):
        if not (force and (root / "tabloop.yaml").exists()):
            raise WorkspaceError(f"{root}: folder exists and is not empty", hint="remove it, pick another folder, or pass --force to replace an earlier quickstart")
        shutil.rmtree(root)
    data_dir = root / "data"
    data_dir.mkdir(parents=True)
    say = _Narrator(quiet=as_json)

    say.step("Preparing data: the Boston HMDA mortgage table (2,381 applications, target 'deny')")
    df = bundled_table()
    history = df.sample(frac=0.7, random_state=SEED).sort_index()
    production = df.drop(history.index)
    truth = production["deny"].reset_index(drop=True)
    production = production.drop(columns=["deny"]).reset_index(drop=True)
    # simulated drift: applicants in the 'production' batch carry more debt relative to income
    production[DRIFT_COLUMN] = (production[DRIFT_COLUMN] * DRIFT_FACTOR).round(4)
    # the applications sent to the server are not in the batch file too: each is scored, logged and monitored once
    online = production.head(HTTP_ROWS)
    production, truth = production.iloc[HTTP_ROWS:].reset_index(drop=True), truth.iloc[HTTP_ROWS:].reset_index(drop=True)
    history.to_csv(data_dir / "history.csv", index=False)
    production.to_csv(data_dir / "production.csv", index=False)
    say.note(f"{len(history)} historical rows for training; {len(online)} 'production' rows to send to the server "
             f"and {len(production)} to score in batch")
    say.note(f"SIMULATED DRIFT: column '{DRIFT_COLUMN}' (debt-to-income) multiplied by {DRIFT_FACTOR} in the production batch")

    p = str(root)
    results: dict[str, Any] = {"project": p}
    results["init"] = say.run(["init", p, "--data", str(data_dir / "history.csv"), "--target", "deny", "--exclude", "black"])
    results["profile"] = say.run(["profile", "-p", p])
    trained = results["train"] = say.run(["train", "-p", p, "--budget", str(budget)])
    version = trained["version"]
    results["evaluate"] = say.run(["evaluate", version, "-p", p])
    results["promote"] = say.run(["promote", version, "--alias", "champion", "-p", p])
    results["serve"] = _serve_and_call(p, online, say)
    results["predict"] = say.run(["predict", "-p", p, "-i", str(data_dir / "production.csv"), "-o", str(root / "predictions.csv")])
    results["monitor"] = say.run(["monitor", "-p", p], ok_codes=(0, 3))
    scored = pd.read_csv(root / "predictions.csv")
    labels = pd.DataFrame({"request_id": scored["request_id"], "row": scored["row"], "label": truth})
    labels.to_csv(data_dir / "production_labels.csv", index=False)
    results["feedback"] = say.run(["feedback", "-p", p, "--labels", str(data_dir / "production_labels.csv")])
    results["retrain"] = say.run(["retrain", "-p", p, "--budget", str(budget)])
    results["simulated_drift"] = {"column": DRIFT_COLUMN, "factor": DRIFT_FACTOR, "simulated": True}
    results["seconds"] = round(time.perf_counter() - start, 1)
    say.summary(results)
    return results


class _Narrator:
    """Shows each command as a user would type it, then what it made."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet

    def step(self, text: str) -> None:
        err_console.print(f"\n[bold]{text}[/bold]")

    def note(self, text: str) -> None:
        err_console.print(f"  {text}")

    def run(self, args: list[str], *, ok_codes: tuple[int, ...] = (0,)) -> dict[str, Any]:
        err_console.print(f"\n[bold cyan]$ tabloop {' '.join(_short(a) for a in args)}[/bold cyan]")
        code, doc = invoke([*args, "--json"])
        if code not in ok_codes or not doc.get("ok", False):
            message = doc.get("error", {}).get("message", f"exit code {code}")
            raise TabloopError(f"quickstart step 'tabloop {args[0]}' failed: {message}")
        doc["exit_code"] = code
        self.note(_one_line(args[0], doc))
        return doc

    def summary(self, r: dict[str, Any]) -> None:
        t, e, m, fb, rt = r["train"], r["evaluate"], r["monitor"], r["feedback"], r["retrain"]
        lines = [
            f"project            {r['project']} (spec: tabloop.yaml, workspace: .tabloop/)",
            f"model              {t['model']} v{t['version']} = {t['winner']} (CV {t['metric']} {t['cv_mean']:.3f} ± {t['cv_std']:.3f}), alias champion",
            f"held-out test      {e['metric']} {e['metrics'][e['metric']]:.3f} on {e['rows']} rows -> {e['report_html']}",
            f"served over HTTP   {r['serve']['answered']} requests answered, {r['serve']['rejected']} bad request rejected with {r['serve']['rejected_status']}",
            f"batch predictions  {r['predict']['rows']} rows -> {r['predict']['output']}",
            f"drift (simulated)  drifted: {', '.join(m['drifted_features']) or 'none'}; predictions drifted: {m['prediction_drifted']} -> {m['report_html']}",
            f"feedback           {fb['matched']} labels joined to logged predictions",
            f"retrain            {_retrain_line(rt)}",
            f"MLflow UI          mlflow ui --backend-store-uri sqlite:///{r['project']}/.tabloop/mlflow.db",
            f"took               {r['seconds']} s",
        ]
        err_console.print("\n[bold green]Quickstart finished.[/bold green]")
        for line in lines:
            err_console.print("  " + line, soft_wrap=True, highlight=False)


def invoke(args: list[str]) -> tuple[int, dict[str, Any]]:
    """Run one CLI command in this process (same code path as the shell) and parse its JSON."""
    import typer.main

    from tabloop.cli._app import app

    command = typer.main.get_command(app)
    buf = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(buf):
        try:
            rv = command.main(args=args, prog_name="tabloop", standalone_mode=False)
            code = rv if isinstance(rv, int) else 0
        except SystemExit as exc:  # typer.Exit in standalone_mode=False surfaces as a return code or SystemExit
            code = int(exc.code or 0)
    text = buf.getvalue().strip().splitlines()
    doc = json.loads(text[-1]) if text else {}
    return code, doc


def _short(arg: str) -> str:
    cwd = os.getcwd()
    return os.path.relpath(arg, cwd) if arg.startswith("/") and arg.startswith(cwd) else arg


def _one_line(command: str, doc: dict[str, Any]) -> str:
    if command == "init":
        return f"wrote {doc['spec']} ({doc['task']}, {doc['rows']} rows)"
    if command == "profile":
        return f"{doc['rows']} rows, {doc['missing_cells']} missing cells; contract saved; report {doc['report_html']}"
    if command == "train":
        return f"winner {doc['winner']} -> registered version {doc['version']}"
    if command == "evaluate":
        return ", ".join(f"{k} {v:.3f}" for k, v in doc["metrics"].items() if v is not None)
    if command == "promote":
        return f"champion -> v{doc['version']}"
    if command == "predict":
        return f"{doc['rows']} rows scored -> {doc['output']}"
    if command == "monitor":
        return f"drifted: {', '.join(doc['drifted_features']) or 'none'} (exit code {doc['exit_code']}: policy {'crossed' if doc['policy_crossed'] else 'ok'})"
    if command == "feedback":
        return f"{doc['matched']} of {doc['labels']} labels joined"
    if command == "retrain":
        return _retrain_line(doc)
    return "ok"


def _retrain_line(doc: dict[str, Any]) -> str:
    """What retrain did; a skipped retrain has no challenger to name (it said why instead)."""
    if doc.get("challenger_version") is None:
        return f"not retrained ({'; '.join(doc['reasons'])})"
    verdict = "promote" if doc["promote"] else "keep the champion"
    return f"challenger v{doc['challenger_version']}: {verdict} ({'; '.join(doc['reasons'])})"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_and_call(project: str, rows: pd.DataFrame, say: _Narrator) -> dict[str, Any]:
    """Start the real server, send single-row requests and one bad one, stop it gracefully."""
    import httpx

    port = _free_port()

    err_console.print(f"\n[bold cyan]$ tabloop serve -p {_short(project)} --port {port}[/bold cyan]  (in the background)")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tabloop", "serve", "-p", project, "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    answered, request_ids, rejected_status = 0, [], None
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            _wait_ready(client, proc)
            records = json.loads(rows.to_json(orient="records"))
            for record in records:
                r = client.post("/predict", json={"rows": [record]})
                r.raise_for_status()
                answered += 1
                request_ids.append(r.json()["request_id"])
            bad = dict(records[0], dir="a lot")
            r = client.post("/predict", json={"rows": [bad]})
            rejected_status = r.status_code
            err_console.print(f"  POST /predict x{answered}: 200; a row with dir='a lot': {r.status_code} {r.text[:160]}", soft_wrap=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {"url": base, "answered": answered, "rejected": 1, "rejected_status": rejected_status, "request_ids": request_ids}


def _wait_ready(client: Any, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise TabloopError(f"the server exited before it was ready: {err.strip()[-500:]}")
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise TabloopError(f"the server did not answer /health within {timeout:.0f} s")
