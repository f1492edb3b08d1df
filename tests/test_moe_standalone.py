"""`pip install packages/moe` alone, into a fresh virtual environment, gives a working policy
library: the moe package's own tests pass there, with none of our other packages installed.

Slowish (a fresh venv with torch, about a minute or two); marked `install`.
"""

import subprocess
import sys
import venv

import pytest


@pytest.mark.install
def test_moe_installs_and_passes_its_tests_alone(repo_root, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = str(env_dir / "bin" / "python")

    def run(*args, cwd=tmp_path):
        proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout

    # constraints keep pip on the pinned torch build instead of fetching another one
    run(py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "-c", str(repo_root / "constraints.txt"), f"{repo_root / 'packages' / 'moe'}[test]")
    where = run(py, "-c", "import moe, importlib.util as u; print(moe.__file__); "
                "print([m for m in ('distill', 'teachers', 'envs', 'bench') if u.find_spec(m)])")
    assert str(env_dir) in where.splitlines()[0] and where.splitlines()[1] == "[]"
    out = run(py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
              str(repo_root / "packages" / "moe" / "tests"), cwd=tmp_path)
    assert " passed" in out and "failed" not in out, out[-2000:]
    assert sys.prefix != str(env_dir)
