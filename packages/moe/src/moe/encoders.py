"""Observation embeddings: a Linear for state vectors, timm CNNs for packed image observations.

Image tasks give one flat float vector per step, the *packed observation*:
    [robot state (S), camera 0 pixels (3, H, W), camera 1 pixels (3, H, W), ...]
flattened camera-major, channels first, pixel values 0..255 (H = W = image_size). Policies keep
taking (B, T, O) tensors with O = S + K * 3 * H * W, so datasets, windows and algorithms never
see images; the embedding splits the vector again. The state part arrives standardised (the
policy's Normalizer), the pixels raw (the Normalizer passes them through); the embedding scales
pixels to [0, 1] and applies the ImageNet mean/std before the CNN.

Envs give image observations as gymnasium Dicts ({"state": (S,) float, "images": {camera:
(H, W, 3) uint8}}, a batch with a leading B axis); `pack_image_obs` is the adapter that packs
them into the vector above, in the camera order it is given (the inverse of
`ImageObsEmbedding.split`), so the pixels stay uint8 until the policy's input is built.

Per timestep: every camera image -> CNN -> pooled feature ("avg": global average; or
"spatial_softmax": expected x/y of learned keypoint maps), the state -> Linear, all concatenated
and projected to one D-wide token. timm is imported only when a camera is configured.

Shapes: B batch, T window, O packed obs dim, S state dim, K cameras, C channels,
H/W image (h/w feature map) height/width, P keypoints, F camera feature, D embedding width.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["IMAGE_POOLS", "CameraEncoder", "ImageObsEmbedding", "SpatialSoftmax",
           "check_image_fields", "make_obs_embedding", "pack_image_obs", "pixel_dim"]

IMAGE_POOLS = ("avg", "spatial_softmax")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TIMM_MISSING = 'image observations need timm: pip install "vdd-moe[image]"'


def pixel_dim(cameras: int, image_size: int) -> int:
    """Number of pixel values in a packed observation: K * 3 * H * W."""
    return cameras * 3 * image_size * image_size


def pack_image_obs(obs: Mapping[str, Any], *, cameras: Sequence[str]) -> np.ndarray:
    """Dict image observation(s) -> the packed float32 vector(s) (..., S + K*3*H*W).

    `obs["state"]` is (..., S), `obs["images"][c]` (..., H, W, 3) uint8 for each c in
    `cameras` (packed in that order); pixels become channels-first floats 0..255 (unscaled:
    the embedding scales them), exactly the layout `ImageObsEmbedding.split` reads."""
    if not cameras:
        raise ValueError("pack_image_obs needs the camera names, in packing order")
    missing = [k for k in ("state", "images") if k not in obs]
    if missing:
        raise ValueError(f"image observations need the keys 'state' and 'images', missing "
                         f"{missing} (got {list(obs)})")
    images = obs["images"]
    absent = [c for c in cameras if c not in images]
    if absent:
        raise ValueError(f"no image of camera(s) {absent} in the observation (has "
                         f"{list(images)})")
    state = np.asarray(obs["state"], dtype=np.float32)
    frames = np.stack([np.asarray(images[c]) for c in cameras], axis=-4)  # (..., K, H, W, 3)
    if frames.shape[-1] != 3 or frames.shape[:-4] != state.shape[:-1]:
        raise ValueError(f"camera images must be (..., H, W, 3) with the state's leading axes "
                         f"{state.shape[:-1]}, got {frames.shape[:-4]} + {frames.shape[-3:]}")
    pixels = np.moveaxis(frames, -1, -3).reshape(*state.shape[:-1], -1)  # (..., K*3*H*W)
    return np.concatenate([state, pixels.astype(np.float32)], axis=-1)


def check_image_fields(owner: str, *, obs_dim: int, cameras: int, image_size: int,
                       image_encoder: str, shared_encoder: bool, image_pool: str) -> None:
    """Validate a config's image fields (shared by the MoE and the teachers' configs)."""
    if not isinstance(cameras, int) or isinstance(cameras, bool) or cameras < 0:
        raise ValueError(f"{owner}.cameras must be an int >= 0, got {cameras!r}")
    if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 1:
        raise ValueError(f"{owner}.image_size must be a positive int, got {image_size!r}")
    if not isinstance(image_encoder, str) or not image_encoder:
        raise ValueError(f"{owner}.image_encoder must be a timm model name, got "
                         f"{image_encoder!r}")
    if not isinstance(shared_encoder, bool):
        raise ValueError(f"{owner}.shared_encoder must be a bool, got {shared_encoder!r}")
    if image_pool not in IMAGE_POOLS:
        raise ValueError(f"{owner}.image_pool must be one of {list(IMAGE_POOLS)}, got "
                         f"{image_pool!r}")
    pixels = pixel_dim(cameras, image_size)
    if cameras and obs_dim <= pixels:
        raise ValueError(
            f"{owner}.obs_dim={obs_dim!r} must exceed the pixels of {cameras} camera(s) of "
            f"{image_size}x{image_size} (3 * {image_size}^2 * {cameras} = {pixels}): the packed "
            "observation starts with at least one state value"
        )


def _timm() -> Any:
    try:
        return importlib.import_module("timm")
    except ImportError as e:
        raise ImportError(TIMM_MISSING) from e


class SpatialSoftmax(nn.Module):
    """Feature map (N, C, h, w) -> (N, 2P): expected (x, y) in [-1, 1] of P keypoint maps.

    A 1x1 conv makes P maps; a softmax over each map's h*w positions weights the pixel
    coordinates (Levine et al. 2016). Keeps where things are, which average pooling discards.
    """

    def __init__(self, *, in_channels: int, num_keypoints: int = 32) -> None:
        super().__init__()
        self.num_keypoints = num_keypoints
        self.conv = nn.Conv2d(in_channels, num_keypoints, kernel_size=1)

    def forward(self, feat_NChw: torch.Tensor) -> torch.Tensor:
        maps = self.conv(feat_NChw)  # (N, P, h, w)
        N, P, h, w = maps.shape
        attn = maps.flatten(2).softmax(-1)  # (N, P, h*w)
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h, device=maps.device, dtype=maps.dtype),
                                torch.linspace(-1, 1, w, device=maps.device, dtype=maps.dtype),
                                indexing="ij")
        x = (attn * xs.reshape(1, 1, -1)).sum(-1)
        y = (attn * ys.reshape(1, 1, -1)).sum(-1)
        return torch.stack([x, y], dim=-1).reshape(N, 2 * P)


class CameraEncoder(nn.Module):
    """Images (N, 3, H, W) in [0, 255] -> features (N, F): a timm CNN and a pooling layer."""

    def __init__(self, *, name: str, image_size: int, pool: str = "avg",
                 num_keypoints: int = 32) -> None:
        super().__init__()
        if pool not in IMAGE_POOLS:
            raise ValueError(f"pool must be one of {list(IMAGE_POOLS)}, got {pool!r}")
        timm = _timm()
        self.pool = pool
        # "avg": timm's own pooled features (incl. any pre-logits layer); else the last map
        self.cnn = timm.create_model(name, pretrained=False, num_classes=0,
                                     global_pool="avg" if pool == "avg" else "")
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1) * 255,
                             persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1) * 255,
                             persistent=False)
        self.keypoints = None
        if pool == "spatial_softmax":
            channels = self._probe(image_size).shape[1]
            self.keypoints = SpatialSoftmax(in_channels=channels, num_keypoints=num_keypoints)
        self.out_dim = self._probe(image_size).shape[-1] if pool == "avg" \
            else 2 * num_keypoints

    @torch.no_grad()
    def _probe(self, image_size: int) -> torch.Tensor:
        """The CNN's output for one blank image (eval mode, so BatchNorm stats stay put)."""
        was = self.cnn.training
        self.cnn.eval()
        out = self._cnn(torch.zeros(1, 3, image_size, image_size))
        self.cnn.train(was)
        return out

    def _cnn(self, images_N3HW: torch.Tensor) -> torch.Tensor:
        x = (images_N3HW - self.mean) / self.std  # 0..255 -> ImageNet-standardised
        return self.cnn(x) if self.pool == "avg" else self.cnn.forward_features(x)

    def forward(self, images_N3HW: torch.Tensor) -> torch.Tensor:
        feat = self._cnn(images_N3HW)
        return feat if self.keypoints is None else self.keypoints(feat)


