"""Diagnose a diffusion teacher on a rod task: learning curve, sampler sweep, start-of-episode
action statistics, and held-out action error, in one process.

Trains one teacher (the teachers' API, seeded) on a rod task's demonstrations and, at each
`--eval-at` iteration, rolls the EMA policy out (`RolloutTask.evaluate`, fixed seeds) and prints
one JSON line of results; the last checkpoint is saved under `--out` so later sweeps reuse it.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/rod_teacher_study.py --task avoiding \
        --kind ddpm --iterations 10000 --eval-at 5000 10000 --rollouts 48 --out outputs/study/a

`--demo-pace`, `--demo-noise`, `--demo-sway` (Avoiding only) regenerate the demonstrations
with another demonstrator style, `--demo-dart STD` with DART noise injection (not cached; a
few seconds). `--chunk H --execute K` trains on action chunks (the next H actions, flattened)
and plays K of each chunk. On Avoiding each report also rolls 96 more episodes out and counts
the collisions per obstacle row (`anatomy`). `--load DIR` skips training and
evaluates a saved teacher (with `--sweep`: every sampler x steps combination).
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


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="avoiding")
    p.add_argument("--kind", choices=("ddpm", "beso"), default="ddpm")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--embd", type=int, default=64)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--motion", action="store_true", help="obs_motion: tokens see window motion")
    p.add_argument("--train-steps", type=int, default=8, help="DDPM num_train_steps")
    p.add_argument("--sigma-max", type=float, default=1.0, help="BESO sigma_max")
    p.add_argument("--sigma-data", type=float, default=0.5, help="BESO sigma_data")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                   help="further teacher config fields, e.g. sigma_min=0.1 rho=5")
    p.add_argument("--steps", type=int, default=8, help="sampling steps")
    p.add_argument("--sampler", default=None)
    p.add_argument("--iterations", type=int, default=10000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--cosine", action="store_true", help="cosine lr decay to 0.1 lr")
    p.add_argument("--eval-at", type=int, nargs="*", default=[])
    p.add_argument("--rollouts", type=int, default=48, help="rollouts per context")
    p.add_argument("--contexts", type=int, default=0, help="0: the task's evaluation contexts")
    p.add_argument("--eval-seed", type=int, default=500)
    p.add_argument("--seed", type=int, default=0, help="teacher training seed")
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--demos", type=int, default=0)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--chunk", type=int, default=1,
                   help="actions predicted per step (an action chunk, flattened)")
    p.add_argument("--execute", type=int, default=1,
                   help="actions of each chunk executed before sampling the next")
    p.add_argument("--demo-pace", type=float, nargs=2, default=None)
    p.add_argument("--demo-noise", type=float, default=None)
    p.add_argument("--demo-sway", type=float, default=None)
    p.add_argument("--demo-dart", type=float, default=0.0,
                   help="DART noise std (m) on executed demonstrator actions; clean labels")
    p.add_argument("--holdout", type=int, default=8, help="episodes held out for action error")
    p.add_argument("--replay", type=int, default=0,
                   help="only replay the first N demonstrations open loop and report")
    p.add_argument("--load", default="")
    p.add_argument("--sweep", action="store_true")
    p.add_argument("--out", default="outputs/study/run")
    p.add_argument("--cache", default="outputs/cache")
    return p.parse_args(argv)


def episodes_for(args, task):
    """The task's cached demonstrations, or (with --demo-*) a fresh set in another style."""
    if (args.demo_pace is None and args.demo_noise is None and args.demo_sway is None
            and not args.demo_dart):
        return task.load_episodes(args.data_seed, cache_dir=args.cache, progress=False).episodes
    if task.name != "avoiding":
        sys.exit("--demo-pace/--demo-noise/--demo-sway apply to Avoiding only")
    from envs.d3il.avoiding_demo import AvoidingDemonstrator
    from envs.demonstrator import run_episode
    from envs.datasets import episode_seed

    kw = {}
    if args.demo_pace is not None:
        kw["pace"] = tuple(args.demo_pace)
    if args.demo_noise is not None:
        kw["noise"] = args.demo_noise
    if args.demo_sway is not None:
        kw["sway"] = args.demo_sway
    env, demo = task.make_env(), AvoidingDemonstrator(**kw)
    out, i = [], 0
    while len(out) < task.num_demos:
        ep = run_episode(env, demo, seed=episode_seed(args.data_seed, i),
                         action_noise=args.demo_dart)
        i += 1
        if ep.success:
            out.append(ep)
    return out


