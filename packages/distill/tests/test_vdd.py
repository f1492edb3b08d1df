import numpy as np
import pytest
import torch

from distill import VDD, GaussianMixtureScore, VDDConfig, get_algorithm
from distill.visited import VisitedPool
from moe import MoEConfig, MoEPolicy


def policy_for(actions: np.ndarray, **kw) -> MoEPolicy:
    cfg = dict(obs_dim=1, action_dim=2, num_experts=1, covariance="diagonal", gating="uniform",
               n_layer=1, n_head=1, n_embd=8)
    cfg.update(kw)
    policy = MoEPolicy(MoEConfig(**cfg))
    policy.fit_normalizers(np.zeros((len(actions), 1)), actions)
    return policy


def batches(actions: np.ndarray, n: int, size: int, rng) -> list[dict]:
    out = []
    for _ in range(n):
        idx = rng.integers(0, len(actions), size)
        out.append({"obs": torch.zeros(size, 1, 1),
                    "actions": torch.as_tensor(actions[idx], dtype=torch.float32)[:, None]})
    return out


def test_one_expert_recovers_a_gaussian_target():
    """Z = 1: the bound is the exact reverse KL, whose minimiser is the target itself."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    mean, std = np.array([1.0, -2.0]), np.array([0.5, 0.5])
    data = mean + std * rng.normal(size=(2000, 2))
    policy = policy_for(data)
    score = GaussianMixtureScore(means=mean[None], stds=[0.5], weights=[1.0],
                                 action_mean=policy.action_normalizer.mean,
                                 action_std=policy.action_normalizer.std)
    cfg = VDDConfig(iterations=400, batch_size=8, num_samples=16, lr=1e-2, gating_lr=1e-2,
                    expert_init="random", reseed_every=0)
    algo = VDD(policy, score, cfg)
    for _ in range(cfg.iterations):
        stats = algo.update(batches(data, cfg.cmp_steps, cfg.batch_size, rng))
    assert stats.reseeded == 0 and np.isfinite(float(stats.expert_loss))
    mix = policy.mixture(torch.zeros(1, 1, 1))
    got_mean = policy.action_normalizer.unnormalize(mix.means[0, 0, 0]).detach().numpy()
    got_std = (torch.diagonal(mix.scale_tril[0, 0, 0]) * policy.action_normalizer.std).detach()
    np.testing.assert_allclose(got_mean, mean, atol=0.05)
    np.testing.assert_allclose(got_std.numpy(), std, rtol=0.1)


def test_reseeding_moves_a_duplicate_expert_to_the_uncovered_mode():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    modes = np.array([[-4.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    data = modes[rng.integers(0, 3, 3000)] + 0.3 * rng.normal(size=(3000, 2))
    policy = policy_for(data, num_experts=3, gating="learned", init_std=0.2)
    # experts 0 and 1 on mode 0, expert 2 on mode 1; mode 2 is uncovered
    placed = policy.action_normalizer.normalize(
        torch.as_tensor(modes[[0, 0, 1]], dtype=torch.float32))
    policy.experts.set_means(placed)
    score = GaussianMixtureScore(means=modes, stds=[0.3] * 3, weights=[1 / 3] * 3,
                                 action_mean=policy.action_normalizer.mean,
                                 action_std=policy.action_normalizer.std)
    algo = VDD(policy, score, VDDConfig(iterations=100, batch_size=256, expert_init="random",
                                        reseed_every=10, reseed_until=1.0))
    obs, actions = policy.normalize_batch(batches(data, 1, 256, rng)[0])
    own = algo.own_responsibility(obs)
    assert own[2] > 0.9 and own[0] < 0.6 and own[1] < 0.6
    algo.iteration = 9  # the next check is due
    assert algo._maybe_reseed([(obs, actions)]) == (1, 0)
    means = policy.action_normalizer.unnormalize(policy.mixture(torch.zeros(1, 1, 1)).means[0, 0])
    nearest = torch.cdist(means.detach().double(), torch.as_tensor(modes)).argmin(-1)
    assert sorted(nearest.tolist()) == [0, 1, 2]


def test_config_validation_and_registry():
    with pytest.raises(ValueError, match="expert_init"):
        VDDConfig(expert_init="kmeans")
    with pytest.raises(ValueError, match="num_samples"):
        VDDConfig(num_samples=0)
    spec = get_algorithm("vdd")
    assert (spec.algorithm, spec.config, spec.source, spec.moe) == (VDD, VDDConfig, "score", True)
    with pytest.raises(ValueError, match="registered"):
        get_algorithm("vdd2")
    policy = policy_for(np.zeros((10, 2)))
    score = GaussianMixtureScore(means=[[0.0, 0.0]], stds=[1.0], weights=[1.0],
                                 action_mean=[0.0, 0.0], action_std=[1.0, 1.0])
    with pytest.raises(ValueError, match="needs init_actions"):
        VDD(policy, score, VDDConfig())
    with pytest.raises(TypeError, match="score adapter"):
        VDD(policy, object(), VDDConfig(expert_init="random"))
    algo = VDD(policy, score, VDDConfig(expert_init="random", cmp_steps=2))
    with pytest.raises(ValueError, match="needs 2 batches"):
        algo.update([])


def test_visited_states_feed_the_first_expert_step_only():
    """visited_share: after `add_visited`, that share of the first expert step's states comes
    from the pool; the other expert steps, the gating and the re-seeding keep the batch's."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    data = rng.normal(size=(200, 2))
    policy = policy_for(data)
    score = GaussianMixtureScore(means=[[0.0, 0.0]], stds=[1.0], weights=[1.0],
                                 action_mean=policy.action_normalizer.mean,
                                 action_std=policy.action_normalizer.std)
    cfg = VDDConfig(iterations=10, batch_size=8, expert_init="random", reseed_every=0,
                    visited_share=0.5, visited_every=3, visited_rollouts=5)
    algo = VDD(policy, score, cfg)
    seen = []
    step = algo._expert_step
    algo._expert_step = lambda obs: (seen.append(obs.clone()), step(obs))[1]
    dues = []
    for _ in range(cfg.iterations):
        dues.append(algo.visits_due())
        stats = algo.update(batches(data, cfg.cmp_steps, cfg.batch_size, rng))
    assert dues == [0, 0, 0, 5, 0, 0, 5, 0, 0, 5] and stats.visited == 0
    assert all(bool((obs == seen[0][0]).all()) for obs in seen)  # no pool yet: batch states
    with pytest.raises(ValueError, match=r"shaped \(N, 1, 1\)"):
        algo.add_visited(torch.ones(4, 2, 1))
    algo.add_visited(torch.full((3, 1, 1), 7.0))
    seen.clear()
    stats = algo.update(batches(data, cfg.cmp_steps, cfg.batch_size, rng))
    own = policy.obs_normalizer.normalize(torch.full((1, 1), 7.0))
    first, second = seen
    assert torch.allclose(first[:4], own.expand(4, 1, 1)) and not torch.allclose(first[4:], own)
    assert not torch.allclose(second, own) and stats.visited == 3 and algo.visits_due() == 0


