"""Smoke run of a rod task through the entry point with a tiny budget and the full method set:
cached demonstrations, both teachers trained, every method trained or sampled, parallel
rollouts, success/entropy/timing in MLflow, videos, the paper-layout table; a second
invocation reuses data and teachers and reproduces every method's rollout metrics."""

import json

import gin
from mlflow.tracking import MlflowClient

from bench.cli import main as cli
from bench.run import main

ALL = ['ddpm', 'beso', 'ddpm_1', 'beso_1', 'cd', 'ctm', 'vdd_ddpm', 'vdd_beso', 'em_gpt',
       'imc_gpt']


def test_avoiding_end_to_end_and_reproducible(mlflow_uri, tmp_path, capsys):
    args = ["--gin", "gin/cpu/avoiding.gin", "--seeds", "0", "--output-dir", str(tmp_path / "out"),
            "-b", f"Benchmark.methods = {ALL}",
            "-b", f"Benchmark.cache_dir = '{tmp_path / 'cache'}'",
            "-b", "RolloutTask.num_demos = 6", "-b", "RolloutTask.eval_rollouts = 3",
            "-b", "RolloutTask.num_envs = 2", "-b", "Benchmark.videos = 1",
            "--executor", "local",  # the config's Ray: tests/test_ray_executor.py
            "-b", "TeacherTrainingConfig.iterations = 20", "-b", "VDDConfig.iterations = 4",
            "-b", "VDDConfig.batch_size = 16", "-b", "DDPMConfig.num_steps = 2",
            "-b", "vdd_beso/VDDConfig.visited_share = 0.5",  # on-policy expert steps
            "-b", "VDDConfig.visited_every = 2", "-b", "VDDConfig.visited_rollouts = 2",
            "-b", "BESOConfig.num_steps = 2",
            *[b for name in ("CDConfig", "CTMConfig", "EMConfig", "IMCConfig") for b in
              ("-b", f"{name}.iterations = 3", "-b", f"{name}.batch_size = 16")],
            *[b for name in ("DDPMConfig", "BESOConfig", "student/MoEConfig") for b in
              ("-b", f"{name}.n_layer = 1", "-b", f"{name}.n_head = 1",
               "-b", f"{name}.n_embd = 16")],
            "-b", "Benchmark.timing_repeats = 2"]
    outputs = []
    for _ in range(2):
        assert main(args) == 0
        gin.clear_config()
        outputs.append(capsys.readouterr().out)
    assert "trained in" in outputs[0] and "from the cache" in outputs[1]
    assert "success" in outputs[0] and "entropy" in outputs[0]
    paper = outputs[0][outputs[0].index("in the paper's layout"):]
    assert paper.splitlines()[2].split() == ["metric", "DDPM", "BESO", "DDPM-1", "BESO-1", "CD",
                                             "CTM", "VDD-DDPM", "(ours)", "VDD-BESO", "(ours)",
                                             "EM-GPT", "IMC-GPT"]
    assert "success (published)" in paper
    assert len(list((tmp_path / "cache" / "datasets").iterdir())) == 1

    client = MlflowClient(mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("avoiding").experiment_id])
    rows = {}
    for r in runs:
        method = r.data.tags.get("method")
        if method in ALL:
            m = r.data.metrics
            for key in ("eval/success_rate", "eval/entropy", "eval/context_entropy",
                        "timing/ms_per_action_b1", "timing/ms_per_action_b256",
                        "timing/forward_passes_per_action", "timing/speedup_vs_teacher",
                        "train/wall_s"):
                assert key in m, (method, key)
            assert r.data.tags["task"] == "avoiding" and r.data.tags["seed"] == "0"
            assert 0.0 <= m["eval/success_rate"] <= 1.0 and m["eval/rollouts"] == 3
            rows.setdefault(method, []).append(
                (m["eval/success_rate"], m["eval/entropy"], m["eval/mean_length"]))
    assert set(rows) == set(ALL)
    for method, results in rows.items():  # same seed, same data, same teacher: same rollouts
        assert len(results) == 2 and results[0] == results[1], (method, results)
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"results.md", "results.csv", "results_paper.md", "comparison.png"} <= names
    vdd_run = next(r for r in runs if r.data.tags.get("method") == "vdd_ddpm")
    on_policy = next(r for r in runs if r.data.tags.get("method") == "vdd_beso")
    visited = client.get_metric_history(on_policy.info.run_id, "train/visited_windows")
    assert [m.step for m in visited] == [2] and visited[0].value > 0
    assert "train/visited_windows" not in vdd_run.data.metrics
    videos = [a.path for a in client.list_artifacts(vdd_run.info.run_id, "videos")]
    assert len(videos) == 1 and videos[0].endswith(".gif")

    # a saved student, greedy: Avoiding has no randomisation, so its rollouts are one
    checkpoint = next((tmp_path / "out" / "avoiding").glob("*/vdd_beso-seed0/checkpoint"))
    summary = tmp_path / "greedy.json"
    assert cli(["eval", str(checkpoint), "--gin", "gin/cpu/avoiding.gin", "--greedy",
                "--serial", "-b", "RolloutTask.eval_rollouts = 4", "--json", str(summary)]) == 0
    metrics = json.loads(summary.read_text())["metrics"]
    assert metrics["eval/rollouts"] == 4 and metrics["eval/entropy"] == 0.0
    assert metrics["eval/modes_seen"] <= 1


def test_kitchen_through_the_entry_point(mlflow_uri, tmp_path, capsys):
    """Relay Kitchen: planner data, a teacher and its VDD student, rollouts scored by the
    subtasks done (levels subtasks_1..4 and their mean) beside the published numbers."""
    tiny = [b for name in ("BESOConfig", "student/MoEConfig") for b in
            ("-b", f"{name}.n_layer = 1", "-b", f"{name}.n_head = 1", "-b", f"{name}.n_embd = 16")]
    args = ["--gin", "gin/cpu/kitchen.gin", "--output-dir", str(tmp_path / "out"),
            "-b", "Benchmark.methods = ['beso', 'vdd_beso']", "-b", "Benchmark.teachers = ['beso']",
            "-b", f"Benchmark.cache_dir = '{tmp_path / 'cache'}'",
            "-b", "RolloutTask.num_demos = 2", "-b", "RolloutTask.eval_contexts = 1",
            "-b", "RolloutTask.num_envs = 1", "-b", "Benchmark.videos = 0",
            "-b", "TeacherTrainingConfig.iterations = 10", "-b", "VDDConfig.iterations = 2",
            "-b", "VDDConfig.batch_size = 8", "-b", "Benchmark.timing_repeats = 1", *tiny]
    assert main(args) == 0
    gin.clear_config()
    out = capsys.readouterr().out
    assert "levels reached (of 4) (published)" in out
    client = MlflowClient(mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("kitchen").experiment_id])
    methods = {r.data.tags["method"]: r.data.metrics for r in runs
               if r.data.tags.get("method") in ("beso", "vdd_beso")}
    assert set(methods) == {"beso", "vdd_beso"}
    for m in methods.values():
        assert 0.0 <= m["eval/levels_reached"] <= 4.0
        assert m["eval/levels_reached"] == sum(m[f"eval/subtasks_{k}/success_rate"]
                                               for k in range(1, 5))
        assert m["eval/num_modes"] == 840 and m["eval/mean_length"] <= 280
