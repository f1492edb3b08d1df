"""Configs of the diffusion teachers: one shared base, one subclass per kind.

Everything here is saved in a teacher's checkpoint. The architecture fields (dims, window,
transformer size, DDPM's number of train steps) fix tensor shapes; the sampler defaults only
set what `act` uses and may be overridden at every `sample_actions` call.

All noise levels are in the *normalised* action space (the policy standardises actions to
zero mean, unit std per dimension before diffusing them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from moe import CheckpointError, GPTConfig, check_image_fields, pixel_dim

__all__ = ["DiffusionConfig", "BESOConfig", "DDPMConfig"]


def _positive_int(cls_name: str, name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{cls_name}.{name} must be a positive int, got {value!r}")


@dataclass(frozen=True)
class DiffusionConfig:
    """Fields shared by every teacher: data dims, window, the GPT denoiser's size and the
    image observation (cameras > 0: packed [state, pixels] observations, see moe.encoders).

    Published sizes: D3IL 4 layers / 4 heads / 72-d, window 5.
    """

    obs_dim: int
    action_dim: int
    window: int = 1
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 72
    dropout: float = 0.0
    noise_freqs: int = 8  # Fourier features of the noise level: pi 2^k, k < noise_freqs
    num_steps: int = 8  # default sampling steps for `act` / `sample_actions`
    sampler: str = "ddim"  # default sampler; the valid names depend on the kind
    cameras: int = 0  # image observations: number of cameras (0: state only)
    image_size: int = 96
    image_encoder: str = "resnet18"  # a timm model name
    shared_encoder: bool = False  # one CNN for all cameras instead of one per camera
    image_pool: str = "avg"  # "avg" or "spatial_softmax"
    # state observations: the tokens also see each step's motion (moe.motion.MotionEmbedding)
    obs_motion: bool = False

    SAMPLERS = ("ddim",)  # overridden per kind (a class attribute, not a field)

    def __post_init__(self) -> None:
        name = type(self).__name__
        if not isinstance(self.obs_motion, bool) or (self.obs_motion and self.cameras):
            raise ValueError(f"{name}.obs_motion must be a bool and needs cameras=0, got "
                             f"obs_motion={self.obs_motion!r}, cameras={self.cameras!r}")
        for field_name in ("obs_dim", "action_dim", "window", "num_steps", "noise_freqs"):
            _positive_int(name, field_name, getattr(self, field_name))
        if self.sampler not in self.SAMPLERS:
            raise ValueError(
                f"{name}.sampler must be one of {list(self.SAMPLERS)}, got {self.sampler!r}"
            )
        check_image_fields(name, obs_dim=self.obs_dim, cameras=self.cameras,
                           image_size=self.image_size, image_encoder=self.image_encoder,
                           shared_encoder=self.shared_encoder, image_pool=self.image_pool)
        self.gpt_config()  # validates n_layer, n_head, n_embd, dropout

    @property
    def state_dim(self) -> int:
        """Observation values before the pixels (all of them without cameras)."""
        return self.obs_dim - pixel_dim(self.cameras, self.image_size)

    def image_fields(self) -> dict[str, Any]:
        """The image-observation fields, as moe.make_obs_embedding takes them."""
        return dict(cameras=self.cameras, image_size=self.image_size,
                    image_encoder=self.image_encoder, shared_encoder=self.shared_encoder,
                    image_pool=self.image_pool)

    def gpt_config(self) -> GPTConfig:
        """The backbone: one noise-level token plus one token per observation."""
        return GPTConfig(n_layer=self.n_layer, n_head=self.n_head, n_embd=self.n_embd,
                         block_size=self.window + 1, dropout=self.dropout)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CheckpointError(
                f"{cls.__name__} has no fields {unknown}; saved by a newer version or another kind?"
            )
        return cls(**data)


@dataclass(frozen=True)
class BESOConfig(DiffusionConfig):
    """BESO: variance-exploding score model with EDM (Karras et al. 2022) preconditioning.

    Train noise levels lie in [sigma_min, sigma_max], drawn log-uniformly ("loguniform") or
    log-normally ("lognormal", EDM's P_mean/P_std, clamped to the range). Sampling walks a
    Karras schedule (exponent `rho`) from sigma_max down to sigma_min, then to 0.
    """

    sigma_data: float = 0.5
    sigma_min: float = 0.001
    sigma_max: float = 1.0
    rho: float = 7.0
    sigma_sampling: str = "loguniform"
    lognormal_mean: float = -1.2
    lognormal_std: float = 1.2
    sampler: str = "ddim"

    SAMPLERS = ("ddim", "euler_ancestral")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.sigma_data > 0:
            raise ValueError(f"BESOConfig.sigma_data must be > 0, got {self.sigma_data!r}")
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(
                f"BESOConfig needs 0 < sigma_min < sigma_max, got sigma_min={self.sigma_min!r}, "
                f"sigma_max={self.sigma_max!r}"
            )
        if not self.rho > 0:
            raise ValueError(f"BESOConfig.rho must be > 0, got {self.rho!r}")
        if self.sigma_sampling not in ("loguniform", "lognormal"):
            raise ValueError(
                f"BESOConfig.sigma_sampling must be 'loguniform' or 'lognormal', got "
                f"{self.sigma_sampling!r}"
            )
        if not self.lognormal_std > 0:
            raise ValueError(f"BESOConfig.lognormal_std must be > 0, got {self.lognormal_std!r}")


@dataclass(frozen=True)
class DDPMConfig(DiffusionConfig):
    """DDPM: variance-preserving, epsilon prediction, cosine schedule (Nichol & Dhariwal 2021).

    Steps t = 1..num_train_steps; alpha_bar(0) = 1 is the clean data. Samplers walk a
    subsequence of the train steps: "ddpm" (ancestral, eta = 1; with every step it is the
    original DDPM sampler) or "ddim" (deterministic, eta = 0). `clip_sample` bounds the
    sampler's predicted clean action in normalised units (0 turns it off): at the last train
    step alpha_bar is ~1e-5, so a one-step x0 prediction divides the epsilon error by ~3e-3.
    """

    num_train_steps: int = 16
    cosine_s: float = 0.008
    max_beta: float = 0.9
    clip_sample: float = 3.0
    num_steps: int = 16
    sampler: str = "ddim"

    SAMPLERS = ("ddim", "ddpm")

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive_int("DDPMConfig", "num_train_steps", self.num_train_steps)
        if self.num_steps > self.num_train_steps:
            raise ValueError(
                f"DDPMConfig.num_steps ({self.num_steps!r}) cannot exceed num_train_steps "
                f"({self.num_train_steps!r})"
            )
        if not self.cosine_s >= 0:
            raise ValueError(f"DDPMConfig.cosine_s must be >= 0, got {self.cosine_s!r}")
        if not 0 < self.max_beta < 1:
            raise ValueError(f"DDPMConfig.max_beta must lie in (0, 1), got {self.max_beta!r}")
        if not self.clip_sample >= 0:
            raise ValueError(f"DDPMConfig.clip_sample must be >= 0, got {self.clip_sample!r}")
