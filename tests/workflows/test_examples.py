"""examples/monai_workflows.py runs as shipped (tiny settings)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "monai_workflows.py"


def test_monai_workflows_example(tmp_path):
    spec = importlib.util.spec_from_file_location("monai_workflows_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.main(["--iterations", "40", "--spacing", "9", "--hidden-features", "16", "--output",
                       str(tmp_path / "ckpt")])
    assert out["iterations"] <= 40
    assert out["error_after"] < out["error_before"]
    assert out["result"].metrics["tre_mm"]["mean"] < out["result"].metrics["tre_before_mm"]["mean"]
    assert len(list((tmp_path / "ckpt").glob("*.pt"))) == 1
    assert out["item"]["fixed_ddf"].shape[1:] == out["item"]["fixed"].shape[1:]
