"""``tabloop init``: write a commented spec for a table and a target."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from tabloop.api._results import Result
from tabloop.data import infer_task, is_database_url, read_table
from tabloop.errors import DataError, SpecError
from tabloop.spec import SCHEMA_FILENAME, SPEC_FILENAME, spec_json_schema, spec_to_yaml, validate_spec
from tabloop.workspace import atomic_write_json, atomic_write_text


@dataclass
class InitResult(Result):
    project: Path
    spec: Path
    schema: Path
    task: str
    target: str
    rows: int
    columns: list[str]


def init(
    directory: str | Path,
    *,
    data: str,
    target: str,
    task: str | None = None,
    name: str | None = None,
    exclude: list[str] | None = None,
    query: str | None = None,
    table: str | None = None,
    force: bool = False,
) -> InitResult:
    """Write ``DIR/tabloop.yaml`` (every default written out and commented) and its JSON Schema."""
    root = Path(directory).resolve()
    spec_path = root / SPEC_FILENAME
    if spec_path.exists() and not force:
        raise SpecError(f"{spec_path}: already exists", hint="edit it, or pass --force to write a new one")
    if is_database_url(data):
        source = data
        df = read_table(data, query=query, table=table)
    else:
        data_path = Path(data).resolve()
        df = read_table(data_path, query=query, table=table)  # a query or table with a file is refused there
        source = os.path.relpath(data_path, root)
    if target not in df.columns:
        raise DataError(f"{data}: no column {target!r} to predict (columns: {list(df.columns)})", hint="pass --target COL")
    for col in exclude or []:
        if col not in df.columns:
            raise DataError(f"{data}: column {col!r} given to --exclude is not in the data")
    project_name = name or _slug(root.name)
    raw = {
        "name": project_name,
        "data": {"source": source, "query": query, "table": table, "target": target,
                 "task": task or infer_task(df[target]), "exclude": list(exclude or [])},
    }
    spec = validate_spec(raw, source=str(spec_path))
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(spec_path, spec_to_yaml(spec))
    schema_path = atomic_write_json(root / SCHEMA_FILENAME, spec_json_schema())
    gitignore = root / ".gitignore"
    if not gitignore.exists():
        atomic_write_text(gitignore, ".tabloop/\n")
    return InitResult(root, spec_path, schema_path, spec.task, target, len(df), [str(c) for c in df.columns])


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")
    return slug or "tabloop-project"
