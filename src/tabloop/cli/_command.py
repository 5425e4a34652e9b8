"""The one skeleton of every command: run it, print text or one JSON document, map errors to exit codes.

A command is a function that calls the facade (``tabloop.api``, which resolves the project:
``--project``, else ``TABLOOP_PROJECT``, else the current folder) and returns a
:class:`Reply`: what ``--json`` prints, how to say it to a person, and the exit code.
:func:`command` registers it with typer, adds ``--json`` and ``--verbose`` unless the
function takes them itself, and runs it inside :func:`~tabloop.cli._output.guarded`, so
library chatter goes to stderr and every failure becomes one line and exit code 1 or 2.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from tabloop.cli._output import Output, guarded

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON document on stdout.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log more and show tracebacks.")]

#: the options every command takes, last on its --help, added when the command does not declare them
_OUTPUT_OPTIONS = (
    inspect.Parameter("json_", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=JsonOpt),
    inspect.Parameter("verbose", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=VerboseOpt),
)


def _nothing() -> None:
    return None


@dataclass
class Reply:
    """What a command answered: ``result`` (a facade result with ``to_dict()``, or a dict) for ``--json``,
    ``human`` to print it for a person, and the exit code (3: a policy says act)."""

    result: Any
    human: Callable[[], Any] = field(default=_nothing)
    exit_code: int = 0

    def payload(self) -> dict[str, Any]:
        return self.result if isinstance(self.result, dict) else self.result.to_dict()


def command(parent: typer.Typer, name: str | None = None) -> Callable[[Callable[..., Reply]], Callable[..., None]]:
    """Register ``fn`` as the command ``name`` (default: its own name) of ``parent`` with the common skeleton."""

    def register(fn: Callable[..., Reply]) -> Callable[..., None]:
        signature = inspect.signature(fn, eval_str=True)
        own = list(signature.parameters.values())
        takes = {p.name for p in own}
        params = own + [p for p in _OUTPUT_OPTIONS if p.name not in takes]

        @functools.wraps(fn)
        def run(**kwargs: Any) -> None:
            out = Output(as_json=kwargs.get("json_", False), verbose=kwargs.get("verbose", False))
            with guarded(out):
                reply = fn(**{k: v for k, v in kwargs.items() if k in takes})
                out.emit(reply.payload(), reply.human)
            if reply.exit_code:
                raise typer.Exit(reply.exit_code)

        # typer reads the options from the signature: the command's own, then --json and --verbose
        del run.__wrapped__
        run.__signature__ = signature.replace(parameters=params, return_annotation=None)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        parent.command(name)(run)
        return run

    return register
