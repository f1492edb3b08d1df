"""Simulation throughput of the rod tasks: env steps per second (one env in this process, and
through the evaluation runner with serial and subprocess vector envs) and demonstrations per
minute (one worker and all cores).

    .venv/bin/python scripts/bench_envs.py [--tasks avoiding aligning pushing] [--demos 24]
    .venv/bin/python scripts/bench_envs.py --tasks sorting_image stacking_image --runner-only

Every env is built as its task configures it (image tasks render their cameras); the runner's
policy turns each observation batch into the policy input the bench gives a network (float32;
image tasks: the packed [state, pixels] vector), so that cost is counted too.
Numbers depend on the machine and its load; run it alone.
"""

from __future__ import annotations

import argparse
import os
import time
from functools import partial

import numpy as np

import envs  # noqa: F401  (sets MUJOCO_GL, registers ids)
from envs.datasets import generate_episodes
from envs.evaluation import evaluate
from envs.task_specs import ROD_TASKS, load_object


def env_factory(task: str):
    """The task's env as the benchmark builds it (observation kind and options included)."""
    spec = ROD_TASKS[task]
    return partial(load_object(spec.env), **spec.env_kwargs())


def policy_input(obs, cameras: tuple[str, ...]) -> np.ndarray:
    """The float32 batch a network gets from an observation batch (Dict: packed by moe)."""
    if isinstance(obs, dict):
        from moe import pack_image_obs

        return pack_image_obs(obs, cameras=cameras)
    return np.asarray(obs, dtype=np.float32)


def single_env_steps_per_s(task: str, steps: int) -> float:
    """Steps/s of one env driven by small random actions, resetting at episode ends."""
    env = env_factory(task)()
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(rng.normal(0, 0.003, env.action_size()))
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def runner_steps_per_s(task: str, rollouts: int, num_envs: int, parallel: bool) -> float:
    """Steps/s through `envs.evaluation.evaluate` with a trivial batched policy."""
    cls = load_object(ROD_TASKS[task].env)
    cameras = cls.cameras if ROD_TASKS[task].observation == "image" else ()
    drift = np.zeros(cls.action_size())
    drift[1] = 0.002

    def policy(obs) -> np.ndarray:
        batch = policy_input(obs, cameras)
        return np.broadcast_to(drift, (len(batch), cls.action_size())).copy()

    result = evaluate(env_factory(task), policy, num_modes=max(2, cls.num_modes),
                      contexts=rollouts,
                      rollouts_per_context=1, num_envs=num_envs, parallel=parallel,
                      progress=False)
    return result.metrics["steps_per_second"]


def demos_per_minute(task: str, demos: int, workers: int) -> float:
    start = time.perf_counter()
    generate_episodes(task, demos, seed=123, workers=workers, progress=False)
    return demos / (time.perf_counter() - start) * 60


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=sorted(ROD_TASKS), choices=sorted(ROD_TASKS))
    p.add_argument("--steps", type=int, default=3000, help="steps for the single-env figure")
    p.add_argument("--demos", type=int, default=24, help="demonstrations per figure")
    p.add_argument("--rollouts", type=int, default=16, help="rollouts per runner figure")
    p.add_argument("--runner-only", action="store_true",
                   help="only the runner figures (serial, and subprocesses on --num-envs)")
    p.add_argument("--num-envs", type=int, default=0, help="envs of the runner (0: one a core)")
    args = p.parse_args()
    cores = args.num_envs or os.cpu_count() or 1
    if args.runner_only:
        print(f"runner: {args.rollouts} rollouts (fixed seed 0) on {cores} envs")
        print(f"task | runner serial | runner {cores} procs")
        for task in args.tasks:
            print(f"{task} | {runner_steps_per_s(task, args.rollouts, cores, False):.0f} | "
                  f"{runner_steps_per_s(task, args.rollouts, cores, True):.0f}", flush=True)
        return
    print(f"{cores} cores; runner: {args.rollouts} rollouts of up to the task's step limit "
          f"on {cores} envs")
    header = ("task", "1 env steps/s", "runner serial", f"runner {cores} procs",
              "demos/min 1 worker", f"demos/min {cores} workers")
    print(" | ".join(header))
    for task in args.tasks:
        row = [task,
               f"{single_env_steps_per_s(task, args.steps):.0f}",
               f"{runner_steps_per_s(task, args.rollouts, cores, parallel=False):.0f}",
               f"{runner_steps_per_s(task, args.rollouts, cores, parallel=True):.0f}",
               f"{demos_per_minute(task, args.demos, 1):.0f}",
               f"{demos_per_minute(task, args.demos, cores):.0f}"]
        print(" | ".join(row), flush=True)


if __name__ == "__main__":
    main()
