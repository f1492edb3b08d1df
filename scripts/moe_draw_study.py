"""How a saved MoE student's expert choice changes its rollouts: per step (as evaluated), held
per episode, or greedy.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/moe_draw_study.py --gin gin/cpu/avoiding.gin \
        --seed 0 outputs/avoiding/<run>/vdd_beso-seed0/checkpoint

Three evaluations of each checkpoint on the config's task, at the bench's evaluation seed
(`--seed`, the cell's seed) and in this process:
- `step`: an expert drawn from the gating at every step, as the bench evaluates (the published
  VDD agent's `act` draws the same way), so it repeats the cell's numbers;
- `episode`: one uniform draw u per rollout, held for the whole episode, and each step's expert
  read off the gating's inverse CDF at u (`MoEPolicy.act(obs, u=...)`). Each step's expert has
  the same distribution q(z|s) as before; only the steps' choices are tied together;
- `greedy`: each step's most likely expert (`vdd-bench eval --greedy`).
Prints one line per evaluation: success, entropy, paths (modes) seen.
"""

from __future__ import annotations

import argparse
import sys

import torch

from bench.checkpoints import CheckpointError, check_fits, load_policy
from bench.cli import _benchmark
from bench.errors import ConfigError
from bench.scoring import evaluate_policy


class HeldDraw:
    """A MoE policy whose uniform draw u (B,) is drawn at an episode's first step and held."""

    def __init__(self, policy) -> None:
        self.policy, self.u = policy, None

    def __getattr__(self, name):  # everything else is the policy's
        return getattr(self.policy, name)

    def reset(self) -> None:
        self.u = None
        self.policy.reset()

    def act(self, obs):
        if self.u is None or len(self.u) != len(obs):
            self.u = torch.rand(len(obs))  # torch's global generator: seeded by the evaluation
        return self.policy.act(obs, u=self.u)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="+", help="MoE checkpoint folders")
    p.add_argument("--gin", required=True, help="the config whose task the cells ran")
    p.add_argument("--seed", type=int, default=0, help="evaluation seed (the cell's seed)")
    args = p.parse_args(argv)
    try:
        task = _benchmark([args.gin], []).task
        policies = [load_policy(c) for c in args.checkpoints]
        for policy in policies:
            check_fits(policy, task)
    except (ConfigError, CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path, policy in zip(args.checkpoints, policies):
        for name, acting, kwargs in (("step", policy, None), ("episode", HeldDraw(policy), None),
                                     ("greedy", policy, {"greedy": True})):
            m, _ = evaluate_policy(task, acting, seed=args.seed, act_kwargs=kwargs,
                                   parallel=False)
            print(f"{path}  {name:<8} success {m['eval/success_rate']:.3f}  entropy "
                  f"{m['eval/entropy']:.3f}  paths {int(m['eval/modes_seen'])}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
