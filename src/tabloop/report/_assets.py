"""The report layer's package data (``report/assets/``): stylesheets, the dashboard page and its script.

They ship inside the wheel (``[tool.setuptools.package-data]``), so they are read through
``importlib.resources``, which also finds them in a zipped install; each is read once.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["asset_text"]


@cache
def asset_text(name: str) -> str:
    """The text of ``assets/<name>``, exactly as shipped (the CSP hashes the script's bytes)."""
    return (resources.files("tabloop.report") / "assets" / name).read_text(encoding="utf-8")
