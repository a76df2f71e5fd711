"""Every tutorial runs headless in its fast mode (so the tutorials never rot)."""

from __future__ import annotations

import os
import runpy
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).resolve().parents[2] / "tutorials").glob("[0-9][0-9]_*.py"))


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs_in_fast_mode(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MONAI_LIPINR_FAST", "1")
    monkeypatch.setenv("MONAI_LIPINR_TUTORIAL_OUTPUT", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(path), run_name="__main__")
    assert any(tmp_path.iterdir()) or os.environ.get("MONAI_LIPINR_FAST") == "1"


def test_tutorials_exist():
    assert TUTORIALS, "no tutorial found in tutorials/"
