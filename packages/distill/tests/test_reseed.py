"""Where VDD (ours) places experts: initial widths, the pool of unexplained points, and a
re-seeding check that sends two redundant experts to two different empty modes."""

import numpy as np
import torch

from distill import VDD, GaussianMixtureScore, VDDConfig
from distill.reseed import UnexplainedPool, far_from_every_expert, initial_stds
from moe import MoEConfig, MoEPolicy

MODES = np.array([[-4.0, 0.0], [4.0, 0.0], [0.0, 4.0], [0.0, -4.0]])


def grid_data(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return MODES[rng.integers(0, 4, n)] + 0.3 * rng.normal(size=(n, 2))


def policy_for(data: np.ndarray, **kw) -> MoEPolicy:
    cfg = dict(obs_dim=1, action_dim=2, num_experts=4, covariance="diagonal", n_layer=1,
               n_head=1, n_embd=8)
    cfg.update(kw)
    policy = MoEPolicy(MoEConfig(**cfg))
    policy.fit_normalizers(np.zeros((len(data), 1)), data)
    return policy


def place(policy: MoEPolicy, raw_means: np.ndarray) -> None:
    policy.experts.set_means(
        policy.action_normalizer.normalize(torch.as_tensor(raw_means, dtype=torch.float32)))


def raw_means(policy: MoEPolicy) -> np.ndarray:
    mix = policy.mixture(torch.zeros(1, 1, 1))
    return policy.action_normalizer.unnormalize(mix.means[0, 0]).detach().numpy()


def test_initial_stds_are_the_spread_around_the_nearest_centre():
    torch.manual_seed(0)
    data = grid_data(4000, 0)
    policy = policy_for(data)
    place(policy, MODES)  # one expert per mode: the cells are the modes
    stds = initial_stds(policy, data) * policy.action_normalizer.std
    np.testing.assert_allclose(stds.numpy(), [0.3, 0.3], rtol=0.1)
    place(policy, MODES[[0, 0, 0, 0]])  # all on one mode: the cells are as wide as the data
    assert (initial_stds(policy, data) * policy.action_normalizer.std > 2.0).all()
    policy.experts.set_stds(torch.full((4, 2), 0.1))
    scale = policy.mixture(torch.zeros(1, 1, 1)).scale_tril[0, 0]
    np.testing.assert_allclose(torch.diagonal(scale, dim1=-2, dim2=-1).detach().numpy(), 0.1,
                               rtol=1e-4)


def test_vdd_data_start_makes_each_expert_as_wide_as_its_cell():
    """Not as wide as all the data (init_std 1 normalised, ~2.9 raw here): such experts drift
    to the middle of a grid and one stays stretched across the middle modes."""
    torch.manual_seed(0)
    data = grid_data(4000, 3)
    policy = policy_for(data)
    score = GaussianMixtureScore(means=MODES, stds=[0.3] * 4, weights=[0.25] * 4,
                                 action_mean=policy.action_normalizer.mean,
                                 action_std=policy.action_normalizer.std)
    VDD(policy, score, VDDConfig(), init_actions=torch.as_tensor(data))
    scale = policy.mixture(torch.zeros(1, 1, 1)).scale_tril[0, 0]
    stds = torch.diagonal(scale, dim1=-2, dim2=-1) * policy.action_normalizer.std
    assert (stds < 1.5).all() and (stds > 0.2).all(), stds
    policy = policy_for(data)
    VDD(policy, score, VDDConfig(expert_init="random"))  # published: the configured width
    scale = policy.mixture(torch.zeros(1, 1, 1)).scale_tril[0, 0]
    stds = torch.diagonal(scale, dim1=-2, dim2=-1) * policy.action_normalizer.std
    assert (stds > 2.5).all(), stds


def test_pool_keeps_the_points_farthest_from_every_expert():
    torch.manual_seed(0)
    data = grid_data(4000, 1)
    policy = policy_for(data, init_std=0.05)
    place(policy, MODES[[0, 1, 2, 2]])  # mode 3 (0, -4) has no expert
    pool = UnexplainedPool(size=16)
    for start in range(0, 512, 32):  # 16 batches of 32
        obs, act = policy.normalize_batch({"obs": np.zeros((32, 1, 1)),
                                           "actions": data[start:start + 32, None]})
        pool.add(policy, obs, act)
    assert pool.obs_MTO.shape[0] == 16
    kept = policy.action_normalizer.unnormalize(pool.actions_MTA[:, 0]).numpy()
    nearest = np.linalg.norm(kept[:, None] - MODES[None], axis=-1).argmin(-1)
    assert (nearest == 3).all()
    point = pool.farthest(policy)
    assert point.distance > far_from_every_expert(2)


def test_two_redundant_experts_go_to_two_different_empty_modes():
    """Four experts, two pairs on modes 0 and 1, modes 2 and 3 empty: one check moves one
    expert of each pair, each to its own empty mode (the farthest point is rescored after each
    move), and once every mode has an expert nothing moves."""
    torch.manual_seed(0)
    data = grid_data(4000, 2)
    policy = policy_for(data, init_std=0.2, num_experts=4)
    place(policy, MODES[[0, 0, 1, 1]])
    score = GaussianMixtureScore(means=MODES, stds=[0.3] * 4, weights=[0.25] * 4,
                                 action_mean=policy.action_normalizer.mean,
                                 action_std=policy.action_normalizer.std)
    algo = VDD(policy, score, VDDConfig(iterations=100, batch_size=64, expert_init="random",
                                        reseed_every=10, reseed_until=1.0))
    batch = policy.normalize_batch({"obs": np.zeros((256, 1, 1)), "actions": data[:256, None]})
    algo.iteration = 9  # the next check is due
    assert algo._maybe_reseed([batch]) == 2
    nearest = np.linalg.norm(raw_means(policy)[:, None] - MODES[None], axis=-1).argmin(-1)
    assert sorted(nearest.tolist()) == [0, 1, 2, 3]
    algo.iteration = 19  # every mode has an expert now: nothing is unexplained, nothing moves
    assert algo._maybe_reseed([batch]) == 0
