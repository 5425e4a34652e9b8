"""How commands talk: one JSON document on stdout with --json, people-friendly text otherwise."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from tabloop.errors import TabloopError

#: exit codes: 0 ok, 1 a TabloopError (user-fixable), 2 an internal error, 3 a policy says act
EXIT_ERROR = 1
EXIT_INTERNAL = 2
EXIT_POLICY = 3

err_console = Console(stderr=True, highlight=False)


class Output:
    def __init__(self, *, as_json: bool, verbose: bool) -> None:
        self.as_json = as_json
        self.verbose = verbose
        # --verbose opens tabloop's own loggers only: the root stays at WARNING, so third parties
        # (matplotlib's font manager alone wrote some 2,400 DEBUG lines per plotting command, then
        # PIL, urllib3, alembic, mlflow) still say only what went wrong
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
        logging.getLogger("tabloop").setLevel(logging.DEBUG if verbose else logging.WARNING)

    def emit(self, result: dict[str, Any], human: Callable[[], None]) -> None:
        if self.as_json:
            _stdout().write(json.dumps({"ok": True, **result}, default=str) + "\n")
        else:
            human()

    def fail(self, exc: BaseException) -> NoReturn:
        if isinstance(exc, TabloopError):
            payload, code = exc.to_dict(), EXIT_ERROR
            err_console.print(f"[bold red]error:[/bold red] {escape(str(exc))}", markup=True, soft_wrap=True)
        else:
            payload = {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}
            code = EXIT_INTERNAL
            err_console.print(f"[bold red]internal error:[/bold red] {type(exc).__name__}: {escape(str(exc))}", soft_wrap=True)
            if not self.verbose:
                err_console.print("run again with --verbose for the traceback")
        if self.verbose:
            traceback.print_exception(exc, file=sys.stderr)
        if self.as_json:
            _stdout().write(json.dumps({"ok": False, "error": payload}, default=str) + "\n")
        raise typer.Exit(code)


def progress() -> Callable[[str], None]:
    """Progress lines for a person, on stderr (so --json's one document stays alone on stdout)."""

    def say(message: str) -> None:
        err_console.print(f"[dim]…[/dim] {message}")

    return say


SEVERITY_STYLE = {"critical": "bold red", "warning": "bold yellow", "info": "dim"}


def say_findings(findings: Sequence[Any], about: str = "about the data") -> None:
    """Findings (``Finding`` objects or their dicts) on stderr, most important first: severity, what was
    found, then what to do and the edit of tabloop.yaml. One format for every check of the data."""
    if not findings:
        return
    from tabloop.data._findings import SEVERITY_ORDER

    found = [f if isinstance(f, dict) else f.to_dict() for f in findings]
    found.sort(key=lambda f: (SEVERITY_ORDER.get(f["severity"], 9), -float(f.get("score") or 0.0)))
    err_console.print(f"{len(found)} finding(s) {about}, most important first:")
    for f in found:
        style = SEVERITY_STYLE.get(f["severity"], "")
        change = f"\n      [dim]in tabloop.yaml:[/dim] {escape(f['spec_change'])}" if f.get("spec_change") else ""
        err_console.print(f"  [{style}]{f['severity'].upper()}[/{style}] {escape(f['message'])}\n"
                          f"      [dim]what to do:[/dim] {escape(f['action'])}{change}", soft_wrap=True)


def print_result(text: str) -> None:
    """Text that is the command's result (a schema, a command line) goes to stdout, like --json's document;
    ``guarded`` sends everything else printed to stderr."""
    _stdout().write(text + "\n")


_REAL_STDOUT = sys.stdout


def _stdout() -> Any:
    return _REAL_STDOUT


@contextlib.contextmanager
def guarded(out: Output) -> Iterator[None]:
    """Run a command: library chatter on stdout goes to stderr, errors become one line and an exit code."""
    global _REAL_STDOUT
    outer, _REAL_STDOUT = _REAL_STDOUT, sys.stdout  # nested commands (quickstart) restore on exit
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except Exception as exc:  # every failure ends here, once
        out.fail(exc)
    finally:
        _REAL_STDOUT = outer
