"""A run with stdout redirected to a file (nohup, CI, a scheduler) shows its progress: a line
per teacher and student training every few iterations, and which cell of the grid runs."""

import os
import re
import subprocess
import sys


def test_redirected_run_prints_progress_lines(repo_root, tmp_path):
    log = tmp_path / "run.log"
    args = [sys.executable, "-m", "bench.run", "--gin", "gin/toy2d.gin", "--seeds", "0",
            "--output-dir", str(tmp_path / "out"),
            "-b", f"Benchmark.cache_dir = '{tmp_path / 'cache'}'",
            "-b", "Benchmark.methods = ['beso', 'vdd_beso']", "-b", "Benchmark.teachers = ['beso']",
            "-b", "TeacherTrainingConfig.iterations = 20",
            "-b", "TeacherTrainingConfig.batch_size = 16",
            "-b", "BESOConfig.n_layer = 1", "-b", "BESOConfig.n_head = 1",
            "-b", "BESOConfig.n_embd = 16",
            "-b", "VDDConfig.iterations = 20", "-b", "TrainerConfig.progress_every = 10",
            "-b", "Benchmark.eval_samples = 200", "-b", "Benchmark.timing_repeats = 2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}
    with open(log, "w") as fh:
        code = subprocess.run(args, cwd=repo_root, stdout=fh, stderr=subprocess.STDOUT,
                              env=env, timeout=600).returncode
    text = log.read_text()
    assert code == 0, text[-3000:]
    for label in ("teacher beso seed 0", "vdd_beso-seed0"):
        done = re.findall(rf"\[bench\] {label}: iteration (\d+)/20 \(\d+%\), \w+ \S+, "
                          r"[\d.]+ it/s, ETA \w+", text)
        assert done == ["10", "20"], (label, text[-3000:])
    cells = re.findall(r"\[bench\] cell (\d) of 2: (\S+)", text)
    assert cells == [("1", "beso-seed0"), ("2", "vdd_beso-seed0")]
