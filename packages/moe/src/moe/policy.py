"""The Mixture-of-Experts policy: q(a | s) = sum_z q(z | s) N(a; mu_z(s), L_z(s) L_z(s)^T).

One GPT backbone over the observation window gives a feature per timestep; two heads give all
experts' means and Cholesky factors; a gating MLP on the detached features gives q(z | s).
Acting is one forward pass: pick an expert (sampled, or the most likely one) and return its
mean at the last timestep. With `cameras` > 0 the observation is a packed image observation
(robot state, then the pixels of every camera; see moe.encoders) embedded by timm CNNs.

Shapes: B batch, T window, O obs dim, A action dim, Z experts, D features.
Raw = the environment's units; normalised = what the network sees (the Normalizers inside).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from moe.checkpoint import CheckpointError, load_checkpoint, load_state_strict, save_checkpoint
from moe.motion import fit_motion
from moe.encoders import ImageObsEmbedding, check_image_fields, make_obs_embedding, pixel_dim
from moe.gpt import GPT, GPTConfig
from moe.heads import ExpertHeads, GatingNet
from moe.mixture import GaussianMixture
from moe.normalizer import Normalizer
from moe.obs_window import ObservationWindow, check_obs_window

__all__ = ["ACT_THREADS", "MoEConfig", "MoEPolicy", "cpu_threads", "kmeans_pp"]

CHECKPOINT_KIND = "moe.MoEPolicy"
# CPU threads for `act` (torch's own setting is used outside it). Measured with
# scripts/bench_export.py on 2 cores shared with other jobs: the published-size MoE's `act` at
# batch 1 took 2.3 ms at p50 / 4.5 ms at p99 with 1 thread, 6.6 ms / 328 ms with torch's default
# 2 threads; a tiny model gains nothing from a second thread and loses much on busy cores.
ACT_THREADS = 1


@contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Run the block with torch's CPU intra-op threads set to `n` (None: leave them as they are)
    and restore the previous setting afterwards (torch's setting is process-wide)."""
    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class MoEConfig:
    """Everything that fixes the MoE's architecture (saved in its checkpoint)."""

    obs_dim: int
    action_dim: int
    window: int = 1
    num_experts: int = 8
    covariance: str = "full"  # "full" Cholesky or "diagonal"
    gating: str = "learned"  # "learned" q(z|s), or "uniform" when the state does not matter
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 72
    dropout: float = 0.0
    gating_hidden: int = 64
    gating_layers: int = 2
    init_std: float = 1.0
    min_std: float = 1e-4
    bias_init_bound: float = 0.5
    # expert heads (means and scales each): a residual MLP of `head_layers` hidden layers of
    # width `head_hidden`, as the VDD authors' heads (2 layers; 256 wide on Kitchen, 512 on
    # Block Push, 64 on the toy); head_layers = 0: one Linear layer (checkpoints saved before
    # these fields existed load as that)
    head_layers: int = 2
    head_hidden: int = 256
    # image observations (obs = [state, K cameras x 3 x image_size^2 pixels]); 0: state only
    cameras: int = 0
    image_size: int = 96
    image_encoder: str = "resnet18"  # a timm model name
    shared_encoder: bool = False  # one CNN for all cameras instead of one per camera
    image_pool: str = "avg"  # "avg" or "spatial_softmax"
    # state observations: the tokens also see each step's motion (moe.motion.MotionEmbedding)
    obs_motion: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.obs_motion, bool) or (self.obs_motion and self.cameras):
            raise ValueError(f"MoEConfig.obs_motion must be a bool and needs cameras=0, got "
                             f"obs_motion={self.obs_motion!r}, cameras={self.cameras!r}")
        for name in ("obs_dim", "action_dim", "window", "num_experts", "gating_hidden",
                     "head_hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"MoEConfig.{name} must be a positive int, got {value!r}")
        if (not isinstance(self.head_layers, int) or isinstance(self.head_layers, bool)
                or self.head_layers < 0 or self.head_layers % 2):
            raise ValueError(f"MoEConfig.head_layers must be 0 (one Linear layer) or an even "
                             f"int >= 2, got {self.head_layers!r}")
        if self.covariance not in ("full", "diagonal"):
            raise ValueError(
                f"MoEConfig.covariance must be 'full' or 'diagonal', got {self.covariance!r}"
            )
        if self.gating not in ("learned", "uniform"):
            raise ValueError(
                f"MoEConfig.gating must be 'learned' or 'uniform', got {self.gating!r}"
            )
        if not self.init_std > self.min_std > 0:
            raise ValueError(
                f"MoEConfig needs init_std > min_std > 0, got init_std={self.init_std!r}, "
                f"min_std={self.min_std!r}"
            )
        if self.bias_init_bound < 0:
            raise ValueError(
                f"MoEConfig.bias_init_bound must be >= 0, got {self.bias_init_bound!r}"
            )
        check_image_fields("MoEConfig", obs_dim=self.obs_dim, cameras=self.cameras,
                           image_size=self.image_size, image_encoder=self.image_encoder,
                           shared_encoder=self.shared_encoder, image_pool=self.image_pool)
        self.gpt_config()  # validates the backbone fields

    @property
    def state_dim(self) -> int:
        """Observation values before the pixels (all of them without cameras)."""
        return self.obs_dim - pixel_dim(self.cameras, self.image_size)

    def image_fields(self) -> dict[str, Any]:
        """The image-observation fields, as make_obs_embedding takes them."""
        return dict(cameras=self.cameras, image_size=self.image_size,
                    image_encoder=self.image_encoder, shared_encoder=self.shared_encoder,
                    image_pool=self.image_pool)

    def gpt_config(self) -> GPTConfig:
        return GPTConfig(n_layer=self.n_layer, n_head=self.n_head, n_embd=self.n_embd,
                         block_size=self.window, dropout=self.dropout)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MoEConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CheckpointError(
                f"MoE config has unknown fields {unknown}; saved by a newer version?")
        if "head_layers" not in data:  # saved before the heads could be MLPs: one Linear layer
            data = {**data, "head_layers": 0}
        return cls(**data)


class MoEPolicy(nn.Module):
    """A Gaussian MoE policy with a GPT backbone. See the module docstring.

    `act_threads`: torch CPU threads during `act` (state policies `ACT_THREADS`; image policies
    None, torch's own setting: their CNNs use every core; assign to override).
    """

    CHECKPOINT_KIND = CHECKPOINT_KIND  # config.json's "kind" (as the teachers' policies)

    def __init__(self, config: MoEConfig) -> None:
        super().__init__()
        self.config = config
        self.act_threads: int | None = None if config.cameras else ACT_THREADS
        c = config
        self.obs_normalizer = Normalizer(c.state_dim, passthrough=c.obs_dim - c.state_dim)
        self.action_normalizer = Normalizer(c.action_dim)
        self.obs_embed = make_obs_embedding(obs_dim=c.obs_dim, n_embd=c.n_embd,
                                            motion=c.obs_motion, **c.image_fields())
        self.backbone = GPT(c.gpt_config())
        self.experts = ExpertHeads(
            in_dim=c.n_embd, num_experts=c.num_experts, action_dim=c.action_dim,
            covariance=c.covariance, init_std=c.init_std, min_std=c.min_std,
            bias_init_bound=c.bias_init_bound, hidden_layers=c.head_layers,
            hidden=c.head_hidden,
        )
        self.gating = (
            GatingNet(in_dim=c.n_embd, num_experts=c.num_experts, hidden=c.gating_hidden,
                      num_layers=c.gating_layers)
            if c.gating == "learned" else None
        )
        self._obs_window = ObservationWindow(c.window, c.obs_dim)

    # ------------------------------------------------------------------ parameters
    def expert_parameters(self) -> list[nn.Parameter]:
        """Trainable backbone, embedding and expert-head parameters (all but the gating; a
        frozen image encoder is left out)."""
        gating = {id(p) for p in self.gating_parameters()}
        return [p for p in self.parameters() if id(p) not in gating and p.requires_grad]

    def gating_parameters(self) -> list[nn.Parameter]:
        return [] if self.gating is None else list(self.gating.parameters())

    @property
    def device(self) -> torch.device:
        return self.action_normalizer.mean.device

    def _image_embedding(self) -> ImageObsEmbedding:
        if not isinstance(self.obs_embed, ImageObsEmbedding):
            raise ValueError("this MoEPolicy has state observations only (MoEConfig.cameras=0); "
                             "it has no image encoder")
        return self.obs_embed

    def load_image_encoder_from(self, module: nn.Module) -> None:
        """Copy CNN (and keypoint) weights from another ImageObsEmbedding of the same image
        architecture, e.g. a teacher's `teacher.model.obs_embed`."""
        self._image_embedding().load_encoders_from(module)

    def freeze_image_encoder(self) -> None:
        """Keep the CNNs fixed (no gradients, BatchNorm statistics fixed); the state embedding,
        fusion layer, backbone and heads still learn. Call before building the optimiser."""
        self._image_embedding().freeze_encoders()

    # ------------------------------------------------------------------ normalised space
    def check_obs(self, obs_BTO: torch.Tensor) -> None:
        check_obs_window(obs_BTO, obs_dim=self.config.obs_dim, window=self.config.window)

    def features(self, obs_norm_BTO: torch.Tensor) -> torch.Tensor:
        """Backbone features (B, T, D) of normalised observations."""
        self.check_obs(obs_norm_BTO)
        return self.backbone(self.obs_embed(obs_norm_BTO))

    def forward(self, obs_norm_BTO: torch.Tensor) -> GaussianMixture:
        """Mixture over normalised actions for every timestep: fields shaped (B, T, Z, ...)."""
        feat = self.features(obs_norm_BTO)
        means, tril = self.experts(feat)
        if self.gating is None:
            Z = self.config.num_experts
            log_w = torch.full(feat.shape[:-1] + (Z,), -float(np.log(Z)), device=feat.device,
                               dtype=feat.dtype)
        else:
            log_w = self.gating(feat)
        return GaussianMixture(log_w, means, tril)

    # ------------------------------------------------------------------ raw space
    def _as_obs(self, obs: Any) -> torch.Tensor:
        x = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        self.check_obs(x)
        return x

    def mixture(self, obs_BTO: Any) -> GaussianMixture:
        """Mixture (normalised action space) for raw observations (B, T, O)."""
        return self(self.obs_normalizer.normalize(self._as_obs(obs_BTO)))

    def log_prob(self, obs_BTO: Any, actions_BTA: Any) -> torch.Tensor:
        """log q(a | s) in raw units for every timestep, (B, T)."""
        mix = self.mixture(obs_BTO)
        a = torch.as_tensor(actions_BTA, dtype=torch.float32, device=self.device)
        a_norm = self.action_normalizer.normalize(a)
        return mix.log_prob(a_norm) + self.action_normalizer.log_abs_det_jacobian()

    @torch.no_grad()
    def sample_actions(
        self, obs_BTO: Any, *, greedy: bool = False, generator: torch.Generator | None = None,
        u: Any = None,
    ) -> torch.Tensor:
        """One action (B, A) per window, raw units: pick an expert, return its last-step mean.

        One forward pass; `greedy` takes the most likely expert instead of sampling one. `u`
        (B,), uniform draws in [0, 1), picks the experts by inverting the gating's CDF instead
        of drawing them (what the ONNX export computes from its input `u`).
        """
        mix = self.mixture(obs_BTO)
        last = GaussianMixture(mix.log_weights[:, -1], mix.means[:, -1], mix.scale_tril[:, -1])
        z = last.sample_experts(greedy=greedy, generator=generator, u=u)
        mean, _ = last.select(z)
        return self.action_normalizer.unnormalize(mean)

    @torch.no_grad()
    def act(self, obs: Any, *, greedy: bool = False, u: Any = None) -> Any:
        """Control-loop call: one raw observation (O,) or a batch (B, O) -> raw action(s).

        Keeps the last `window` observations (the first one repeated at the start of an
        episode); call `reset()` between episodes. Returns numpy for numpy input, else a tensor.
        Runs with `act_threads` CPU threads; `u` as in `sample_actions` ((B,), or () for one
        observation).
        """
        window, single, as_numpy = self._obs_window.push(obs, self.device)
        if u is not None and single:
            u = torch.as_tensor(u, dtype=torch.float32).reshape(1)
        with cpu_threads(self.act_threads):
            action = self.sample_actions(window, greedy=greedy, u=u)
        return self._obs_window.answer(action, single, as_numpy)

    def reset(self) -> None:
        """Forget the observation window (call at the start of every episode)."""
        self._obs_window.clear()

    # ------------------------------------------------------------------ fitting helpers
    def fit_normalizers(self, obs: Any, actions: Any) -> None:
        """Fit the observation and action normalisers on raw data (..., O) and (..., A)
        (and, with `obs_motion`, the motion scale on the windows (N, T, O))."""
        self.obs_normalizer.fit(obs)
        self.action_normalizer.fit(actions)
        self.fit_motion(obs)

    def fit_motion(self, obs_BTO: Any) -> None:
        """With `obs_motion`: fit the embedding's motion scale on raw windows (N, T, O) through
        the current observation normaliser (call again after replacing the normaliser)."""
        if self.config.obs_motion:
            fit_motion(self.obs_embed, self.obs_normalizer, obs_BTO)

    def normalize_batch(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw batch {"obs": (B, T, O), "actions": (B, T, A)} -> normalised (obs, actions)."""
        obs = torch.as_tensor(batch["obs"], dtype=torch.float32, device=self.device)
        actions = torch.as_tensor(batch["actions"], dtype=torch.float32, device=self.device)
        self.check_obs(obs)
        if actions.shape[:2] != obs.shape[:2] or actions.shape[-1] != self.config.action_dim:
            raise ValueError(
                f"actions must be shaped (batch, window, action_dim={self.config.action_dim}) "
                f"like the observations {tuple(obs.shape)}, got {tuple(actions.shape)}"
            )
        return self.obs_normalizer.normalize(obs), self.action_normalizer.normalize(actions)

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Maximum-likelihood loss: mean negative log-likelihood of (obs, actions), normalised."""
        obs, actions = self.normalize_batch(batch)
        nll = -self(obs).log_prob(actions).mean()
        return nll, {"nll": float(nll.detach())}

    @torch.no_grad()
    def init_experts_from_actions(
        self, actions: Any, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Place the experts' means on spread-out demonstration actions (k-means++ seeding).

        Returns the chosen points (Z, A) in normalised units. The mean head's weights are zeroed,
        so every state starts with the same means; training makes them state dependent.
        """
        a = torch.as_tensor(actions, dtype=torch.float32, device=self.device)
        a = self.action_normalizer.normalize(a.reshape(-1, self.config.action_dim))
        centres = kmeans_pp(a, self.config.num_experts, generator=generator)
        self.experts.set_means(centres)
        return centres

    # ------------------------------------------------------------------ checkpoints
    def save(self, directory: str | os.PathLike, *, extra: dict[str, Any] | None = None):
        """Write `model.safetensors` + `config.json` atomically to `directory`."""
        return save_checkpoint(directory, kind=CHECKPOINT_KIND, config=asdict(self.config),
                               state_dict=self.state_dict(), extra=extra)

    def export_onnx(self, path: str | os.PathLike, *, greedy: bool = False,
                    batch: int | None = None) -> Path:
        """Write the acting pass as an ONNX file (see `moe.export`): raw observation window
        `obs` (B, T, O) and, unless greedy, a uniform draw `u` (B,) -> raw `action` (B, A);
        `batch` fixes B (and T = window) for a faster file. The file is the eval-mode policy.
        Needs `pip install "vdd-moe[export]"`; run the file with `moe_runtime.OnnxPolicy`."""
        from moe.export import export_onnx

        return export_onnx(self, path, greedy=greedy, batch=batch)

    @classmethod
    def load(cls, directory: str | os.PathLike, *, device: str | torch.device = "cpu"):
        """Rebuild a policy from `save`'s directory; shape mismatches raise CheckpointError."""
        cfg, state, _ = load_checkpoint(directory, kind=CHECKPOINT_KIND)
        policy = cls(MoEConfig.from_dict(cfg))
        load_state_strict(policy, state, directory)
        return policy.to(device).eval()


def kmeans_pp(points_NA: torch.Tensor, k: int, *, generator: torch.Generator | None = None):
    """k-means++ seeding: k points of (N, A), each next one drawn with probability ~ D^2."""
    n = points_NA.shape[0]
    if n < k:
        raise ValueError(f"need at least {k} points to seed {k} experts, got {n}")
    first = torch.randint(n, (1,), generator=generator, device=points_NA.device)
    chosen = [points_NA[first[0]]]
    d2 = (points_NA - chosen[0]).pow(2).sum(-1)
    for _ in range(k - 1):
        probs = d2 / d2.sum() if d2.sum() > 0 else torch.full_like(d2, 1.0 / n)
        idx = torch.multinomial(probs, 1, generator=generator)[0]
        chosen.append(points_NA[idx])
        d2 = torch.minimum(d2, (points_NA - chosen[-1]).pow(2).sum(-1))
    return torch.stack(chosen)
