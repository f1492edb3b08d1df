"""What CD and CTM share: the teacher's ODE on a Karras grid, the EMA target, the optimiser.

The teacher is a trained `teachers.BESOPolicy` (VE, EDM preconditioning); its probability-flow
ODE is dx/dt = (x - D(x; t)) / t. Noise levels live on a grid of `num_levels` Karras levels,
levels[0] = sigma_min < ... < levels[N-1] = sigma_max, and the teacher is solved from grid
level i down to level j < i with one Heun step per grid interval.

The student (`ConsistencyPolicy`) is trained online; its target is an exponential moving
average of it (`target`), used without gradient. The student is what `policy` returns.

Shapes: B batch, T window, O obs dim, A action dim, N grid levels.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import torch

from distill.checks import check_positive_int
from distill.consistency_policy import ConsistencyPolicy
from teachers import EMA, BESOPolicy, karras_sigmas
from teachers.base import eval_mode

__all__ = ["ConsistencyTrainingConfig", "ConsistencyStats", "ConsistencyTraining", "TeacherODE"]

Batch = dict[str, torch.Tensor]  # "obs" (B, T, O) and "actions" (B, T, A), raw units


@dataclass(frozen=True)
class ConsistencyTrainingConfig:
    """Settings shared by CD and CTM."""

    iterations: int = 20_000
    batch_size: int = 1024
    lr: float = 1e-4
    lr_decay: bool = False  # linear decay to 0 over `iterations`
    grad_clip: float = 1.0  # max grad norm; 0 = off
    num_levels: int = 18  # N, Karras grid levels between sigma_min and sigma_max
    target_ema: float = 0.999  # EMA decay of the target network
    init_from_teacher: bool = True  # start from the teacher's weights

    def __post_init__(self) -> None:
        name = type(self).__name__
        check_positive_int(name, iterations=self.iterations, batch_size=self.batch_size)
        if not isinstance(self.num_levels, int) or self.num_levels < 2:
            raise ValueError(f"{name}.num_levels must be an int >= 2, got {self.num_levels!r}")
        if not self.lr > 0:
            raise ValueError(f"{name}.lr must be > 0, got {self.lr!r}")
        if not self.grad_clip >= 0:
            raise ValueError(f"{name}.grad_clip must be >= 0, got {self.grad_clip!r}")
        if not 0.0 <= self.target_ema < 1.0:
            raise ValueError(f"{name}.target_ema must lie in [0, 1), got {self.target_ema!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ConsistencyStats:
    """What one `update` did. The loss terms, teacher steps and grad norm may be 0-dim tensors
    on the device (read with `float(...)`, which waits for it: loops read them when they log)."""

    loss: float | torch.Tensor  # the total loss that was minimised
    consistency_loss: float | torch.Tensor
    dsm_loss: float | torch.Tensor  # CTM's denoising term (0 for CD)
    teacher_steps: float | torch.Tensor  # mean Heun steps of the teacher per sample
    grad_norm: float | torch.Tensor
    lr: float

    def to_dict(self) -> dict[str, float | torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class TeacherODE:
    """The teacher's probability-flow ODE, solved with Heun steps between grid levels."""

    def __init__(self, teacher: BESOPolicy, levels_N: torch.Tensor) -> None:
        self.teacher, self.levels = teacher, levels_N

    def _heun(self, x, t_B, u_B, obs):
        d1 = (x - self.teacher.denoise(x, t_B, obs)) / t_B[:, None, None]
        h = (u_B - t_B)[:, None, None]
        x_euler = x + h * d1
        d2 = (x_euler - self.teacher.denoise(x_euler, u_B, obs)) / u_B[:, None, None]
        return x + h * 0.5 * (d1 + d2)

    @torch.no_grad()
    def solve(self, x_BTA: torch.Tensor, start_B: torch.Tensor, stop_B: torch.Tensor,
              obs_norm_BTO: torch.Tensor, *, max_steps: int | None = None) -> torch.Tensor:
        """x at grid level `stop` from x at level `start` (indices, stop <= start), per row.
        `max_steps`: a known bound on start - stop, so the step count is not read back from
        the device (rows that are done are kept as they are, so the result is the same)."""
        steps = start_B - stop_B
        x = x_BTA
        with eval_mode(self.teacher):
            obs = self.teacher.model.encode_obs(obs_norm_BTO)  # once for all Heun steps
            if max_steps is None:
                max_steps = int(steps.max()) if steps.numel() else 0
            for k in range(max_steps):
                i = (start_B - k).clamp_min(1)
                stepped = self._heun(x, self.levels[i], self.levels[i - 1], obs)
                x = torch.where((steps > k)[:, None, None], stepped, x)
        return x


