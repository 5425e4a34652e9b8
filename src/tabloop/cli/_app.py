"""The CLI: thin commands over the facade in tabloop.api; no logic of its own."""

from __future__ import annotations

import sys
from pathlib import Path
from collections.abc import Callable
from typing import Annotated, Any

import typer

from tabloop.cli._command import JsonOpt, Reply, command
from tabloop.cli._output import EXIT_POLICY, err_console, print_result, progress, say_findings

app = typer.Typer(
    name="tabloop",
    help="The whole machine-learning lifecycle for tabular data: init, profile, train, evaluate, promote, "
    "serve, predict, monitor, feedback, retrain, package.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ProjectOpt = Annotated[
    Path | None,
    typer.Option("--project", "-p", help="Project folder holding tabloop.yaml [env: TABLOOP_PROJECT; default: .]"),
]
ModelOpt = Annotated[
    str | None, typer.Option("--model", "-m", help="Version number or alias (default: the champion).")
]


@command(app)
def init(
    directory: Annotated[Path, typer.Argument(help="Project folder to create or fill.")],
    data: Annotated[str, typer.Option("--data", help="Training table (CSV/Parquet path or database URL).")],
    target: Annotated[str, typer.Option("--target", help="Column to predict.")],
    task: Annotated[str | None, typer.Option(help="binary, multiclass or regression (inferred if omitted).")] = None,
    name: Annotated[str | None, typer.Option(help="Project name (default: the folder name).")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Column never used as a feature (repeatable).")] = None,
    query: Annotated[str | None, typer.Option(help="SQL query when --data is a database URL.")] = None,
    table: Annotated[str | None, typer.Option(help="Table to read whole when --data is a database URL.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing tabloop.yaml.")] = False,
) -> Reply:
    """Write DIR/tabloop.yaml: the problem spec with every default written out and commented."""
    from tabloop.api import init as run

    res = run(directory, data=data, target=target, task=task, name=name, exclude=exclude, query=query, table=table,
              force=force)
    return Reply(res, lambda: (
        print(f"wrote {res.spec} ({res.task} task, target {res.target!r}, {res.rows} rows)"),
        print(f"JSON Schema for editors: {res.schema}"),
    ))


@command(app)
def profile(project: ProjectOpt = None) -> Reply:
    """Profile the data (HTML + JSON report) and save the data contract."""
    from tabloop.api import profile as run
    from tabloop.cli._memory import one_malloc_arena

    one_malloc_arena()  # before the reader's and the profile's threads allocate: a sixth fewer page faults
    res = run(project)
    return Reply(res, lambda: (
        print(f"{res.rows:,} rows, {res.columns} columns, {res.missing_cells:,} missing cells, "
              f"{res.duplicate_rows:,} duplicate rows ({res.duplicate_share:.1%})"),
        say_findings([*res.findings, *res.leakage]),  # one ranked list: the profile's and the leak checks'
        print(f"contract: {res.contract}"),
        print(f"report:   {res.report_html}"),
    ))


def _findings_sayer() -> Callable[[list[Any]], None]:
    """Train's findings as they come: first about the whole table, then about leaks and the test part's shift."""
    about = iter(("about the data", "about leaks and the test part's shift"))

    def say(findings: list[Any]) -> None:
        say_findings(findings, next(about, "about the data"))

    return say


@command(app)
def train(
    project: ProjectOpt = None,
    budget: Annotated[float | None, typer.Option(help="Wall-clock seconds for the whole command, from its start to the "
                                                      "registered model (overrides train.budget_seconds; at least 10): the "
                                                      "search gets what start-up, preparation, refit, export and "
                                                      "registration leave (with --worker: the search's own seconds).")] = None,
    trials: Annotated[int | None, typer.Option(help="Run exactly this many search trials instead of a time budget (reproducible).")] = None,
    storage: Annotated[str | None, typer.Option(help="Optuna study storage URL (default: train.storage, else .tabloop/optuna.db).")] = None,
    worker: Annotated[bool, typer.Option("--worker", help="Only add search trials to the shared study; register nothing.")] = False,
    engine: Annotated[str | None, typer.Option(help="local, or dask: fit lightgbm/xgboost on a Dask cluster from a CSV "
                                               "or Parquet source, never holding the whole table (overrides "
                                               "train.engine).")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 "
                                                  "(with --engine dask; overrides train.dask.scheduler).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Workers of the local Dask cluster (with --engine dask and "
                                                "no --scheduler; overrides train.dask.workers).")] = None,
) -> Reply:
    """Split once, search the candidates with cross-validation, register the best as a new model version.

    With --engine dask: the boosted families (lightgbm, xgboost) fitted with their defaults on a Dask
    cluster, scored on a holdout part of the training part, the best registered as any version.
    """
    from tabloop.training import process_started

    started = process_started()  # the budget counts the interpreter's start-up and imports too
    from tabloop.api import train as run

    res = run(project, budget=budget, trials=trials, storage=storage, worker=worker, progress=progress(),
              started=started, on_findings=_findings_sayer(), engine=engine, scheduler=scheduler, workers=workers)

    def human() -> None:
        from rich.console import Console
        from rich.table import Table

        if worker:
            print(f"worker ran {res.trials_run} trials; study {res.study} now holds {res.trials_in_study} "
                  f"({res.stopped_because}); best so far: {res.best_candidate} {res.metric} {res.best_score}")
            return
        table = Table(title=f"leaderboard ({res.metric}, {res.train_rows} training rows, {res.validation}; "
                            + (f"{res.trials} trials)" if res.engine == "local" else "on Dask, no search)"))
        for col in ("candidate", "status", "mean", "std", "95% CI", "trials", "fit s", "ms/row", "KB", "note"):
            table.add_column(col)
        for row in res.leaderboard:
            mean, std = row.get(f"{res.metric}_mean"), row.get(f"{res.metric}_std")
            ci = row.get(f"{res.metric}_ci95")
            table.add_row(row["candidate"] + (" *" if row["candidate"] == res.winner else ""), row["status"],
                          "" if mean is None else f"{mean:.4f}", "" if std is None else f"{std:.4f}",
                          "" if not ci else f"{ci[0]:.4f}-{ci[1]:.4f}",
                          str(row.get("trials", "")), f"{row['fit_seconds']:.2f}",
                          f"{row.get('predict_ms_per_row', 0.0):.3f}", f"{row.get('model_bytes', 0) / 1024:.0f}",
                          row["note"])
        Console().print(table)
        print(f"winner: {res.winner} ({res.rule})")
        if res.unlabelled_dropped:
            print(f"data.missing_target: {res.unlabelled_dropped} rows without a target left out before the split")
        for note in res.dask.get("notes", []):
            print(f"Dask: {note}")
        if res.duplicates_dropped:
            print(f"dedupe: {res.duplicates_dropped} duplicate training rows left out before fitting")
        print(f"registered {res.model} version {res.version}; report: {res.report_html}")
        if res.time:
            phases = ", ".join(f"{k} {v:.1f}" for k, v in res.time["spent"].items())
            print(f"time: {res.time['wall_seconds']:.1f}s of a {res.time['budget_seconds']:g}s budget ({phases})")
            for note in res.time["notes"]:
                print(f"  {note}")
        for warning in res.warnings:
            err_console.print(f"[bold red]WARNING:[/bold red] {warning}", soft_wrap=True)

    return Reply(res, human)


