"""Nothing silently wrong (issue 19): a failing cell does not take the others down, exit codes,
the saved record is the run, gin includes next to the including file. Tiny toy runs."""

import signal

import gin
import pytest
from mlflow.tracking import MlflowClient

from bench.run import main

TINY = [arg for binding in (
    "Benchmark.seeds = (0,)", "Benchmark.teachers = ['ddpm']", "VDDConfig.iterations = 5",
    "VDDConfig.batch_size = 8",
    "VDDConfig.num_samples = 8", "Benchmark.eval_samples = 200", "Benchmark.timing_repeats = 1",
    "Benchmark.snapshot_iterations = []", "TrainerConfig.progress = False",
    "TeacherTrainingConfig.iterations = 5", "TeacherTrainingConfig.batch_size = 16",
    "DDPMConfig.n_layer = 1", "DDPMConfig.n_head = 1", "DDPMConfig.n_embd = 16",
    "DDPMConfig.num_steps = 2") for arg in ("-b", binding)]


def _main(tmp_path, *extra: str, gin_file: str = "gin/toy2d.gin") -> int:
    args = ["--gin", gin_file, "--output-dir", str(tmp_path / "out"),
            "-b", f"Benchmark.cache_dir = '{tmp_path / 'cache'}'", *TINY, *extra]
    try:
        return main(args)
    finally:
        gin.clear_config()


def _last(err: str) -> str:
    """The bench's own stderr line (MLflow may log before it)."""
    return err.strip().splitlines()[-1]


def _folder(tmp_path):
    (folder,) = (tmp_path / "out" / "toy2d").iterdir()
    return folder


def test_a_diverging_cell_is_recorded_failed_and_the_others_finish(mlflow_uri, tmp_path,
                                                                   capsys):
    # a variant takes its base's bindings (vdd/... reaches vdd_published too): break the variant
    code = _main(tmp_path, "-b", "Benchmark.methods = ['vdd', 'vdd_published']",
                 "-b", "vdd_published/VDDConfig.lr = 1e6")
    err = capsys.readouterr().err
    assert code == 1, err
    assert _last(err).startswith("error: 1 cell(s) failed (vdd_published-seed0)")
    results = (_folder(tmp_path) / "results.md").read_text()
    lines = results.splitlines()
    assert any(line.startswith("| vdd | 1 |") for line in lines), results
    assert any(line.startswith("| vdd_published (FAILED 1/1) | 0 |") for line in lines), results
    assert "FAILED: vdd_published seed 0:" in results
    assert "(FAILED)" in (_folder(tmp_path) / "results_paper.md").read_text()
    client = MlflowClient(mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("toy2d").experiment_id])
    status = {r.info.run_name: r.info.status for r in runs}
    assert status["vdd_published-seed0"] == "FAILED" and status["vdd-seed0"] == "FINISHED"


def test_a_nan_metric_is_never_a_result(mlflow_uri, tmp_path, capsys, monkeypatch):
    import bench.cells as cells

    real = cells.evaluate_policy

    def nan_metrics(*a, **k):
        metrics, result = real(*a, **k)
        return {**metrics, "eval/energy_distance": float("nan")}, result

    monkeypatch.setattr(cells, "evaluate_policy", nan_metrics)
    assert _main(tmp_path, "-b", "Benchmark.methods = ['vdd']") == 1
    results = (_folder(tmp_path) / "results.md").read_text()
    assert "vdd (FAILED 1/1)" in results and "eval/energy_distance=nan" in results
    assert "nan |" not in results.split("FAILED:")[0]


def test_the_saved_record_holds_the_command_line_overrides(mlflow_uri, tmp_path):
    assert _main(tmp_path, "-b", "Benchmark.methods = ['vdd']", "--seeds", "3") == 0
    folder = _folder(tmp_path)
    for name in ("config.gin", "operative_config.gin"):
        text = (folder / name).read_text()
        assert "Benchmark.seeds = (3,)" in text, name
        assert "VDDConfig.iterations = 5" in text, name


