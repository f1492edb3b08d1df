"""EM ("EM-GPT"): fit the MoE policy to demonstrations by expectation-maximisation, no teacher.

Each `update` takes one batch of demonstrations (s, a), works in normalised units and does:
- E-step, without gradient: responsibilities of the current mixture,
      r_z = q(z | a, s) = softmax_z( log N_z(a | s) + log q(z | s) );
- M-step for the experts: one Adam step on the backbone and heads maximising
      mean_{b,t} sum_z r_z log N_z(a | s)       (expected complete-data log-likelihood);
- M-step for the gating: one Adam step on the gating net minimising the soft cross-entropy
      mean_{b,t} -sum_z r_z log q(z | s),
  which pulls q(z | s) towards the responsibilities (skipped for a uniform gating).

One gradient step per E-step makes this generalised (amortised) EM: with the network in place
of per-state parameters, each M-step improves the expected complete-data log-likelihood for
the current responsibilities instead of maximising it. EM maximises the likelihood, so it is
mode-*covering*: an expert between two modes is pulled by both. `expert_init="data"` starts
the experts on spread-out demonstration actions (k-means++), the usual EM initialisation.

The gating reads detached backbone features (`moe.heads.GatingNet`), so its loss never moves
the features the experts rely on; one forward pass therefore serves both M-steps.

Shapes: B batch, T window, O obs, A action, Z experts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from distill.mixture import Batch, MixtureAlgorithm, MixtureStats, check_mixture_config

__all__ = ["EMConfig", "EMStats", "EM"]


@dataclass(frozen=True)
class EMConfig:
    """EM settings (same optimiser defaults as VDD)."""

    iterations: int = 20_000
    batch_size: int = 1024
    lr: float = 1e-4  # experts (backbone + heads)
    gating_lr: float = 1e-4
    lr_decay: bool = True  # linear decay to 0 over `iterations`
    grad_clip: float = 0.0  # max grad norm of the expert step; 0 = off
    expert_init: str = "data"  # "data" (k-means++ on demo actions) or "random"

    def __post_init__(self) -> None:
        check_mixture_config(self)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EMStats(MixtureStats):
    """What one `update` did; likelihoods are of the batch *before* the step, normalised units.

    expert_loss: -mean sum_z r_z log N_z(a|s); gating_loss: soft cross-entropy to the
    responsibilities (0 for a uniform gating).
    """

    log_likelihood: float  # mean log q(a|s) of the batch under the mixture
    gating_entropy: float  # mean entropy of q(z|s), nats
    responsibility_entropy: float  # mean entropy of r(z|a,s): near 0 = experts well separated
    expert_entropy: float  # mean analytic entropy of the experts
    lr: float


class EM(MixtureAlgorithm):
    """`EM(policy, config, *, init_actions=None)`: owns the optimisers; `update([batch])` runs
    one E-step and one M-step. Fit the policy's normalisers before constructing it."""

    CONFIG_CLS = EMConfig

    def update(self, batches: Sequence[Batch]) -> EMStats:
        obs, actions = self.single_batch(batches)
        self.policy.train()
        mix = self.policy(obs)
        log_n_BTZ = mix.expert_log_prob(actions)  # gradient into backbone and heads
        log_w_BTZ = mix.log_weights  # gradient into the gating only
        with torch.no_grad():  # E-step
            log_joint = log_n_BTZ + log_w_BTZ
            log_lik_BT = torch.logsumexp(log_joint, dim=-1)
            resp_BTZ = (log_joint - log_lik_BT[..., None]).exp()
            resp_entropy = -(resp_BTZ * torch.log(resp_BTZ.clamp_min(1e-30))).sum(-1).mean()
            expert_entropy = mix.entropies().mean()
        expert_loss = -(resp_BTZ * log_n_BTZ).sum(-1).mean()
        gating_loss = self.gating_cross_entropy(resp_BTZ, log_w_BTZ)
        self.step(expert_loss=expert_loss, gating_loss=gating_loss)
        lr = self.finish_iteration()
        return EMStats(
            expert_loss=expert_loss.detach(),
            gating_loss=0.0 if gating_loss is None else gating_loss.detach(),
            log_likelihood=log_lik_BT.mean(),
            gating_entropy=self.gating_entropy(log_w_BTZ.detach()),
            responsibility_entropy=resp_entropy,
            expert_entropy=expert_entropy,
            lr=lr,
        )