def test_visited_pool_keeps_the_newest_and_checks_its_input():
    pool = VisitedPool(capacity=5, window=2, obs_dim=1)
    with pytest.raises(ValueError, match="empty"):
        pool.sample(1)
    pool.add(torch.arange(4.0).reshape(4, 1, 1).expand(4, 2, 1))
    pool.add(torch.arange(4.0, 7.0).reshape(3, 1, 1).expand(3, 2, 1))
    assert len(pool) == 5 and sorted(pool.sample(200)[:, 0, 0].unique().tolist()) == [2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match="NaN"):
        pool.add(torch.full((1, 2, 1), float("nan")))
    assert len(pool) == 5
    with pytest.raises(ValueError, match="visited_share"):
        VDDConfig(visited_share=1.5)
    with pytest.raises(ValueError, match="visited_every"):
        VDDConfig(visited_every=0)


def test_vdd_tells_an_annealed_score_its_progress_before_each_update():
    """An adapter with `set_progress` hears the share of iterations done before each update's
    teacher queries (0 first, (n-1)/n last); a plain adapter needs no such method."""
    rng = np.random.default_rng(0)
    data = rng.normal(size=(100, 2))
    policy = policy_for(data)

    class Annealed(GaussianMixtureScore):
        def set_progress(self, fraction):
            self.heard.append((fraction, len(self.queries)))

        def score(self, actions, obs):
            self.queries.append(len(actions))
            return super().score(actions, obs)

    score = Annealed(means=[[0.0, 0.0]], stds=[1.0], weights=[1.0],
                     action_mean=policy.action_normalizer.mean,
                     action_std=policy.action_normalizer.std)
    score.queries, score.heard = [], []
    cfg = VDDConfig(iterations=4, batch_size=8, expert_init="random", reseed_every=0)
    algo = VDD(policy, score, cfg)
    for _ in range(cfg.iterations):
        algo.update(batches(data, cfg.cmp_steps, cfg.batch_size, rng))
    steps = cfg.cmp_steps
    assert score.heard == [(0.0, 0), (0.25, steps), (0.5, 2 * steps), (0.75, 3 * steps)]
