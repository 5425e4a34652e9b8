"""docs/architecture.md, the import-linter contract and the source tree describe one structure.

A new reader must be able to say, for any file, which layer it is in and what it may import:
every module under ``src/tabloop`` sits in exactly one linted layer (or is one of the few named
as standing outside them), and the layer table in the architecture document lists the same
layers in the same order.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "tabloop"
DOC = ROOT / "docs" / "architecture.md"

# the entry points and the lazy-export helper every package uses; the document says why
OUTSIDE = {"tabloop.__init__", "tabloop.__main__", "tabloop._lazy"}


def _linted_layers() -> list[list[str]]:
    """The layers contract, top first, each layer a list of modules."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return [[name.strip() for name in layer.split("|")] for layer in contract["layers"]]


def _top_level_units() -> set[str]:
    """Every top-level module or package of tabloop, as a dotted name."""
    units = set()
    for path in SRC.iterdir():
        if path.is_dir() and (path / "__init__.py").exists():
            units.add(f"tabloop.{path.name}")
        elif path.suffix == ".py":
            units.add(f"tabloop.{path.stem}")
    return units


def _documented_layers() -> list[tuple[int, list[str]]]:
    """The rows of the layer table in docs/architecture.md: (number, [modules])."""
    rows = []
    for line in DOC.read_text().splitlines():
        match = re.match(r"\|\s*(\d+)\s*\|([^|]*)\|", line)
        if match:
            rows.append((int(match.group(1)), re.findall(r"`(tabloop[\w.]*)`", match.group(2))))
    return rows


def test_every_module_sits_in_exactly_one_linted_layer_or_is_named_as_outside() -> None:
    placed = [name for layer in _linted_layers() for name in layer]
    duplicates = {name for name in placed if placed.count(name) > 1}
    assert not duplicates, f"in more than one layer: {sorted(duplicates)}"
    units = _top_level_units()
    unplaced = units - set(placed) - OUTSIDE
    assert not unplaced, f"add these to [tool.importlinter] layers and to docs/architecture.md: {sorted(unplaced)}"
    stale = set(placed) - units
    assert not stale, f"the contract names modules that do not exist: {sorted(stale)}"


def test_the_documented_layer_table_is_the_linted_contract_bottom_first() -> None:
    documented = _documented_layers()
    assert [number for number, _ in documented] == list(range(1, len(documented) + 1)), \
        "number the layer table 1..N from the bottom"
    linted_bottom_first = [sorted(layer) for layer in reversed(_linted_layers())]
    assert [sorted(names) for _, names in documented] == linted_bottom_first


def test_the_modules_outside_the_layers_are_explained_in_the_document() -> None:
    text = DOC.read_text()
    for name in OUTSIDE:
        shown = name.replace("tabloop.__init__", "tabloop/__init__.py").replace("tabloop.__main__", "tabloop/__main__.py")
        assert shown in text, f"docs/architecture.md does not say why {name} stands outside the layers"


def test_the_readme_links_the_architecture_document() -> None:
    assert "docs/architecture.md" in (ROOT / "README.md").read_text()


def test_a_package_docstring_that_names_its_layer_names_the_documented_one() -> None:
    numbers = {name: number for number, names in _documented_layers() for name in names}
    for init in sorted(SRC.glob("*/__init__.py")):
        first_line = init.read_text().split("\n", 1)[0]
        match = re.search(r"\(layer (\d+)\)", first_line)
        if match:
            package = f"tabloop.{init.parent.name}"
            assert int(match.group(1)) == numbers[package], f"{init}: the table in docs/architecture.md says layer {numbers[package]}"
