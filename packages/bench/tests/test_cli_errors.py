"""Bad input gives one clear line on stderr and exit code 2, before anything is trained."""

import pytest

from bench.run import main

GOOD = "gin/toy2d.gin"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gin", "gin/nope.gin"], "gin file not found: gin/nope.gin"),
        (["--gin", GOOD, "-b", "Nope.x = 1"], "No configurable matching 'Nope'"),
        (["--gin", GOOD, "-b", "VDDConfig.itrations = 5"], "doesn't have a parameter named"),
        (["--gin", GOOD, "-b", "student/MoEConfig.covariance = 'diag'"], "'full' or 'diagonal'"),
        (["--gin", GOOD, "-b", "Benchmark.methods = ['vdd', 'cm']"],
         "unknown method(s) ['cm']; valid choices: ['ddpm', 'beso', 'ddpm_1', 'beso_1', 'cd', "
         "'ctm', 'vdd_ddpm_published', 'vdd_beso_published', 'vdd_ddpm', 'vdd_beso', 'em_gpt', "
         "'imc_gpt', 'vdd_published', 'vdd']"),
        (["--gin", GOOD, "-b", "Benchmark.teachers = ['ddpm']", "-b",
          "Benchmark.methods = ['ddpm', 'cd']"],
         "method 'cd' needs a trained 'beso' teacher, and this config provides only ['ddpm'] "
         "(Benchmark.teachers); methods usable here: ['ddpm', 'ddpm_1', 'vdd_ddpm_published', "
         "'vdd_ddpm', 'em_gpt', 'imc_gpt', 'vdd_published', 'vdd']"),
        (["--gin", "gin/cpu/avoiding.gin", "-b", "Benchmark.methods = ['vdd']"],
         "method 'vdd' needs the task's analytic target, and task 'avoiding' has none"),
        (["--gin", GOOD, "-b", "Benchmark.teachers = ['flow']"],
         "Benchmark.teachers must list kinds of ['beso', 'ddpm'], got ['flow']"),
        (["--gin", GOOD, "-b", "cd/CDConfig.num_levels = 1"], "num_levels must be an int >= 2"),
        (["--gin", GOOD, "--seeds", "-1"], "seeds must be non-negative"),
        (["--gin", GOOD, "-b", "Benchmark.teacher_per_seed = 'yes'"],
         "Benchmark.teacher_per_seed = 'yes': expected True or False"),
    ],
)
def test_bad_config_exits_2_with_one_line(args, message, capsys, repo_root, monkeypatch, tmp_path):
    monkeypatch.chdir(repo_root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    assert main(args + ["--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert message in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "mlflow.db").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-b", "vdd_publshed/VDDConfig.lr = -5.0"], "unknown gin scope 'vdd_publshed'"),
        (["-b", "studnet/MoEConfig.num_experts = 2"], "unknown gin scope 'studnet'"),
        (["-b", "Benchmark.eval_samples = 2.5"], "Benchmark.eval_samples = 2.5: expected an int"),
        (["-b", "Benchmark.snapshot_iterations = 'abc'"],
         "Benchmark.snapshot_iterations must list ints >= 0, got 'abc'"),
        (["-b", "Benchmark.task = 'toy'"], "Benchmark.task must be a task such as @Toy2D()"),
        (["--seeds", "0", "0"], "Benchmark.seeds must be distinct and at most 2**32-1"),
        (["--seeds", str(2**32)], "Benchmark.seeds must be distinct and at most 2**32-1"),
        (["-b", "VDDConfig.lr = 'x'"], "VDDConfig.lr = 'x': expected a number"),
    ],
)
def test_inputs_that_slipped_through_exit_2(args, message, capsys, repo_root, monkeypatch,
                                            tmp_path):
    """Issue 19, item 5: each of these used to run (exit 0) or fail deep inside training."""
    monkeypatch.chdir(repo_root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    assert main(["--gin", GOOD, *args, "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert message in err
    assert not (tmp_path / "out").exists()
