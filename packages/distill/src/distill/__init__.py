"""vdd-distill: algorithms that train fast policies (VDD now; CD, CTM, EM, IMC to follow)."""

from distill.registry import ALGORITHMS, get_algorithm
from distill.score import GaussianMixtureScore, ScoreAdapter
from distill.vdd import VDD, VDDConfig, VDDStats

__version__ = "0.1.0"

__all__ = ["ALGORITHMS", "get_algorithm", "GaussianMixtureScore", "ScoreAdapter", "VDD",
           "VDDConfig", "VDDStats", "__version__"]
