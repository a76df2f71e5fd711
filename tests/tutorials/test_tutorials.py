"""The tutorials never rot: every notebook is in sync with its percent script and runs headless in fast mode.

Source of truth: ``tutorials/NN_name.py`` (jupytext percent format). ``tutorials/NN_name.ipynb`` is generated
from it (``jupytext --update --to ipynb tutorials/NN_*.py``) and shipped without outputs. The suite executes the
*notebook* through a Jupyter kernel of the running interpreter (``nbclient``) with ``MONAI_LIPINR_FAST=1``
— the path a reader takes — and checks that each tutorial saved its figures and that its cells displayed
figures inline.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

TUTORIAL_DIR = Path(__file__).resolve().parents[2] / "tutorials"
SCRIPTS = sorted(TUTORIAL_DIR.glob("[0-9][0-9]_*.py"))
IDS = [p.stem for p in SCRIPTS]
SYNC_HINT = "regenerate it with: jupytext --update --to ipynb tutorials/NN_*.py (the .py file is the source of truth)"


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_tutorials_exist():
    assert len(SCRIPTS) >= 6, f"expected tutorials 01-06 in {TUTORIAL_DIR}, found {IDS}"
    missing = [p.with_suffix(".ipynb").name for p in SCRIPTS if not p.with_suffix(".ipynb").is_file()]
    assert not missing, f"notebooks missing: {missing}; {SYNC_HINT}"


@pytest.mark.parametrize("script", SCRIPTS, ids=IDS)
def test_notebook_matches_its_script(script):
    notebook = nbformat.read(script.with_suffix(".ipynb"), as_version=4)
    expected = jupytext.read(script)
    assert _cells(notebook) == _cells(expected), f"{script.with_suffix('.ipynb').name} is stale; {SYNC_HINT}"
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3"
    with_outputs = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and c.get("outputs")]
    assert not with_outputs, f"ship notebooks without outputs (cells {with_outputs}); {SYNC_HINT}"


@pytest.mark.parametrize("script", SCRIPTS, ids=IDS)
def test_tutorial_states_its_data_source(script):
    first = jupytext.read(script).cells
    prose = "\n".join(c.source for c in first if c.cell_type == "markdown")
    assert "**Data source.**" in prose, f"{script.name} must say where its data come from (a fresh install has no ../shared)"
    assert "MONAI_LIPINR_FAST" in prose, f"{script.name} must explain its headless fast mode"


@pytest.mark.parametrize("script", SCRIPTS, ids=IDS)
def test_notebook_runs_in_fast_mode(script, tmp_path, monkeypatch):
    monkeypatch.setenv("MONAI_LIPINR_FAST", "1")
    monkeypatch.setenv("MONAI_LIPINR_TUTORIAL_OUTPUT", str(tmp_path))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend, as a reader sees it
    monkeypatch.delenv("MONAI_LIPINR_SHARED", raising=False)
    # small problems: one BLAS/OpenMP thread is faster, and much faster on a busy 2-core machine
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")
    notebook = nbformat.read(script.with_suffix(".ipynb"), as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # kernel "python3" runs this interpreter (jupyter_client substitutes sys.executable)
    figures = sorted(p.name for p in tmp_path.glob(f"tutorial{script.name[:2]}_*.png"))
    assert figures, f"{script.name} saved no figure to MONAI_LIPINR_TUTORIAL_OUTPUT"
    shown = sum("image/png" in out.get("data", {}) for c in notebook.cells if c.cell_type == "code"
                for out in c.get("outputs", []))
    assert shown >= len(figures), f"{script.name}: {len(figures)} figures saved but {shown} displayed"