@command(app)
def evaluate(
    version: Annotated[str | None, typer.Argument(help="Version or alias (default: the latest version).")] = None,
    project: ProjectOpt = None,
) -> Reply:
    """Score a model version on the held-out test part and write its report and model card.

    Metrics with 95% bootstrap intervals beside a no-feature baseline; the decision threshold as counts per
    day (evaluation.daily_volume); curves; slices (evaluation.slices); the most confidently wrong rows;
    permutation importance and SHAP values.
    """
    from tabloop.api import evaluate as run

    res = run(project, version=version)

    def human() -> None:
        print(f"{res.model} v{res.version} on {res.rows} held-out rows (95% intervals, baseline without features):")
        for line in res.summary():
            print(f"  {line}")
        if res.decision:
            sentence = res.decision["sentence"]
            print(sentence[0].upper() + sentence[1:] + ".")
            for note in res.decision.get("notes", []):
                print(f"  note: {note}")
        for group in res.slices:
            print(f"slices: {group['summary']}")
        for note in res.notes:
            print(f"note: {note}")
        print(f"report: {res.report_html}")
        print(f"model card: {res.model_card_md}")

    return Reply(res, human)


@command(app, "export")
def export_(
    out: Annotated[Path, typer.Option("--out", "-o", help="The file to write (e.g. model.onnx).")],
    version: Annotated[str | None, typer.Argument(help="Version or alias (default: the champion).")] = None,
    format_: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
    quantize: Annotated[str | None, typer.Option(help="int8: dynamic quantization, measured beside the float graph.")] = None,
    distill: Annotated[bool, typer.Option("--distill", help="Write a small student fitted on the model's answers.")] = False,
    student: Annotated[str, typer.Option(help="The --distill student: trees (shallow LightGBM) or linear.")] = "trees",
    tolerance: Annotated[float | None, typer.Option(
        help="Largest difference of probabilities (values, scaled) allowed against the pipeline [default: 1e-4].")] = None,
    int8_tolerance: Annotated[float | None, typer.Option(
        help="The same for an int8 graph, which is lossy by design [default: 0.05].")] = None,
    project: ProjectOpt = None,
) -> Reply:
    """Write a model version as one ONNX file (preparation + model, one named input per column) that runs with
    onnxruntime alone.

    Nothing is written unless the file answers as the version's pipeline does on its held-out test part (largest
    difference within --tolerance, the same labels). --quantize int8 and --distill report size, latency and the
    metric next to the float model (the teacher).
    """
    from tabloop.api import export_model as run

    res = run(version, out=out, format=format_, quantize=quantize, distill=distill, student=student,
              tolerance=tolerance, int8_tolerance=int8_tolerance, project=project)

    def human() -> None:
        p = res.parity
        agree = f", class agreement {p['class_agreement']:.4f}" if "class_agreement" in p else ""
        print(f"wrote {res.path} ({res.written}, {res.bytes:,} bytes) from {res.model} v{res.version}")
        print(f"parity on {p['rows']} held-out rows + {p['gap_rows']} with gaps: max difference "
              f"{p.get('max_scaled_diff', p['max_abs_diff']):.3g} <= {p['tolerance']:g}{agree}")
        rows = [("float" if not res.distill else "student", res.float)]
        if res.distill:
            rows.insert(0, ("teacher", res.distill["teacher"]))
        if res.int8:
            rows.append(("int8", res.int8))
        print(f"{'':10}{'bytes':>12}{'1 row ms':>10}{'batch ms':>10}  {res.metric}")
        for label, m in rows:
            if "bytes" not in m:
                print(f"{label:10}{m.get('onnx', '')}  {res.metric} {_score(m.get('metric'))}")
                continue
            print(f"{label:10}{m['bytes']:>12,}{m['p50_one_row_ms']:>10.3f}{m['p50_batch_ms']:>10.3f}  "
                  f"{_score(m.get('metric'))}")
        if res.int8:
            print(f"int8: {res.int8['note']}")
        if res.distill:
            vs = res.distill["vs_teacher"]
            print(f"student: {res.distill['what']}; against the teacher: max difference {vs.get('max_abs_diff', 0):.3g}"
                  + (f", class agreement {vs['class_agreement']:.4f}" if "class_agreement" in vs else ""))

    return Reply(res, human)


