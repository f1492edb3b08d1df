"""Distil a saved rod-task teacher with VDD (or fit EM) and evaluate the student as it trains.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/rod_vdd_study.py --teacher outputs/study/F \
        --kind ddpm --iterations 3000 --eval-at 600 1500 --out outputs/study/vdd_F

Prints one JSON line per evaluation: success, entropy, paths (the same fixed rollout seeds as
scripts/rod_teacher_study.py; `--rollouts 0` skips them), ms per iteration, the share of it
spent in the teacher's score queries, and the offline fit on 512 fixed demonstration windows:
the student's greedy action against the demonstrated one and against the teacher's sample
(mean squared error per action dimension, normalised units; the teacher's own error against
the demonstrations is printed once as the floor). `--algo em` fits the same MoE to the
demonstrations instead (the control: what the student architecture learns from the data).
`--visited-share 0.5` turns on VDD's on-policy expert steps (`VDDConfig.visited_share`); the
success of each collection's rollouts is printed as it happens (`train/visited_success`).
`--init-student DIR` continues from a saved student (its own size and normalisers; the size
flags are then ignored) with a fresh optimiser, e.g. to try a score setting on trained experts.
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
    p.add_argument("--algo", choices=("vdd", "em"), default="vdd")
    p.add_argument("--task", default="avoiding")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--embd", type=int, default=64)
    p.add_argument("--motion", action="store_true")
    p.add_argument("--iterations", type=int, default=3000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--samples", type=int, default=2, help="VDD samples per expert")
    p.add_argument("--reseed-every", type=int, default=100, help="VDD: 0 = no re-seeding")
    p.add_argument("--visited-share", type=float, default=0.0,
                   help="VDD: share of the first expert batch from the student's own states")
    p.add_argument("--visited-every", type=int, default=250)
    p.add_argument("--visited-rollouts", type=int, default=32)
    p.add_argument("--t-range", type=int, nargs=2, default=(1, 4))
    p.add_argument("--sigma-range", type=float, nargs=2, default=(0.2, 0.5))
    p.add_argument("--scale-input", action="store_true",
                   help="DDPMScore(scale_input=True): query x_t = sqrt(alpha_bar) a")
    p.add_argument("--eval-at", type=int, nargs="*", default=[])
    p.add_argument("--rollouts", type=int, default=96, help="rollouts per context")
    p.add_argument("--contexts", type=int, default=0,
                   help="0: the task's evaluation contexts (Avoiding 1; Aligning and Pushing "
                        "60, so pass --contexts 24 --rollouts 4 for the CPU configs' 96)")
    p.add_argument("--eval-seed", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--demos", type=int, default=0)
    p.add_argument("--demo-dart", type=float, default=0.0,
                   help="the teacher's data: DART noise of the demonstrations (Avoiding: 0.0015)")
    p.add_argument("--init-student", default="",
                   help="VDD: start from this saved student (its experts as they are) instead "
                        "of a fresh one on k-means++ picks")
    p.add_argument("--out", default="outputs/study/vdd")
    p.add_argument("--cache", default="outputs/cache")
    p.set_defaults(chunk=1, execute=1)  # the student acts one step at a time (shared evaluate)
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse(argv)
    from bench.visited import VisitHook
    from distill import EM, VDD, EMConfig, VDDConfig
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
    if args.init_student:  # a trained student: its normalisers and motion scale come with it
        policy = MoEPolicy.load(args.init_student)
    else:
        policy = MoEPolicy(MoEConfig(obs_dim=task.obs_dim, action_dim=task.action_dim,
                                     window=teacher.config.window, num_experts=8,
                                     n_layer=args.layers, n_head=args.heads, n_embd=args.embd,
                                     obs_motion=args.motion))
        policy.obs_normalizer.load_state_dict(teacher.obs_normalizer.state_dict())
        policy.action_normalizer.load_state_dict(teacher.action_normalizer.state_dict())
        policy.fit_motion(data["obs"])
    obs, act = torch.as_tensor(data["obs"]), torch.as_tensor(data["actions"])
    if args.algo == "vdd":
        cfg = VDDConfig(iterations=args.iterations, batch_size=args.batch, lr=args.lr,
                        gating_lr=args.lr, num_samples=args.samples,
                        reseed_every=args.reseed_every, visited_share=args.visited_share,
                        visited_every=args.visited_every,
                        visited_rollouts=args.visited_rollouts,
                        expert_init="random" if args.init_student else "data")
        algo = VDD(policy, score, cfg, init_actions=act)
    else:
        cfg = EMConfig(iterations=args.iterations, batch_size=args.batch, lr=args.lr,
                       gating_lr=args.lr)
        algo = EM(policy, cfg, init_actions=act)
    fit = OfflineFit(policy, teacher, obs, act, seed=args.eval_seed)
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
    print(json.dumps({"args": vars(args), "threads": torch.get_num_threads(),
                      "teacher_vs_demo": fit.teacher_vs_demo}), flush=True)
    visits = VisitHook(algo, task, seed=args.seed,
                       log=lambda m, it: print(json.dumps({"iteration": it, **m}), flush=True))
    t0, train_s = time.perf_counter(), 0.0
    for it in range(1, args.iterations + 1):
        batches = []
        for _ in range(algo.batches_per_update):
            idx = torch.as_tensor(rng.integers(0, len(obs), args.batch))
            batches.append({"obs": obs[idx], "actions": act[idx]})
        stats = algo.update(batches)
        visits(it)  # --visited-share: the student's own states every --visited-every updates
        if it in args.eval_at or it == args.iterations:
            train_s += time.perf_counter() - t0
            row = {"iteration": it, "expert_loss": float(stats.expert_loss), "train_s": train_s,
                   "ms_per_it": 1000 * train_s / it, "score_share": query_s / train_s,
                   **fit(), **(evaluate(policy, task, args) if args.rollouts else {})}
            print(json.dumps(row), flush=True)
            policy.save(Path(args.out))
            t0 = time.perf_counter()


class OfflineFit:
    """The student's greedy last-step action on N fixed demonstration windows against the
    demonstrated action and against one teacher sample per window (mean squared error per
    action dimension, normalised units)."""

    def __init__(self, policy, teacher, obs, act, *, seed: int, n: int = 512) -> None:
        idx = torch.as_tensor(np.random.default_rng(seed).choice(len(obs), n, replace=False))
        self.policy, self.obs = policy, obs[idx]
        self.norm = policy.action_normalizer.normalize
        self.demo = self.norm(act[idx][:, -1])
        gen = torch.Generator().manual_seed(seed)
        self.teacher = self.norm(teacher.sample_actions(self.obs, generator=gen))
        self.teacher_vs_demo = self._mse(self.teacher, self.demo)

    @staticmethod
    def _mse(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a - b).pow(2).mean())

    @torch.no_grad()
    def __call__(self) -> dict[str, float]:
        self.policy.eval()  # the next update switches it back to training
        greedy = self.norm(self.policy.sample_actions(self.obs, greedy=True))
        return {"greedy_vs_demo": self._mse(greedy, self.demo),
                "greedy_vs_teacher": self._mse(greedy, self.teacher)}


if __name__ == "__main__":
    os.environ.setdefault("MUJOCO_GL", "egl")
    main()
