"""Scores a policy on the toy task against the exact target.

Shapes: N samples, Z experts, K target modes, A = 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from envs import (
    Toy2D, energy_distance, mode_weights, modes_covered, modes_hit, reverse_kl,
    sample_mode_frequencies,
)
from moe import MoEPolicy

__all__ = ["MixtureSnapshot", "snapshot", "sample_metrics", "evaluate_toy"]

ENERGY_SAMPLES = 2000  # samples per side for the energy distance (pairwise: keep it small)


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


def sample_metrics(samples: np.ndarray, task: Toy2D, *, seed: int) -> dict:
    """Metrics any sampler gets (raw actions (N, A)): modes hit, frequencies, energy distance."""
    target = task.target
    reference, _ = target.sample(ENERGY_SAMPLES, np.random.default_rng(10_000 + seed))
    freq_err = np.abs(sample_mode_frequencies(samples, target) - target.weights)
    return {
        "eval/modes_hit": int(modes_hit(samples, target).sum()),
        "eval/sample_freq_error_max": float(freq_err.max()),
        "eval/energy_distance": energy_distance(samples[:ENERGY_SAMPLES], reference),
        "eval/num_modes": target.num_modes,
    }


@torch.no_grad()
def evaluate_toy(policy: MoEPolicy, task: Toy2D, *, num_samples: int,
                 seed: int) -> tuple[dict, np.ndarray]:
    """Sample metrics plus what the MoE's tractable mixture allows: experts on modes, mixture
    weights per mode, Monte-Carlo reverse KL and held-out log-likelihood of target samples.
    Returns (metrics, the mixture samples (N, A) in raw units)."""
    policy.eval()
    target = task.target
    snap = snapshot(policy, task, iteration=-1)
    obs = task.observation(num_samples)
    gen = torch.Generator().manual_seed(seed)
    a_norm = policy.mixture(obs).sample(generator=gen)  # (N, 1, A)
    samples = policy.action_normalizer.unnormalize(a_norm)
    log_q = policy.log_prob(obs, samples)[:, 0].cpu().numpy()
    samples = samples[:, 0].cpu().numpy()
    held_out, _ = target.sample(num_samples, np.random.default_rng(20_000 + seed))
    held_out_ll = policy.log_prob(obs, held_out[:, None, :].astype(np.float32))
    covered = modes_covered(snap.means, target)
    weight_err = np.abs(mode_weights(snap.means, snap.weights, target) - target.weights)
    return {
        **sample_metrics(samples, task, seed=seed),
        "eval/modes_covered": int(covered.sum()),
        "eval/all_modes_covered": float(covered.all()),
        "eval/weight_error_max": float(weight_err.max()),
        "eval/reverse_kl": reverse_kl(samples, log_q, target),
        "eval/heldout_log_lik": float(held_out_ll.mean()),
        "eval/target_log_lik": float(target.log_prob(held_out).mean()),
    }, samples