@command(app, "test")
def model_tests(
    version: Annotated[str | None, typer.Argument(help="Version or alias to test (default: the champion).")] = None,
    regenerate: Annotated[bool, typer.Option(
        "--regenerate", help="Rewrite tests/model/ files you edited too (your version is kept as a .bak).")] = False,
    project: ProjectOpt = None,
) -> Reply:
    """Write the model tests into tests/model/ (yours to extend; edited files are kept) and run them with pytest.

    Checks: outputs of the right shape and range, probabilities summing to one, predictions unchanged by
    column order, missing values handled as the contract says, single-row and batch predictions equal,
    one-row latency within model_tests.latency_ms, the metric at or above model_tests.min_metric on the
    held-out part, no regression against the champion. Exits 1 naming each failing test and its numbers.
    """
    from tabloop.api import run_model_tests as run

    import sys

    # pytest's own lines, as they come, on stderr: its brackets are not rich markup
    res = run(project, version, regenerate=regenerate, progress=lambda line: print(line, file=sys.stderr))
    res.raise_for_failures()

    def human() -> None:
        for f in res.files:
            if f["action"] != "unchanged":
                print(f"{f['action']}: {f['path']}" + (f" (your edit saved as {f['backup']})" if f["backup"] else ""))
        for t in res.tests:
            why = f": {t['message']}" if t["message"] and t["outcome"] != "passed" else ""
            print(f"  {t['outcome']:<7} {t['name']} ({t['seconds']:.2f}s){why}")
        shown = ", ".join(f"{n} {k}" for k, n in res.counts.items() if n)
        print(f"{res.model} v{res.version}: {shown} in {res.seconds:.1f}s; JUnit XML: {res.junit_xml}")

    return Reply(res, human)


