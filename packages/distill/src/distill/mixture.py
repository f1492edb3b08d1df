"""What the MoE algorithms (VDD, EM, IMC) share: the base class, its config checks, its stats.

- `check_mixture_config(config)`: the fields every MoE algorithm's config has (iterations,
  batch_size, lr, gating_lr, lr_decay, grad_clip, expert_init), checked the same way.
- `MixtureAlgorithm(policy, config, *, init_actions=None)`: checks the config's type, places
  the experts and builds the optimisers (`distill.optim.prepare_mixture`), and offers a
  subclass's `update` its pieces: `single_batch`, `gating_cross_entropy`, `step`,
  `finish_iteration` and `gating_entropy`.
- `MixtureStats`: the stats base, `expert_loss` and `gating_loss` first; `loss` is the expert
  loss and `to_dict` lists the fields in order (0-dim tensors or numbers).

Shapes: B batch, T window, O obs, A action, Z experts (any leading shape before Z works).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar

import torch

from distill.checks import check_positive_int, check_positive_number
from distill.optim import prepare_mixture
from moe import MoEPolicy

__all__ = ["Batch", "check_mixture_config", "MixtureStats", "MixtureAlgorithm"]

Batch = dict[str, torch.Tensor]  # "obs" (B, T, O) and "actions" (B, T, A), raw units; "index"
# (B,): the dataset rows drawn (the trainer passes them; IMC needs them)


def check_mixture_config(config) -> None:
    """Validate the fields VDD, EM and IMC share; errors name the class, the field and the value."""
    name = type(config).__name__
    check_positive_int(name, iterations=config.iterations, batch_size=config.batch_size)
    check_positive_number(name, lr=config.lr, gating_lr=config.gating_lr)
    if not isinstance(config.lr_decay, bool):
        raise ValueError(f"{name}.lr_decay must be a bool, got {config.lr_decay!r}")
    if not (isinstance(config.grad_clip, (int, float)) and config.grad_clip >= 0):
        raise ValueError(f"{name}.grad_clip must be >= 0 (0 = off), got {config.grad_clip!r}")
    if config.expert_init not in ("data", "random"):
        raise ValueError(
            f"{name}.expert_init must be 'data' or 'random', got {config.expert_init!r}"
        )


@dataclass(frozen=True)
class MixtureStats:
    """What one `update` of a MoE algorithm did; subclasses add their own fields after these.

    Values computed on the device stay there as 0-dim tensors (read them with `float(...)`,
    which waits for the device: a loop reads them only when it logs, so a CUDA step never
    waits for the GPU); counts and the learning rate are plain numbers."""

    expert_loss: float
    gating_loss: float  # 0 for a uniform gating

    @property
    def loss(self) -> float:
        return self.expert_loss

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


class MixtureAlgorithm:
    """Base of VDD, EM and IMC: owns the expert optimiser (backbone + heads), the gating
    optimiser (None for a uniform gating) and their LR schedulers; counts iterations.

    A subclass sets `CONFIG_CLS` and implements `update(batches) -> stats`, built from the
    methods below. Fit the policy's normalisers before constructing it.
    """

    CONFIG_CLS: ClassVar[type] = object

    def __init__(self, policy: MoEPolicy, config, *,
                 init_actions: torch.Tensor | None = None) -> None:
        if not isinstance(config, self.CONFIG_CLS):
            wanted = self.CONFIG_CLS.__name__
            article = "an" if wanted[:1] in "AEIOU" else "a"
            raise TypeError(
                f"{type(self).__name__} needs {article} {wanted}, got {type(config).__name__}"
            )
        self.policy, self.config = policy, config
        self.expert_opt, self.gating_opt, self.schedulers = prepare_mixture(
            policy, config, init_actions=init_actions)
        self.iteration = 0

    @property
    def batches_per_update(self) -> int:
        return 1

    def single_batch(self, batches: Sequence[Batch]) -> tuple[torch.Tensor, torch.Tensor]:
        """The single batch of an `update` that takes one, normalised: obs (B, T, O), actions
        (B, T, A)."""
        if isinstance(batches, dict) or len(batches) != 1:
            got = "a dict" if isinstance(batches, dict) else f"{len(batches)} batches"
            raise ValueError(
                f"{type(self).__name__}.update needs a list of exactly 1 batch, got {got}"
            )
        return self.policy.normalize_batch(batches[0])

    def gating_cross_entropy(self, target_Z: torch.Tensor,
                             log_w_Z: torch.Tensor) -> torch.Tensor | None:
        """The gating's loss: the soft cross-entropy mean -sum_z target_z log q(z | s) that pulls
        q(z | s) towards `target` (responsibilities); None for a uniform gating."""
        if self.gating_opt is None:
            return None
        return -(target_Z * log_w_Z).sum(-1).mean()

    def step(self, *, expert_loss: torch.Tensor | None = None,
             gating_loss: torch.Tensor | None = None) -> None:
        """One Adam step of the optimiser of each loss given, from one backward pass.

        Given both, the losses must touch disjoint parameters (the gating sees detached
        features), so the backward pass of their sum gives each optimiser exactly its own
        loss's gradient. The expert gradient is clipped to `config.grad_clip` (0 = off).
        """
        if expert_loss is None and gating_loss is None:
            raise ValueError("step needs an expert_loss, a gating_loss or both")
        if expert_loss is not None:
            self.expert_opt.zero_grad(set_to_none=True)
        if gating_loss is not None:
            self.gating_opt.zero_grad(set_to_none=True)
        if expert_loss is None:
            total = gating_loss
        else:
            total = expert_loss if gating_loss is None else expert_loss + gating_loss
        total.backward()
        if expert_loss is not None:
            if self.config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.policy.expert_parameters(),
                                               self.config.grad_clip)
            self.expert_opt.step()
        if gating_loss is not None:
            self.gating_opt.step()

    def finish_iteration(self) -> float:
        """End an iteration: advance the LR schedules and the count; returns the expert LR that
        the iteration used."""
        lr = self.expert_opt.param_groups[0]["lr"]
        for s in self.schedulers:
            s.step()
        self.iteration += 1
        return lr

    @staticmethod
    def gating_entropy(log_w_Z: torch.Tensor) -> torch.Tensor:
        """Mean entropy of q(z | s) in nats, from its log weights (0-dim, on their device)."""
        return -(log_w_Z.exp() * log_w_Z).sum(-1).mean()
