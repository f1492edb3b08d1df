"""Where VDD (ours) places experts: how wide they start, and where re-seeding moves one.

`initial_stds(policy, actions)`: after the k-means++ start, every expert starts as wide as the
data's spread around its nearest centre (per dimension, RMS), not as wide as all the data: an
expert that starts over every mode follows the score towards the middle of the data, and
there, where a mode sits in the middle (a grid), it stays stretched across that mode and its
neighbours, owning its samples, so re-seeding never sees it as redundant (measured on a 3x3
grid: 2 of 5 seeds left a mode empty that way).

`nearest_expert_distance(mix, actions)` is, for each action, the distance to the nearest expert
in that expert's own metric, min_z |L_z^-1 (a - mu_z)|, ignoring the gating weights: an expert
that sits on a mode explains it even while its weight is still small (the gating step raises
the weight from the responsibilities of that mode's data). `UnexplainedPool` keeps the
`size` dataset points farthest from every expert among all the batches seen, rescored against
the current mixture whenever points are added, so a re-seeding check sees the light modes that
a single batch often misses.

`climb_to_mode(score, window, obs, cov)` takes that farthest point, a far tail point of the
mode it lies in, uphill on the teacher's score to the mode's centre, where the moved expert
goes: from the tail it slid back onto the heavy neighbouring mode (12-mode ring, seed 2).

`score_misfit(mix, samples, score)` is, per expert, how far the teacher's score at the expert's
own samples is from the expert's: E |L_z^T s(a) + eps|^2 / A with a = mu_z + L_z eps, in the
expert's whitened units (0 when the expert matches the density around it; (k^2 - 1)^2 for an
expert k times as wide as the Gaussian mode under it). An expert that straddles two modes is
wide and its samples fall between them, so the score disagrees with it; it owns its samples
(no other expert is there), so the redundancy test alone never moves it, and it explains a
light neighbouring mode well enough that no point there looks unexplained (measured on a
12-mode ring with unequal weights: 2 of 5 seeds each left one or two light modes inside such
an expert). Narrowed to the other experts' typical width, it settles on one of the two modes,
where the redundancy test or the gap it leaves takes over.

Shapes: B batch, T window, O obs, A action, Z experts, M pool size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from moe import GaussianMixture, MoEPolicy

__all__ = ["initial_stds", "nearest_expert_distance", "far_from_every_expert", "score_misfit",
           "climb_to_mode", "MISFIT_MAX", "CLIMB_STEPS", "Candidate", "UnexplainedPool"]

MISFIT_MAX = 3.0  # score_misfit above this: the expert is ~1.7x too wide for what lies under it
CLIMB_STEPS = 64  # at most, each one expert width at most; an isotropic mode takes 1-3


@torch.no_grad()
def initial_stds(policy: MoEPolicy, actions) -> torch.Tensor:
    """(A,) RMS distance per dimension of the (raw) demonstration actions (..., A) to their
    nearest expert mean, in normalised units, at most the policy's `init_std`. Call right
    after the k-means++ start, while every state has the same means."""
    A = policy.config.action_dim
    a = torch.as_tensor(actions, dtype=torch.float32, device=policy.device).reshape(-1, A)
    a = policy.action_normalizer.normalize(a)
    centres = policy.experts.mean_out.bias.view(policy.config.num_experts, A)
    nearest = torch.cdist(a, centres).argmin(-1)
    rms = (a - centres[nearest]).pow(2).mean(0).sqrt()
    return rms.clamp(min=10 * policy.config.min_std, max=policy.config.init_std)


def nearest_expert_distance(mix: GaussianMixture, actions_BTA: torch.Tensor) -> torch.Tensor:
    """(B, T) min over experts of the whitened distance |L_z^-1 (a - mu_z)| (gating ignored)."""
    diff = (actions_BTA.unsqueeze(-2) - mix.means).unsqueeze(-1)  # (B, T, Z, A, 1)
    white = torch.linalg.solve_triangular(mix.scale_tril, diff, upper=False).squeeze(-1)
    return white.norm(dim=-1).min(dim=-1).values


def far_from_every_expert(action_dim: int, margin: float = 3.0) -> float:
    """Distance beyond which a point is unexplained: sqrt(A) + margin. With margin 3 a Gaussian
    puts about 5e-5 of its mass beyond it for A = 2-6, so a covered mode's own tail rarely
    reaches it; with 2.5 about 5e-4 (A = 2) to 2e-3 (A = 6). (The toy's 2.5: margin 3 kept an
    expert off a light mode 5.2 stds from its neighbours on a 12-mode ring, whose points lay
    4.2 whitened units from the nearest expert.)"""
    return float(action_dim) ** 0.5 + margin


@torch.no_grad()
def score_misfit(mix: GaussianMixture, a_BTZVA: torch.Tensor,
                 score_BTZVA: torch.Tensor) -> torch.Tensor:
    """(Z,) mean over states and samples of |L_z^T s(a) + L_z^-1 (a - mu_z)|^2 / A."""
    tril = mix.scale_tril.unsqueeze(3)  # (B, T, Z, 1, A, A)
    diff = (a_BTZVA - mix.means.unsqueeze(3)).unsqueeze(-1)
    eps = torch.linalg.solve_triangular(tril, diff, upper=False).squeeze(-1)
    lts = (tril.transpose(-1, -2) @ score_BTZVA.unsqueeze(-1)).squeeze(-1)
    return (lts + eps).pow(2).mean(-1).mean(dim=(0, 1, 3))


@torch.no_grad()
def climb_to_mode(score, actions_TA: torch.Tensor, obs_TO: torch.Tensor,
                  cov_TAA: torch.Tensor, *, steps: int = CLIMB_STEPS) -> torch.Tensor:
    """(T, A): a dataset window moved uphill on the teacher's density to the mode it lies in.

    Each step goes along d = C s(a) (C: the experts' typical covariance), cut to one expert width
    (|d| in C's metric <= 1) so that it cannot jump into a neighbouring mode's basin, by the t
    in [0, 1] that zeroes the score's slope along d, from the score at a and at a + d (exact
    along the line on a Gaussian mode). The farthest unexplained point is a mode's far tail: an
    expert placed there reaches the neighbouring mode with part of its samples and slides onto
    it (12-mode ring, measured: a light mode's tail point lay 3.4 mode stds from its centre, and
    the moved expert was back on its heavy neighbour within 10 iterations, twice)."""
    a, obs = actions_TA[None], obs_TO[None]
    s = score.score(a, obs)
    for _ in range(steps):
        d = (cov_TAA @ s[0].unsqueeze(-1)).squeeze(-1)[None]
        slope0 = (d * s).sum()  # = |d|^2 in C's metric, >= 0
        if slope0 <= 1e-10:  # converged: the step is below 1e-5 widths
            break
        if slope0 > 1.0:  # at most one width per step
            d, slope0 = d / slope0.sqrt(), slope0.sqrt()
        slope1 = (d * score.score(a + d, obs)).sum()
        t = (slope0 / (slope0 - slope1)).clamp(max=1.0) if slope1 < slope0 else 1.0
        a = a + t * d
        s = score.score(a, obs)
    return a[0]


@dataclass(frozen=True)
class Candidate:
    """A dataset point for re-seeding: its observation window (T, O), the timestep t, its
    action window (T, A) and its distance to the nearest expert."""

    obs_TO: torch.Tensor
    t: int
    actions_TA: torch.Tensor
    distance: float


class UnexplainedPool:
    """The `size` dataset windows farthest from every expert among those added (normalised)."""

    def __init__(self, *, size: int) -> None:
        if size < 1:
            raise ValueError(f"UnexplainedPool needs size >= 1, got {size!r}")
        self.size = size
        self.obs_MTO: torch.Tensor | None = None
        self.actions_MTA: torch.Tensor | None = None

    @torch.no_grad()
    def _distances(self, policy: MoEPolicy) -> torch.Tensor:
        """(M, T), in eval mode (no BatchNorm statistics change), the policy's mode restored."""
        was_training = policy.training
        policy.eval()
        try:
            return nearest_expert_distance(policy(self.obs_MTO), self.actions_MTA)
        finally:
            policy.train(was_training)

    @torch.no_grad()
    def add(self, policy: MoEPolicy, obs_BTO: torch.Tensor, actions_BTA: torch.Tensor) -> None:
        """Add a batch's windows, then keep the `size` windows with the farthest timestep."""
        if self.obs_MTO is None:
            self.obs_MTO, self.actions_MTA = obs_BTO.detach(), actions_BTA.detach()
        else:
            self.obs_MTO = torch.cat([self.obs_MTO, obs_BTO.detach()])
            self.actions_MTA = torch.cat([self.actions_MTA, actions_BTA.detach()])
        if self.obs_MTO.shape[0] > self.size:
            keep = self._distances(policy).max(dim=1).values.topk(self.size).indices
            self.obs_MTO, self.actions_MTA = self.obs_MTO[keep], self.actions_MTA[keep]

    @torch.no_grad()
    def farthest(self, policy: MoEPolicy) -> Candidate | None:
        """The point farthest from every expert of the current mixture (None while empty)."""
        if self.obs_MTO is None:
            return None
        dist = self._distances(policy)
        m, t = divmod(int(dist.argmax()), dist.shape[1])
        return Candidate(self.obs_MTO[m], t, self.actions_MTA[m], float(dist[m, t]))