@command(app)
def promote(
    version: Annotated[str, typer.Argument(help="Version number (or an alias) to promote.")],
    alias: Annotated[str, typer.Option(help="Alias to move.")] = "champion",
    force: Annotated[bool, typer.Option("--force", help="Skip the promotion gate (recorded as forced).")] = False,
    reason: Annotated[str | None, typer.Option(help="Why, for the audit log ('tabloop history').")] = None,
    holdout: Annotated[
        str | None, typer.Option(help="Labelled table the gate compares on (default: the version's test part).")
    ] = None,
    project: ProjectOpt = None,
) -> Reply:
    """Move an alias (default: champion) to a model version, through the promotion gate.

    Replacing a champion, the version must beat it on the same labelled rows by retraining.min_improvement,
    with a paired test (DeLong for roc_auc, McNemar for accuracy, a paired bootstrap otherwise) below
    retraining.significance, then pass its model tests ('tabloop test'; model_tests.gate). A refusal exits 1
    with the numbers; --force moves it anyway, recorded as forced.
    """
    from tabloop.api import promote as run

    res = run(version, alias=alias, project=project, force=force, reason=reason, holdout=holdout)

    def human() -> None:
        print(f"{res.model}@{res.alias} -> v{res.version}" + (f" (was v{res.previous})" if res.previous else "")
              + (f" [{res.how}]" if res.how != "set" else ""))
        for line in (res.gate or {}).get("reasons", []):
            print(f"  gate: {line}")
        tested = (res.gate or {}).get("model_tests")
        if tested:
            print("  model tests: " + ", ".join(f"{n} {k}" for k, n in tested.items() if n))

    return Reply(res, human)


@command(app)
def rollback(
    alias: Annotated[str, typer.Option(help="Alias to move back.")] = "champion",
    reason: Annotated[str | None, typer.Option(help="Why, for the audit log.")] = None,
    project: ProjectOpt = None,
) -> Reply:
    """Move the champion (or --alias) back to the version it pointed at before its last move."""
    from tabloop.api import rollback as run

    res = run(alias, project=project, reason=reason)
    return Reply(res, lambda: print(f"{res.model}@{res.alias} -> v{res.version} (rolled back from v{res.previous})"))


@command(app)
def history(
    alias: Annotated[str | None, typer.Option(help="Only this alias (default: every alias).")] = None,
    project: ProjectOpt = None,
) -> Reply:
    """Every recorded alias move: when, who, from, to, how (gated, forced, rollback, auto, approved) and why."""
    from tabloop.api import history as run

    res = run(alias, project=project)

    def human() -> None:  # the listing is the command's result: stdout, so it pipes like --json
        now = ", ".join(f"{a} = v{v}" for a, v in res.current.items() if v is not None) or "no aliases set"
        lines = [f"{res.model}: {now}"] if res.moves else [f"{res.model}: {now}", "no recorded moves"]
        for m in res.moves:
            before = f"v{m['from_version']}" if m["from_version"] else "(none)"
            why = f": {m['why']}" if m["why"] else ""
            lines.append(f"  {m['at']}  {m['alias']}: {before} -> v{m['to_version']}  {m['how']} by {m['by']}{why}")
        print_result("\n".join(lines))

    return Reply(res, human)


@command(app)
def serve(
    project: ProjectOpt = None,
    model: ModelOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (default: serving.host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: serving.port).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Server processes sharing the port, each with its own log segment (default: serving.workers)."),
    ] = None,
) -> Reply:
    """Serve the champion (and challenger) over HTTP: /predict, MLflow /invocations, KServe V2 /v2, /metrics, /docs.

    Binds 127.0.0.1 unless --host says otherwise; API keys come from serving.auth or
    TABLOOP_API_KEY / TABLOOP_PREDICT_API_KEY / TABLOOP_CONTROL_API_KEY. SIGTERM drains and exits 0.
    """
    from tabloop.api import serve as run

    run(project, model=model, host=host, port=port, workers=workers)
    return Reply({"stopped": True})


