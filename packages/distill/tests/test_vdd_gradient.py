"""VDD's expert gradient against an independent reference, for a multi-expert mixture.

The reference is the reparameterised Monte-Carlo gradient of KL(q || pi) itself,
sum_z q(z) E_eps[log q(a_z(eps)) - log pi(a_z(eps))], with log q written from scratch with
torch.distributions (not moe's mixture code) and log pi the target's own density (not the
score adapter). VDD replaces log q by log N_z + log q(z) - log q~(z | a) with q~ held fixed; the
part of the gradient it drops, sum_z q(z) E[d/dtheta log q~(z | a)] at fixed a, is zero in
expectation because q~ is the exact posterior of the current mixture. So on the same draws
(common random numbers) the two gradients agree up to Monte-Carlo noise of that zero-mean term.
With one expert q~ = 1 and the test below would be vacuous: it uses four overlapping experts
and a learned, non-uniform gating, so every responsibility is far from 0 and 1.
"""

import numpy as np
import pytest
import torch
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from distill import VDD, GaussianMixtureScore, VDDConfig
from moe import MoEConfig, MoEPolicy

TARGET_MEANS = np.array([[-1.5, 0.0], [1.5, 0.5], [0.0, 2.0]])
TARGET_STDS = [0.6, 0.8, 0.5]
TARGET_WEIGHTS = [0.5, 0.3, 0.2]
Z = 4  # experts; also the samples per expert V, so that a swapped (Z, V) axis still runs
B = 8192  # copies of the one constant state: B * V draws per expert in all


def _setup(seed: int):
    torch.manual_seed(seed)
    policy = MoEPolicy(MoEConfig(obs_dim=1, action_dim=2, num_experts=Z, covariance="full",
                                 gating="learned", n_layer=1, n_head=1, n_embd=8,
                                 bias_init_bound=0.6, init_std=0.8))
    rng = np.random.default_rng(seed)
    demo = TARGET_MEANS[rng.integers(0, 3, 512)] + rng.normal(size=(512, 2))
    policy.fit_normalizers(np.zeros((512, 1)), demo)
    with torch.no_grad():  # a clearly non-uniform gating
        last = [m for m in policy.gating.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.bias.copy_(torch.tensor([1.0, 0.0, -0.5, 0.3]))
    score = GaussianMixtureScore(means=TARGET_MEANS, stds=TARGET_STDS, weights=TARGET_WEIGHTS,
                                 action_mean=policy.action_normalizer.mean,
                                 action_std=policy.action_normalizer.std)
    cfg = VDDConfig(iterations=10, batch_size=B, num_samples=Z, cmp_steps=1,
                    expert_init="random", reseed_every=0)
    return policy, score, VDD(policy, score, cfg)


def _expert_grads(policy) -> torch.Tensor:
    return torch.cat([p.grad.flatten() if p.grad is not None else torch.zeros(p.numel())
                      for p in policy.expert_parameters()])


def _vdd_step(policy, algo, obs, seed: int) -> tuple[float, torch.Tensor]:
    """(the expert loss VDD would log, the gradient it would apply), its step replaced by a
    bare backward."""
    policy.zero_grad(set_to_none=True)
    algo.step = lambda expert_loss=None, gating_loss=None: expert_loss.backward()
    torch.manual_seed(seed)
    loss = float(algo._expert_step(obs)[0])
    return loss, _expert_grads(policy)


def _reference_gradient(policy, score, obs, seed: int) -> torch.Tensor:
    """d/dtheta of sum_z q(z) mean_v [log q(a_zv) - log pi(a_zv)], a_zv = mu_z + L_z eps_zv."""
    policy.zero_grad(set_to_none=True)
    mix = policy(obs)
    torch.manual_seed(seed)  # the same eps as VDD's rsample_experts draws
    eps = torch.randn(*mix.means.shape[:-1], Z, 2)  # (B, T, Z, V, A)
    a = mix.means.unsqueeze(-2) + (mix.scale_tril.unsqueeze(-3) @ eps.unsqueeze(-1)).squeeze(-1)
    q = MixtureSameFamily(Categorical(logits=mix.log_weights[:, :, None, None, :]),
                          MultivariateNormal(mix.means[:, :, None, None],
                                             scale_tril=mix.scale_tril[:, :, None, None]))
    log_q = q.log_prob(a)  # (B, T, Z, V), every parameter's gradient kept
    std, mean = score.action_std, score.action_mean
    log_pi = score.log_prob_raw(a * std + mean)  # normalised-space density up to a constant
    w = mix.weights.detach()[..., None]
    kl = (w * (log_q - log_pi)).sum(2).mean()
    kl.backward()
    return _expert_grads(policy)


def _relative_error(seed: int) -> float:
    policy, score, algo = _setup(seed)
    obs = torch.zeros(B, 1, 1)
    _, g_vdd = _vdd_step(policy, algo, obs, seed + 100)
    g_ref = _reference_gradient(policy, score, obs, seed + 100)
    assert g_ref.norm() > 1e-2  # the comparison means something
    return float((g_vdd - g_ref).norm() / g_ref.norm())


def test_expert_gradient_matches_the_reparameterised_kl_gradient():
    errors = [_relative_error(seed) for seed in (0, 1)]
    assert max(errors) < 0.05, errors


def test_logged_expert_loss_does_not_carry_the_surrogate_value():
    """The score enters only the gradient: a score 1000x larger leaves the logged expert loss
    where it was (score . a at a far sample once sent it to -100s) and changes the gradient."""
    policy, _, algo = _setup(0)
    obs = torch.zeros(256, 1, 1)
    original = algo._teacher_score
    loss, grads = _vdd_step(policy, algo, obs, seed=7)
    algo._teacher_score = lambda a, o, keep: 1000.0 * original(a, o, keep)
    loss_big, grads_big = _vdd_step(policy, algo, obs, seed=7)
    assert loss == pytest.approx(loss_big, rel=1e-6)
    assert (grads_big - grads).norm() > 10 * grads.norm()
