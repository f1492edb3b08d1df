"""The MoE's mixture in raw units: what the toy's figures draw and its MoE metrics read.

Shapes: Z experts, A = 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from moe import MoEPolicy

__all__ = ["MixtureSnapshot", "mixture_at", "snapshot"]


@dataclass(frozen=True)
class MixtureSnapshot:
    """The student's mixture at the toy observation, in raw units."""

    iteration: int
    means: np.ndarray  # (Z, A)
    covariances: np.ndarray  # (Z, A, A)
    weights: np.ndarray  # (Z,)


@torch.no_grad()
def mixture_at(policy: MoEPolicy, obs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(means (Z, A), covariances (Z, A, A), weights (Z,)) at the first observation of `obs`,
    in raw units; the policy's train/eval mode is left as it was."""
    was_training = policy.training
    policy.eval()
    mix = policy.mixture(obs[:1])
    policy.train(was_training)
    std = policy.action_normalizer.std
    means = policy.action_normalizer.unnormalize(mix.means[0, 0])
    cov = mix.covariance[0, 0] * std[:, None] * std[None, :]
    return means.cpu().numpy(), cov.cpu().numpy(), mix.weights[0, 0].cpu().numpy()


def snapshot(policy: MoEPolicy, task, iteration: int) -> MixtureSnapshot:
    """The mixture at the toy task's observation after `iteration` updates."""
    return MixtureSnapshot(iteration, *mixture_at(policy, task.observation(1)))