@command(app)
def package(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the build context into (new or empty).")],
    version: Annotated[str | None, typer.Argument(help="Version number or alias to package (default: the champion).")] = None,
    mode: Annotated[str, typer.Option(
        help="baked: the version goes into the image; pull: the server downloads what the alias names at start.")] = "baked",
    image: Annotated[str | None, typer.Option(help="Image reference name:tag (default: <model>:v<version>).")] = None,
    base_image: Annotated[str | None, typer.Option(
        help="Base image (default: python:<this Python's version>-slim-bookworm; add @sha256:... to pin it).")] = None,
    namespace: Annotated[str, typer.Option(help="Kubernetes namespace the Service's names are allowed in.")] = "default",
    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty --out.")] = False,
    project: ProjectOpt = None,
) -> Reply:
    """Write a deployment build context: Dockerfile, Kubernetes Deployment and Service, KServe InferenceService,
    a GitHub Actions workflow (retrain, test, gate, build, deploy) and a README. No secret goes into it."""
    from tabloop.api import package as run

    res = run(version, out=out, project=project, mode=mode, image=image, base_image=base_image, namespace=namespace,
              force=force)
    return Reply(res, lambda: (
        print(f"{res.model} v{res.version} ({res.mode}"
              + (f", following @{res.alias}" if res.alias else "") + f") -> {res.out}"),
        print(f"image {res.image} from {res.base_image}; server: {' '.join(res.command)}"),
        print(f"next: docker build -t {res.image} {res.out}  (README.md there says the rest)"),
    ))


