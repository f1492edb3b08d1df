"""Every top-level .gin file parses strictly and builds its objects."""

from pathlib import Path

import gin
import pytest

from bench.config import parse_gin
from bench.experiment import Benchmark

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "gin").glob("*.gin"))


def test_there_are_configs():
    assert [p.name for p in CONFIGS if p.name == "toy2d.gin"] == ["toy2d.gin"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_parses_and_builds(path):
    gin.clear_config()
    parse_gin([path])
    bench = Benchmark()
    assert bench.method_specs and bench.seeds
    assert bench.task.name == path.stem
    gin.clear_config()


CPU_CONFIGS = sorted((REPO / "gin" / "cpu").glob("*.gin"))


@pytest.mark.parametrize("path", CPU_CONFIGS, ids=lambda p: p.name)
def test_cpu_budget_configs_shrink_their_task(path):
    """gin/cpu/<task>.gin builds the same task as gin/<task>.gin, with a smaller budget."""
    gin.clear_config()
    parse_gin([REPO / "gin" / path.name])
    full = Benchmark()
    full_iters = gin.query_parameter("TeacherTrainingConfig.iterations")
    gin.clear_config()
    parse_gin([path])
    quick = Benchmark()
    assert quick.task.name == full.task.name == path.stem
    assert gin.query_parameter("TeacherTrainingConfig.iterations") < full_iters
    assert (quick.task.contexts * quick.task.rollouts) < (full.task.contexts * full.task.rollouts)
    gin.clear_config()


def test_shared_includes_parse_on_their_own():
    for inc in sorted((REPO / "gin" / "common").glob("*.gin")):
        gin.clear_config()
        parse_gin([inc])
    gin.clear_config()
