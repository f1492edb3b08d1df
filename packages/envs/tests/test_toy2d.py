import numpy as np
import pytest

from envs import (
    GaussianMixtureTarget, Toy2D, energy_distance, grid_layout, make_task, mode_weights,
    modes_covered, modes_hit, reverse_kl, ring_layout, sample_mode_frequencies,
)


def test_score_is_the_gradient_of_log_prob():
    target = ring_layout(8, radius=4.0, std=0.4, weights=np.arange(1, 9) / 36)
    x = np.random.default_rng(0).normal(scale=4.0, size=(50, 2))
    eps = 1e-5
    fd = np.stack([(target.log_prob(x + eps * e) - target.log_prob(x - eps * e)) / (2 * eps)
                   for e in np.eye(2)], axis=-1)
    np.testing.assert_allclose(target.score(x), fd, rtol=1e-4, atol=1e-6)


def test_log_prob_integrates_to_one():
    target = grid_layout(2, 2, spacing=3.0, std=0.5)
    g = np.linspace(-8, 8, 801)
    X, Y = np.meshgrid(g, g)
    mass = np.exp(target.log_prob(np.stack([X, Y], -1))).sum() * (g[1] - g[0]) ** 2
    assert mass == pytest.approx(1.0, abs=1e-3)


def test_samples_follow_the_weights_and_are_seeded():
    task = Toy2D(weights=(0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1), num_demos=20_000)
    d1, d2 = task.make_dataset(3), task.make_dataset(3)
    assert np.array_equal(d1["actions"], d2["actions"])
    assert d1["obs"].shape == (20_000, 1, 1) and d1["actions"].shape == (20_000, 1, 2)
    freq = sample_mode_frequencies(d1["actions"][:, 0], task.target)
    np.testing.assert_allclose(freq, task.target.weights, atol=0.01)
    assert np.array_equal(task.target.assign(d1["actions"][:, 0]), d1["mode"])


def test_metrics_on_known_mixtures():
    target = ring_layout(4, radius=4.0, std=0.4)
    # three components on modes 0-2 (one slightly off), one in between modes 0 and 1
    comps = np.array([[4.0, 0.1], [0.0, 4.0], [-4.0, 0.0], [2.0, 2.0]])
    covered = modes_covered(comps, target)
    assert covered.tolist() == [True, True, True, False]
    w = mode_weights(comps, np.array([0.25, 0.25, 0.25, 0.25]), target)
    assert w.sum() == pytest.approx(1.0) and w[3] == 0.0
    x, _ = target.sample(20_000, np.random.default_rng(0))
    assert reverse_kl(x, target.log_prob(x), target) == pytest.approx(0.0, abs=1e-12)
    # a q that puts all mass on one mode: KL = log 4
    x0 = target.means[0] + 0.4 * np.random.default_rng(1).normal(size=(20_000, 2))
    q0 = GaussianMixtureTarget(target.means[:1], target.stds[:1], np.ones(1))
    assert reverse_kl(x0, q0.log_prob(x0), target) == pytest.approx(np.log(4), abs=0.02)


def test_bad_settings_raise_clear_errors():
    with pytest.raises(ValueError, match="layout"):
        Toy2D(layout="spiral")
    with pytest.raises(ValueError, match="sum to 1"):
        Toy2D(num_modes=2, weights=(0.5, 0.6))
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        make_task("nope")
    assert make_task("toy2d", num_modes=3).target.num_modes == 3
    assert Toy2D(layout="grid", grid_rows=2, grid_cols=3).target.num_modes == 6


def test_energy_distance_and_modes_hit():
    target = ring_layout(4, radius=4.0, std=0.4)
    rng = np.random.default_rng(0)
    x, _ = target.sample(1500, rng)
    y, _ = target.sample(1500, rng)
    one_mode = target.means[0] + 0.4 * rng.normal(size=(1500, 2))
    same, wrong = energy_distance(x, y), energy_distance(one_mode, y)
    assert abs(same) < 0.05 and wrong > 1.0
    assert modes_hit(x, target).all()
    assert modes_hit(one_mode, target).tolist() == [True, False, False, False]