@command(app)
def predict(
    input: Annotated[str, typer.Option("--input", "-i", help="What to score: a CSV or Parquet file, or a database URL "
                                       "with --input-table or --input-query.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Where to write predictions: a .csv or .parquet file, "
                                        "or a database URL with --output-table.")],
    model: ModelOpt = None,
    rejects: Annotated[str | None, typer.Option(help="Where rows that break the contract go, one line per broken rule "
                                                "(row, column, value, rule, reason): .csv, .parquet or a database URL "
                                                "with --rejects-table [default: beside the output, OUT.rejects.csv for "
                                                "OUT.csv; the table OUTPUT_TABLE_rejects]")] = None,
    input_table: Annotated[str | None, typer.Option(help="Table of --input's database to score.")] = None,
    input_query: Annotated[str | None, typer.Option(help="SQL whose rows --input's database scores.")] = None,
    output_table: Annotated[str | None, typer.Option(help="Table of --output's database to write (replaced whole at "
                                                     "the end of the run).")] = None,
    rejects_table: Annotated[str | None, typer.Option(help="Table of --rejects' database for the rejects.")] = None,
    add_version: Annotated[bool, typer.Option("--add-version", help="Add a model_version column.")] = False,
    row_id: Annotated[str | None, typer.Option(help="Input column copied to each output row as its id "
                                               "[default: data.id_column].")] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Rows per chunk: memory is bounded by the chunk, whatever "
                                            "the input's size.")] = 50_000,
    chunk_mb: Annotated[float, typer.Option(min=0.01, help="Input megabytes per chunk, at most.")] = 32.0,
    engine: Annotated[str, typer.Option(help="local, or dask: score on a Dask cluster (--scheduler, or a local "
                                        "cluster of --workers processes); same output.")] = "local",
    scheduler: Annotated[str | None, typer.Option(help="Address of a running Dask scheduler, e.g. "
                                                  "tcp://10.0.0.5:8786 (with --engine dask).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Workers of the local Dask cluster (with --engine dask and no "
                                         "--scheduler).")] = 2,
    threads: Annotated[int | None, typer.Option(min=1, help="Chunks the local engine scores at once; the output is "
                                                "the same whatever their number [default: the CPUs available].")] = None,
    log: Annotated[bool, typer.Option("--log/--no-log", help="Append the predictions to the prediction log.")] = True,
    project: ProjectOpt = None,
    json_: JsonOpt = False,
) -> Reply:
    """Score a table in batch, a chunk at a time: per row a prediction and class probabilities.

    Rows that break a rule the contract refuses are not scored; each goes to --rejects with its
    row number, column, value, rule and reason, and every other row is scored. Output and rejects
    are written under temporary names and renamed at the end: a failed run leaves neither half
    written. Exit codes: 0 every row scored; 3 some rows rejected (output and rejects written);
    1 an error, or every row rejected (rejects written, output not).
    """
    from tabloop.api import predict as run

    bar = _progress_bar() if not json_ else None
    try:
        res = run(input, output, model=model, project=project, log_predictions=log, rejects=rejects,
                  input_table=input_table, input_query=input_query, output_table=output_table,
                  rejects_table=rejects_table, add_version=add_version, row_id=row_id, chunk_rows=chunk_rows,
                  chunk_bytes=max(1, int(chunk_mb * (1 << 20))), engine=engine, scheduler=scheduler, workers=workers,
                  threads=threads, on_progress=bar.update if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()

    def human() -> None:
        print(f"scored {res.rows_scored} rows with {res.model} v{res.version} -> {res.output} "
              f"({res.seconds:.1f} s, {res.rows_per_second:,.0f} rows/s; request id {res.request_id})")
        if res.out_of_contract:
            print(f"{res.out_of_contract} rows scored out of contract (see the output's out_of_contract column)")
        if res.rows_rejected:
            print(f"{res.rows_rejected} rows rejected, reasons in {res.rejects}")

    return Reply(res, human, exit_code=EXIT_POLICY if res.rows_rejected else 0)


class _Bar:
    """A progress bar on stderr (tqdm), fed the running counts."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._bar = tqdm(unit=" rows", unit_scale=True, file=sys.stderr, dynamic_ncols=True, leave=False)
        self._seen = 0

    def update(self, scored: int, rejected: int) -> None:
        total = scored + rejected
        self._bar.update(total - self._seen)
        self._seen = total
        if rejected:
            self._bar.set_postfix(rejected=rejected, refresh=False)

    def close(self) -> None:
        self._bar.close()


def _progress_bar() -> _Bar | None:
    """A bar only for a person at a terminal: never in a pipe, a log file or --json's output."""
    return _Bar() if sys.stderr.isatty() else None


@command(app)
def monitor(
    project: ProjectOpt = None,
    reference: Annotated[str | None, typer.Option(
        help="Reference table: a CSV/Parquet file or a database URL (default: the model's reference sample).")] = None,
    current: Annotated[str | None, typer.Option(
        help="Current table: a CSV/Parquet file or a database URL (default: the newest logged predictions).")] = None,
    reference_query: Annotated[str | None, typer.Option(help="SQL that reads the reference from --reference's database.")] = None,
    current_query: Annotated[str | None, typer.Option(help="SQL that reads the current window from --current's database.")] = None,
    reference_table: Annotated[str | None, typer.Option(
        help="Table of --reference's database to read whole (instead of --reference-query).")] = None,
    current_table: Annotated[str | None, typer.Option(
        help="Table of --current's database to read whole (instead of --current-query).")] = None,
    model: ModelOpt = None,
    last: Annotated[int | None, typer.Option(help="Newest logged rows to compare (default: monitoring.window_rows).")] = None,
    report_dir: Annotated[Path | None, typer.Option(help="Where to write the report.")] = None,
) -> Reply:
    """Drift per feature, on predictions and across features; performance over time; exits 3 when the policy says act.

    With --reference and --current outside a project it runs standalone: no spec, no model.
    """
    from tabloop.api import monitor as run

    res = run(project, reference=reference, current=current, model=model, last=last, report_dir=report_dir,
              reference_query=reference_query, current_query=current_query, reference_table=reference_table,
              current_table=current_table)

    def human() -> None:
        print(f"{res.current} ({res.current_rows} rows) vs {res.reference} ({res.reference_rows} rows)")
        if res.skipped_lines:
            print(f"warning: {res.skipped_lines} line(s) of the prediction log or feedback were not whole records "
                  "and were left out")
        if res.skipped_rows:
            print(f"warning: {res.skipped_rows} logged row(s) break the model's contract and were left out, e.g. "
                  + "; ".join(res.skipped_rows_why[:2]))
        if res.too_small:
            print("too small to judge")
        else:
            print(f"drifted features: {', '.join(res.drifted_features) or 'none'}")
            if res.not_compared:
                print("not compared (no feature by their type): "
                      + ", ".join(f"{c} ({t})" for c, t in res.not_compared.items()))
            if res.prediction_drifted is not None:
                print(f"prediction drift: {'yes' if res.prediction_drifted else 'no'}")
            mv = res.multivariate
            if mv is not None and mv.get("auc") is not None:
                told = "can" if mv["drifted"] else "cannot"
                print(f"domain classifier AUC {mv['auc']:.3f}: the windows {told} be told apart")
        if res.performance is not None:
            perf, latest = res.performance, res.performance["latest"]
            shown = f"{latest['kind']} {perf['metric']} {latest['value']:.4f}" if latest else "no performance yet"
            print(f"newest window: {shown}; {perf['labelled']} of {perf['rows']} logged rows labelled")
            if perf.get("label_bias"):
                print(f"warning: {perf['label_bias']}")
        for comparison in (res.ab or {}).get("comparisons", []):
            print(f"A/B {comparison['variant']} vs {comparison['baseline']}: {comparison['detail']}")
        if res.shadow is not None and res.shadow["rows"]:
            sh = res.shadow
            print(f"shadow v{sh['challenger_version']} vs champion: {sh['rows']} rows compared, agreement "
                  f"{sh['agreement']:.1%}; {sh['detail']}")
        print(f"report: {res.report_html}")
        if res.policy_crossed:
            print(f"act (exit code 3): {'; '.join(res.reasons)}")

    return Reply(res, human, exit_code=EXIT_POLICY if res.policy_crossed else 0)


@command(app)
def feedback(
    labels: Annotated[Path, typer.Option("--labels", help="CSV/Parquet with request_id, [row,] label.")],
    project: ProjectOpt = None,
) -> Reply:
    """Join true labels to logged predictions by request id and report realized performance."""
    from tabloop.api import feedback as run

    res = run(labels, project=project)

    def human() -> None:
        print(f"{res.matched} of {res.labels} labels joined; {res.unmatched} had no logged prediction"
              + (f" (kept in {res.unmatched_file})" if res.unmatched_file else ""))
        for perf in res.performance:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in perf["metrics"].items() if v is not None)
            print(f"  v{perf['version']}: {perf['rows']} labelled rows: {shown}")

    return Reply(res, human)


