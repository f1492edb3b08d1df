"""Executors without a cluster (fast): ray stays unimported unless asked for, the refusals, the
resource requests, the resume hash, folders as bytes. The Ray runs are in test_ray_executor.py."""

import subprocess
import sys

import gin
import pytest

from bench.config import parse_gin
from bench.errors import ConfigError
from bench.executors import require_shared_tracking
from bench.executors.options import RayOptions, torch_threads
from bench.files import read_folder, write_folder
from bench.methods import method_table
from bench.resume import cell_hash, config_key

BLOCK_RAY = """
import sys
class NoRay:
    def find_spec(self, name, path=None, target=None):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray' (blocked by the test)")
sys.meta_path.insert(0, NoRay())
"""


def _python(code: str, repo_root) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True,
                          text=True, timeout=300)


def test_the_bench_never_imports_ray_unless_asked(repo_root):
    proc = _python(
        "import sys\n"
        "import bench.run, bench.sweep, bench.invocation, bench.configurables, bench.executors\n"
        "import bench.executors.local, bench.resume, bench.cells, bench.report\n"
        "from bench.executors import make_executor\n"
        "make_executor('local')\n"
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))",
        repo_root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_without_the_extra_ray_is_refused_in_one_line(repo_root, tmp_path):
    proc = _python(BLOCK_RAY + (
        "from bench.run import main\n"
        f"sys.exit(main(['--gin', 'gin/toy2d.gin', '--executor', 'ray', "
        f"'--output-dir', {str(tmp_path / 'out')!r}]))"), repo_root)
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --executor ray needs ray") and "packages/bench[ray]" in last
    assert not (tmp_path / "out").exists()


def test_a_multi_host_cluster_needs_a_tracking_server():
    require_shared_tracking("sqlite:////tmp/mlflow.db", {"10.0.0.1"})  # one host: its disk
    require_shared_tracking("http://10.0.0.1:5000", {"10.0.0.1", "10.0.0.2"})
    for uri in ("sqlite:////tmp/mlflow.db", "file:///tmp/mlruns", "/tmp/mlruns"):
        with pytest.raises(ConfigError, match="spans 2 hosts but MLflow logs to .*mlflow_server"):
            require_shared_tracking(uri, {"10.0.0.1", "10.0.0.2"})


def test_ray_options_are_checked_and_the_most_specific_request_wins():
    table = method_table()
    opts = RayOptions(cell_cpus=1, resources={"student": {"num_cpus": 2},
                                              "vdd": {"num_gpus": 0.5},
                                              "vdd_ddpm": {"num_cpus": 4}})
    assert opts.cell_request(table["ddpm"]) == {"num_cpus": 1, "num_gpus": 0.0}
    assert opts.cell_request(table["em_gpt"]) == {"num_cpus": 2, "num_gpus": 0.0}
    assert opts.cell_request(table["vdd_beso"]) == {"num_cpus": 2, "num_gpus": 0.5}
    assert opts.cell_request(table["vdd_ddpm"]) == {"num_cpus": 4, "num_gpus": 0.5}
    assert torch_threads(opts.cell_request(table["vdd_ddpm"])) == 4
    assert torch_threads({"num_cpus": 0.5}) == 1
    for bad, match in (({"cell_cpus": -1}, "cell_cpus must be a number >= 0, got -1"),
                       ({"max_retries": 1.5}, "max_retries must be an int >= 0, got 1.5"),
                       ({"resources": {"vdd": {"cpus": 1}}}, r"resources\['vdd'\] must be")):
        with pytest.raises(ValueError, match=match):
            RayOptions(**bad)
    with pytest.raises(ValueError, match=r"names \['vdd_typo'\]"):
        RayOptions(resources={"vdd_typo": {"num_cpus": 1}}).check_names(set(table))


def test_ray_options_submit_the_named_cells_first_in_the_given_order():
    from types import SimpleNamespace

    table = method_table()
    cells = [SimpleNamespace(method=table[m])
             for m in ("ddpm", "cd", "vdd_beso", "em_gpt", "vdd_ddpm", "imc_gpt")]
    order = RayOptions(first=["em_gpt", "vdd"]).submit_order(cells)
    assert [cells[i].method.name for i in order] == [
        "em_gpt", "vdd_beso", "vdd_ddpm", "ddpm", "cd", "imc_gpt"]
    assert RayOptions().submit_order(cells) == list(range(len(cells)))
    with pytest.raises(ValueError, match="RayOptions.first must be a list"):
        RayOptions(first="vdd")
    with pytest.raises(ValueError, match=r"RayOptions.first names \['vdd_typo'\]"):
        RayOptions(first=["vdd_typo"]).check_names(set(table))


