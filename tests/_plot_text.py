"""What matplotlib will draw for each text of the report figures: for tests on labels from data."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest


def capture_drawn_texts(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> list[tuple[str, bool]]:
    """Record (text as drawn, drawn as math?) for every text of each figure ``module`` turns into HTML.

    The list fills as the module renders figures; each figure is drawn first, so its
    tick labels exist and a label matplotlib cannot parse fails the test right there.
    """
    from matplotlib.text import Text

    drawn: list[tuple[str, bool]] = []
    original = module.figure_to_html

    def spy(fig: Any, alt: str, **options: Any) -> str:
        # laid out as savefig will, whatever canvas the figure has (the report layer's have none of pyplot's)
        fig.draw_without_rendering()
        for text in fig.findobj(Text):
            raw = text.get_text()
            if raw:
                # the same decision matplotlib makes when it renders (math between unescaped $)
                shown, is_math = text._preprocess_math(raw)
                drawn.append((shown, bool(is_math)))
        return original(fig, alt, **options)

    monkeypatch.setattr(module, "figure_to_html", spy)
    return drawn
