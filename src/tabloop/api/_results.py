"""Results of the facade functions: plain dataclasses that print as one JSON document."""

from __future__ import annotations

import dataclasses
from typing import Any

from tabloop._plain import plain


class Result:
    """Mixin: ``to_dict()`` turns paths into strings and drops private fields."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if f.name.startswith("_"):
                continue
            # an unbounded number has always printed as Infinity here; NaN as null
            out[f.name] = plain(getattr(self, f.name), keep_infinity=True)
        return out
