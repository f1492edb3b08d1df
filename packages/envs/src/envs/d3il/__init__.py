"""The D3IL tasks in MuJoCo (gymnasium API): Avoiding, Aligning, Pushing and Sorting on the rod
scene, Stacking with a parallel gripper; their scripted demonstrators (`*_demo`); the shared rod
env (`base`), scenes (`scene`, `gripper_scene`), geometry and push planning.

Block Push (`envs.block_push`) reuses the rod env; Relay Kitchen is `envs.kitchen`.
"""
