"""Where VDD (ours) places experts: initial widths, the pool of unexplained points, a
re-seeding check that sends two redundant experts to two different empty modes, and the score
misfit that finds an expert straddling two modes."""

import numpy as np
import torch

from distill import VDD, GaussianMixtureScore, VDDConfig
from distill.reseed import (MISFIT_MAX, UnexplainedPool, climb_to_mode,
                            far_from_every_expert, initial_stds, score_misfit)
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


def score_of(policy: MoEPolicy, means, std: float) -> GaussianMixtureScore:
    means = np.asarray(means, dtype=float)
    return GaussianMixtureScore(means=means, stds=[std] * len(means),
                                weights=[1.0 / len(means)] * len(means),
                                action_mean=policy.action_normalizer.mean,
                                action_std=policy.action_normalizer.std)


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
    score = score_of(policy, MODES, 0.3)
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
    move) and onto that mode's centre (not the far tail point that was farthest), and once
    every mode has an expert nothing moves."""
    torch.manual_seed(0)
    data = grid_data(4000, 2)
    policy = policy_for(data, init_std=0.2, num_experts=4)
    place(policy, MODES[[0, 0, 1, 1]])
    score = score_of(policy, MODES, 0.3)
    algo = VDD(policy, score, VDDConfig(iterations=100, batch_size=64, expert_init="random",
                                        reseed_every=10, reseed_until=1.0))
    batch = policy.normalize_batch({"obs": np.zeros((256, 1, 1)), "actions": data[:256, None]})
    algo.iteration = 9  # the next check is due
    assert algo._maybe_reseed([batch]) == (2, 0)
    nearest = np.linalg.norm(raw_means(policy)[:, None] - MODES[None], axis=-1).argmin(-1)
    assert sorted(nearest.tolist()) == [0, 1, 2, 3]
    off_centre = np.linalg.norm(raw_means(policy) - MODES[nearest], axis=-1)
    assert off_centre.max() < 0.05, off_centre  # the mode std is 0.3
    algo.iteration = 19  # every mode has an expert now: nothing is unexplained, nothing moves
    assert algo._maybe_reseed([batch]) == (0, 0)


def test_climb_to_mode_reaches_the_centre_of_the_mode_a_point_lies_in():
    """From a far tail point of a mode (4 mode stds out, towards its neighbour but inside its
    own basin), the climb lands on its centre whether the expert whose covariance steers it is
    narrower or wider than the mode; the raw point itself is where a moved expert used to go."""
    data = grid_data(4000, 6)
    policy = policy_for(data)
    norm = policy.action_normalizer
    score = score_of(policy, MODES, 0.3)
    start = torch.as_tensor([[-4.0 + 0.85, 0.85]], dtype=torch.float32)  # 1.2 from mode 0
    cov = torch.diag((0.3 / norm.std) ** 2)
    for width in (0.5, 1.0, 2.0, 3.0):  # the expert's width over the mode's
        end = climb_to_mode(score, norm.normalize(start), torch.zeros(1, 1), cov * width ** 2)
        np.testing.assert_allclose(norm.unnormalize(end).numpy(), MODES[[0]], atol=0.02)


def misfit_of(policy: MoEPolicy, score: GaussianMixtureScore) -> np.ndarray:
    """score_misfit of every expert from 4096 of its own samples at the constant state."""
    mix = policy.mixture(torch.zeros(1, 1, 1))
    a_BTZVA = mix.rsample_experts(4096).detach()
    B, T, Z, V, A = a_BTZVA.shape
    s = score.score(a_BTZVA.reshape(-1, 1, A), torch.zeros(B * T * Z * V, 1, 1))
    return score_misfit(mix.detach(), a_BTZVA, s.reshape(a_BTZVA.shape)).numpy()


def test_score_misfit_is_zero_on_a_matched_mode_and_grows_with_excess_width():
    """(k^2 - 1)^2 for an expert k times as wide as the Gaussian mode it sits on."""
    torch.manual_seed(0)
    data = grid_data(4000, 4)
    policy = policy_for(data, num_experts=4)
    place(policy, MODES)
    std = float(policy.action_normalizer.std.mean())  # the normaliser's scale, the same per axis
    score = score_of(policy, MODES, 0.3)
    for k in (1.0, 2.0):
        policy.experts.set_stds(torch.full((4, 2), k * 0.3 / std))
        misfit = misfit_of(policy, score)
        np.testing.assert_allclose(misfit, (k * k - 1.0) ** 2, atol=0.05 + 0.05 * k ** 4)


def test_a_check_narrows_an_expert_straddling_two_modes():
    """Expert 0 sits between modes 0 and 2, wide enough to reach both; experts 1-3 sit on
    modes 1-3 at the modes' width. The check narrows expert 0 (misfit far above MISFIT_MAX) to
    the others' width and leaves the rest as they are."""
    torch.manual_seed(0)
    data = grid_data(4000, 5)
    policy = policy_for(data, num_experts=4)
    place(policy, np.array([[-2.0, 2.0], MODES[1], MODES[2], MODES[3]]))
    width = 0.3 / policy.action_normalizer.std
    policy.experts.set_stds(torch.stack([3.0 * width, width, width, width]))
    score = score_of(policy, MODES, 0.3)
    algo = VDD(policy, score, VDDConfig(iterations=100, batch_size=64, expert_init="random",
                                        reseed_every=10, reseed_until=1.0))
    algo.start_stds = 2.0 * width  # expert 0 is wider than it started, the others are not
    misfit = misfit_of(policy, score)
    assert misfit[0] > 10 * MISFIT_MAX and (misfit[1:] < 0.5).all(), misfit
    algo._misfit_sum, algo._misfit_count = torch.as_tensor(misfit), 1
    batch = policy.normalize_batch({"obs": np.zeros((256, 1, 1)), "actions": data[:256, None]})
    assert algo._narrow_straddlers(*algo._expert_widths(batch[0])) == 1
    stds = torch.diagonal(policy.mixture(torch.zeros(1, 1, 1)).scale_tril[0, 0], dim1=-2,
                          dim2=-1).detach()
    np.testing.assert_allclose(stds.numpy(), width.expand(4, 2).numpy(), rtol=1e-3)


