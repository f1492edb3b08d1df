"""Seeds carry the teacher's variance: with `Benchmark.teacher_per_seed` (the default) seed s
trains its own teacher and its teacher rows and students use that one; with False one teacher
(from the data seed) serves every seed. Tiny toy runs through `bench.run`, checked in MLflow
and in the teacher cache."""

import json

import gin
import pytest
from mlflow.tracking import MlflowClient

import envs
from bench.config import parse_gin
from bench.gin_classes import configurable
from bench.run import main
from bench.teacher_store import load_or_train_teacher, teacher_configs, teacher_key
from bench.trainer import TrainerConfig

TINY = [arg for binding in (
    "Benchmark.methods = ['ddpm', 'vdd_ddpm']", "Benchmark.teachers = ['ddpm']",
    "TeacherTrainingConfig.iterations = 20", "TeacherTrainingConfig.batch_size = 32",
    "DDPMConfig.n_layer = 1", "DDPMConfig.n_head = 1", "DDPMConfig.n_embd = 16",
    "DDPMConfig.num_steps = 4", "VDDConfig.iterations = 5", "Benchmark.eval_samples = 300",
    "Benchmark.timing_repeats = 2", "Benchmark.snapshot_iterations = []",
    "TrainerConfig.progress = False") for arg in ("-b", binding)]


def _invoke(tmp_path, capsys, *extra: str) -> str:
    args = ["--gin", "gin/toy2d.gin", "--seeds", "0", "1", "--output-dir", str(tmp_path / "out"),
            "-b", f"Benchmark.cache_dir = '{tmp_path / 'cache'}'", *TINY, *extra]
    try:
        assert main(args) == 0
    finally:
        gin.clear_config()
    return capsys.readouterr().out


def _runs(uri: str, parent_tag: str) -> dict[str, object]:
    """Child runs of the invocation whose parent is tagged `teachers = parent_tag`, by name."""
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("toy2d").experiment_id])
    parent = next(r.info.run_id for r in runs if r.data.tags.get("teachers") == parent_tag)
    return {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent}


def test_each_seed_distils_its_own_teacher_and_shared_mode_shares_one(mlflow_uri, tmp_path,
                                                                      capsys):
    shared_out = _invoke(tmp_path, capsys, "-b", "Benchmark.teacher_per_seed = False")
    per_seed_out = _invoke(tmp_path, capsys)  # the default: one teacher per seed
    assert "teachers: one shared (data seed 0)" in shared_out
    assert "teachers: one per seed" in per_seed_out

    shared = _runs(mlflow_uri, "shared")
    assert sorted(n for n in shared if n.startswith("teacher-")) == ["teacher-ddpm-seed0"]
    key0 = shared["teacher-ddpm-seed0"].data.params["teacher.key"]
    for name in ("ddpm-seed0", "ddpm-seed1", "vdd_ddpm-seed0", "vdd_ddpm-seed1"):
        assert shared[name].data.params["teacher.key"] == key0, name
        assert shared[name].data.params["teacher.seed"] == "0", name

    per_seed = _runs(mlflow_uri, "per_seed")
    assert sorted(n for n in per_seed if n.startswith("teacher-")) == ["teacher-ddpm-seed0",
                                                                      "teacher-ddpm-seed1"]
    keys = {}
    for s in (0, 1):
        teacher_run = per_seed[f"teacher-ddpm-seed{s}"]
        assert teacher_run.data.tags["seed"] == str(s)
        keys[s] = teacher_run.data.params["teacher.key"]
        for name in (f"ddpm-seed{s}", f"vdd_ddpm-seed{s}"):  # seed s uses seed s's teacher
            params = per_seed[name].data.params
            assert params["teacher.key"] == keys[s] and params["teacher.seed"] == str(s), name
        assert per_seed[f"vdd_ddpm-seed{s}"].data.params["teacher.path"] == \
            teacher_run.data.params["teacher.path"]
    assert keys[1] != keys[0]
    # the data seed's teacher is the shared one (same training): reused from the cache; seed 1's
    # was trained afresh, and its teacher row differs from the shared teacher's at that seed
    assert keys[0] == key0
    assert per_seed["teacher-ddpm-seed0"].data.params["teacher.cached"] == "True"
    assert per_seed["teacher-ddpm-seed1"].data.params["teacher.cached"] == "False"
    assert len([p for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")]) == 2
    metric = "eval/energy_distance"
    assert per_seed["ddpm-seed0"].data.metrics[metric] == shared["ddpm-seed0"].data.metrics[metric]
    assert per_seed["ddpm-seed1"].data.metrics[metric] != shared["ddpm-seed1"].data.metrics[metric]
    paper = per_seed_out[per_seed_out.index("in the paper's layout"):].splitlines()
    assert ["seeds", "2", "2"] in [line.split() for line in paper]
    ci = next(line for line in paper if line.startswith("energy distance 95% CI"))
    assert ci.count("[") == 2  # an interval for the teacher row and the student row


def test_a_cached_teacher_of_another_training_seed_is_refused(repo_root, tmp_path):
    parse_gin([repo_root / "gin" / "toy2d.gin"],
              ["TeacherTrainingConfig.iterations = 2", "TeacherTrainingConfig.batch_size = 16",
               "DDPMConfig.n_layer = 1", "DDPMConfig.n_head = 1", "DDPMConfig.n_embd = 16"])
    try:
        task = configurable(envs.Toy2D)()
        data = task.make_dataset(0)
        arch, train = teacher_configs("ddpm", task)
        shared = teacher_key("ddpm", task, 0, arch, train)
        assert teacher_key("ddpm", task, 0, arch, train, train_seed=0) == shared
        assert len({shared, *(teacher_key("ddpm", task, 0, arch, train, train_seed=s)
                              for s in (1, 2))}) == 3
        quiet = TrainerConfig(progress=False)
        one = load_or_train_teacher("ddpm", task, data, 0, cache_dir=tmp_path, train_seed=1,
                                    trainer_config=quiet)
        assert one.seed == 1 and not one.cached
        assert json.loads((one.path / "config.json").read_text())["extra"]["train_seed"] == 1
        again = load_or_train_teacher("ddpm", task, data, 0, cache_dir=tmp_path, train_seed=1,
                                      trainer_config=quiet)
        assert again.cached and again.key == one.key
        # an entry under seed 2's key that holds seed 1's teacher (a copy by hand) is refused
        key2 = teacher_key("ddpm", task, 0, arch, train, train_seed=2)
        two = tmp_path / f"{task.name}-ddpm-{key2}"
        two.mkdir()
        for f in one.path.iterdir():
            (two / f.name).write_bytes(f.read_bytes())
        with pytest.raises(RuntimeError, match="trained with seed 1, expected 2"):
            load_or_train_teacher("ddpm", task, data, 0, cache_dir=tmp_path, train_seed=2,
                                  trainer_config=quiet)
    finally:
        gin.clear_config()
