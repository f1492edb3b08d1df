"""Fault drill (issue 19): inject each fault into tiny toy runs and print a table
fault | expected | seen | ok. Run from the repository root: `python scripts/fault_drill.py`.

Each run is `python -m bench.run` in a subprocess with tiny bindings, a scratch cache, output
folder and MLflow store under a temporary folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TINY = ["Benchmark.methods = ['ddpm', 'vdd']", "Benchmark.teachers = ['ddpm']",
        "Benchmark.seeds = (0,)", "VDDConfig.iterations = 5", "VDDConfig.batch_size = 8",
        "VDDConfig.num_samples = 8", "Benchmark.eval_samples = 200",
        "Benchmark.timing_repeats = 1", "Benchmark.snapshot_iterations = []",
        "TrainerConfig.progress = False", "TeacherTrainingConfig.iterations = 5",
        "TeacherTrainingConfig.batch_size = 16", "DDPMConfig.n_layer = 1",
        "DDPMConfig.n_head = 1", "DDPMConfig.n_embd = 16", "DDPMConfig.num_steps = 2"]


def _cmd(root: Path, *extra: str) -> list[str]:
    args = [sys.executable, "-m", "bench.run", "--gin", "gin/toy2d.gin",
            "--output-dir", str(root / "out"), "-b", f"Benchmark.cache_dir = '{root / 'cache'}'"]
    for b in TINY:
        args += ["-b", b]
    return args + list(extra)


def _env(root: Path, uri: str | None = None) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1",
            "MLFLOW_TRACKING_URI": uri or f"sqlite:///{root}/mlflow.db"}


def _run(root: Path, *extra: str, uri: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(root, *extra), env=_env(root, uri), capture_output=True,
                          text=True, timeout=600)


def _teacher(root: Path) -> Path:
    return next(p for p in (root / "cache").iterdir()
                if p.is_dir() and p.name.startswith("toy2d-ddpm-") and "." not in p.name)


def drill(root: Path) -> list[tuple[str, str, str, bool]]:
    rows = []
    first = _run(root)
    rows.append(("clean run", "exit 0", f"exit {first.returncode}", first.returncode == 0))
    for name, damage in [("teacher weights random bytes",
                          lambda p: (p / "model.safetensors").write_bytes(os.urandom(4000))),
                         ("teacher weights truncated", lambda p: (p / "model.safetensors")
                          .write_bytes((p / "model.safetensors").read_bytes()[:100])),
                         ("teacher entry incomplete", lambda p: (p / "config.json").unlink())]:
        damage(_teacher(root))
        r = _run(root)
        moved = "is corrupt" in r.stdout
        rows.append((name, "named, moved aside, retrained; exit 0",
                     f"exit {r.returncode}, named {moved}", r.returncode == 0 and moved))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "packages/envs/src"))
    from envs.datasets import load_or_generate

    data = load_or_generate("avoiding", 2, seed=0, cache_dir=root / "dcache", workers=1,
                            progress=False)
    h5 = next((data.path / "data").rglob("*.hdf5"))
    h5.write_bytes(os.urandom(h5.stat().st_size))
    again = load_or_generate("avoiding", 2, seed=0, cache_dir=root / "dcache", workers=1,
                             progress=False)
    rows.append(("dataset garbled", "moved aside, regenerated", f"cached {again.cached}",
                 not again.cached))
    diverge = _run(root, "-b", "vdd/VDDConfig.lr = 1e6")
    marked = "vdd (FAILED" in diverge.stdout
    rows.append(("one method diverges", "exit 1, others finish, row FAILED",
                 f"exit {diverge.returncode}, marked {marked}",
                 diverge.returncode == 1 and marked))
    for sig, code in [(signal.SIGINT, 130), (signal.SIGTERM, 143)]:
        p = subprocess.Popen(_cmd(root, "-b", "VDDConfig.iterations = 100000"),
                             env=_env(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        time.sleep(25)
        p.send_signal(sig)
        _, err = p.communicate(timeout=120)
        one = "Traceback" not in err and err.strip().splitlines()[-1].startswith("error:")
        rows.append((f"{signal.Signals(sig).name} mid-run", f"exit {code}, one line, KILLED",
                     f"exit {p.returncode}, one line {one}", p.returncode == code and one))
    a, b = (subprocess.Popen(_cmd(root), env=_env(root), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2))
    codes = [a.wait(timeout=600), b.wait(timeout=600)]
    folders = len(list((root / "out" / "toy2d").iterdir()))
    rows.append(("two runs at once", "both exit 0, own folders", f"exits {codes}",
                 codes == [0, 0]))
    start = time.perf_counter()
    dead = _run(root, uri="http://127.0.0.1:9")
    took = time.perf_counter() - start
    rows.append(("tracking server dead", "exit 4 in seconds",
                 f"exit {dead.returncode} in {took:.0f}s", dead.returncode == 4 and took < 60))
    bad = _run(root, "-b", "vdd_publshed/VDDConfig.lr = -5.0")
    rows.append(("typo'd gin scope", "exit 2, one line", f"exit {bad.returncode}",
                 bad.returncode == 2))
    print(f"(output folders: {folders})", file=sys.stderr)
    return rows


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        rows = drill(Path(tmp))
    print("| fault | expected | seen | ok |\n|---|---|---|---|")
    for fault, expected, seen, ok in rows:
        print(f"| {fault} | {expected} | {seen} | {'yes' if ok else 'NO'} |")
    print(f"\nfaults injected: {len(rows)}, survived: {sum(r[3] for r in rows)}")
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
