"""vdd-moe: Gaussian Mixture-of-Experts policies with a GPT backbone.

One forward pass per action and a tractable likelihood; usable on its own in a controller.
"""

from moe.checkpoint import (
    FORMAT_VERSION, CheckpointError, load_checkpoint, load_state_strict, save_checkpoint,
)
from moe.encoders import (
    CameraEncoder, ImageObsEmbedding, SpatialSoftmax, check_image_fields, make_obs_embedding,
    pack_image_obs, pixel_dim,
)
from moe.gpt import GPT, GPTConfig
from moe.heads import ExpertHeads, GatingNet
from moe.motion import MotionEmbedding, fit_motion, window_differences
from moe.mixture import GaussianMixture, gaussian_entropy, gaussian_log_prob
from moe.normalizer import Normalizer
from moe.obs_window import ObservationWindow, check_obs_window
from moe.policy import MoEConfig, MoEPolicy, kmeans_pp

__version__ = "0.1.0"

__all__ = [
    "FORMAT_VERSION", "CheckpointError", "load_checkpoint", "load_state_strict",
    "save_checkpoint", "ObservationWindow", "check_obs_window",
    "GPT", "GPTConfig", "ExpertHeads", "GatingNet", "GaussianMixture", "gaussian_entropy",
    "gaussian_log_prob", "Normalizer", "MoEConfig", "MoEPolicy", "kmeans_pp", "__version__",
    "CameraEncoder", "ImageObsEmbedding", "SpatialSoftmax", "check_image_fields",
    "make_obs_embedding", "pack_image_obs", "pixel_dim", "MotionEmbedding", "window_differences",
    "fit_motion",
]
