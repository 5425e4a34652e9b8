"""Reading and writing tabloop.yaml: commented YAML out, validated models in."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from tabloop.errors import SpecError
from tabloop.spec._models import Spec

SPEC_FILENAME = "tabloop.yaml"
SCHEMA_FILENAME = "tabloop.schema.json"
ENV_PREFIX = "TABLOOP_"
#: short environment names for the settings people change most
ENV_ALIASES = {
    "TABLOOP_TRACKING_URI": ("tracking", "uri"),
    "TABLOOP_PREDLOG_URL": ("serving", "log_url"),
    "TABLOOP_SEED": ("seed",),
    "TABLOOP_BUDGET": ("train", "budget_seconds"),
    "TABLOOP_ALERTS_WEBHOOK": ("alerts", "webhook"),
}


def load_spec(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Spec:
    """Read, override from ``TABLOOP_*`` variables, and validate a spec file."""
    path = Path(path)
    if path.is_dir():
        path = path / SPEC_FILENAME
    if not path.exists():
        raise SpecError(
            f"{path}: no spec file here",
            hint="run 'tabloop init DIR --data PATH --target COL' or pass --project DIR",
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"{path}:{where} is not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping of settings at the top level, got {type(raw).__name__}")
    raw = apply_env_overrides(raw, os.environ if environ is None else environ)
    return validate_spec(raw, source=str(path))


def validate_spec(raw: Mapping[str, Any], *, source: str = SPEC_FILENAME) -> Spec:
    try:
        return Spec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(_describe(exc, source)) from exc


def apply_env_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """``TABLOOP_TRAIN__BUDGET_SECONDS=30`` sets train.budget_seconds; aliases in ENV_ALIASES."""
    out = json.loads(json.dumps(raw, default=str))
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        if key in ENV_ALIASES:
            keys: tuple[str, ...] = ENV_ALIASES[key]
        elif "__" in key:
            keys = tuple(part.lower() for part in key[len(ENV_PREFIX) :].split("__"))
        else:
            continue
        node = out
        for part in keys[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SpecError(f"environment variable {key}: {part!r} is not a section of the spec")
        node[keys[-1]] = yaml.safe_load(value) if value.strip() else None
    return out


def _describe(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(err["loc"][:-1])
            lines.append(f"{loc}: unknown key; allowed here: {', '.join(allowed)}")
        elif err["type"] == "missing":
            lines.append(f"{loc}: required key is missing")
        else:
            lines.append(f"{loc}: {err['msg']}")
    return f"{source}: invalid spec: " + "; ".join(lines)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = Spec
    for part in loc:
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        model = ann
    return list(model.model_fields)


def spec_to_yaml(spec: Spec) -> str:
    """Every setting written out, each with its description as a comment."""
    header = (
        f"# yaml-language-server: $schema={SCHEMA_FILENAME}\n"
        "# tabloop problem spec. Every default is written out; change what you need.\n"
        "# Precedence: CLI flag > TABLOOP_* environment variable > this file > default.\n"
    )
    return header + "".join(_emit(spec, indent=0))


def _emit(model: BaseModel, indent: int) -> list[str]:
    pad = "  " * indent
    out: list[str] = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if field.description:
            out.append(f"\n{pad}# {field.description}\n" if indent == 0 else f"{pad}# {field.description}\n")
        if isinstance(value, BaseModel):
            out.append(f"{pad}{name}:\n")
            out.extend(_emit(value, indent + 1))
        else:
            if isinstance(value, list) and any(isinstance(v, BaseModel) for v in value):
                # a list of sections (features.entities, features.views) is written as plain mappings
                value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
            dumped = yaml.safe_dump({name: value}, default_flow_style=True, sort_keys=False, width=10_000)
            dumped = dumped.strip()
            if dumped.startswith("{") and dumped.endswith("}"):
                dumped = dumped[1:-1]
            out.append(f"{pad}{dumped}\n")
    return out


def spec_json_schema() -> dict[str, Any]:
    schema = Spec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "tabloop.yaml"
    return schema


def spec_hash(spec: Spec) -> str:
    """Content hash of the validated spec (independent of comments and key order)."""
    payload = json.dumps(spec.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()
