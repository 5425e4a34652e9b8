"""Pins the one exception tree: every exception class lives in ``tabloop.errors`` and derives from ``TabloopError``.

The walk reads the source (``ast``), so it needs no heavy library and sees classes in
modules that import one lazily.
"""

from __future__ import annotations

import ast
import builtins
import inspect
from pathlib import Path

import pytest

import tabloop
import tabloop.errors as errors

SRC = Path(tabloop.__file__).parent

#: exception classes allowed outside errors.py, each with the reason
ALLOWED_OUTSIDE = {
    # private control flow: raised and caught inside training/_cv.py, never reaches a user
    "tabloop/training/_cv.py:_OutOfTime",
}

#: names that mark a base as an exception class, whatever module it came from
_EXCEPTION_ROOTS = {
    name for name, obj in vars(builtins).items() if isinstance(obj, type) and issubclass(obj, BaseException)
} | set(errors.__all__)


def _base_names(node: ast.ClassDef) -> set[str]:
    out = set()
    for base in node.bases:
        if isinstance(base, ast.Name):
            out.add(base.id)
        elif isinstance(base, ast.Attribute):
            out.add(base.attr)
    return out


def _exception_classes_outside_errors() -> list[str]:
    """``path:Class`` for every class outside errors.py whose bases (transitively, within its module) are exceptions."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "errors.py" and path.parent == SRC:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
        known = set(_EXCEPTION_ROOTS)
        # a class deriving from another exception class of the same module counts too
        changed = True
        marked: set[str] = set()
        while changed:
            changed = False
            for node in classes:
                if node.name not in marked and _base_names(node) & (known | marked):
                    marked.add(node.name)
                    changed = True
        rel = path.relative_to(SRC.parent).as_posix()
        found.extend(f"{rel}:{name}" for name in sorted(marked))
    return found


def test_every_exception_class_is_defined_in_errors() -> None:
    outside = [name for name in _exception_classes_outside_errors() if name not in ALLOWED_OUTSIDE]
    assert outside == [], "define these in src/tabloop/errors.py (or allow-list a private one with a reason)"


def test_the_allow_list_holds_no_stale_entry() -> None:
    found = set(_exception_classes_outside_errors())
    stale = ALLOWED_OUTSIDE - found
    assert stale == set()


def test_the_walk_sees_a_private_exception() -> None:
    assert "tabloop/training/_cv.py:_OutOfTime" in _exception_classes_outside_errors()


def _public_error_classes() -> list[type[BaseException]]:
    return [obj for name in errors.__all__ if inspect.isclass(obj := getattr(errors, name)) and issubclass(obj, BaseException)]


def test_every_public_error_derives_from_tabloop_error() -> None:
    classes = _public_error_classes()
    assert len(classes) >= 27
    for cls in classes:
        assert issubclass(cls, errors.TabloopError), cls.__name__


def test_every_class_in_errors_is_listed_in_all() -> None:
    defined = {name for name, obj in vars(errors).items()
               if inspect.isclass(obj) and obj.__module__ == errors.__name__ and not name.startswith("_")}
    assert defined == set(errors.__all__)


@pytest.mark.parametrize("cls", _public_error_classes(), ids=lambda c: c.__name__)
def test_every_error_has_its_own_code_in_the_docstring_tree(cls: type[errors.TabloopError]) -> None:
    assert isinstance(cls.code, str) and cls.code
    assert errors.__doc__ is not None and cls.__name__ in errors.__doc__


#: codes two classes share on purpose: a client sees one "the log is unavailable" whichever side noticed it,
#: and records that cannot be logged are bad data to the client of /feedback and `tabloop feedback`
SHARED_CODES = {
    "prediction_log_unavailable": {"LogUnavailable", "PredictionLogError"},
    "data_error": {"DataError", "UnloggableRecords"},
}


def test_codes_are_unique() -> None:
    by_code: dict[str, set[str]] = {}
    for cls in _public_error_classes():
        by_code.setdefault(cls.code, set()).add(cls.__name__)
    shared = {code: names for code, names in by_code.items() if len(names) > 1}
    assert all(names <= SHARED_CODES.get(code, set()) for code, names in shared.items()), shared


def test_not_convertible_is_a_tabloop_error_that_export_still_reports() -> None:
    exc = errors.NotConvertible("column 'x' has a category spelled like the internal gap marker")
    assert isinstance(exc, errors.TabloopError)
    assert str(exc) == "column 'x' has a category spelled like the internal gap marker"
