"""What the scripted Relay Kitchen planner demonstrates: subtasks done per episode, distinct
completion orders, per-subtask rates and timing, over fresh episodes (seeds 0..N-1, the
streams the dataset generator uses).

    .venv/bin/python scripts/kitchen_planner_stats.py [--episodes 100] [--subtasks ...]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np

import envs  # noqa: F401  (sets MUJOCO_GL)
from envs.demonstrator import run_episode
from envs.kitchen.env import SUBTASKS, RelayKitchenEnv
from envs.kitchen.planner import PLANNED, KitchenPlanner


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--subtasks", nargs="+", default=list(PLANNED), choices=SUBTASKS,
                   help="the subtasks the planner draws 4 of")
    args = p.parse_args()
    env, planner = RelayKitchenEnv(), KitchenPlanner(subtasks=tuple(args.subtasks))
    done, orders, lengths, first = [], Counter(), [], Counter()
    drawn = Counter()
    start = time.perf_counter()
    for seed in range(args.episodes):
        episode = run_episode(env, planner, seed=seed)
        done.append(len(env.completed))
        orders[tuple(env.completed)] += 1
        lengths.append(episode.length)
        drawn.update(planner.order)
        first.update(env.completed)
    wall = time.perf_counter() - start
    n = args.episodes
    print(f"episodes {n}, subtasks drawn from {args.subtasks}")
    print(f"subtasks done per episode: mean {np.mean(done):.2f} (of 4); "
          f"histogram {dict(sorted(Counter(done).items()))}")
    print(f"all 4 done: {np.mean(np.asarray(done) == 4):.2f}; mean length {np.mean(lengths):.0f} "
          f"steps (max {max(lengths)} of {env.max_steps})")
    print(f"distinct completion orders: {len(orders)}; most frequent: "
          f"{orders.most_common(1)[0][1]} episodes")
    for name in args.subtasks:
        print(f"  {name:14s} drawn {drawn[name]:3d}  done {first[name]:3d} "
              f"({first[name] / max(drawn[name], 1):.2f} of drawn)")
    print(f"{wall / n:.2f} s per episode on this machine")
    env.close()


if __name__ == "__main__":
    main()
