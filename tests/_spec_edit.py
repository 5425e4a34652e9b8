"""Editing a project's tabloop.yaml in tests, by dotted keys."""

from __future__ import annotations

from pathlib import Path

import yaml


def set_spec(root: Path, **changes: object) -> None:
    """Edit ``root``'s tabloop.yaml: keys like ``train.candidates``, passed as ``**{"train.candidates": [...]}``."""
    path = root / "tabloop.yaml"
    raw = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    path.write_text(yaml.safe_dump(raw))
