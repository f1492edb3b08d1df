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
from bench.scoring import evaluate_policy
from bench.settings import Benchmark
from bench.teacher_store import load_or_train_teacher
from bench.trainer import Trainer, TrainerConfig
from envs import toy_sample_metrics

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
    m_full = toy_sample_metrics(full, task.target, seed=0)
    m_one = toy_sample_metrics(one, task.target, seed=0)
    assert m_full["modes_hit"] == 8, m_full
    assert m_full["sample_freq_error_max"] < 0.05, m_full
    assert m_one["energy_distance"] > 3 * m_full["energy_distance"], (m_full, m_one)


@pytest.mark.parametrize("kind", ["beso", "ddpm"])
def test_vdd_from_trained_teacher_covers_every_mode(setup, kind, tmp_path):
    bench, data, trained = setup
    method = M.method_table()[f"vdd_{kind}"]
    built = M.build_student(method, bench.task, data, seed=0, teacher=trained[kind])
    cfg = built.algorithm.config
    Trainer(built.algorithm, data, iterations=cfg.iterations, batch_size=cfg.batch_size,
            checkpoint_dir=tmp_path / "c", seed=0,
            config=TrainerConfig(progress=False, checkpoint_every=10**9)).fit()
    m, _ = evaluate_policy(bench.task, built.policy, num_samples=10_000, seed=0)
    assert m["eval/modes_covered"] == 8, m
    assert m["eval/weight_error_max"] < 0.05, m
