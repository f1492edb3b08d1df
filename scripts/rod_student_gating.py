"""Where a rod-task MoE student fails: its experts or its gating.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/rod_student_gating.py --task aligning \
        --student outputs/study/vdd --teacher outputs/cache/aligning-beso-5ee87e361cb8f24c

Rolls a saved student out three ways on the same fixed rollout seeds as the study scripts and
prints one JSON line each: its own gating sampled (how the bench acts), its own gating greedy,
and an oracle gating that at every step takes the expert whose last-step mean is nearest to one
teacher sample at the same observation window (the experts as they are, the choice made by the
teacher). A student that fails with its gating and succeeds with the oracle has experts that can
do the task and a gating that cannot pick them on the states it visits. The oracle's line also
reports how near the chosen expert came to the teacher's sample on the states visited (squared
distance, normalised units, over the steps of rollouts still running: the mean, and the share
of steps beyond 1). `--trace N` also prints the teacher's and the student's (greedy) actions,
normalised, for N steps of one rollout the student drives.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

from bench.visited import live_rows

sys.path.insert(0, str(Path(__file__).parent))
from rod_teacher_study import evaluate  # noqa: E402  (one evaluation for all studies)


class OracleGating:
    """The student's experts, the expert chosen nearest to a teacher sample (raw units)."""

    def __init__(self, student, teacher) -> None:
        from moe.obs_window import ObservationWindow

        self.student, self.teacher = student, teacher
        self.window = ObservationWindow(student.config.window, student.config.obs_dim)
        self.gaps: list[torch.Tensor] = []  # per step, squared distance of the choice
        self.last: np.ndarray | None = None  # the previous batch: finished rows repeat theirs

    def eval(self) -> OracleGating:
        return self

    def reset(self) -> None:
        self.window.clear()
        self.teacher.reset()
        self.last = None

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        target = torch.as_tensor(np.asarray(self.teacher.act(obs)))
        window, _, _ = self.window.push(obs, self.student.device)
        mix = self.student.mixture(window)
        means = self.student.action_normalizer.unnormalize(mix.means[:, -1])  # (B, Z, A)
        z = (means - target[:, None]).pow(2).sum(-1).argmin(-1)
        norm = self.student.action_normalizer.normalize
        chosen = means[torch.arange(len(z)), z]
        gap = (norm(chosen) - norm(target)).pow(2).sum(-1)
        self.gaps.append(gap[torch.as_tensor(live_rows(obs, self.last))])
        self.last = np.array(obs, copy=True)
        return chosen.cpu().numpy()


def trace(student, teacher, task, steps: int, seed: int) -> None:
    """Teacher and student (greedy) actions, normalised, on one rollout the student drives."""
    norm = teacher.action_normalizer.normalize
    env = task.make_env()
    obs = env.reset(seed=seed)[0].astype(np.float32)
    student.reset()
    teacher.reset()
    for step in range(steps):
        with torch.no_grad():
            a = np.asarray(student.act(obs, greedy=True))
            t = np.asarray(teacher.act(obs))
        print(f"{step:3d} teacher {np.round(norm(torch.as_tensor(t)).numpy(), 2)}"
              f"  student {np.round(norm(torch.as_tensor(a)).numpy(), 2)}", flush=True)
        obs, _, terminated, truncated, _ = env.step(a)
        obs = obs.astype(np.float32)
        if terminated or truncated:
            break


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="aligning")
    p.add_argument("--student", required=True, help="a saved MoE student directory")
    p.add_argument("--teacher", required=True, help="a saved teacher directory")
    p.add_argument("--kind", choices=("ddpm", "beso"), default="beso")
    p.add_argument("--contexts", type=int, default=24)
    p.add_argument("--rollouts", type=int, default=4)
    p.add_argument("--eval-seed", type=int, default=500)
    p.add_argument("--trace", type=int, default=0, help="steps of one traced rollout (0: none)")
    p.set_defaults(chunk=1, execute=1)
    args = p.parse_args(argv)
    from envs import RolloutTask
    from moe import MoEPolicy
    from teachers import BESOPolicy, DDPMPolicy

    task = RolloutTask(name=args.task, eval_rollouts=args.rollouts,
                       eval_contexts=args.contexts, num_envs=8)
    student = MoEPolicy.load(args.student)
    teacher = (DDPMPolicy if args.kind == "ddpm" else BESOPolicy).load(args.teacher)
    if args.trace:
        trace(student, teacher, task, args.trace, seed=args.eval_seed)
    oracle = OracleGating(student, teacher)
    for name, policy, kw in (("sampled", student, {}), ("greedy", student, {"greedy": True}),
                             ("oracle", oracle, {})):
        row = {"gating": name, **evaluate(policy, task, args, **kw)}
        if policy is oracle:
            gaps = torch.cat(oracle.gaps)
            row |= {"gap_mean": float(gaps.mean()), "gap_over_1": float((gaps > 1).float().mean())}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("MUJOCO_GL", "egl")
    main()
