"""The toy's scoring (`Toy2D.evaluate`) with numpy policies whose answers are known."""

import numpy as np
import pytest

from envs import ENERGY_SAMPLES, TaskEvaluation, Toy2D, energy_distance, toy_sample_metrics
from envs.toy2d import GaussianMixtureTarget

SAMPLE_KEYS = ["modes_hit", "sample_freq_error_max", "energy_distance", "num_modes"]
MIXTURE_KEYS = ["modes_covered", "all_modes_covered", "weight_error_max", "reverse_kl",
                "heldout_log_lik", "target_log_lik"]


class MixturePolicy:
    """A numpy policy that samples a given Gaussian mixture and knows its density."""

    def __init__(self, mix: GaussianMixtureTarget) -> None:
        self.mix = mix

    def sample(self, obs: np.ndarray, *, seed: int) -> np.ndarray:
        return self.mix.sample(len(obs), np.random.default_rng(seed))[0].astype(np.float32)

    def mixture(self, obs: np.ndarray):
        eye = np.eye(self.mix.dim)
        return self.mix.means, self.mix.stds[:, None, None] ** 2 * eye, self.mix.weights

    def log_prob(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        return self.mix.log_prob(actions)


class SamplesOnly:
    """A sampler without a tractable density (as a diffusion policy)."""

    def __init__(self, mix: GaussianMixtureTarget) -> None:
        self.inner = MixturePolicy(mix)

    def sample(self, obs: np.ndarray, *, seed: int) -> np.ndarray:
        return self.inner.sample(obs, seed=seed)


@pytest.fixture(scope="module")
def task():
    return Toy2D()


def test_the_exact_target_scores_perfectly(task):
    ev = task.evaluate(MixturePolicy(task.target), seed=0, num_samples=4000)
    assert isinstance(ev, TaskEvaluation) and ev.video_paths == [] and ev.raw is None
    assert list(ev.metrics) == SAMPLE_KEYS + MIXTURE_KEYS
    m = ev.metrics
    assert m["modes_hit"] == m["modes_covered"] == m["num_modes"] == 8
    assert m["all_modes_covered"] == 1.0 and m["weight_error_max"] == pytest.approx(0.0)
    assert m["reverse_kl"] == pytest.approx(0.0, abs=1e-6)
    assert m["heldout_log_lik"] == pytest.approx(m["target_log_lik"], abs=1e-5)
    assert m["energy_distance"] < 0.05 and m["sample_freq_error_max"] < 0.05
    assert ev.samples.shape == (4000, 2)


def test_a_collapsed_policy_hits_one_mode(task):
    t = task.target
    one = GaussianMixtureTarget(t.means[:1], t.stds[:1], np.ones(1))
    m = task.evaluate(MixturePolicy(one), seed=1, num_samples=4000).metrics
    assert m["modes_hit"] == m["modes_covered"] == 1 and m["all_modes_covered"] == 0.0
    assert m["weight_error_max"] == pytest.approx(1 - 1 / 8)
    assert m["reverse_kl"] == pytest.approx(np.log(8), abs=0.02)
    assert m["energy_distance"] > 1.0


def test_a_sampler_gets_the_sample_metrics_and_the_distance_to_a_reference(task):
    policy = SamplesOnly(task.target)
    ev = task.evaluate(policy, seed=2, num_samples=3000)
    assert list(ev.metrics) == SAMPLE_KEYS
    assert ev.metrics == toy_sample_metrics(ev.samples, task.target, seed=2)
    reference = task.target.sample(500, np.random.default_rng(9))[0]
    with_ref = task.evaluate(policy, seed=2, num_samples=3000, reference=reference)
    assert with_ref.metrics["energy_distance_teacher"] == energy_distance(
        ev.samples[:ENERGY_SAMPLES], reference)
    assert {k: with_ref.metrics[k] for k in SAMPLE_KEYS} == ev.metrics


def test_scores_are_seeded(task):
    policy = MixturePolicy(task.target)
    a, b = (task.evaluate(policy, seed=5, num_samples=2000) for _ in range(2))
    assert a.metrics == b.metrics and np.array_equal(a.samples, b.samples)
    c = task.evaluate(policy, seed=6, num_samples=2000)
    assert c.metrics["energy_distance"] != a.metrics["energy_distance"]


def test_sample_metrics_use_the_fixed_reference_generator(task):
    """The reference draw is `default_rng(10_000 + seed)` (numbers stay comparable)."""
    t = task.target
    x = t.sample(3000, np.random.default_rng(0))[0]
    reference, _ = t.sample(ENERGY_SAMPLES, np.random.default_rng(10_000 + 4))
    m = toy_sample_metrics(x, t, seed=4)
    assert m["energy_distance"] == energy_distance(x[:ENERGY_SAMPLES], reference)
    assert m["num_modes"] == 8 and m["modes_hit"] == 8
