"""Lazy package exports (PEP 562): a package's names are imported from their module on first use.

A package lists its exports once, as ordinary ``from tabloop.x._mod import name`` lines
under ``if TYPE_CHECKING:`` (so type checkers, editors and import-linter see the real
imports); ``exports`` reads those lines from the package's own source and returns the
module ``__getattr__`` and ``__dir__``. ``import tabloop.data`` then costs
nothing, and ``from tabloop.data import read_table`` imports ``tabloop.data._read`` alone,
not the scikit-learn that ``tabloop.data._split`` needs: each command pays only for
the libraries it uses.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def exports(package: str, init_file: str) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, from the imports in its ``if TYPE_CHECKING:`` block."""
    where = _type_checking_imports(Path(init_file), package)

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        # bound once, so later lookups (and monkeypatching) see a plain attribute
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(where) | set(vars(sys.modules[package])))

    return __getattr__, __dir__


def _type_checking_imports(init_file: Path, package: str) -> dict[str, str]:
    """name -> absolute module of each ``from X import name`` under ``if TYPE_CHECKING:`` in ``init_file``."""
    tree = ast.parse(init_file.read_text(encoding="utf-8"), str(init_file))
    where: dict[str, str] = {}
    for node in tree.body:
        if not (isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
            continue
        for stmt in node.body:
            if not isinstance(stmt, ast.ImportFrom) or stmt.module is None:
                continue
            module = stmt.module if stmt.level == 0 else importlib.util.resolve_name("." * stmt.level + stmt.module, package)
            for alias in stmt.names:
                where[alias.asname or alias.name] = module
    if not where:
        raise ImportError(f"{init_file}: no 'from ... import ...' under 'if TYPE_CHECKING:' to export lazily")
    return where
