"""The Ray executor on a local two-node cluster (`ray.cluster_utils.Cluster`, 1 CPU per node),
and the kill tests: a tiny toy grid gives the in-process run's metrics and MLflow layout; a
worker killed mid-cell is retried; a killed driver's invocation finishes with `--resume`.
Slow (Ray start-up and several tiny runs on two busy cores): `pytest -m slow`."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import gin
import pytest
from mlflow.tracking import MlflowClient

from bench.run import main

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

TINY = ["Benchmark.teachers = ['ddpm']", "VDDConfig.iterations = 5", "VDDConfig.batch_size = 8",
        "VDDConfig.num_samples = 8", "EMConfig.iterations = 5", "Benchmark.eval_samples = 200",
        "Benchmark.timing_repeats = 1", "Benchmark.snapshot_iterations = []",
        "TrainerConfig.progress = False", "TeacherTrainingConfig.iterations = 5",
        "TeacherTrainingConfig.batch_size = 16", "DDPMConfig.n_layer = 1",
        "DDPMConfig.n_head = 1", "DDPMConfig.n_embd = 16", "DDPMConfig.num_steps = 2"]
GRID = ["Benchmark.methods = ['ddpm', 'vdd_ddpm', 'em_gpt', 'vdd']", "Benchmark.seeds = (0, 1)"]


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c
    c.shutdown()


def _args(tmp_path, name: str, *bindings: str) -> list[str]:
    args = ["--gin", "gin/toy2d.gin", "--output-dir", str(tmp_path / name),
            "-b", f"Benchmark.cache_dir = '{tmp_path / name / 'cache'}'"]
    return args + [a for b in (*TINY, *bindings) for a in ("-b", b)]


def _main(args: list[str]) -> int:
    try:
        return main(args)
    finally:
        gin.clear_config()


def _folder(tmp_path, name: str) -> Path:
    (folder,) = (tmp_path / name / "toy2d").iterdir()
    return folder


def _children(client, parent_id: str) -> list:
    exp = client.get_experiment_by_name("toy2d").experiment_id
    return client.search_runs([exp], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'")


def _layout(client, folder: Path) -> dict:
    """{child run name: (status, task/method/teacher/seed tags, eval/ metrics)}."""
    parent = (folder / "parent_run.txt").read_text().strip()
    return {r.info.run_name: (r.info.status,
                              {k: r.data.tags.get(k) for k in ("task", "method", "teacher",
                                                               "seed")},
                              {k: v for k, v in r.data.metrics.items() if k.startswith("eval/")})
            for r in _children(client, parent)}


def test_two_nodes_give_the_in_process_metrics_and_layout(cluster, mlflow_uri, tmp_path,
                                                          capsys):
    assert _main(_args(tmp_path, "local", *GRID)) == 0
    ray_args = _args(tmp_path, "ray", *GRID) + ["--executor", "ray",
                                                "--ray-address", cluster.address]
    assert _main(ray_args) == 0
    out = capsys.readouterr().out
    assert "[bench] Ray: 2 node(s) on 1 host(s), 2 CPUs" in out
    client = MlflowClient(mlflow_uri)
    local, remote = _layout(client, _folder(tmp_path, "local")), \
        _layout(client, _folder(tmp_path, "ray"))
    assert set(local) == set(remote) == {
        "teacher-ddpm-seed0", "teacher-ddpm-seed1", *(f"{m}-seed{s}" for m in
                                                      ("ddpm", "vdd_ddpm", "em_gpt", "vdd")
                                                      for s in (0, 1))}
    for name, (status, tags, metrics) in local.items():
        assert remote[name][0] == status == "FINISHED", name
        assert remote[name][1] == tags, name
        assert remote[name][2] == metrics, name  # every cell: the same metrics, exactly
    assert any(metrics for _, _, metrics in local.values())
    ray_folder = _folder(tmp_path, "ray")
    for label in ("vdd_ddpm-seed0", "em_gpt-seed1", "vdd-seed0"):  # students' checkpoints
        assert (ray_folder / label / "checkpoint" / "model.safetensors").is_file(), label
    # the teachers the workers trained reached the driver's cache
    assert len(list((tmp_path / "ray" / "cache").glob("toy2d-ddpm-*/model.safetensors"))) == 2
    table = (ray_folder / "results.md").read_text()

    def sections(folder: Path) -> set[str]:
        text = (folder / "operative_config.gin").read_text()
        return {line for line in text.splitlines()
                if line.startswith("# Parameters for") and "RayOptions" not in line}

    # what the workers configured is in the driver's operative config too
    assert sections(ray_folder) == sections(_folder(tmp_path, "local"))
    # resuming the finished Ray run skips every cell and rewrites the same table
    assert _main(ray_args + ["--resume", str(ray_folder)]) == 0
    out = capsys.readouterr().out
    assert "resumed: 8 of 8 cells skipped as done" in out
    assert (ray_folder / "results.md").read_text() == table
    assert len(_children(client, (ray_folder / "parent_run.txt").read_text().strip())) == 10


def _store(uri: str) -> MlflowClient:
    """A client of the test's store, its tables made now: a second process making them at the
    same moment as the bench's driver could crash in the store's migration."""
    client = MlflowClient(uri)
    client.search_experiments()
    return client


def _kill_first_running(client_uri: str, method: str, killed: list, stop: threading.Event):
    """Poll the store; SIGKILL the worker process of the first RUNNING child run of
    `method` (its `bench.pid` tag), once."""
    client = MlflowClient(client_uri)
    while not stop.is_set() and not killed:
        exp = client.get_experiment_by_name("toy2d")
        if exp is not None:
            for r in client.search_runs([exp.experiment_id],
                                        filter_string="attributes.status = 'RUNNING'"):
                if r.data.tags.get("method") == method and r.data.metrics:  # mid-training
                    pid = int(r.data.tags["bench.pid"])
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
        time.sleep(0.2)


def test_a_worker_killed_mid_cell_is_retried(cluster, mlflow_uri, tmp_path, capsys):
    _store(mlflow_uri)
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_first_running,
                              args=(mlflow_uri, "vdd", killed, stop), daemon=True)
    killer.start()
    args = _args(tmp_path, "kill", "Benchmark.methods = ['em_gpt', 'vdd']",
                 "Benchmark.seeds = (0,)", "VDDConfig.iterations = 1500",
                 "TrainerConfig.log_every = 5")
    try:
        code = _main(args + ["--executor", "ray", "--ray-address", cluster.address])
    finally:
        stop.set()
        killer.join(10)
    assert killed, "the cell finished before it could be killed"
    assert code == 0, capsys.readouterr().err[-2000:]
    client = MlflowClient(mlflow_uri)
    parent = (_folder(tmp_path, "kill") / "parent_run.txt").read_text().strip()
    runs = [r for r in _children(client, parent) if r.info.run_name == "vdd-seed0"]
    statuses = sorted((r.info.status, r.data.tags["bench.pid"]) for r in runs)
    assert [s for s, _ in statuses] == ["FINISHED", "KILLED"], statuses
    assert dict((s, p) for s, p in statuses)["KILLED"] == str(killed[0])
    assert "| vdd | 1 |" in (_folder(tmp_path, "kill") / "results.md").read_text()


def test_a_killed_driver_is_finished_by_resume(mlflow_uri, tmp_path, repo_root, capsys):
    args = _args(tmp_path, "resume", "Benchmark.methods = ['em_gpt', 'vdd']",
                 "Benchmark.seeds = (0,)", "VDDConfig.iterations = 1500")
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_uri, "OMP_NUM_THREADS": "1"}
    client = _store(mlflow_uri)
    driver = subprocess.Popen([sys.executable, "-m", "bench.run", *args], cwd=repo_root,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and driver.poll() is None:
            exp = client.get_experiment_by_name("toy2d")
            runs = client.search_runs([exp.experiment_id]) if exp else []
            if any(r.info.run_name == "em_gpt-seed0" and r.info.status == "FINISHED"
                   for r in runs) and any(r.info.run_name == "vdd-seed0" for r in runs):
                break
            time.sleep(0.2)
        assert driver.poll() is None, "the driver ended before it could be killed"
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.wait(30)
    folder = _folder(tmp_path, "resume")
    assert not (folder / "results.md").exists()
    code = _main(args + ["--resume", str(folder)])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    assert "resumed: 1 of 2 cells skipped as done" in out, out[-2000:]
    results = (folder / "results.md").read_text()
    assert "| em_gpt | 1 |" in results and "| vdd | 1 |" in results
    parent = (folder / "parent_run.txt").read_text().strip()
    runs = _children(client, parent)
    em = [r.info.status for r in runs if r.info.run_name == "em_gpt-seed0"]
    vdd = sorted(r.info.status for r in runs if r.info.run_name == "vdd-seed0")
    assert em == ["FINISHED"], em  # not run again
    assert vdd == ["FINISHED", "KILLED"], vdd  # the killed attempt, reaped; the resumed one
    assert client.get_run(parent).info.status == "FINISHED"


def test_a_request_no_node_offers_is_refused_before_any_run(cluster, mlflow_uri, tmp_path,
                                                            capsys):
    args = _args(tmp_path, "gpu", "Benchmark.methods = ['em_gpt']", "Benchmark.seeds = (0,)",
                 "RayOptions.resources = {'em': {'num_gpus': 1}}")
    assert _main(args + ["--executor", "ray", "--ray-address", cluster.address]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: RayOptions: em_gpt ask for {'num_cpus': 1.0, 'num_gpus': 1}"), err
    assert not (tmp_path / "gpu").exists()


def test_a_sweep_runs_its_points_on_the_cluster(cluster, mlflow_uri, tmp_path):
    from bench.sweep import main as sweep_main

    args = ["--gin", "gin/toy2d.gin", "--grid", "EMConfig.lr = [0.005, 0.001]",
            "--executor", "ray", "--ray-address", cluster.address,
            "--output-dir", str(tmp_path / "out")]
    bindings = [*TINY, "Benchmark.methods = ['em_gpt']", "Benchmark.seeds = (0, 1)",
                f"Benchmark.cache_dir = '{tmp_path / 'cache'}'"]
    try:
        assert sweep_main(args + [a for b in bindings for a in ("-b", b)]) == 0
    finally:
        gin.clear_config()
    (folder,) = (tmp_path / "out" / "sweeps").iterdir()
    rows = [line for line in (folder / "sweep.md").read_text().splitlines()
            if "| em_gpt |" in line]
    assert [r.split("|")[1].strip() for r in rows] == ["EMConfig.lr = 0.005",
                                                      "EMConfig.lr = 0.001"]
    assert all(r.split("|")[4].strip() == "2" for r in rows)  # both seeds of each point
    assert not ray.is_initialized()  # the sweep's connection was closed