def chunk_episodes(episodes, horizon: int):
    """Each step's action replaced by the next `horizon` actions, flattened (L, H*A); the end
    is padded by repeating the last action."""
    import dataclasses

    out = []
    for ep in episodes:
        act = np.concatenate([ep.actions, np.repeat(ep.actions[-1:], horizon - 1, 0)])
        idx = np.arange(ep.length)[:, None] + np.arange(horizon)[None, :]
        out.append(dataclasses.replace(ep, actions=act[idx].reshape(ep.length, -1)))
    return out


class ChunkView:
    """Rollout policy that samples an action chunk (B, H*A) every `execute` steps and plays
    its first actions in order; the observation window is pushed at every step."""

    def __init__(self, policy, *, action_dim: int, execute: int, **kw) -> None:
        from moe.obs_window import ObservationWindow

        self.policy, self.action_dim, self.execute, self.kw = policy, action_dim, execute, kw
        self.window = ObservationWindow(policy.config.window, policy.config.obs_dim)
        self.queue, self.t = None, 0

    def reset(self) -> None:
        self.window.clear()
        self.queue, self.t = None, 0

    @torch.no_grad()
    def __call__(self, obs: np.ndarray) -> np.ndarray:
        window, _, _ = self.window.push(np.asarray(obs, dtype=np.float32), torch.device("cpu"))
        if self.t % self.execute == 0:
            a = self.policy.sample_actions(window, **self.kw)
            self.queue = a.reshape(a.shape[0], -1, self.action_dim).numpy()
        action = self.queue[:, self.t % self.execute]
        self.t += 1
        return action


def start_stats(policy, obs0: np.ndarray, n: int = 2000, **kw) -> dict[str, float]:
    """The policy's first action from the padded start window: side and lateral size."""
    window = torch.as_tensor(np.repeat(obs0[None, None], policy.config.window, 1),
                             dtype=torch.float32).repeat(n, 1, 1)
    a = policy.sample_actions(window, **kw).numpy()[:, :2]
    return {"start_left": float(np.mean(a[:, 0] < 0)),
            "start_abs_dx_mm": float(np.mean(np.abs(a[:, 0])) * 1000),
            "start_small_dx_frac": float(np.mean(np.abs(a[:, 0]) < 0.0015))}


def action_error(policy, windows: dict, n: int = 4096, base_dim: int = 0, **kw) -> float:
    """Mean |a - a_demo| (mm) of one sample per window, last timestep, on `n` windows."""
    idx = np.random.default_rng(0).choice(len(windows["obs"]), min(n, len(windows["obs"])),
                                          replace=False)
    a = policy.sample_actions(torch.as_tensor(windows["obs"][idx]), **kw).numpy()
    target = windows["actions"][idx, -1]
    d = base_dim or a.shape[-1]  # the first action of a chunk
    return float(np.mean(np.linalg.norm(a[:, :d] - target[:, :d], axis=-1)) * 1000)


def replay(task, episodes) -> dict[str, float]:
    """Recorded actions replayed open loop from each episode's own seed and context: the share
    that succeeds, in the recorded mode, and the largest first-observation difference."""
    env = task.make_env()
    ok = same = 0
    first = 0.0
    for ep in episodes:
        obs, _ = env.reset(seed=ep.seed, options={"context": ep.context})
        first = max(first, float(np.abs(obs - ep.observations[0]).max()))
        for a in ep.actions:
            obs, _, term, trunc, info = env.step(a)
            if term or trunc:
                break
        ok += bool(info["success"])
        same += int(info["mode"]) == ep.mode
    return {"replayed": len(episodes), "success": ok / len(episodes),
            "same_mode": same / len(episodes), "max_first_obs_diff": first}


