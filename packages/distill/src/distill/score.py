"""Score adapters: how a teacher reaches distillation.

VDD needs only grad_a log pi(a | s), never the teacher's internals. Every adapter works in the
normalised action/observation space that teacher and student share.

Shapes: N query batch (B * Z * V for VDD), T window, O obs dim, A action dim.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

__all__ = ["ScoreAdapter", "GaussianMixtureScore"]


@runtime_checkable
class ScoreAdapter(Protocol):
    """score(actions (N, T, A), obs (N, T, O)) -> (N, T, A), both normalised, no gradient.

    An adapter may also offer `score_grouped(actions (B*G, T, A), obs (B, T, O))`, the score
    with each observation row serving G consecutive action rows; VDD uses it when present
    (the teachers' adapters encode image observations once there instead of G times), and
    `set_progress(fraction)`, which VDD calls before every update with the share of its
    iterations done (`teachers.BESOScore` anneals its noise range so)."""

    def score(self, actions: torch.Tensor, obs: torch.Tensor) -> torch.Tensor: ...


class GaussianMixtureScore:
    """Exact score of a fixed isotropic Gaussian mixture over actions (the state is ignored).

    The analytic teacher of the toy task and of known-answer tests. The mixture is given in raw
    action units (means (K, A), stds (K,), weights (K,)); `action_mean`/`action_std` are the
    student's action normaliser, so the returned score is the one in normalised units:
    d/d a_norm log p = action_std * sum_k r_k(a) (m_k - a) / s_k^2 at a = a_raw.
    """

    def __init__(self, *, means, stds, weights, action_mean, action_std) -> None:
        self.means = torch.as_tensor(means, dtype=torch.float32)
        self.var = torch.as_tensor(stds, dtype=torch.float32).expand(self.means.shape[:1]) ** 2
        weights = torch.as_tensor(weights, dtype=torch.float32)
        A = self.means.shape[-1]
        self.log_norm = weights.log() - 0.5 * A * torch.log(2 * torch.pi * self.var)
        self.action_mean = torch.as_tensor(action_mean, dtype=torch.float32)
        self.action_std = torch.as_tensor(action_std, dtype=torch.float32)

    @classmethod
    def from_target(cls, target, normalizer) -> GaussianMixtureScore:
        """From an `envs.toy2d.GaussianMixtureTarget` and a `moe.Normalizer` for actions."""
        return cls(means=target.means, stds=target.stds, weights=target.weights,
                   action_mean=normalizer.mean.detach().cpu(),
                   action_std=normalizer.std.detach().cpu())

    def _mode_terms(self, a_raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        diff = self.means.to(a_raw) - a_raw.unsqueeze(-2)  # (..., K, A)
        var = self.var.to(a_raw)
        log_joint = self.log_norm.to(a_raw) - 0.5 * diff.pow(2).sum(-1) / var
        return log_joint, diff / var[:, None]

    def log_prob_raw(self, actions_raw: torch.Tensor) -> torch.Tensor:
        """log p(a) in raw units, (..., A) -> (...)."""
        return torch.logsumexp(self._mode_terms(actions_raw)[0], dim=-1)

    @torch.no_grad()
    def score(self, actions: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        std, mean = self.action_std.to(actions), self.action_mean.to(actions)
        log_joint, pull = self._mode_terms(actions * std + mean)
        resp = torch.softmax(log_joint, dim=-1)
        return (resp.unsqueeze(-1) * pull).sum(-2) * std
