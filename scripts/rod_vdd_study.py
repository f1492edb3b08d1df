"""Distil a saved rod-task teacher with VDD and roll the student out at several iterations.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/rod_vdd_study.py --teacher outputs/study/F \
        --kind ddpm --iterations 3000 --eval-at 600 1500 --out outputs/study/vdd_F

Prints one JSON line per evaluation: success, entropy, paths (the same fixed rollout seeds as
scripts/rod_teacher_study.py), ms per VDD iteration, and the share of it spent in the
teacher's score queries.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from rod_teacher_study import evaluate  # noqa: E402  (one evaluation for both studies)


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", required=True, help="a teacher checkpoint directory")
    p.add_argument("--kind", choices=("ddpm", "beso"), default="ddpm")
    p.add_argument("--task", default="avoiding")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--embd", type=int, default=64)
    p.add_argument("--motion", action="store_true")
    p.add_argument("--iterations", type=int, default=3000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--samples", type=int, default=2, help="VDD samples per expert")
    p.add_argument("--t-range", type=int, nargs=2, default=(1, 4))
    p.add_argument("--sigma-range", type=float, nargs=2, default=(0.2, 0.5))
    p.add_argument("--scale-input", action="store_true",
                   help="DDPMScore(scale_input=True): query x_t = sqrt(alpha_bar) a")
    p.add_argument("--eval-at", type=int, nargs="*", default=[])
    p.add_argument("--rollouts", type=int, default=96)
    p.add_argument("--contexts", type=int, default=0)
    p.add_argument("--eval-seed", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--demos", type=int, default=0)
    p.add_argument("--demo-dart", type=float, default=0.0,
                   help="the teacher's data: DART noise of the demonstrations (Avoiding: 0.0015)")
    p.add_argument("--out", default="outputs/study/vdd")
    p.add_argument("--cache", default="outputs/cache")
    p.set_defaults(chunk=1, execute=1)  # the student acts one step at a time (shared evaluate)
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse(argv)
    from distill import VDD, VDDConfig
    from envs import RolloutTask
    from moe import MoEConfig, MoEPolicy
    from teachers import BESOPolicy, BESOScore, DDPMPolicy, DDPMScore

    torch.manual_seed(args.seed)
    task = RolloutTask(name=args.task, num_demos=args.demos, eval_rollouts=args.rollouts,
                       eval_contexts=args.contexts, num_envs=8,
                       demo_action_noise=args.demo_dart)
    data = task.make_dataset(0, cache_dir=args.cache, progress=False)
    teacher = (DDPMPolicy if args.kind == "ddpm" else BESOPolicy).load(args.teacher)
    score = (DDPMScore(teacher, tuple(args.t_range), scale_input=args.scale_input)
             if args.kind == "ddpm"
             else BESOScore(teacher, tuple(args.sigma_range)))
    policy = MoEPolicy(MoEConfig(obs_dim=task.obs_dim, action_dim=task.action_dim,
                                 window=teacher.config.window, num_experts=8, n_layer=args.layers,
                                 n_head=args.heads, n_embd=args.embd, obs_motion=args.motion))
    policy.obs_normalizer.load_state_dict(teacher.obs_normalizer.state_dict())
    policy.action_normalizer.load_state_dict(teacher.action_normalizer.state_dict())
    policy.fit_motion(data["obs"])
    cfg = VDDConfig(iterations=args.iterations, batch_size=args.batch, lr=args.lr,
                    gating_lr=args.lr, num_samples=args.samples)
    algo = VDD(policy, score, cfg, init_actions=torch.as_tensor(data["actions"]))
    obs, act = torch.as_tensor(data["obs"]), torch.as_tensor(data["actions"])
    rng = np.random.default_rng(args.seed)
    query_s = 0.0
    raw_score = score.score

    def timed(*a, **k):
        nonlocal query_s
        t = time.perf_counter()
        out = raw_score(*a, **k)
        query_s += time.perf_counter() - t
        return out

    score.score = timed
    print(json.dumps({"args": vars(args), "threads": torch.get_num_threads()}), flush=True)
    t0, train_s = time.perf_counter(), 0.0
    for it in range(1, args.iterations + 1):
        batches = []
        for _ in range(cfg.cmp_steps):
            idx = torch.as_tensor(rng.integers(0, len(obs), args.batch))
            batches.append({"obs": obs[idx], "actions": act[idx]})
        stats = algo.update(batches)
        if it in args.eval_at or it == args.iterations:
            train_s += time.perf_counter() - t0
            row = {"iteration": it, "expert_loss": stats.expert_loss, "train_s": train_s,
                   "ms_per_it": 1000 * train_s / it, "score_share": query_s / train_s,
                   **evaluate(policy, task, args)}
            print(json.dumps(row), flush=True)
            policy.save(Path(args.out))
            t0 = time.perf_counter()


if __name__ == "__main__":
    os.environ.setdefault("MUJOCO_GL", "egl")
    main()
