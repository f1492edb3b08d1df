"""The README's control-loop and deploy examples run as written: the command that makes the
checkpoint, then its Python blocks in one session (the deploy blocks need the export extra)."""

import contextlib
import importlib.util
import io
import re
import runpy
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest

PACKAGE = Path(__file__).parents[1]
README = (PACKAGE / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end > 0 else None]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_readme_control_loop_and_deploy_run_as_written(tmp_path, monkeypatch):
    loop, deploy = section("In a control loop"), section("Deploy: an ONNX file, run without torch")
    (command,) = blocks(loop, "bash")
    argv = shlex.split(command.strip())
    assert argv[:2] == ["python", "examples/control_loop.py"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(PACKAGE / argv[1]), *argv[2:]])
    with contextlib.redirect_stdout(io.StringIO()):
        runpy.run_path(str(PACKAGE / argv[1]), run_name="__main__")
    assert (tmp_path / "checkpoint" / "model.safetensors").is_file()

    session: dict = {}
    out = io.StringIO()
    (use,) = blocks(loop, "python")
    with contextlib.redirect_stdout(out):
        exec(compile(use, "README: In a control loop", "exec"), session)
    reached = np.array([float(x) for x in re.findall(r"-?\d+\.\d+", out.getvalue())])
    assert min(np.abs(reached - goal).max() for goal in ([1.0, 1.0], [-1.0, 1.0])) < 0.2

    if not (importlib.util.find_spec("onnx") and importlib.util.find_spec("onnxruntime")):
        pytest.skip('the deploy blocks need the export extra: pip install "vdd-moe[export]"')
    for i, code in enumerate(blocks(deploy, "python")):
        exec(compile(code, f"README: Deploy block {i + 1}", "exec"), session)
    assert (tmp_path / "policy.onnx").is_file() and (tmp_path / "policy_b1.onnx").is_file()
    action = np.asarray(session["action"])
    assert action.shape == (2,) and np.isfinite(action).all()
