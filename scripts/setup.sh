#!/usr/bin/env bash
# Set up a fresh machine: a virtual environment in .venv with the five packages (editable),
# every pip call constrained by constraints.txt so no second torch build is ever pulled in.
# Safe to re-run; it only installs what is missing.  VENV=path overrides the location.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
# (this machine's pip config names local package folders that may be absent: drop those warnings)
pip_install() {
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -c constraints.txt "$@" \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
# 1. the pinned torch/torchvision pair first
pip_install torch torchvision
# 2. our packages, in dependency order, plus the test runner (moe with its image extra: timm
#    encoders for the image tasks, and its export extra: onnx + onnxruntime for the ONNX export
#    and its tests; `pip install packages/moe` alone stays state-only and torch-light;
#    bench with its ray extra: the Ray executor and its tests; `pip install packages/bench`
#    alone never imports ray)
pip_install -e "packages/moe[image,export]" -e packages/teachers -e packages/envs \
    -e packages/distill -e "packages/bench[ray]" pytest
# 3. check that nothing replaced the pinned torch
"$VENV/bin/python" - <<'PY'
import re, sys, torch
import onnxruntime  # the export extra (moe's ONNX tests run only where it is installed)
import ray  # bench's ray extra (--executor ray and its tests)
want = next(l.split("==")[1].strip() for l in open("constraints.txt") if l.startswith("torch=="))
if not torch.__version__.startswith(want):
    sys.exit(f"setup: torch {torch.__version__} is installed, constraints.txt pins {want}")
print(f"setup: ok (torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
      f"ray {ray.__version__}, venv {sys.prefix})")
PY
