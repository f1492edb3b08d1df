"""Scores a policy on the toy task against the exact target.

Shapes: N samples, Z experts, K target modes, A = 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from envs import Toy2D, mode_weights, modes_covered, reverse_kl, sample_mode_frequencies
from moe import MoEPolicy

__all__ = ["MixtureSnapshot", "snapshot", "evaluate_toy"]


@dataclass(frozen=True)
class MixtureSnapshot:
    """The student's mixture at the toy observation, in raw units."""

    iteration: int
    means: np.ndarray  # (Z, A)
    covariances: np.ndarray  # (Z, A, A)
    weights: np.ndarray  # (Z,)


@torch.no_grad()
def snapshot(policy: MoEPolicy, task: Toy2D, iteration: int) -> MixtureSnapshot:
    was_training = policy.training
    policy.eval()
    mix = policy.mixture(task.observation(1))
    policy.train(was_training)
    std = policy.action_normalizer.std
    means = policy.action_normalizer.unnormalize(mix.means[0, 0])
    cov = mix.covariance[0, 0] * std[:, None] * std[None, :]
    return MixtureSnapshot(iteration, means.cpu().numpy(), cov.cpu().numpy(),
                           mix.weights[0, 0].cpu().numpy())


@torch.no_grad()
def evaluate_toy(policy: MoEPolicy, task: Toy2D, *, num_samples: int, seed: int) -> dict:
    """Mode coverage, weights, sample frequencies and reverse KL of the policy's mixture."""
    policy.eval()
    target = task.target
    snap = snapshot(policy, task, iteration=-1)
    obs = task.observation(num_samples)
    gen = torch.Generator().manual_seed(seed)
    a_norm = policy.mixture(obs).sample(generator=gen)  # (N, 1, A)
    samples = policy.action_normalizer.unnormalize(a_norm)
    log_q = policy.log_prob(obs, samples)[:, 0].cpu().numpy()
    samples = samples[:, 0].cpu().numpy()
    covered = modes_covered(snap.means, target)
    weight_err = np.abs(mode_weights(snap.means, snap.weights, target) - target.weights)
    freq_err = np.abs(sample_mode_frequencies(samples, target) - target.weights)
    return {
        "eval/modes_covered": int(covered.sum()),
        "eval/all_modes_covered": float(covered.all()),
        "eval/weight_error_max": float(weight_err.max()),
        "eval/sample_freq_error_max": float(freq_err.max()),
        "eval/reverse_kl": reverse_kl(samples, log_q, target),
        "eval/num_modes": target.num_modes,
    }