@command(app)
def retrain(
    project: ProjectOpt = None,
    budget: Annotated[float | None, typer.Option(help="Seconds to spend training.")] = None,
) -> Reply:
    """Train on the newer labelled data, judge it against the champion on a recent holdout with the promotion gate
    (the paired test, then the model tests when model_tests.gate), register a challenger."""
    from tabloop.api import retrain as run

    res = run(project, budget=budget, progress=progress())

    def human() -> None:
        if res.skipped_rows:
            print(f"warning: {res.skipped_rows} labelled logged row(s) break the champion's contract and were left out")
        if res.status == "skipped":
            print(f"not retrained: {'; '.join(res.reasons)}")
            return
        print(f"challenger v{res.challenger_version} trained on {res.train_rows} rows "
              f"({res.new_labels} newly labelled); holdout of {res.holdout_rows} recent rows")
        print(f"{res.metric}: champion v{res.champion_version} {_score(res.champion_score)}, "
              f"challenger {_score(res.challenger_score)}")
        verdict = "PROMOTE" if res.promote else "KEEP THE CHAMPION"
        print(f"policy: {verdict}: {'; '.join(res.reasons)}")
        if res.promote:
            print(f"to apply: tabloop promote {res.challenger_version}")
        print(f"record: {res.record}")

    return Reply(res, human)


loop_app = typer.Typer(help="The drift-to-retraining loop: one pass, or repeated on an interval.", no_args_is_help=True)
app.add_typer(loop_app, name="loop")


def _print_pass(res: Any) -> None:
    print(f"{res.action}: champion v{res.champion_version}"
          + (f", challenger v{res.challenger_version}" if res.challenger_version else ""))
    for t in res.triggers:
        print(f"  trigger {t['name']}: {'FIRED' if t['fired'] else 'no'} ({t['detail']})")
    if res.shadow is not None and res.shadow["rows"]:
        sh = res.shadow
        print(f"  shadow: {sh['rows']} rows compared, agreement {sh['agreement']:.1%}, {sh['labelled']} labelled")
    for reason in res.reasons:
        print(f"  {reason}")
    for warning in res.warnings:
        print(f"  warning: {warning}")


@command(loop_app, "run")
def loop_run(
    project: ProjectOpt = None,
    budget: Annotated[float | None, typer.Option(help="Seconds to spend if it retrains.")] = None,
) -> Reply:
    """One pass: check the triggers, retrain and gate a challenger when one fires, record the decision."""
    from tabloop.api import loop_run as run

    res = run(project, budget=budget, progress=progress())
    return Reply(res, lambda: _print_pass(res))


