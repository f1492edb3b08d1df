"""Shared helpers of the EM and IMC tests: a tiny MoE, a training loop, the mixture read out."""

import numpy as np
import torch

from moe import MoEConfig, MoEPolicy

WEIGHTS = (0.4, 0.3, 0.2, 0.1)


def tiny_policy(obs, actions, **kw) -> MoEPolicy:
    """A small MoE with single-Linear expert heads: these tests check the algorithms on a
    mixture whose means move freely at lr 1e-2 (with the default residual-MLP heads, 256
    wide, that lr moves the means by whole modes per step and EM misses modes)."""
    cfg = dict(obs_dim=obs.shape[-1], action_dim=2, num_experts=4, covariance="diagonal",
               n_layer=1, n_head=1, n_embd=16, head_layers=0)
    cfg.update(kw)
    policy = MoEPolicy(MoEConfig(**cfg))
    policy.fit_normalizers(obs, actions)
    return policy


def train(algo, data, iterations: int, batch_size: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(iterations):
        idx = rng.integers(0, len(data["obs"]), batch_size)
        stats.append(algo.update([{"obs": data["obs"][idx], "actions": data["actions"][idx],
                                   "index": idx}]))
    return stats


def constant_state_mixture(policy):
    """Raw-unit means (Z, A), stds (Z, A) and weights (Z,) of the policy at the constant state."""
    mix = policy.mixture(torch.zeros(1, 1, 1))
    means = policy.action_normalizer.unnormalize(mix.means[0, 0]).detach().numpy()
    stds = (torch.diagonal(mix.scale_tril[0, 0], dim1=-2, dim2=-1)
            * policy.action_normalizer.std).detach().numpy()
    return means, stds, mix.weights[0, 0].detach().numpy()
