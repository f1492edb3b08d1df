"""Known answers: score adapters and samplers with the exact denoiser of a Gaussian target."""

import pytest
import torch
from teacher_helpers import ExactBESO, ExactDDPM, beso_config, ddpm_config, vp_marginal_score

from teachers import BESOScore, DDPMScore

M = torch.tensor([0.7, -0.4])
S = 0.5


def queries(n=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 2 * torch.randn(n, 1, 2, generator=g), torch.zeros(n, 1, 1)


@pytest.mark.parametrize("sigma", [0.05, 0.2, 1.0])
def test_beso_score_matches_gaussian_at_fixed_sigma(sigma):
    policy = ExactBESO(beso_config(), M, S)
    a, obs = queries()
    got = BESOScore(policy, sigma_range=(sigma, sigma)).score(a, obs)
    expected = (M - a) / (S**2 + sigma**2)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_beso_score_draws_one_sigma_per_row():
    policy = ExactBESO(beso_config(), M, S)
    a, obs = queries()
    lo, hi = 0.05, 0.5
    got = BESOScore(policy, (lo, hi), generator=torch.Generator().manual_seed(3)).score(a, obs)
    sigma = lo + (hi - lo) * torch.rand(len(a), generator=torch.Generator().manual_seed(3))
    expected = (M - a) / (S**2 + sigma[:, None, None] ** 2)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert sigma.std() > 0.05  # the rows really used different noise levels


def test_beso_score_anneals_its_range_with_training_progress():
    """With final_sigma_range the queried range moves linearly from sigma_range to it as VDD
    reports its progress; the scores follow the range in force."""
    policy = ExactBESO(beso_config(), M, S)
    a, obs = queries()
    adapter = BESOScore(policy, (1.0, 1.0), final_sigma_range=(0.2, 0.2))
    for fraction, sigma in [(0.0, 1.0), (0.5, 0.6), (1.0, 0.2)]:
        adapter.set_progress(fraction)
        assert adapter.sigma_range == pytest.approx((sigma, sigma)), fraction
        expected = (M - a) / (S**2 + sigma**2)
        torch.testing.assert_close(adapter.score(a, obs), expected, rtol=1e-4, atol=1e-4)
    ranged = BESOScore(policy, (0.5, 1.0), final_sigma_range=(0.2, 0.5))
    ranged.set_progress(0.5)
    assert ranged.sigma_range == pytest.approx((0.35, 0.75))
    fixed = BESOScore(policy, (0.5, 1.0))  # no final range: progress changes nothing
    fixed.set_progress(1.0)
    assert fixed.sigma_range == (0.5, 1.0)


@pytest.mark.parametrize("t", [1, 3, 8])
def test_ddpm_score_matches_vp_marginal(t):
    policy = ExactDDPM(ddpm_config(), M, S)
    a, obs = queries()
    got = DDPMScore(policy, t_range=(t, t)).score(a, obs)
    ab = policy.alpha_bars[t]
    torch.testing.assert_close(got, vp_marginal_score(a, ab, M, S), rtol=1e-4, atol=1e-4)
    # input scaling: the score in a of the data smoothed by N(0, (1 - ab) / ab)
    scaled = DDPMScore(policy, t_range=(t, t), scale_input=True).score(a, obs)
    torch.testing.assert_close(scaled, (M - a) / (S**2 + (1 - ab) / ab), rtol=1e-4, atol=1e-4)


def test_ddpm_score_small_t_is_close_to_the_data_score():
    policy = ExactDDPM(ddpm_config(), M, S)
    a, obs = queries()
    got = DDPMScore(policy, t_range=(1, 2)).score(a, obs)
    cos = torch.nn.functional.cosine_similarity(got.flatten(1), (M - a).flatten(1), dim=-1)
    assert cos.mean() > 0.95


def test_score_adapters_reject_bad_input():
    beso = ExactBESO(beso_config(), M, S)
    ddpm = ExactDDPM(ddpm_config(num_train_steps=8, num_steps=8), M, S)
    with pytest.raises(ValueError, match=r"sigma_range needs 0 < lo <= hi, got \(0.3, 0.1\)"):
        BESOScore(beso, (0.3, 0.1))
    with pytest.raises(ValueError,
                       match=r"final_sigma_range needs 0 < lo <= hi, got \(0.0, 0.1\)"):
        BESOScore(beso, (0.3, 0.5), final_sigma_range=(0.0, 0.1))
    with pytest.raises(ValueError, match=r"fraction in \[0, 1\], got 1.5"):
        BESOScore(beso).set_progress(1.5)
    with pytest.raises(ValueError, match=r"num_train_steps=8, got \(0, 4\)"):
        DDPMScore(ddpm, (0, 4))
    with pytest.raises(ValueError, match=r"num_train_steps=8, got \(1, 9\)"):
        DDPMScore(ddpm, (1, 9))
    with pytest.raises(TypeError, match="needs a DDPMPolicy"):
        DDPMScore(beso)
    with pytest.raises(ValueError, match="action_dim=2"):
        BESOScore(beso).score(torch.zeros(4, 1, 3), torch.zeros(4, 1, 1))
    with pytest.raises(ValueError, match="must share"):
        BESOScore(beso).score(torch.zeros(4, 1, 2), torch.zeros(5, 1, 1))


def _check_gaussian_samples(policy, sampler, num_steps, tol_mean=0.06, tol_std=0.08):
    # raw units: normalised N(M, S^2) mapped through the action normaliser
    policy.action_normalizer.mean.copy_(torch.tensor([3.0, -1.0]))
    policy.action_normalizer.std.copy_(torch.tensor([2.0, 0.5]))
    x = policy.sample_actions(torch.zeros(4000, 1, 1), num_steps=num_steps, sampler=sampler,
                              generator=torch.Generator().manual_seed(0))
    z = (x - policy.action_normalizer.mean) / policy.action_normalizer.std
    assert (z.mean(0) - M).abs().max() < tol_mean, z.mean(0)
    assert (z.std(0) - S).abs().max() < tol_std, z.std(0)


@pytest.mark.parametrize("sampler,steps", [("ddim", 32), ("euler_ancestral", 64)])
def test_beso_samplers_reproduce_a_gaussian_with_the_exact_denoiser(sampler, steps):
    policy = ExactBESO(beso_config(sigma_min=0.002, sigma_max=80.0), M, S)
    _check_gaussian_samples(policy, sampler, steps)


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_ddpm_samplers_reproduce_a_gaussian_with_the_exact_predictor(sampler):
    policy = ExactDDPM(ddpm_config(num_train_steps=64, num_steps=64), M, S)
    _check_gaussian_samples(policy, sampler, 64)


def test_one_step_samplers_return_the_posterior_mean_from_noise():
    # one step = one denoiser call at the top noise level: nearly the target mean, little spread
    beso = ExactBESO(beso_config(sigma_max=80.0), M, S)
    x = beso.sample_actions(torch.zeros(500, 1, 1), num_steps=1,
                            generator=torch.Generator().manual_seed(0))
    assert (x.mean(0) - M).abs().max() < 0.02 and x.std(0).max() < 0.05
    ddpm = ExactDDPM(ddpm_config(), M, S)
    x = ddpm.sample_actions(torch.zeros(500, 1, 1), num_steps=1, sampler="ddim",
                            generator=torch.Generator().manual_seed(0))
    assert (x.mean(0) - M).abs().max() < 0.02 and x.std(0).max() < 0.05