def test_climb_to_mode_stays_in_the_basin_of_a_rotated_elongated_mode():
    """Rotated modes 0.9 x 0.15 wide (the family's aniso5_2d): from tail points 3.5 mode stds
    out in eight directions, steered by a round covariance as wide as the long axis, the climb
    ends within a quarter of a mode std of the centre of the mode each point belongs to (an
    uncut step along C s crosses the narrow axis into a neighbouring mode's basin)."""
    from distill.testing import GMMScore, target_family

    target = target_family()["aniso5_2d"]
    score = GMMScore(target=target, action_mean=np.zeros(2), action_std=np.ones(2))
    cov = torch.eye(2)[None] * 0.9 ** 2
    angles = np.linspace(0.0, 2 * np.pi, 8, endpoint=False)
    starts = (target.means[:, None] + 3.5 * np.einsum(
        "kij,nj->kni", target.scale_trils, np.stack([np.cos(angles), np.sin(angles)], -1)))
    own = target.assign(starts) == np.arange(len(starts))[:, None]
    assert own.sum() >= 30, own.sum()  # of 40: most tail points lie in their own mode's basin
    for k, points in enumerate(starts):
        for p in points[own[k]]:
            end = climb_to_mode(score, torch.as_tensor(p, dtype=torch.float32)[None],
                                torch.zeros(1, 1), cov)
            white = np.linalg.solve(target.scale_trils[k], end[0].numpy() - target.means[k])
            assert np.linalg.norm(white) < 0.25, (k, p, end)  # in mode stds