def evaluate(policy, task, args, **kw) -> dict[str, float]:
    from bench.scoring import PolicyView

    torch.manual_seed(args.eval_seed)
    policy.eval()
    t = time.perf_counter()
    view = (ChunkView(policy, action_dim=task.action_dim, execute=args.execute, **kw)
            if args.chunk > 1 else PolicyView(policy, **kw))
    res = task.evaluate(view, seed=args.eval_seed, parallel=False, progress=False)
    m = res.metrics
    fails = [r for r in res.raw.records if not r.success]
    return {"success": m["success_rate"], "entropy": m["entropy"],
            "paths": m["modes_seen"], "collisions": sum(r.failure for r in fails),
            "timeouts": sum(not r.failure for r in fails), "eval_s": time.perf_counter() - t,
            "path_counts": path_counts(res.raw.records)}


def path_counts(records) -> dict[int, int]:
    """Successful rollouts per path id, most taken first (how the entropy is made up)."""
    modes = np.asarray([r.mode for r in records if r.success and r.mode >= 0], dtype=int)
    counts = np.bincount(modes, minlength=1)
    return {int(m): int(counts[m]) for m in np.argsort(-counts, kind="stable") if counts[m]}


def anatomy(view, task, n: int = 96, seed: int = 900, batch: int = 16) -> dict:
    """Avoiding: where rollouts end. Per failed rollout, the obstacle row it hit (0-2, by the
    rod's y against the rows) and how many rows it had crossed; also the share of rollouts
    whose first 5 steps moved less than 1.5 mm sideways on average (a "between" start)."""
    from envs.d3il.avoiding import LEVEL_Y, OBSTACLES

    rows, between_fail, between, offsets = [0, 0, 0, 0], 0, 0, []
    for start in range(0, n, batch):
        envs = [task.make_env() for _ in range(min(batch, n - start))]
        obs = np.stack([e.reset(seed=seed + start + j)[0] for j, e in enumerate(envs)])
        view.reset()
        done = np.zeros(len(envs), bool)
        first = np.zeros(len(envs))
        t = 0
        while not done.all():
            a = np.asarray(view(obs))
            if t < 5:
                first += a[:, 0] / 5
            t += 1
            for j, e in enumerate(envs):
                if done[j]:
                    continue
                o, _, term, trunc, info = e.step(a[j])
                obs[j] = o
                if term or trunc:
                    done[j] = True
                    small = abs(first[j]) < 0.0015
                    between += small
                    if not info["success"]:
                        y = e.unwrapped.tcp[1]
                        row = int(np.searchsorted(np.asarray(LEVEL_Y) + 0.03, y))
                        rows[min(row, 3)] += 1
                        between_fail += small
                        x = e.unwrapped.tcp[0]
                        hit = min(OBSTACLES, key=lambda o: np.hypot(x - o[0], y - o[1]))
                        offsets.append(round(1000 * (x - hit[0])))
        for e in envs:
            e.close()
    head_on = sum(abs(o) < 20 for o in offsets)
    return {"fail_rows_0_1_2_after": rows, "between_starts": between / n,
            "between_failed": int(between_fail), "fail_x_offsets_mm": sorted(offsets),
            "fail_head_on_lt20mm": head_on}


