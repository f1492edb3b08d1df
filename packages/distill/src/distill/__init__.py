"""vdd-distill: algorithms that train fast policies.

VDD (a MoE from a teacher's score), CD and CTM (one-step students of a BESO teacher's ODE),
EM and IMC (a MoE from the demonstrations alone). Each owns its optimisers and returns a
frozen stats dataclass from `update(batches)`; none of them logs.
"""

from distill.cd import CD, CDConfig
from distill.consistency_policy import ConsistencyConfig, ConsistencyPolicy
from distill.consistency_training import ConsistencyStats, ConsistencyTrainingConfig
from distill.ctm import CTM, CTMConfig
from distill.em import EM, EMConfig, EMStats
from distill.imc import IMC, IMCConfig, IMCStats
from distill.builders import BuiltStudent, StudentInputs
from distill.registry import ALGORITHMS, AlgorithmSpec, get_algorithm, register_algorithm
from distill.score import GaussianMixtureScore, ScoreAdapter
from distill.vdd import VDD, VDDConfig, VDDStats

__version__ = "0.2.0"

__all__ = ["ALGORITHMS", "AlgorithmSpec", "BuiltStudent", "StudentInputs", "get_algorithm",
           "register_algorithm", "CD", "CDConfig", "CTM", "CTMConfig",
           "ConsistencyConfig", "ConsistencyPolicy", "ConsistencyStats",
           "ConsistencyTrainingConfig", "EM", "EMConfig", "EMStats", "IMC", "IMCConfig",
           "IMCStats", "GaussianMixtureScore", "ScoreAdapter", "VDD", "VDDConfig", "VDDStats",
           "__version__"]

# the base of the MoE algorithms (VDD, EM, IMC) and of their stats
from distill.mixture import MixtureAlgorithm, MixtureStats  # noqa: E402

__all__ += ["MixtureAlgorithm", "MixtureStats"]
