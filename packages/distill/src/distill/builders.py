"""Building a student and its algorithm from resolved inputs: one small builder per algorithm.

A builder gets `StudentInputs` (the algorithm's config, the demonstrations and whatever the
student learns from: a trained teacher and its score adapter, or an exact target) and returns a
`BuiltStudent`. Seeding is the caller's: construction draws from torch's global generator
(the MoE's or the consistency student's initial weights) in a fixed order, on the CPU; the
student then moves to `StudentInputs.device` before its algorithm (optimisers, target network,
expert placement) is built, so everything the algorithm makes lives there too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from distill.cd import CD
from distill.consistency_policy import ConsistencyConfig, ConsistencyPolicy
from distill.ctm import CTM
from distill.em import EM
from distill.imc import IMC
from distill.score import GaussianMixtureScore
from distill.vdd import VDD
from moe import MoEConfig, MoEPolicy

__all__ = ["StudentInputs", "BuiltStudent", "build_vdd", "build_em", "build_imc", "build_cd",
           "build_ctm"]


@dataclass(frozen=True, kw_only=True)
class StudentInputs:
    """What a builder needs. obs (N, T, O) and actions (N, T, A) are raw demonstration windows."""

    config: Any  # the algorithm's config (an instance of its registered config class)
    dataset: Mapping[str, Any]
    student: MoEConfig | None = None  # the MoE (algorithms whose student is a MoE)
    teacher: Any = None  # a trained teacher policy (teachers.DiffusionPolicy)
    score: Any = None  # the teacher's score adapter (VDD from a trained teacher)
    target: Any = None  # an exact target with `.means/.stds/.weights` (VDD from its score)
    encoder_from_teacher: bool = True  # image students: start from the teacher's CNNs
    freeze_encoder: bool = False  # ... and keep them fixed
    device: str | torch.device = "cpu"  # where the student and its algorithm live


@dataclass(frozen=True)
class BuiltStudent:
    policy: torch.nn.Module  # a MoEPolicy or a ConsistencyPolicy
    algorithm: Any
    params: dict[str, Any] = field(default_factory=dict)  # flat settings to log


def _need(inputs: StudentInputs, what: str, algorithm: str) -> Any:
    value = getattr(inputs, what)
    if value is None:
        raise ValueError(f"{algorithm} needs StudentInputs.{what}")
    return value


def _init_actions(inputs: StudentInputs) -> torch.Tensor | None:
    """Demonstration actions for `expert_init="data"` (k-means++ on them), else None."""
    if inputs.config.expert_init == "data":
        return torch.as_tensor(np.asarray(inputs.dataset["actions"]))
    return None


def _moe(inputs: StudentInputs, algorithm: str) -> tuple[MoEPolicy, dict[str, Any]]:
    student = _need(inputs, "student", algorithm)
    policy = MoEPolicy(student).to(inputs.device)
    return policy, {f"student.{k}": v for k, v in asdict(student).items()}


def _from_data(inputs: StudentInputs, algorithm: str):
    policy, params = _moe(inputs, algorithm)
    init = _init_actions(inputs)
    policy.fit_normalizers(inputs.dataset["obs"], inputs.dataset["actions"])
    return policy, init, params


def build_em(inputs: StudentInputs) -> BuiltStudent:
    """EM: the MoE fitted to the demonstrations (normalisers fitted on them)."""
    policy, init, params = _from_data(inputs, "EM")
    return BuiltStudent(policy, EM(policy, inputs.config, init_actions=init), params)


def build_imc(inputs: StudentInputs) -> BuiltStudent:
    """IMC: the MoE fitted to the demonstrations by a curriculum per expert."""
    policy, init, params = _from_data(inputs, "IMC")
    return BuiltStudent(policy, IMC(policy, inputs.config, init_actions=init), params)


def build_vdd(inputs: StudentInputs) -> BuiltStudent:
    """VDD from a trained teacher's score adapter (the student takes the teacher's normalisers,
    so both work in one normalised space, and on image tasks its CNNs if asked), or from an
    exact target's score (normalisers fitted on the demonstrations)."""
    if inputs.teacher is None:
        target = _need(inputs, "target", "VDD from an exact score")
        policy, init, params = _from_data(inputs, "VDD")
        score = GaussianMixtureScore.from_target(target, policy.action_normalizer)
        return BuiltStudent(policy, VDD(policy, score, inputs.config, init_actions=init),
                            params)
    teacher, score = inputs.teacher, _need(inputs, "score", "VDD from a teacher")
    policy, params = _moe(inputs, "VDD")
    init = _init_actions(inputs)
    policy.obs_normalizer.load_state_dict(teacher.obs_normalizer.state_dict())
    policy.action_normalizer.load_state_dict(teacher.action_normalizer.state_dict())
    policy.fit_motion(inputs.dataset["obs"])  # through the teacher's obs normaliser
    if inputs.student.cameras:
        if inputs.encoder_from_teacher:
            policy.load_image_encoder_from(teacher.model.obs_embed)
        if inputs.freeze_encoder:
            policy.freeze_image_encoder()
        params.update({"encoder.from_teacher": inputs.encoder_from_teacher,
                       "encoder.freeze": inputs.freeze_encoder})
    return BuiltStudent(policy, VDD(policy, score, inputs.config, init_actions=init), params)


def _consistency(inputs: StudentInputs, algorithm: type, parameterization: str) -> BuiltStudent:
    teacher = _need(inputs, "teacher", algorithm.__name__)
    cfg = ConsistencyConfig.from_teacher(teacher.config, parameterization=parameterization)
    policy = ConsistencyPolicy(cfg).to(inputs.device)
    params = {f"student.{k}": v for k, v in cfg.to_dict().items()}
    return BuiltStudent(policy, algorithm(policy, teacher, inputs.config), params)


def build_cd(inputs: StudentInputs) -> BuiltStudent:
    """CD: a one-step consistency student of a BESO teacher's ODE, from its weights."""
    return _consistency(inputs, CD, inputs.config.parameterization)


def build_ctm(inputs: StudentInputs) -> BuiltStudent:
    """CTM: a consistency trajectory model of a BESO teacher's ODE, from its weights."""
    return _consistency(inputs, CTM, "ctm")
