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

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from distill.optim import prepare_mixture
from moe import MoEPolicy

__all__ = ["EMConfig", "EMStats", "EM"]

Batch = dict[str, torch.Tensor]  # "obs" (B, T, O) and "actions" (B, T, A), raw units


def _check_common(config) -> None:
    """Validate the fields EM and IMC share; errors name the class, the field and the value."""
    name = type(config).__name__
    for field in ("iterations", "batch_size"):
        value = getattr(config, field)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}.{field} must be a positive int, got {value!r}")
    for field in ("lr", "gating_lr"):
        value = getattr(config, field)
        if not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
            raise ValueError(f"{name}.{field} must be a finite number > 0, got {value!r}")
    if not isinstance(config.lr_decay, bool):
        raise ValueError(f"{name}.lr_decay must be a bool, got {config.lr_decay!r}")
    if not (isinstance(config.grad_clip, (int, float)) and config.grad_clip >= 0):
        raise ValueError(f"{name}.grad_clip must be >= 0 (0 = off), got {config.grad_clip!r}")
    if config.expert_init not in ("data", "random"):
        raise ValueError(
            f"{name}.expert_init must be 'data' or 'random', got {config.expert_init!r}"
        )


class _FitFromData:
    """What EM and IMC share: expert initialisation, the two Adam optimisers, LR decay."""

    def __init__(self, policy: MoEPolicy, config, *, init_actions) -> None:
        self.policy, self.config = policy, config
        self.expert_opt, self.gating_opt, self.schedulers = prepare_mixture(
            policy, config, init_actions=init_actions)
        self.iteration = 0

    @property
    def batches_per_update(self) -> int:
        return 1

    def _one_batch(self, batches: Sequence[Batch]) -> tuple[torch.Tensor, torch.Tensor]:
        """The single batch of `update`, normalised: obs (B, T, O), actions (B, T, A)."""
        if isinstance(batches, dict) or len(batches) != 1:
            got = "a dict" if isinstance(batches, dict) else f"{len(batches)} batches"
            raise ValueError(
                f"{type(self).__name__}.update needs a list of exactly 1 batch, got {got}"
            )
        return self.policy.normalize_batch(batches[0])

    def _step(self, expert_loss: torch.Tensor, gating_loss: torch.Tensor | None) -> float:
        """One Adam step on each parameter group; returns the expert LR that was used.

        The losses touch disjoint parameters (the gating sees detached features), so a single
        backward pass of their sum gives each optimiser exactly its own loss's gradient.
        """
        self.expert_opt.zero_grad(set_to_none=True)
        if self.gating_opt is not None:
            self.gating_opt.zero_grad(set_to_none=True)
        total = expert_loss if gating_loss is None else expert_loss + gating_loss
        total.backward()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.policy.expert_parameters(), self.config.grad_clip)
        self.expert_opt.step()
        if self.gating_opt is not None:
            self.gating_opt.step()
        lr = self.expert_opt.param_groups[0]["lr"]
        for s in self.schedulers:
            s.step()
        self.iteration += 1
        return lr

    def _gating_entropy(self, log_w_BTZ: torch.Tensor) -> float:
        return float(-(log_w_BTZ.exp() * log_w_BTZ).sum(-1).mean())


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
        _check_common(self)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EMStats:
    """What one `update` did; likelihoods are of the batch *before* the step, normalised units."""

    expert_loss: float  # -mean sum_z r_z log N_z(a|s)
    gating_loss: float  # soft cross-entropy to the responsibilities (0 for a uniform gating)
    log_likelihood: float  # mean log q(a|s) of the batch under the mixture
    gating_entropy: float  # mean entropy of q(z|s), nats
    responsibility_entropy: float  # mean entropy of r(z|a,s): near 0 = experts well separated
    expert_entropy: float  # mean analytic entropy of the experts
    lr: float

    @property
    def loss(self) -> float:
        return self.expert_loss

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


class EM(_FitFromData):
    """`EM(policy, config, *, init_actions=None)`: owns the optimisers; `update([batch])` runs
    one E-step and one M-step. Fit the policy's normalisers before constructing it."""

    def __init__(
        self, policy: MoEPolicy, config: EMConfig, *, init_actions: torch.Tensor | None = None
    ) -> None:
        if not isinstance(config, EMConfig):
            raise TypeError(f"EM needs an EMConfig, got {type(config).__name__}")
        super().__init__(policy, config, init_actions=init_actions)

    def update(self, batches: Sequence[Batch]) -> EMStats:
        obs, actions = self._one_batch(batches)
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
        gating_loss = (-(resp_BTZ * log_w_BTZ).sum(-1).mean()
                       if self.gating_opt is not None else None)
        lr = self._step(expert_loss, gating_loss)
        return EMStats(
            expert_loss=float(expert_loss.detach()),
            gating_loss=0.0 if gating_loss is None else float(gating_loss.detach()),
            log_likelihood=float(log_lik_BT.mean()),
            gating_entropy=self._gating_entropy(log_w_BTZ.detach()),
            responsibility_entropy=float(resp_entropy),
            expert_entropy=float(expert_entropy),
            lr=lr,
        )