def test_a_bad_executor_is_one_line(mlflow_uri, capsys):
    from bench.run import main

    try:
        assert main(["--gin", "gin/toy2d.gin", "-b", "Benchmark.executor = 'slurm'"]) == 2
    finally:
        gin.clear_config()
    assert "Benchmark.executor must be 'local' or 'ray', got 'slurm'" in capsys.readouterr().err


def _key(repo_root, *bindings: str) -> str:
    parse_gin([repo_root / "gin/toy2d.gin"], list(bindings))
    try:
        return config_key(gin.config_str())
    finally:
        gin.clear_config()


def test_the_resume_hash_ignores_where_and_what_runs_but_not_settings(repo_root):
    base = _key(repo_root)
    assert _key(repo_root, "Benchmark.seeds = (5,)", "Benchmark.output_dir = '/x'",
                "Benchmark.executor = 'ray'", "RayOptions.address = 'auto'",
                "Benchmark.methods = ['vdd']", "TrainerConfig.progress = False",
                "Benchmark.experiment = 'mine'", "TrainerConfig.bar = False") == base
    assert _key(repo_root, "VDDConfig.lr = 0.1") != base
    assert _key(repo_root, "vdd_beso/VDDConfig.num_samples = 4") != base
    plan_cells = _plan(repo_root)
    hashes = {cell_hash(base, c) for c in plan_cells}
    assert len(hashes) == len(plan_cells)  # method and seed are in the hash


def _plan(repo_root):
    from bench.settings import Benchmark

    parse_gin([repo_root / "gin/toy2d.gin"], ["Benchmark.seeds = (0, 1)"])
    try:
        return Benchmark().plan().cells
    finally:
        gin.clear_config()


def test_a_folder_travels_as_bytes(tmp_path):
    src = tmp_path / "src"
    (src / "checkpoint").mkdir(parents=True)
    (src / "checkpoint" / "model.safetensors").write_bytes(b"\x00\x01weights")
    (src / "checkpoint" / "config.json").write_text('{"format": 1}')
    files = read_folder(src)
    assert files == {"checkpoint/config.json": b'{"format": 1}',
                     "checkpoint/model.safetensors": b"\x00\x01weights"}
    dst = write_folder(files, tmp_path / "dst")
    assert read_folder(dst) == files
    write_folder({"other.txt": b"x"}, dst)  # replaced whole
    assert read_folder(dst) == {"other.txt": b"x"}
    assert read_folder(tmp_path / "absent") == {}
    with pytest.raises(ValueError, match="outside"):
        write_folder({"../escape": b"x"}, tmp_path / "evil")
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize(("target", "says"), [
    ("{tmp}", "no parent_run.txt in that folder"),
    ("0123abcd", "--resume: no MLflow run 0123abcd in sqlite:"),
    ("no such/folder", "neither an output folder nor an MLflow run id")])
def test_a_bad_resume_is_one_line(mlflow_uri, tmp_path, capsys, target, says):
    from bench.run import main

    try:
        code = main(["--gin", "gin/toy2d.gin", "--output-dir", str(tmp_path / "out"),
                     "--resume", target.format(tmp=tmp_path)])
    finally:
        gin.clear_config()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: ") and says in err[-1], err
    assert not (tmp_path / "out").exists()


def test_workers_operative_sections_join_the_drivers():
    from bench.executors import merge_operative

    driver = ("import bench.configurables\n\n# Parameters for Benchmark:\n# ====\n"
              "Benchmark.seeds = (0,)\n\n# Parameters for VDDConfig:\n# ====\nVDDConfig.lr = 0.1\n")
    worker = ("import bench.configurables\n\n# Parameters for DDPMScore:\n# ====\n"
              "DDPMScore.t_range = (1, 1)\n\n# Parameters for VDDConfig:\n# ====\n"
              "VDDConfig.lr = 0.1\n")
    merged = merge_operative(driver, [worker, worker])
    assert merged.startswith(driver.rstrip("\n"))
    assert merged.count("# Parameters for DDPMScore:") == 1
    assert merged.count("# Parameters for VDDConfig:") == 1
    assert merged.endswith("DDPMScore.t_range = (1, 1)\n")
    assert merge_operative(driver, []) == driver
