"""`vdd-bench` as a user types it: list, run (--methods, --dry-run, --tracking-uri,
--experiment), eval of a checkpoint from a toy run, data; bad input is one line, exit != 0."""

import json
import os
import subprocess
import sys
from pathlib import Path

import gin
import pytest
from mlflow.tracking import MlflowClient

from bench.cli import main

TINY_TOY = ["-b", "VDDConfig.iterations = 10", "-b", "Benchmark.eval_samples = 300",
            "-b", "Benchmark.timing_repeats = 2", "-b", "Benchmark.snapshot_iterations = []"]


@pytest.fixture(autouse=True)
def _clean_gin():
    yield
    gin.clear_config()


def test_console_script_lists_tasks_methods_and_configs(repo_root):
    script = Path(sys.executable).with_name("vdd-bench")
    out = subprocess.run([str(script), "list"], cwd=repo_root, capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for expected in ("toy2d", "avoiding", "envs/Avoiding-v0", "vdd_beso", "imc_gpt",
                     "gin/toy2d.gin", "gin/cpu/avoiding.gin", "gin/smoke/avoiding.gin"):
        assert expected in text, expected
    assert "gin/common/" not in text  # includes, not runnable configs


def test_dry_run_prints_plan_and_operative_config_and_trains_nothing(mlflow_uri, tmp_path,
                                                                     capsys):
    code = main(["run", "--dry-run", "--gin", "gin/avoiding.gin", "--methods", "beso",
                 "vdd_beso", "--seeds", "0", "--experiment", "mine",
                 "--output-dir", str(tmp_path / "out"),
                 "-b", f"Benchmark.cache_dir = '{tmp_path / 'cache'}'"])
    out = capsys.readouterr().out
    assert code == 0
    assert "MLflow experiment 'mine'" in out and "teacher jobs (1):" in out
    assert "beso seed 0: to train" in out
    assert "cells (2: 2 methods x 1 seeds)" in out and "vdd_beso-seed0" in out
    assert "Benchmark.methods = ['beso', 'vdd_beso']" in out  # the operative config
    assert "RolloutTask.name = 'avoiding'" in out or "name = 'avoiding'" in out
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()
    assert not (tmp_path / "mlflow.db").exists()


def test_an_unscoped_binding_a_scoped_one_overrides_is_named(mlflow_uri, tmp_path, capsys):
    """gin's scoped binding wins over an unscoped -b: the user is told which methods it misses
    and what to bind instead; a scoped -b, or a method the config does not scope, gets no note."""
    def notes(methods, binding):
        code = main(["run", "--dry-run", "--gin", "gin/cpu/aligning.gin", "--methods", *methods,
                     "--output-dir", str(tmp_path / "out"), "-b", binding])
        assert code == 0
        return [line for line in capsys.readouterr().err.splitlines() if "note:" in line]

    (note,) = notes(["vdd_beso", "cd"], "VDDConfig.iterations = 500")
    assert "does not reach vdd_beso:" in note and "VDDConfig.iterations = 9000" in note
    assert "bind 'vdd_beso/VDDConfig.iterations'" in note
    assert len(notes(["vdd_beso", "vdd_ddpm"], "VDDConfig.iterations = 500")) == 2
    assert notes(["vdd_beso"], "vdd_beso/VDDConfig.iterations = 500") == []
    assert notes(["vdd_beso"], "VDDConfig.lr = 1e-4") == []  # nothing scoped binds it
    assert notes(["cd"], "VDDConfig.iterations = 500") == []
    (note,) = notes(["em_gpt"], "MoEConfig.num_experts = 4")  # rod_task.gin: student/...
    assert "does not reach student:" in note


def test_dry_run_refuses_an_unknown_method_in_one_line(mlflow_uri, capsys):
    code = main(["run", "--dry-run", "--gin", "gin/avoiding.gin", "--methods", "vdd_nope"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "unknown method(s) ['vdd_nope']" in err


def test_run_with_methods_tracking_uri_and_experiment_then_eval_the_checkpoint(
        mlflow_uri, tmp_path, capsys, monkeypatch):
    uri = f"sqlite:///{tmp_path}/other.db"
    code = main(["run", "--gin", "gin/toy2d.gin", "--methods", "vdd", "--seeds", "0",
                 "--tracking-uri", uri, "--experiment", "toy-cli",
                 "--output-dir", str(tmp_path / "out"), *TINY_TOY])
    assert code == 0, capsys.readouterr().err
    assert os.environ["MLFLOW_TRACKING_URI"] == mlflow_uri  # restored after the run
    runs = MlflowClient(uri).search_runs(
        [MlflowClient(uri).get_experiment_by_name("toy-cli").experiment_id])
    assert sorted(r.info.run_name.split("-")[0] for r in runs) == ["toy2d", "vdd"]
    checkpoint = next((tmp_path / "out" / "toy2d").glob("*/vdd-seed0/checkpoint"))
    capsys.readouterr()

    summary = tmp_path / "eval.json"
    code = main(["eval", str(checkpoint), "--task", "toy2d", "--samples", "300",
                 "--json", str(summary)])
    out = capsys.readouterr().out
    assert code == 0 and "MoEPolicy from" in out and "eval/energy_distance = " in out
    metrics = json.loads(summary.read_text())["metrics"]
    child = next(r for r in runs if r.info.run_name == "vdd-seed0")
    # the same policy, seed and sample count as the run's own evaluation
    assert metrics["eval/energy_distance"] == pytest.approx(
        child.data.metrics["eval/energy_distance"])


def test_eval_refuses_what_is_not_a_checkpoint_or_does_not_fit(tmp_path, capsys):
    assert main(["eval", str(tmp_path), "--task", "toy2d"]) == 3
    assert "is not a checkpoint folder" in capsys.readouterr().err
    assert main(["eval", str(tmp_path), "--task", "nope"]) == 2
    assert "no shipped config for task 'nope'" in capsys.readouterr().err


def test_eval_refuses_greedy_where_there_is_no_expert_to_pick(tmp_path, capsys):
    """--greedy picks a MoE's most likely expert in rollouts; the toy is scored by samples of
    the whole mixture, so there it is refused in one line, as for any non-MoE checkpoint."""
    from moe import MoEConfig, MoEPolicy

    MoEPolicy(MoEConfig(obs_dim=1, action_dim=2, window=1, n_layer=1, n_head=1, n_embd=8,
                        num_experts=2)).save(tmp_path / "moe")
    assert main(["eval", str(tmp_path / "moe"), "--task", "toy2d", "--greedy"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--greedy applies to MoE policies on rollout tasks" in err


def test_data_describes_the_toy_dataset(capsys):
    assert main(["data", "--task", "toy2d", "--seed", "3"]) == 0
    assert "4096 demonstrations (seed 3), generated in memory" in capsys.readouterr().out


def test_python_m_bench_run_keeps_working(repo_root):
    out = subprocess.run([sys.executable, "-m", "bench.run", "--help"], cwd=repo_root,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "--gin" in out.stdout


def test_data_generates_then_describes_a_rollout_dataset_in_minari_terms(tmp_path, capsys):
    args = ["data", "--task", "avoiding", "-b", "RolloutTask.num_demos = 2", "-b",
            "RolloutTask.workers = 1", "--cache-dir", str(tmp_path)]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    second = capsys.readouterr().out
    assert "avoiding: generated" in first and "avoiding: loaded from the cache" in second
    assert "Minari dataset vdd/avoiding/n2-seed0-" in second and "2 episodes" in second
    assert f"MINARI_DATASETS_PATH={tmp_path / 'datasets'} minari list local" in second
