"""One-step students of a BESO teacher: consistency models (CD) and trajectory models (CTM).

Both map a noisy action x_t at noise level t (VE, normalised units, t in [sigma_min, sigma_max]
of the teacher) along the teacher's probability-flow ODE. The network is the teacher's GPT
denoiser with a second noise-level embedding for the target level s (`JumpTransformer`), so a
student can start from the teacher's weights.

Parameterisations (c_skip, c_out, c_in, c_noise are BESO's EDM scalings, sd = sigma_data):
- "ctm" (Kim et al. 2024): G(x, t, s) = (s/t) x + (1 - s/t) g(x, t, s),
  g = c_skip(t) x + c_out(t) F(c_in(t) x, c_noise(t), c_noise(s)). G(x, t, t) = x, and with
  g = the teacher's denoiser G is exactly one Euler (DDIM) step from t to s, which is what a
  student started from the teacher does before training. g(x, t, t) is a denoiser (CTM's DSM
  loss trains it as one).
- "cm" (Song et al. 2023): f(x, t) = c_skip_cm(t) x + c_out_cm(t) F(c_in(t) x, c_noise(t),
  c_noise(sigma_min)) with c_skip_cm = sd^2 / ((t - sigma_min)^2 + sd^2) and
  c_out_cm = sd (t - sigma_min) / sqrt(sd^2 + t^2), so f(x, sigma_min) = x; it always jumps to
  sigma_min (the clean end).

The teacher's image-observation fields (cameras, encoder, pooling) carry over to the student,
whose network then starts from the teacher's CNNs too (`init_from_teacher`).

Sampling starts from N(0, sigma_max^2) and makes `num_steps` network calls (1 by default),
sharing one observation encoding:
"ctm" jumps deterministically down a Karras schedule to sigma_min; "cm" alternates a jump to
the clean end with re-noising to the next level (multistep consistency sampling), its N levels
the first N of a Karras grid of N + 1 down to sigma_min, so every call jumps from above
sigma_min (where f(x, sigma_min) = x would do nothing).

Shapes: B batch, T window, O obs dim, A action dim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from teachers import (
    BESOConfig, DiffusionPolicy, DiffusionTransformer, EncodedObs, NoiseEmbedding, karras_sigmas,
)

__all__ = ["ConsistencyConfig", "JumpTransformer", "ConsistencyPolicy"]


@dataclass(frozen=True)
class ConsistencyConfig(BESOConfig):
    """A BESO config (the teacher's architecture and noise range) plus the parameterisation."""

    parameterization: str = "ctm"  # "ctm" (any t -> any s) or "cm" (any t -> sigma_min)
    num_steps: int = 1
    sampler: str = "jump"

    SAMPLERS = ("jump",)
    PARAMETERIZATIONS = ("ctm", "cm")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.parameterization not in self.PARAMETERIZATIONS:
            raise ValueError(
                f"ConsistencyConfig.parameterization must be one of "
                f"{list(self.PARAMETERIZATIONS)}, got {self.parameterization!r}"
            )

    @classmethod
    def from_teacher(cls, teacher: BESOConfig, *, parameterization: str) -> ConsistencyConfig:
        """The student config for a BESO teacher: same architecture (image fields included)
        and noise range."""
        if not isinstance(teacher, BESOConfig) or isinstance(teacher, ConsistencyConfig):
            raise TypeError(f"consistency students distil a BESO teacher, got "
                            f"{type(teacher).__name__}")
        fields = {k: v for k, v in teacher.to_dict().items() if k not in ("num_steps", "sampler")}
        return cls(**fields, parameterization=parameterization)


class JumpTransformer(DiffusionTransformer):
    """The teacher's denoiser network with a target-level embedding added to the noise token.

    The target embedding's last layer starts at zero, so a freshly built student with the
    teacher's weights computes exactly the teacher's network output.
    """

    def __init__(self, config: ConsistencyConfig) -> None:
        super().__init__(config)
        self.target_embed = NoiseEmbedding(config.n_embd, config.noise_freqs)
        last = self.target_embed.mlp[-1]
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.zeros_(last.bias)

    def forward(self, noisy_BTA: torch.Tensor, level_B: torch.Tensor,
                obs_BTO: torch.Tensor | EncodedObs,
                target_B: torch.Tensor | None = None) -> torch.Tensor:
        noise = self.noise_embed(level_B)
        if target_B is not None:
            noise = noise + self.target_embed(target_B)
        return self.decode(noise, noisy_BTA, obs_BTO)


def _col(x: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, 1) so per-row scalings broadcast over (B, T, A)."""
    return x.reshape(-1, 1, 1)


class ConsistencyPolicy(DiffusionPolicy):
    """A CD or CTM student; acts, samples and saves like the teachers (`act`, `reset`, `save`)."""

    CONFIG_CLS = ConsistencyConfig
    CHECKPOINT_KIND = "distill.ConsistencyPolicy"
    config: ConsistencyConfig

    def __init__(self, config: ConsistencyConfig) -> None:
        super().__init__(config)
        self.model = JumpTransformer(config)

    def init_from_teacher(self, teacher: DiffusionPolicy) -> None:
        """Copy the teacher's normalisers and network weights (the target embedding stays 0)."""
        own = self.state_dict()
        state = teacher.state_dict()
        missing = [k for k in own if k not in state and not k.startswith("model.target_embed.")]
        if missing or any(state[k].shape != own[k].shape for k in state if k in own):
            raise ValueError(
                f"the teacher's network does not match the student's (missing {missing[:3]}); "
                "build the student with ConsistencyConfig.from_teacher(teacher.config)"
            )
        self.load_state_dict(state, strict=False)

    # ------------------------------------------------------------------ the jump
    def _scalings(self, t_B: torch.Tensor) -> tuple[torch.Tensor, ...]:
        c = self.config
        sd = c.sigma_data
        total = t_B**2 + sd**2
        c_in = total.rsqrt()
        if c.parameterization == "cm":
            shifted = t_B - c.sigma_min
            return sd**2 / (shifted**2 + sd**2), sd * shifted / total.sqrt(), c_in
        return sd**2 / total, t_B * sd / total.sqrt(), c_in

    def _network(self, x_BTA, t_B, s_B, obs_norm_BTO) -> torch.Tensor:
        c_skip, c_out, c_in = (_col(v) for v in self._scalings(t_B))
        out = self.model(c_in * x_BTA, t_B.log() / 4, obs_norm_BTO, s_B.log() / 4)
        return c_skip * x_BTA + c_out * out

    def denoise(self, x_BTA: torch.Tensor, t_B: torch.Tensor,
                obs_norm_BTO: torch.Tensor) -> torch.Tensor:
        """The student's denoiser g(x, t, t) (CTM's DSM term trains it); "cm" has none."""
        if self.config.parameterization != "ctm":
            raise ValueError("only the 'ctm' parameterisation has a denoiser g(x, t, t)")
        return self._network(x_BTA, t_B, t_B, obs_norm_BTO)

    def jump(self, x_BTA: torch.Tensor, t_B: torch.Tensor, s_B: torch.Tensor,
             obs_norm_BTO: torch.Tensor) -> torch.Tensor:
        """x_t -> x_s along the (learned) teacher ODE, s <= t; "cm" always lands on sigma_min."""
        if self.config.parameterization == "cm":
            smin = torch.full_like(t_B, self.config.sigma_min)
            return self._network(x_BTA, t_B, smin, obs_norm_BTO)
        ratio = _col(s_B / t_B)
        return ratio * x_BTA + (1 - ratio) * self._network(x_BTA, t_B, s_B, obs_norm_BTO)

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample_normalized(self, obs_norm_BTO: torch.Tensor, *, num_steps: int, sampler: str,
                          generator: torch.Generator | None = None) -> torch.Tensor:
        if sampler not in ConsistencyConfig.SAMPLERS:
            raise ValueError(f"ConsistencyPolicy samplers are {list(ConsistencyConfig.SAMPLERS)}, "
                             f"got {sampler!r}")
        c = self.config
        B, T, _ = obs_norm_BTO.shape
        obs = self.model.encode_obs(obs_norm_BTO)  # once for all jumps
        shape, dev = (B, T, c.action_dim), self.device
        x = c.sigma_max * torch.randn(shape, generator=generator, device=dev)
        row = lambda v: torch.full((B,), float(v), device=dev)  # noqa: E731
        if c.parameterization == "ctm":
            levels = karras_sigmas(num_steps + 1, c.sigma_min, c.sigma_max, c.rho).tolist()[:-1]
            for t, s in zip(levels[:-1], levels[1:]):
                x = self.jump(x, row(t), row(s), obs)
            return x
        # N jumps from N levels above sigma_min (a jump from sigma_min itself is f(x) = x, a
        # wasted call): the Karras grid of N + 1 levels without its last, sigma_min
        levels = karras_sigmas(num_steps + 1, c.sigma_min, c.sigma_max, c.rho).tolist()[:-2]
        a = self.jump(x, row(levels[0]), row(c.sigma_min), obs)
        for t in levels[1:]:
            noise = torch.randn(shape, generator=generator, device=dev)
            x = a + math.sqrt(max(float(t) ** 2 - c.sigma_min**2, 0.0)) * noise
            a = self.jump(x, row(t), row(c.sigma_min), obs)
        return a