def test_an_unexpected_error_is_one_line_with_the_log(mlflow_uri, tmp_path, capsys,
                                                     monkeypatch):
    import bench.invocation as inv

    def boom(*a, **k):
        raise OSError("disk on fire")

    monkeypatch.setattr(inv.Invocation, "_dataset", boom)
    assert _main(tmp_path, "-b", "Benchmark.methods = ['vdd']") == 5
    err = capsys.readouterr().err
    assert _last(err).startswith("error: unexpected OSError: disk on fire (traceback in ")
    assert "Traceback" not in err
    log = _last(err).split("traceback in ")[1].rstrip(")")
    assert "Traceback" in open(log).read()


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_ends_the_run_killed_with_its_exit_code(mlflow_uri, tmp_path, capsys,
                                                        monkeypatch, signum, code):
    import os

    import bench.invocation as inv

    def signalled(*a, **k):
        os.kill(os.getpid(), signum)
        raise AssertionError("the signal did not interrupt")

    monkeypatch.setattr(inv, "run_cell", signalled)
    assert _main(tmp_path, "-b", "Benchmark.methods = ['vdd']") == code
    err = capsys.readouterr().err
    assert _last(err).startswith("error: interrupted") and "Traceback" not in err
    client = MlflowClient(mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("toy2d").experiment_id])
    assert {r.info.status for r in runs} == {"KILLED"}


def test_an_include_beside_the_including_file_wins(mlflow_uri, tmp_path, repo_root):
    from bench.config import parse_gin

    (tmp_path / "common").mkdir()
    for name in ("vdd.gin",):
        text = (repo_root / "gin" / "common" / name).read_text()
        (tmp_path / "common" / name).write_text(text + "\nVDDConfig.cmp_steps = 7\n")
    mine = tmp_path / "mine.gin"
    mine.write_text((repo_root / "gin" / "toy2d.gin").read_text())
    try:
        parse_gin([mine])
        assert gin.query_parameter("VDDConfig.cmp_steps") == 7
        parse_gin([repo_root / "gin" / "toy2d.gin"])  # the repository's copy otherwise
        assert gin.query_parameter("VDDConfig.cmp_steps") == 2
    finally:
        gin.clear_config()


def test_a_non_utf8_gin_file_is_named(mlflow_uri, tmp_path, capsys):
    bad = tmp_path / "bad.gin"
    bad.write_bytes(b"include 'toy2d.gin'\n# caf\xe9\n")
    assert main(["--gin", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"gin file {bad} is not UTF-8" in err and err.count("\n") == 1


def test_an_unreachable_tracking_server_fails_in_seconds(tmp_path, capsys, monkeypatch,
                                                        repo_root):
    import time

    monkeypatch.chdir(repo_root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    start = time.perf_counter()
    assert _main(tmp_path, "-b", "Benchmark.methods = ['vdd']") == 4
    assert time.perf_counter() - start < 30
    err = capsys.readouterr().err
    assert _last(err).startswith("error: MLflow tracking server http://127.0.0.1:9 is "
                                 "unreachable")
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_runs_left_running_by_a_killed_invocation_are_marked_killed(mlflow_uri):
    from bench.tracking import Tracker

    dead = Tracker(experiment="toy2d", run_name="dead", tags={})
    child = dead.child(run_name="cell", tags={})
    gone = "999999"  # no such process
    for run_id in (dead.parent.run_id, child.run_id):
        dead.client.set_tag(run_id, "bench.pid", gone)
    alive = Tracker(experiment="toy2d", run_name="alive", tags={})
    statuses = {r.info.run_name: r.info.status for r in alive.client.search_runs(
        [alive.experiment_id])}
    assert statuses == {"dead": "KILLED", "cell": "KILLED", "alive": "RUNNING"}
