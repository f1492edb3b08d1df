"""Smoke run of the entry point on the toy config with a tiny budget: the MLflow store ends up
with a parent run (config, operative config, figure, table) and child runs with metrics."""

import gin
from mlflow.tracking import MlflowClient

from bench.run import main


def test_bench_run_leaves_a_complete_mlflow_run(mlflow_uri, tmp_path, capsys):
    uri = mlflow_uri
    code = main(["--gin", "gin/toy2d.gin", "--seeds", "0", "1", "--output-dir",
                 str(tmp_path / "out"), "-b", "VDDConfig.iterations = 20",
                 "-b", "Benchmark.methods = ['vdd', 'vdd_published']",
                 "-b", "Benchmark.eval_samples = 500", "-b", "Benchmark.timing_repeats = 3",
                 "-b", "TrainerConfig.log_every = 5"])
    gin.clear_config()
    assert code == 0
    out = capsys.readouterr().out
    assert "vdd_published" in out and "modes covered" in out
    assert "[bench] device cpu (" in out and "; precision fp32" in out  # printed at the start

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("toy2d")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"config.gin", "operative_config.gin", "toy_figure.png", "results.md",
            "results.csv"} <= names
    params = parent.data.params  # the device the run chose (auto: the CPU here)
    assert params["device"] == "cpu" and params["precision"] == "fp32"
    assert {"device.name", "device.capability", "device.torch", "device.cuda"} <= set(params)
    operative = client.download_artifacts(parent.info.run_id, "operative_config.gin", str(tmp_path))
    assert "VDDConfig.iterations = 20" in open(operative).read()
    for child in children:
        tags = child.data.tags
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert {tags["task"], tags["teacher"]} == {"toy2d", "analytic"}
        assert tags["method"] in {"vdd", "vdd_published"} and tags["seed"] in {"0", "1"}
        m = child.data.metrics
        for key in ("eval/modes_covered", "eval/reverse_kl", "timing/ms_per_action_b1",
                    "timing/ms_per_action_b256", "train/expert_loss", "train/wall_s"):
            assert key in m, key
        history = client.get_metric_history(child.info.run_id, "train/expert_loss")
        assert [h.step for h in history] == [5, 10, 15, 20]
        assert child.data.params["vdd.iterations"] == "20"
        ckpt = {a.path for a in client.list_artifacts(child.info.run_id, "checkpoint")}
        assert ckpt == {"checkpoint/config.json", "checkpoint/model.safetensors"}


def test_teachers_train_once_then_come_from_the_cache(mlflow_uri, tmp_path, capsys):
    """Teacher rows and VDD from trained teachers, tiny budget; a second invocation reuses the
    cached teachers (same key, no training) and reproduces the teacher rows exactly."""
    uri = mlflow_uri
    args = ["--gin", "gin/toy2d.gin", "--seeds", "0", "--output-dir", str(tmp_path / "out"),
            "-b", "Benchmark.methods = ['beso', 'beso_1', 'ddpm_1', 'vdd_beso', 'vdd_ddpm', 'cd', "
                  "'ctm', 'em_gpt', 'imc_gpt']",
            *[b for name in ("CDConfig", "CTMConfig", "EMConfig", "IMCConfig") for b in
              ("-b", f"{name}.iterations = 5", "-b", f"{name}.batch_size = 16")],
            "-b", f"Benchmark.cache_dir = '{tmp_path / 'cache'}'",
            "-b", "TeacherTrainingConfig.iterations = 30", "-b", "VDDConfig.iterations = 10",
            "-b", "TeacherTrainingConfig.batch_size = 32",
            *[b for kind in ("BESOConfig", "DDPMConfig") for b in
              ("-b", f"{kind}.n_layer = 1", "-b", f"{kind}.n_head = 1",
               "-b", f"{kind}.n_embd = 16")],
            "-b", "Benchmark.eval_samples = 300", "-b", "Benchmark.timing_repeats = 2"]
    results = []
    for _ in range(2):
        assert main(args) == 0
        gin.clear_config()
        results.append(capsys.readouterr().out)
    assert "trained in" in results[0] and "from the cache" not in results[0]
    assert results[1].count("from the cache") == 2
    entries = [p for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")]
    assert len(entries) == 2  # one per kind, no leftovers (beside the entries' lock files)

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("toy2d").experiment_id])
    by_name: dict[str, list] = {}
    for r in runs:
        by_name.setdefault(r.info.run_name, []).append(r)
    assert len(by_name["teacher-beso-seed0"]) == 2
    assert {r.data.params["teacher.cached"] for r in by_name["teacher-beso-seed0"]} == {"True",
                                                                                       "False"}
    for name in ("beso-seed0", "beso_1-seed0", "ddpm_1-seed0", "cd-seed0", "ctm-seed0",
                 "em_gpt-seed0", "imc_gpt-seed0", "vdd_beso-seed0"):  # same seed, same numbers
        first, second = by_name[name]
        assert first.data.metrics["eval/energy_distance"] == second.data.metrics[
            "eval/energy_distance"]
    steps = {n: by_name[n][0].data.metrics["timing/forward_passes_per_action"]
             for n in ("beso-seed0", "beso_1-seed0", "vdd_beso-seed0")}
    assert steps["beso_1-seed0"] == 1 and steps["vdd_beso-seed0"] == 1 and steps["beso-seed0"] > 1
    vdd = by_name["vdd_ddpm-seed0"][0]
    assert vdd.data.tags["teacher"] == "ddpm" and "teacher.key" in vdd.data.params
    one_step = by_name["beso_1-seed0"][0].data.metrics["eval/energy_distance_teacher"]
    for name in ("cd-seed0", "ctm-seed0"):  # one-step students of the BESO teacher
        run = by_name[name][0]
        assert run.data.tags["teacher"] == "beso"
        assert run.data.metrics["timing/forward_passes_per_action"] == 1
        # started from the teacher's weights (CTM's start is BESO-1 itself), five small steps
        # keep a student near BESO-1's distance to its teacher; a broken student (a wrong
        # jump, a collapsed or exploded output) lands far from it
        distance = run.data.metrics["eval/energy_distance_teacher"]
        assert distance < one_step + 0.1, (name, distance, one_step)
        assert run.data.metrics["timing/speedup_vs_teacher"] > 0
    for name in ("em_gpt-seed0", "imc_gpt-seed0"):  # MoE from data: the mixture metrics too
        run = by_name[name][0]
        assert run.data.tags["teacher"] == "none" and "eval/reverse_kl" in run.data.metrics
    assert "in the paper's layout" in results[0] and "CTM" in results[0]
