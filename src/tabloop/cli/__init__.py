"""The command line (layer 17): ``tabloop COMMAND``; every command takes --json."""

from tabloop.cli._app import app, main

__all__ = ["app", "main"]