class ConsistencyTraining:
    """Base of CD and CTM: builds the grid, target network and optimiser; `update` runs a step.

    A subclass implements `loss(obs, a0) -> (loss, consistency, dsm, mean teacher steps)` in
    the normalised space.
    """

    PARAMETERIZATIONS: tuple[str, ...] = ("ctm",)

    def __init__(self, policy: ConsistencyPolicy, teacher: BESOPolicy,
                 config: ConsistencyTrainingConfig) -> None:
        if not isinstance(policy, ConsistencyPolicy):
            raise TypeError(f"{type(self).__name__} trains a ConsistencyPolicy, got "
                            f"{type(policy).__name__}")
        if not isinstance(teacher, BESOPolicy):
            raise TypeError(f"{type(self).__name__} distils a BESO teacher (its ODE), got "
                            f"{type(teacher).__name__}")
        if policy.config.parameterization not in self.PARAMETERIZATIONS:
            raise ValueError(f"{type(self).__name__} needs a student with parameterization in "
                             f"{list(self.PARAMETERIZATIONS)}, got "
                             f"{policy.config.parameterization!r}")
        s, t = policy.config, teacher.config
        if (s.sigma_min, s.sigma_max, s.sigma_data) != (t.sigma_min, t.sigma_max, t.sigma_data):
            raise ValueError("the student's noise range and sigma_data must be the teacher's "
                             "(build it with ConsistencyConfig.from_teacher)")
        self.policy, self.teacher, self.config = policy, teacher.eval(), config
        if config.init_from_teacher:
            policy.init_from_teacher(teacher)
        else:
            policy.obs_normalizer.load_state_dict(teacher.obs_normalizer.state_dict())
            policy.action_normalizer.load_state_dict(teacher.action_normalizer.state_dict())
            if teacher.config.obs_motion:  # the motion scale belongs to the normalisation
                policy.model.obs_embed.motion_scale.copy_(teacher.model.obs_embed.motion_scale)
        for p in teacher.parameters():
            p.requires_grad_(False)
        self.target = copy.deepcopy(policy).eval()
        for p in self.target.parameters():
            p.requires_grad_(False)
        self.ema = EMA(config.target_ema, warmup=False)
        levels = karras_sigmas(config.num_levels, s.sigma_min, s.sigma_max, s.rho,
                               device=policy.device)[:-1]
        self.levels = levels.flip(0)  # ascending: sigma_min .. sigma_max
        self.ode = TeacherODE(teacher, self.levels)
        self.optimizer = torch.optim.Adam([p for p in policy.parameters() if p.requires_grad],
                                          lr=config.lr)
        decay = ((lambda it: max(0.0, 1.0 - it / config.iterations)) if config.lr_decay
                 else (lambda it: 1.0))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, decay)
        self.iteration = 0

    @property
    def batches_per_update(self) -> int:
        return 1

    def loss(self, obs: torch.Tensor, a0: torch.Tensor):
        raise NotImplementedError

    def _index(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        """Uniform integers in [low, high] per row (inclusive)."""
        u = torch.rand(low.shape, device=low.device)
        return (low + (u * (high - low + 1)).floor().long()).clamp(max=high)

    def update(self, batches: Sequence[Batch]) -> ConsistencyStats:
        if len(batches) != 1:
            raise ValueError(f"{type(self).__name__}.update needs 1 batch, got {len(batches)}")
        self.policy.train()
        obs, a0 = self.policy.normalize_batch(batches[0])
        loss, consistency, dsm, steps = self.loss(obs, a0)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = self.config.grad_clip if self.config.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), max_norm)
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self.ema.update(self.target, self.policy)
        self.iteration += 1
        return ConsistencyStats(loss=loss.detach(), consistency_loss=consistency,
                                dsm_loss=dsm, teacher_steps=steps, grad_norm=grad_norm.detach(),
                                lr=lr)
