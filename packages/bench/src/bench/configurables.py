"""What gin may configure: our config dataclasses and tasks, registered under their package names.

Import this module (every .gin file starts with `import bench.configurables`) before parsing.
Code that wants gin's bindings must call the names defined here, not the original classes.
"""

from __future__ import annotations

import gin

import distill
import envs
import moe
import teachers

MoEConfig = gin.external_configurable(moe.MoEConfig, module="moe")
VDDConfig = gin.external_configurable(distill.VDDConfig, module="distill")
CDConfig = gin.external_configurable(distill.CDConfig, module="distill")
CTMConfig = gin.external_configurable(distill.CTMConfig, module="distill")
EMConfig = gin.external_configurable(distill.EMConfig, module="distill")
IMCConfig = gin.external_configurable(distill.IMCConfig, module="distill")
Toy2D = gin.external_configurable(envs.Toy2D, module="envs")
RolloutTask = gin.external_configurable(envs.RolloutTask, module="envs")
BESOConfig = gin.external_configurable(teachers.BESOConfig, module="teachers")
DDPMConfig = gin.external_configurable(teachers.DDPMConfig, module="teachers")
TeacherTrainingConfig = gin.external_configurable(teachers.TeacherTrainingConfig,
                                                  module="teachers")
BESOScore = gin.external_configurable(teachers.BESOScore, module="teachers")
DDPMScore = gin.external_configurable(teachers.DDPMScore, module="teachers")

# bench's own configurables register themselves where they are defined
from bench import experiment, trainer  # noqa: E402,F401  (registers run_benchmark, TrainerConfig)
