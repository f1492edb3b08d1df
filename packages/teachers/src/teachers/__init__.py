"""vdd-teachers: diffusion-policy teachers (BESO/VE, DDPM/VP) and their score adapters.

Both teachers share a GPT denoiser (`DiffusionTransformer`, built on `moe.GPT`), keep their
normalisers inside, sample in a step count chosen per call (one step gives the "-1"
baselines), and reach distillation only through `BESOScore` / `DDPMScore`. `TEACHERS`
(teachers.registry) declares each kind: policy, config, score adapter.
"""

from teachers.algorithm import DiffusionAlgorithm, DiffusionStats, TeacherTrainingConfig
from teachers.base import DiffusionPolicy
from teachers.beso import BESOPolicy
from teachers.config import BESOConfig, DDPMConfig, DiffusionConfig
from teachers.ddpm import DDPMPolicy
from teachers.ema import EMA
from teachers.network import DiffusionTransformer, EncodedObs, NoiseEmbedding
from teachers.registry import TEACHERS, TeacherKind, get_teacher, register_teacher
from teachers.schedules import cosine_alpha_bars, karras_sigmas, step_subsequence
from teachers.score import BESOScore, DDPMScore

__version__ = "0.1.0"

__all__ = [
    "DiffusionConfig", "BESOConfig", "DDPMConfig", "DiffusionTransformer", "EncodedObs",
    "NoiseEmbedding",
    "DiffusionPolicy", "BESOPolicy", "DDPMPolicy", "EMA", "TeacherTrainingConfig",
    "DiffusionStats", "DiffusionAlgorithm", "BESOScore", "DDPMScore", "karras_sigmas",
    "cosine_alpha_bars", "step_subsequence", "TEACHERS", "TeacherKind", "get_teacher",
    "register_teacher", "__version__",
]