def main(argv=None) -> None:
    args = parse(argv)
    torch.manual_seed(args.seed)
    from envs import RolloutTask
    from envs.windows import make_windows
    from teachers import (BESOConfig, BESOPolicy, DDPMConfig, DDPMPolicy, DiffusionAlgorithm,
                          TeacherTrainingConfig)

    task = RolloutTask(name=args.task, num_demos=args.demos, window=args.window,
                       eval_rollouts=args.rollouts, eval_contexts=args.contexts, num_envs=8)
    episodes = episodes_for(args, task)
    if args.replay:
        print(json.dumps(replay(task, episodes[:args.replay])), flush=True)
        return
    if args.chunk > 1:
        episodes = chunk_episodes(episodes, args.chunk)
    train_eps, held_eps = episodes[args.holdout:], episodes[:args.holdout]
    data = make_windows(train_eps, args.window)
    held = make_windows(held_eps, args.window) if held_eps else None
    out = Path(args.out)
    kw = {"num_steps": args.steps, **({"sampler": args.sampler} if args.sampler else {})}
    common = dict(obs_dim=task.obs_dim, action_dim=task.action_dim * args.chunk,
                  window=args.window,
                  n_layer=args.layers, n_head=args.heads, n_embd=args.embd,
                  dropout=args.dropout, obs_motion=args.motion)
    for item in args.set:
        name, _, value = item.partition("=")
        common[name] = json.loads(value) if value[:1] in "-0123456789[" else value
    if args.load:
        cls = DDPMPolicy if args.kind == "ddpm" else BESOPolicy
        policy = cls.load(args.load)
    else:
        if args.kind == "ddpm":
            policy = DDPMPolicy(DDPMConfig(**common, num_train_steps=args.train_steps,
                                           num_steps=args.steps, sampler="ddpm"))
        else:
            common.setdefault("sigma_min", 0.001)
            policy = BESOPolicy(BESOConfig(**common, sigma_max=args.sigma_max,
                                           sigma_data=args.sigma_data,
                                           num_steps=args.steps, sampler="euler_ancestral"))
        policy.fit_normalizers(data["obs"], data["actions"])
    obs0 = np.asarray(episodes[0].observations[0])
    info = {"args": vars(args), "train_windows": len(data["obs"]),
            "threads": torch.get_num_threads()}
    print(json.dumps(info), flush=True)

    def report(it: int, extra: dict) -> None:
        row = {"iteration": it, **extra, **start_stats(policy, obs0, **kw),
               "train_err_mm": action_error(policy, data, base_dim=task.action_dim, **kw)}
        if held is not None:
            row["heldout_err_mm"] = action_error(policy, held, base_dim=task.action_dim, **kw)
        if task.name == "avoiding":
            from envs.d3il.avoiding import side_agreement

            row["side_agreement_steps_1_4"] = [round(v, 3) for v in side_agreement(
                lambda obs: policy.sample_actions(torch.as_tensor(obs), **kw).numpy()[:, :2],
                episodes, window=policy.config.window)]
        row.update(evaluate(policy, task, args, **kw))
        if task.name == "avoiding":
            from bench.scoring import PolicyView

            view = (ChunkView(policy, action_dim=task.action_dim, execute=args.execute, **kw)
                    if args.chunk > 1 else PolicyView(policy, **kw))
            row.update(anatomy(view, task))
        print(json.dumps(row), flush=True)

    if args.load:
        if not args.sweep:
            report(-1, {})
            return
        samplers = ("ddpm", "ddim") if args.kind == "ddpm" else ("euler_ancestral", "ddim")
        steps = [s for s in (4, 8, 16, 32)
                 if args.kind == "beso" or s <= policy.config.num_train_steps]
        for sampler in samplers:
            for s in steps:
                kw = {"num_steps": s, "sampler": sampler}
                report(-1, {"sampler": sampler, "steps": s})
        return

    train = TeacherTrainingConfig(iterations=args.iterations, batch_size=args.batch, lr=args.lr,
                                  ema_decay=args.ema, weight_decay=args.weight_decay,
                                  warmup_steps=100,
                                  lr_schedule="cosine" if args.cosine else "constant",
                                  min_lr_ratio=0.1)
    algo = DiffusionAlgorithm(policy, train)
    obs_t = torch.as_tensor(data["obs"])
    act_t = torch.as_tensor(data["actions"])
    rng = np.random.default_rng(args.seed)
    t0, losses = time.perf_counter(), []
    train_s = 0.0
    for it in range(1, args.iterations + 1):
        idx = torch.as_tensor(rng.integers(0, len(obs_t), args.batch))
        losses.append(float(algo.update([{"obs": obs_t[idx], "actions": act_t[idx]}]).loss))
        if it in args.eval_at or it == args.iterations:
            train_s += time.perf_counter() - t0
            report(it, {"loss": float(np.mean(losses[-500:])), "train_s": train_s,
                        "ms_per_it": 1000 * train_s / it})
            policy.save(out)
            t0 = time.perf_counter()


if __name__ == "__main__":
    os.environ.setdefault("MUJOCO_GL", "egl")
    main()
