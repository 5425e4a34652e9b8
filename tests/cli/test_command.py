"""The one command skeleton: text or exactly one JSON document, errors mapped to exit codes."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from typer.testing import CliRunner

from tabloop.cli._command import JsonOpt, Reply, command
from tabloop.errors import DataError

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @command(app)
    def answer(what: Annotated[str, typer.Argument()] = "ok", code: int = 0) -> Reply:
        """Answer WHAT."""
        if what == "data":
            raise DataError("bad column", hint="fix it")
        if what == "bug":
            raise RuntimeError("boom")
        print("library chatter")  # must not reach stdout
        return Reply({"what": what}, lambda: print(f"said {what}"), exit_code=code)

    @command(app, "echo-json")
    def echo_json(json_: JsonOpt = False) -> Reply:
        """A command that reads --json itself."""
        return Reply({"saw_json": json_})

    return app


def test_json_is_one_document_on_stdout_and_text_goes_to_stderr() -> None:
    res = runner.invoke(_app(), ["answer", "hello", "--json"])
    assert res.exit_code == 0
    assert json.loads(res.stdout) == {"ok": True, "what": "hello"}
    assert "library chatter" in res.stderr
    text = runner.invoke(_app(), ["answer", "hello"])
    assert text.stdout == "" and "said hello" in text.stderr


def test_errors_and_policies_map_to_exit_codes() -> None:
    res = runner.invoke(_app(), ["answer", "data", "--json"])
    assert res.exit_code == 1
    assert json.loads(res.stdout)["error"]["message"].startswith("bad column")
    assert "error:" in res.stderr
    assert runner.invoke(_app(), ["answer", "bug"]).exit_code == 2
    assert runner.invoke(_app(), ["answer", "x", "--code", "3"]).exit_code == 3


def test_json_and_verbose_are_added_last_unless_declared() -> None:
    help_text = runner.invoke(_app(), ["answer", "--help"]).stdout
    assert help_text.index("--code") < help_text.index("--json") < help_text.index("--verbose")
    res = runner.invoke(_app(), ["echo-json", "--json", "--verbose"])
    assert json.loads(res.stdout) == {"ok": True, "saw_json": True}
