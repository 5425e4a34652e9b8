"""``tabloop.profile`` as a facade: what it runs beside the profile."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import tabloop


def test_no_shift_check_for_a_split_that_draws_both_parts_from_the_same_rows(
    tmp_path: Path, hmda_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tabloop.api._leakage as leakage

    asked: list[int] = []
    real = leakage.shift_findings
    monkeypatch.setattr(leakage, "shift_findings", lambda *a, **k: asked.append(1) or real(*a, **k))
    root = tmp_path / "p"
    tabloop.init(root, data=str(hmda_csv), target="deny", exclude=["black"])
    res = tabloop.profile(root)  # stratified (the default): a classifier could only find chance
    raw = yaml.safe_load((root / "tabloop.yaml").read_text())
    raw["split"]["strategy"] = "random"
    (root / "tabloop.yaml").write_text(yaml.safe_dump(raw))
    tabloop.profile(root)
    assert asked == [] and res.leakage == []
    assert res.findings and res.findings[0]["severity"] in ("critical", "warning", "info")


def test_profile_imports_neither_scikit_learn_nor_scipy(tmp_path: Path, hmda_csv: Path) -> None:
    # a second of a million-row profile went to importing them for the leak checks, which need neither; a split
    # that is not random or stratified still imports them, for the shift check's classifier
    import subprocess
    import sys

    root = tmp_path / "p"
    tabloop.init(root, data=str(hmda_csv), target="deny", exclude=["black"])
    code = ("import sys, tabloop; r = tabloop.profile(sys.argv[1]); "
            "print(sorted(m for m in ('sklearn', 'scipy', 'lightgbm', 'matplotlib') if m in sys.modules), "
            "len(r.findings) > 0)")
    done = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["[]", "True"], done.stderr[-2000:]
