"""What both diffusion teachers share: normalisers, the denoiser network, acting, checkpoints.

A subclass supplies its config class, checkpoint kind, `compute_loss` and `sample_normalized`
(the sampler in the normalised space). Everything raw-unit lives here.

Shapes: B batch, T window, O obs dim, A action dim.
Raw = the environment's units; normalised = what the network sees (the Normalizers inside).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import fields
from typing import Any, ClassVar

import torch
from torch import nn

from moe import (
    CheckpointError, Normalizer, ObservationWindow, check_obs_window, load_checkpoint,
    fit_motion, load_state_strict, save_checkpoint,
)

from teachers.config import DiffusionConfig
from teachers.network import DiffusionTransformer

__all__ = ["DiffusionPolicy", "eval_mode"]

Batch = dict[str, torch.Tensor]  # "obs" (B, T, O) and "actions" (B, T, A), raw units


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Run a block with `module` in eval mode (no dropout), restoring its mode afterwards."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


class DiffusionPolicy(nn.Module):
    """Base of the diffusion teachers; see the module docstring."""

    CONFIG_CLS: ClassVar[type[DiffusionConfig]] = DiffusionConfig
    CHECKPOINT_KIND: ClassVar[str] = ""

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        if not isinstance(config, self.CONFIG_CLS):
            raise TypeError(
                f"{type(self).__name__} needs a {self.CONFIG_CLS.__name__}, got "
                f"{type(config).__name__}"
            )
        self.config = config
        # pixels of image observations pass through (the image encoder scales them)
        self.obs_normalizer = Normalizer(config.state_dim,
                                         passthrough=config.obs_dim - config.state_dim)
        self.action_normalizer = Normalizer(config.action_dim)
        self.model = DiffusionTransformer(config)
        self._obs_window = ObservationWindow(config.window, config.obs_dim)

    @property
    def device(self) -> torch.device:
        return self.model.head.weight.device

    # ------------------------------------------------------------------ kind-specific
    def compute_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def sample_normalized(self, obs_norm_BTO: torch.Tensor, *, num_steps: int, sampler: str,
                          generator: torch.Generator | None = None) -> torch.Tensor:
        """Sampled normalised actions (B, T, A) for normalised observations."""
        raise NotImplementedError

    # ------------------------------------------------------------------ checks and units
    def check_obs(self, obs_BTO: torch.Tensor) -> None:
        check_obs_window(obs_BTO, obs_dim=self.config.obs_dim, window=self.config.window)

    def check_actions(self, actions_BTA: torch.Tensor, obs_BTO: torch.Tensor) -> None:
        if actions_BTA.dim() != 3 or actions_BTA.shape[-1] != self.config.action_dim:
            raise ValueError(
                f"actions must be shaped (batch, window, action_dim={self.config.action_dim}), "
                f"got {tuple(actions_BTA.shape)}"
            )
        if actions_BTA.shape[:2] != obs_BTO.shape[:2]:
            raise ValueError(
                f"actions {tuple(actions_BTA.shape)} and observations {tuple(obs_BTO.shape)} "
                "must share (batch, window)"
            )

    def _as_tensor(self, x: Any) -> torch.Tensor:
        return torch.as_tensor(x, dtype=torch.float32, device=self.device)

    def normalize_batch(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw batch -> (obs (B, T, O), actions (B, T, A)) in normalised units, shapes checked."""
        obs = self._as_tensor(batch["obs"])
        actions = self._as_tensor(batch["actions"])
        self.check_obs(obs)
        self.check_actions(actions, obs)
        return self.obs_normalizer.normalize(obs), self.action_normalizer.normalize(actions)

    def fit_normalizers(self, obs: Any, actions: Any) -> None:
        """Fit the observation and action normalisers on raw data (..., O) and (..., A)
        (and, with `obs_motion`, the motion scale on the windows (N, T, O))."""
        self.obs_normalizer.fit(obs)
        self.action_normalizer.fit(actions)
        if self.config.obs_motion:
            fit_motion(self.model.obs_embed, self.obs_normalizer, obs)

    # ------------------------------------------------------------------ sampling in raw units
    def _resolve(self, num_steps: int | None, sampler: str | None) -> tuple[int, str]:
        num_steps = self.config.num_steps if num_steps is None else num_steps
        sampler = self.config.sampler if sampler is None else sampler
        if sampler not in self.CONFIG_CLS.SAMPLERS:
            raise ValueError(
                f"{type(self).__name__} samplers are {list(self.CONFIG_CLS.SAMPLERS)}, got "
                f"{sampler!r}"
            )
        if not isinstance(num_steps, int) or isinstance(num_steps, bool) or num_steps < 1:
            raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")
        return num_steps, sampler

    @torch.no_grad()
    def sample_actions(self, obs_BTO: Any, *, num_steps: int | None = None,
                       sampler: str | None = None,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """One action (B, A) per observation window, raw units: the last timestep's sample.

        `num_steps` and `sampler` default to the config's; `generator` makes it reproducible.
        Runs in eval mode (no dropout) whatever the module's mode.
        """
        num_steps, sampler = self._resolve(num_steps, sampler)
        obs = self._as_tensor(obs_BTO)
        self.check_obs(obs)
        with eval_mode(self):
            a_norm = self.sample_normalized(self.obs_normalizer.normalize(obs),
                                            num_steps=num_steps, sampler=sampler,
                                            generator=generator)
        return self.action_normalizer.unnormalize(a_norm[:, -1])

    @torch.no_grad()
    def act(self, obs: Any, *, num_steps: int | None = None, sampler: str | None = None) -> Any:
        """Control-loop call: one raw observation (O,) or a batch (B, O) -> raw action(s).

        Keeps the last `window` observations (the first one repeated at the start of an
        episode); call `reset()` between episodes. Returns numpy for numpy input, else a tensor.
        """
        window, single, as_numpy = self._obs_window.push(obs, self.device)
        action = self.sample_actions(window, num_steps=num_steps, sampler=sampler)
        return self._obs_window.answer(action, single, as_numpy)

    def reset(self) -> None:
        """Forget the observation window (call at the start of every episode)."""
        self._obs_window.clear()

    # ------------------------------------------------------------------ checkpoints
    def save(self, directory: str | os.PathLike, *, extra: dict[str, Any] | None = None):
        """Write `model.safetensors` + `config.json` atomically to `directory`."""
        return save_checkpoint(directory, kind=self.CHECKPOINT_KIND, config=self.config.to_dict(),
                               state_dict=self.state_dict(), extra=extra)

    @classmethod
    def load(cls, directory: str | os.PathLike, *, device: str | torch.device = "cpu",
             expect_config: DiffusionConfig | None = None):
        """Rebuild a teacher from `save`'s directory (in eval mode).

        Raises CheckpointError when the checkpoint is of another kind, when its tensors do not
        fit its config, or when `expect_config` is given and an architecture field differs
        (sampler defaults may differ; the saved ones are used).
        """
        cfg_dict, state, _ = load_checkpoint(directory, kind=cls.CHECKPOINT_KIND)
        config = cls.CONFIG_CLS.from_dict(cfg_dict)
        if expect_config is not None:
            if not isinstance(expect_config, cls.CONFIG_CLS):
                raise CheckpointError(
                    f"{directory}: holds a {cls.CONFIG_CLS.__name__}, expected a "
                    f"{type(expect_config).__name__}"
                )
            soft = {"num_steps", "sampler"}
            diff = [
                f"{f.name}: saved {getattr(config, f.name)!r}, expected "
                f"{getattr(expect_config, f.name)!r}"
                for f in fields(config)
                if f.name not in soft and getattr(config, f.name) != getattr(expect_config, f.name)
            ]
            if diff:
                raise CheckpointError(f"{directory}: config mismatch ({'; '.join(diff)})")
        policy = cls(config)
        load_state_strict(policy, state, directory)
        return policy.to(device).eval()
