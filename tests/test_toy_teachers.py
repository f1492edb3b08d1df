"""Known answers with *trained* teachers on the toy task (slow: trains both teachers with the
shipped gin/toy2d.gin settings, ~2 min each on 2 CPU cores; run with `pytest -m slow`).

- each teacher's N-step samples hit every mode with frequencies within 0.05 of the truth;
- its 1-step samples are measurably worse (energy distance to the target);
- VDD distilled from each trained teacher covers every mode with weights within 0.05.
"""

from pathlib import Path

import gin
import pytest
import torch

from bench import methods as M
from bench.config import parse_gin
from bench.experiment import Benchmark
from bench.teacher_store import load_or_train_teacher
from bench.toy_eval import evaluate_toy, sample_metrics
from bench.trainer import Trainer, TrainerConfig

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    parse_gin([REPO / "gin" / "toy2d.gin"])
    bench = Benchmark()
    data = bench.task.make_dataset(bench.data_seed)
    cache = tmp_path_factory.mktemp("teachers")
    quiet = TrainerConfig(progress=False, checkpoint_every=10**9)
    trained = {k: load_or_train_teacher(k, bench.task, data, bench.data_seed, cache_dir=cache,
                                        trainer_config=quiet) for k in ("beso", "ddpm")}
    yield bench, data, trained
    gin.clear_config()


@pytest.mark.parametrize("kind", ["beso", "ddpm"])
def test_teacher_n_step_covers_modes_and_one_step_is_worse(setup, kind):
    bench, _, trained = setup
    task, policy = bench.task, trained[kind].policy
    obs = task.observation(10_000)
    full = policy.sample_actions(obs, generator=torch.Generator().manual_seed(0)).numpy()
    one = policy.sample_actions(obs, num_steps=1,
                                generator=torch.Generator().manual_seed(0)).numpy()
    m_full, m_one = sample_metrics(full, task, seed=0), sample_metrics(one, task, seed=0)
    assert m_full["eval/modes_hit"] == 8, m_full
    assert m_full["eval/sample_freq_error_max"] < 0.05, m_full
    assert m_one["eval/energy_distance"] > 3 * m_full["eval/energy_distance"], (m_full, m_one)


@pytest.mark.parametrize("kind", ["beso", "ddpm"])
def test_vdd_from_trained_teacher_covers_every_mode(setup, kind, tmp_path):
    bench, data, trained = setup
    method = M.METHODS[f"vdd_{kind}"]
    built = M.build_student(method, bench.task, data, seed=0, teacher=trained[kind])
    cfg = built.algorithm.config
    Trainer(built.algorithm, data, iterations=cfg.iterations, batch_size=cfg.batch_size,
            checkpoint_dir=tmp_path / "c", seed=0,
            config=TrainerConfig(progress=False, checkpoint_every=10**9)).fit()
    m, _ = evaluate_toy(built.policy, bench.task, num_samples=10_000, seed=0)
    assert m["eval/modes_covered"] == 8, m
    assert m["eval/weight_error_max"] < 0.05, m
