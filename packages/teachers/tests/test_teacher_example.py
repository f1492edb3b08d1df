import runpy
import sys
from pathlib import Path

import pytest


def test_toy_example_runs_with_a_tiny_budget(capsys, monkeypatch):
    pytest.importorskip("envs")  # the example (not the package) uses the toy task
    script = Path(__file__).parents[1] / "examples" / "toy_teachers.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--iterations", "10", "--samples", "200"])
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    for kind in ("beso", "ddpm"):
        assert f"{kind}: N-step" in out and f"{kind}: 1-step" in out
    assert out.count("cosine to the analytic score") == 7
