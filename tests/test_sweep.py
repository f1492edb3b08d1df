"""`python -m bench.sweep`: the grid, its checks, and a tiny two-point sweep under one MLflow
parent run with its table."""

import gin
import pytest
from mlflow.tracking import MlflowClient

from bench.errors import ConfigError
from bench.sweep import main, parse_grid, points

TINY = ["Benchmark.methods = ['vdd_published', 'em_gpt']", "Benchmark.seeds = (0,)",
        "VDDConfig.iterations = 5", "VDDConfig.batch_size = 8", "VDDConfig.num_samples = 8",
        "EMConfig.iterations = 5", "Benchmark.eval_samples = 200",
        "Benchmark.timing_repeats = 1", "Benchmark.snapshot_iterations = []",
        "TrainerConfig.progress = False"]


def test_the_grid_is_the_product_of_its_axes():
    a = parse_grid("BESOScore.sigma_range = [(0.05, 0.2), (0.2, 0.5)]")
    b = parse_grid("VDDConfig.lr=[1e-3, 5e-4, 'x']")
    assert a.values == ((0.05, 0.2), (0.2, 0.5)) and b.binding == "VDDConfig.lr"
    grid = points([a, b])
    assert len(grid) == 6
    assert grid[0] == ["BESOScore.sigma_range = (0.05, 0.2)", "VDDConfig.lr = 0.001"]
    assert grid[-1] == ["BESOScore.sigma_range = (0.2, 0.5)", "VDDConfig.lr = 'x'"]
    for bad, match in (("VDDConfig.lr", "write it as"), ("VDDConfig.lr = 3", "non-empty list"),
                       ("VDDConfig.lr = [a b]", "Python literals"),
                       ("VDDConfig.lr = [1, 1]", "repeat"), ("V lr = [1]", "write it as")):
        with pytest.raises(ConfigError, match=match):
            parse_grid(bad)


def test_a_bad_point_stops_the_sweep_before_anything_runs(mlflow_uri, tmp_path, capsys):
    code = main(["--gin", "gin/toy2d.gin", "--grid", "VDDConfig.lr = [0.001, 'fast']",
                 "--output-dir", str(tmp_path / "out"), *[a for b in TINY for a in ("-b", b)]])
    gin.clear_config()
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: point VDDConfig.lr = 'fast': ") and "VDDConfig.lr" in err
    assert not (tmp_path / "out").exists()


def test_a_sweep_nests_its_points_under_one_parent_with_a_table(mlflow_uri, tmp_path, capsys):
    code = main(["--gin", "gin/toy2d.gin", "--grid", "VDDConfig.lr = [0.001, 0.0005]",
                 "--output-dir", str(tmp_path / "out"), *[a for b in TINY for a in ("-b", b)]])
    gin.clear_config()
    assert code == 0, capsys.readouterr().err[-2000:]
    client = MlflowClient(mlflow_uri)
    exp = client.get_experiment_by_name("toy2d").experiment_id
    (sweep,) = client.search_runs([exp], filter_string="tags.`sweep.grid` != ''")
    assert sweep.info.status == "FINISHED"
    points_ = client.search_runs(
        [exp], filter_string=f"tags.mlflow.parentRunId = '{sweep.info.run_id}'")
    assert sorted(r.data.tags["sweep.point"] for r in points_) == [
        "VDDConfig.lr = 0.0005", "VDDConfig.lr = 0.001"]
    for point in points_:
        cells = client.search_runs(
            [exp], filter_string=f"tags.mlflow.parentRunId = '{point.info.run_id}'")
        assert sorted(c.info.run_name for c in cells) == ["em_gpt-seed0", "vdd_published-seed0"]
    (folder,) = (tmp_path / "out" / "sweeps").iterdir()
    table = (folder / "sweep.md").read_text().splitlines()
    assert len(table) == 2 + 4  # header, rule, 2 points x 2 methods
    assert any(line.startswith("| VDDConfig.lr = 0.001 | vdd_published | ") for line in table)
    assert (folder / "sweep.png").stat().st_size > 0
    # the two points differ only in the VDD learning rate: EM's rows are equal
    em = [line.split("|")[3] for line in table if "| em_gpt |" in line]
    assert len(em) == 2 and em[0] == em[1]