class ImageObsEmbedding(nn.Module):
    """Packed observations (B, T, O) -> tokens (B, T, D); see the module docstring.

    `shared_encoder` uses one CNN for all cameras (fewer parameters; one batched call over all
    K*B*T images), else one CNN per camera (one batched call of B*T images each).
    """

    def __init__(self, *, obs_dim: int, n_embd: int, cameras: int, image_size: int = 96,
                 image_encoder: str = "resnet18", shared_encoder: bool = False,
                 image_pool: str = "avg", num_keypoints: int = 32) -> None:
        super().__init__()
        check_image_fields("ImageObsEmbedding", obs_dim=obs_dim, cameras=cameras,
                           image_size=image_size, image_encoder=image_encoder,
                           shared_encoder=shared_encoder, image_pool=image_pool)
        if cameras < 1:
            raise ValueError(f"ImageObsEmbedding needs cameras >= 1, got {cameras!r}")
        self.obs_dim, self.cameras, self.image_size = obs_dim, cameras, image_size
        self.image_encoder, self.shared_encoder = image_encoder, shared_encoder
        self.image_pool, self.num_keypoints = image_pool, num_keypoints
        self.state_dim = obs_dim - pixel_dim(cameras, image_size)
        self._frozen = False
        self.encoders = nn.ModuleList(
            CameraEncoder(name=image_encoder, image_size=image_size, pool=image_pool,
                          num_keypoints=num_keypoints)
            for _ in range(1 if shared_encoder else cameras)
        )
        feat = self.encoders[0].out_dim
        self.state_embed = nn.Linear(self.state_dim, n_embd)
        self.fuse = nn.Linear(cameras * feat + n_embd, n_embd)

    @property
    def architecture(self) -> dict[str, Any]:
        """What two embeddings must share for CNN weights to be copied between them."""
        return {"cameras": self.cameras, "image_size": self.image_size,
                "image_encoder": self.image_encoder, "shared_encoder": self.shared_encoder,
                "image_pool": self.image_pool, "num_keypoints": self.num_keypoints}

    def split(self, obs_BTO: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, O) -> state (B, T, S) and images (B, T, K, 3, H, W) (a view, no copy)."""
        B, T, O = obs_BTO.shape
        if O != self.obs_dim:
            raise ValueError(f"packed observations must have {self.obs_dim} values per step "
                             f"(state {self.state_dim} + pixels), got {O}")
        H = self.image_size
        images = obs_BTO[..., self.state_dim:].reshape(B, T, self.cameras, 3, H, H)
        return obs_BTO[..., :self.state_dim], images

    def camera_features(self, images_BTK3HW: torch.Tensor) -> torch.Tensor:
        """Images (B, T, K, 3, H, W) -> features (B, T, K*F)."""
        B, T, K = images_BTK3HW.shape[:3]
        if self.shared_encoder:  # one call over all K*B*T images
            flat = images_BTK3HW.permute(2, 0, 1, 3, 4, 5).reshape(K * B * T,
                                                                   *images_BTK3HW.shape[3:])
            feats = self.encoders[0](flat).reshape(K, B, T, -1)
            return feats.permute(1, 2, 0, 3).reshape(B, T, -1)
        feats = [enc(images_BTK3HW[:, :, k].reshape(B * T, *images_BTK3HW.shape[3:]))
                 for k, enc in enumerate(self.encoders)]
        return torch.cat(feats, dim=-1).reshape(B, T, -1)

    def forward(self, obs_BTO: torch.Tensor) -> torch.Tensor:
        state, images = self.split(obs_BTO)
        feats = torch.cat([self.camera_features(images), self.state_embed(state)], dim=-1)
        return self.fuse(feats)

    # ------------------------------------------------------------------ sharing and freezing
    def encoder_parameters(self) -> list[nn.Parameter]:
        """The camera encoders' parameters (CNNs and keypoint layers)."""
        return list(self.encoders.parameters())

    @torch.no_grad()
    def load_encoders_from(self, other: nn.Module) -> None:
        """Copy the camera encoders' weights (CNNs, keypoint layers, BatchNorm statistics)
        from another ImageObsEmbedding of the same image architecture (e.g. a teacher's)."""
        if not isinstance(other, ImageObsEmbedding):
            raise TypeError(f"can only load image encoders from an ImageObsEmbedding, got "
                            f"{type(other).__name__} (a state-only model has no image encoder)")
        mismatch = {k: (v, other.architecture[k]) for k, v in self.architecture.items()
                    if k != "cameras" or not self.shared_encoder}
        mismatch = {k: f"{o!r} here, {t!r} there" for k, (o, t) in mismatch.items() if o != t}
        if mismatch:
            raise ValueError(f"image encoders differ: {mismatch}")
        self.encoders.load_state_dict(other.encoders.state_dict())

    def freeze_encoders(self, frozen: bool = True) -> None:
        """Stop (or restart) training the camera encoders: no gradients, and BatchNorm kept in
        eval mode so its running statistics stay fixed too."""
        for p in self.encoder_parameters():
            p.requires_grad_(not frozen)
        self._frozen = frozen
        self.train(self.training)

    @property
    def frozen(self) -> bool:
        return self._frozen

    def train(self, mode: bool = True) -> ImageObsEmbedding:
        super().train(mode)
        if self.frozen:
            self.encoders.eval()
        return self


def make_obs_embedding(*, obs_dim: int, n_embd: int, cameras: int = 0, image_size: int = 96,
                       image_encoder: str = "resnet18", shared_encoder: bool = False,
                       image_pool: str = "avg", motion: bool = False) -> nn.Module:
    """The observation -> token layer: exactly `nn.Linear(obs_dim, n_embd)` without cameras
    (state-dict keys `weight`/`bias`, as in checkpoints from before images), a
    `moe.motion.MotionEmbedding` with `motion` (state observations that also show the window's
    motion), else an ImageObsEmbedding of the packed observation."""
    if motion and cameras:
        raise ValueError("the motion embedding takes state observations; use cameras=0 or "
                         "motion=False")
    if motion:
        from moe.motion import MotionEmbedding

        return MotionEmbedding(obs_dim, n_embd)
    if cameras == 0:
        return nn.Linear(obs_dim, n_embd)
    return ImageObsEmbedding(obs_dim=obs_dim, n_embd=n_embd, cameras=cameras,
                             image_size=image_size, image_encoder=image_encoder,
                             shared_encoder=shared_encoder, image_pool=image_pool)
