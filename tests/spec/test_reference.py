"""docs/spec.md is generated from the pydantic models and must match them."""

from __future__ import annotations

from pathlib import Path

from tabloop.spec import Spec
from tabloop.spec.reference import spec_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "spec.md"


def test_docs_spec_md_is_up_to_date_with_the_models() -> None:
    assert DOC.read_text() == spec_reference() + "\n", (
        "docs/spec.md is stale: run 'python -m tabloop.spec.reference > docs/spec.md'"
    )


def test_the_reference_names_every_key() -> None:
    text = spec_reference()

    def keys(model: type, prefix: str) -> list[str]:
        out = []
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            key = f"{prefix}{name}"
            out.append(key)
            sub = field.annotation
            if isinstance(sub, type) and hasattr(sub, "model_fields"):
                out += keys(sub, f"{key}.")
        return out

    for key in keys(Spec, ""):
        assert f"| `{key}` |" in text, key
