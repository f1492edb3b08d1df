"""Block Push (after IBC's BlockPushMultimodal, fixed targets; not a D3IL task): the env (`env`)
on the D3IL tasks' rod scene, and the scripted oracle of the demonstrations (`oracle`)."""

from envs.block_push.env import NUM_MODES, TARGETS, BlockPushEnv
from envs.block_push.oracle import BlockPushDemonstrator

__all__ = ["NUM_MODES", "TARGETS", "BlockPushEnv", "BlockPushDemonstrator"]
