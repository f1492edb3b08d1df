"""Scores a policy on the toy task against the exact target (numpy only).

Any sampler gets the sample metrics (`toy_sample_metrics`: modes hit, mode frequencies, energy
distance to target samples). A policy with a tractable mixture (an MoE) also gets what its
density allows: experts on modes, mixture weight per mode, Monte-Carlo reverse KL and the
held-out log-likelihood of target samples. The policy is duck-typed (`ToyPolicy`), so this
module imports nothing of ours and no torch. The reference and held-out samples come from
fixed generators (seed + 10_000, seed + 20_000), so a policy's numbers are reproducible.

Shapes: N samples, M reference samples, Z experts, K target modes, A = 2.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from envs.task import TaskEvaluation
from envs.toy2d import (
    GaussianMixtureTarget, Toy2D, energy_distance, mode_weights, modes_covered, modes_hit,
    reverse_kl, sample_mode_frequencies,
)

__all__ = ["ENERGY_SAMPLES", "ToyPolicy", "toy_sample_metrics", "evaluate_toy_policy"]

ENERGY_SAMPLES = 2000  # samples per side for the energy distance (pairwise: keep it small)


class ToyPolicy(Protocol):
    """What `Toy2D.evaluate` needs of a policy: raw action samples at the toy's observations.

    `obs` is `Toy2D.observation(n)` (n, 1, 1). Optional, for the mixture metrics (both or
    neither):
    - `mixture(obs) -> (means (Z, A), covariances (Z, A, A), weights (Z,))`: the mixture at the
      first observation of `obs`, in raw units;
    - `log_prob(obs, actions (N, A)) -> (N,)`: log q(action | obs) in raw units; the result
      needs only `.mean()` and to convert to a numpy array (the held-out mean is taken by the
      result's own `.mean()`).
    """

    def sample(self, obs: np.ndarray, *, seed: int) -> np.ndarray:
        """N raw actions (N, A), one per observation row, reproducible for `seed`."""


def toy_sample_metrics(samples: np.ndarray, target: GaussianMixtureTarget, *,
                       seed: int) -> dict:
    """Metrics any sampler gets (raw actions (N, A)): modes hit, frequencies, energy distance."""
    reference, _ = target.sample(ENERGY_SAMPLES, np.random.default_rng(10_000 + seed))
    freq_err = np.abs(sample_mode_frequencies(samples, target) - target.weights)
    return {
        "modes_hit": int(modes_hit(samples, target).sum()),
        "sample_freq_error_max": float(freq_err.max()),
        "energy_distance": energy_distance(samples[:ENERGY_SAMPLES], reference),
        "num_modes": target.num_modes,
    }


def _mixture_metrics(policy, task: Toy2D, samples: np.ndarray, num_samples: int,
                     seed: int) -> dict:
    """What a tractable mixture allows (see the module docstring)."""
    target = task.target
    means, _, weights = policy.mixture(task.observation(1))
    obs = task.observation(num_samples)
    log_q = np.asarray(policy.log_prob(obs, samples))
    held_out, _ = target.sample(num_samples, np.random.default_rng(20_000 + seed))
    held_out_ll = policy.log_prob(obs, held_out.astype(np.float32))
    covered = modes_covered(means, target)
    weight_err = np.abs(mode_weights(means, weights, target) - target.weights)
    return {
        "modes_covered": int(covered.sum()),
        "all_modes_covered": float(covered.all()),
        "weight_error_max": float(weight_err.max()),
        "reverse_kl": reverse_kl(samples, log_q, target),
        "heldout_log_lik": float(held_out_ll.mean()),
        "target_log_lik": float(target.log_prob(held_out).mean()),
    }


def evaluate_toy_policy(task: Toy2D, policy: ToyPolicy, *, seed: int, num_samples: int = 10_000,
                        reference: np.ndarray | None = None) -> TaskEvaluation:
    """`Toy2D.evaluate`: sample metrics of `num_samples` draws, the mixture metrics when the
    policy has `mixture` and `log_prob`, and `energy_distance_teacher` to `reference` (M, A)
    (a teacher's samples) when given."""
    samples = np.asarray(policy.sample(task.observation(num_samples), seed=seed))
    metrics = toy_sample_metrics(samples, task.target, seed=seed)
    if hasattr(policy, "mixture") and hasattr(policy, "log_prob"):
        metrics.update(_mixture_metrics(policy, task, samples, num_samples, seed))
    if reference is not None:
        metrics["energy_distance_teacher"] = energy_distance(samples[:ENERGY_SAMPLES], reference)
    return TaskEvaluation(metrics=metrics, samples=samples, video_paths=[])
