"""MLflow views that compare methods: final metrics of every child run at one step, every child
run with artifacts (teacher runs included), config tags, the parent's description and
per-method means, only the params that apply, a model-training experiment, the dataset input."""

import json

import gin
from mlflow.tracking import MlflowClient

from bench.records import FINAL_STEP, applicable_params, method_means
from bench.run import main
from bench.tracking import DESCRIPTION_TAG, EXPERIMENT_KIND_TAG, TRAINING_KIND

TINY = ["-b", "TeacherTrainingConfig.iterations = 10",
        "-b", "TeacherTrainingConfig.batch_size = 16",
        *[b for kind in ("BESOConfig", "DDPMConfig") for b in
          ("-b", f"{kind}.n_layer = 1", "-b", f"{kind}.n_head = 1",
           "-b", f"{kind}.n_embd = 16")],
        "-b", "VDDConfig.iterations = 10", "-b", "TrainerConfig.log_every = 5",
        "-b", "Benchmark.eval_samples = 300", "-b", "Benchmark.timing_repeats = 2",
        "-b", "Benchmark.teachers = ['beso']", "-b", "Benchmark.teacher_workers = 1"]


def test_child_runs_compare_at_one_step_with_artifacts_and_config_tags(mlflow_uri, tmp_path):
    code = main(["--gin", "gin/toy2d.gin", "--seeds", "0", "1", "--output-dir",
                 str(tmp_path / "out"), "-b", f"Benchmark.cache_dir = '{tmp_path / 'cache'}'",
                 "-b", "Benchmark.methods = ['beso', 'vdd', 'vdd_beso']", *TINY])
    gin.clear_config()
    assert code == 0
    client = MlflowClient(mlflow_uri)
    exp = client.get_experiment_by_name("toy2d")
    assert exp.tags[EXPERIMENT_KIND_TAG] == TRAINING_KIND
    runs = client.search_runs([exp.experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    # 2 teacher trainings + 3 methods x 2 seeds
    assert len(children) == 8
    hashes = {r.data.tags["config_hash"] for r in runs}
    assert len(hashes) == 1 and len(hashes.pop()) == 16
    for run in runs:
        assert run.data.tags["config"] == "gin/toy2d.gin"
        assert [d.dataset.name for d in run.inputs.dataset_inputs] == ["toy2d-data0"]

    for child in children:
        rid = child.info.run_id
        names = {a.path for a in client.list_artifacts(rid)}
        assert {"config.gin", "metrics.json"} <= names, (child.info.run_name, names)
        summary = json.loads(open(client.download_artifacts(rid, "metrics.json",
                                                             str(tmp_path))).read())
        final = [k for k in child.data.metrics if k.startswith(("eval/", "timing/"))]
        assert set(final) <= set(summary["metrics"])
        for key in final + ["train/wall_s"]:
            if key in child.data.metrics:
                steps = {m.step for m in client.get_metric_history(rid, key)}
                assert steps == {FINAL_STEP}, (child.info.run_name, key, steps)
        params = child.data.params  # state task: no image-encoder columns
        assert not any(k.endswith(("image_encoder", "image_size", "image_pool"))
                       for k in params), sorted(params)
    vdd = next(r for r in children if r.info.run_name == "vdd_beso-seed0")
    curve = client.get_metric_history(vdd.info.run_id, "train/expert_loss")
    assert [m.step for m in curve] == [5, 10]  # training curves keep their iterations
    assert "eval/energy_distance" in next(
        r for r in children if r.info.run_name == "beso-seed1").data.metrics

    description = parent.data.tags[DESCRIPTION_TAG]
    assert "| method |" in description and "vdd_beso" in description
    means = parent.data.metrics
    for method in ("beso", "vdd", "vdd_beso"):
        seeds = [r.data.metrics["eval/energy_distance"] for r in children
                 if r.data.tags["method"] == method]
        assert abs(means[f"{method}/eval/energy_distance"] - sum(seeds) / 2) < 1e-9
    assert parent.data.params["seeds"] == "0,1"


def test_state_only_params_leave_out_image_fields():
    params = {"student.cameras": 0, "student.image_size": 96, "student.n_layer": 2,
              "teacher.cameras": 2, "teacher.image_encoder": "resnet18"}
    assert applicable_params(params) == {"student.cameras": 0, "student.n_layer": 2,
                                         "teacher.cameras": 2,
                                         "teacher.image_encoder": "resnet18"}


def test_method_means_skip_failed_rows_and_curves():
    rows = [{"method": "vdd", "seed": 0, "eval/x": 1.0, "train/loss": 5.0},
            {"method": "vdd", "seed": 1, "eval/x": 3.0},
            {"method": "vdd", "seed": 2, "failed": "diverged"}]
    assert method_means(rows) == {"vdd/eval/x": 2.0}


def test_config_hash_tells_budgets_apart_but_not_seed_or_method_choices():
    from bench.records import config_tags

    base = "Benchmark.seeds = (0,)\nBenchmark.methods = ['vdd']\nVDDConfig.iterations = 600\n"
    seeds = base.replace("(0,)", "(0, 1, 2)").replace("['vdd']", "['vdd', 'beso']")
    budget = base.replace("600", "20000")
    tags = config_tags(["gin/cpu/avoiding.gin"], base)
    assert tags["config"] == "gin/cpu/avoiding.gin"
    assert config_tags([], seeds)["config_hash"] == tags["config_hash"]
    assert config_tags([], budget)["config_hash"] != tags["config_hash"]