@command(loop_app, "watch")
def loop_watch(
    project: ProjectOpt = None,
    interval: Annotated[float, typer.Option(help="Seconds between passes.")] = 3600,
    max_passes: Annotated[int | None, typer.Option(help="Stop after this many passes (default: run until Ctrl-C).")] = None,
    budget: Annotated[float | None, typer.Option(help="Seconds to spend when a pass retrains.")] = None,
    json_: JsonOpt = False,
) -> Reply:
    """Repeat 'tabloop loop run' every --interval seconds."""
    from tabloop.api import loop_watch as run

    passes = run(project, interval=interval, max_passes=max_passes, budget=budget,
                 on_pass=None if json_ else _print_pass)
    return Reply({"passes": [p.to_dict() for p in passes]})


features_app = typer.Typer(help="The feature store (Feast) the spec's features: section describes.", no_args_is_help=True)
app.add_typer(features_app, name="features")


@command(features_app, "apply")
def features_apply(project: ProjectOpt = None) -> Reply:
    """Write .tabloop/feast/feature_store.yaml and register the spec's entities and feature views."""
    from tabloop.api import features_apply as run

    res = run(project)
    return Reply(res, lambda: print(
        f"applied {len(res.views)} feature view(s) ({', '.join(res.views)}) of project {res.project} in {res.repo}; "
        f"online store {res.online_store}"))


@command(features_app, "materialize")
def features_materialize(
    project: ProjectOpt = None,
    end: Annotated[str | None, typer.Option(help="Load values up to this time (ISO 8601, UTC when naive; default: now).")] = None,
) -> Reply:
    """Apply the spec, then load the online store with each view's newest values, from where the last run stopped."""
    from datetime import datetime

    from tabloop.api import features_materialize as run
    from tabloop.errors import SpecError

    try:
        until = datetime.fromisoformat(end) if end else None
    except ValueError:
        raise SpecError(f"--end {end!r} is not an ISO 8601 time", hint="e.g. --end 2026-01-31T00:00:00") from None
    res = run(project, end=until)

    def human() -> None:
        for view, window in res.views.items():
            print(f"{view}: {window.get('skipped') or 'loaded'} {window['start']} .. {window['end']}")
        print(f"online store: {res.online_store}")
    return Reply(res, human)


@command(app)
def approve(
    version: Annotated[str, typer.Argument(help="The challenger version waiting for approval.")],
    project: ProjectOpt = None,
) -> Reply:
    """Promote a challenger that the loop's policy left waiting for approval."""
    from tabloop.api import approve as run

    res = run(version, project=project)
    return Reply(res, lambda: print(f"{res.model}@champion -> v{res.version} (was v{res.previous})"))


@command(app)
def ui(project: ProjectOpt = None) -> Reply:
    """Print the command that opens the MLflow UI on this project's runs and registry."""
    from tabloop.workspace import Workspace

    ws = Workspace.open(project)
    spec = ws.load_spec()
    uri = ws.tracking_uri(spec)
    cmd = f"mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000"
    return Reply({"tracking_uri": uri, "command": cmd}, lambda: print_result(cmd))


@command(app)
def schema() -> Reply:
    """Print the JSON Schema of tabloop.yaml (for editors and CI checks)."""
    import json

    from tabloop.spec import spec_json_schema

    doc = spec_json_schema()
    return Reply({"schema": doc}, lambda: print_result(json.dumps(doc, indent=2)))


#: train and retrain each get this much, so the whole quickstart stays within ~3 minutes on 2 cores
QUICKSTART_BUDGET = 30.0


@command(app)
def quickstart(
    directory: Annotated[Path, typer.Argument(help="Folder for the demo project.")] = Path("demo-project"),
    budget: Annotated[float, typer.Option(help="Training budget in seconds, for train and for retrain.")] = QUICKSTART_BUDGET,
    force: Annotated[bool, typer.Option(help="Replace an earlier quickstart in DIRECTORY.")] = False,
    json_: JsonOpt = False,
) -> Reply:
    """Run the whole loop on the bundled Boston HMDA mortgage table, through the public commands."""
    from tabloop.cli._quickstart import run_quickstart

    res = run_quickstart(directory, budget=budget, as_json=json_, force=force)
    return Reply(res)


def main() -> None:
    app()


def _score(value: float | None) -> str:
    """A metric for people: 'undefined' where the holdout cannot give one (labels of one class)."""
    return "undefined" if value is None else f"{value:.4f}"
