"""Train both diffusion teachers on the 8-mode ring of the toy task and inspect them.

For each teacher: per-mode frequencies of N-step and 1-step samples against the truth, wall
times, and how well its VDD-style score queries (clean sample, small noise level) agree with
the analytic score: mean cosine similarity at samples of the target, in normalised units.

Run: python packages/teachers/examples/toy_teachers.py [--teacher beso|ddpm|both]
(about a minute or two per teacher on one CPU core with the defaults).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from envs import Toy2D, sample_mode_frequencies
from teachers import (
    BESOConfig, BESOPolicy, BESOScore, DDPMConfig, DDPMPolicy, DDPMScore, DiffusionAlgorithm,
    TeacherTrainingConfig,
)

NET = dict(obs_dim=1, action_dim=2, window=1, n_layer=2, n_head=2, n_embd=64)


def net(args) -> dict:
    return {**NET, "noise_freqs": args.noise_freqs}


def build(kind: str, args) -> tuple[torch.nn.Module, dict]:
    if kind == "beso":
        cfg = BESOConfig(**net(args), sigma_min=0.001, sigma_max=args.sigma_max, num_steps=8,
                         sigma_sampling=args.sigma_sampling, sigma_data=args.sigma_data,
                         sampler="euler_ancestral")
        return BESOPolicy(cfg), {"N-step": [("euler_ancestral", 8), ("ddim", 8)],
                                 "1-step": [("ddim", 1)]}
    cfg = DDPMConfig(**net(args), num_train_steps=16, num_steps=16, sampler="ddpm")
    return DDPMPolicy(cfg), {"N-step": [("ddpm", 16), ("ddim", 16)], "1-step": [("ddim", 1)]}


def score_agreement(policy, adapter, task, n=4000, seed=0) -> float:
    """Mean cosine similarity of teacher and analytic score at target samples (normalised)."""
    x, _ = task.target.sample(n, np.random.default_rng(seed))
    a_raw = torch.as_tensor(x, dtype=torch.float32)[:, None]
    a = policy.action_normalizer.normalize(a_raw)
    obs = policy.obs_normalizer.normalize(torch.zeros(n, 1, 1))
    teacher = adapter.score(a, obs)[:, 0].numpy()
    true = task.target.score(x) * policy.action_normalizer.std.numpy()
    cos = np.sum(teacher * true, -1) / (np.linalg.norm(teacher, axis=-1)
                                        * np.linalg.norm(true, axis=-1) + 1e-12)
    return float(cos.mean())


def run(kind: str, args) -> None:
    torch.manual_seed(args.seed)
    task = Toy2D()
    data = task.make_dataset(args.seed)
    obs = torch.as_tensor(data["obs"])
    actions = torch.as_tensor(data["actions"])
    policy, samplers = build(kind, args)
    policy.fit_normalizers(obs, actions)
    train_cfg = TeacherTrainingConfig(iterations=args.iterations, batch_size=args.batch_size,
                                      lr=args.lr, ema_decay=args.ema_decay,
                                      warmup_steps=100, lr_schedule="cosine", min_lr_ratio=0.1)
    algo = DiffusionAlgorithm(policy, train_cfg)
    rng = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    for it in range(1, args.iterations + 1):
        idx = torch.randint(0, len(obs), (args.batch_size,), generator=rng)
        stats = algo.update([{"obs": obs[idx], "actions": actions[idx]}])
        if it % max(1, args.iterations // 5) == 0:
            print(f"  [{kind}] iteration {it}: loss {stats.loss:.4f}, lr {stats.lr:.2e}",
                  flush=True)
    train_s = time.perf_counter() - start
    print(f"{kind}: {policy.config}\n{kind}: {train_cfg}\n{kind}: trained in {train_s:.1f} s")
    truth = task.target.weights
    print(f"{kind}: truth          {np.array2string(truth, precision=3)}")
    for label, entries in samplers.items():
        for sampler, steps in entries:
            t0 = time.perf_counter()
            x = policy.sample_actions(torch.zeros(args.samples, 1, 1), num_steps=steps,
                                      sampler=sampler,
                                      generator=torch.Generator().manual_seed(1)).numpy()
            ms = 1e3 * (time.perf_counter() - t0)
            freqs = sample_mode_frequencies(x, task.target)
            near = np.linalg.norm(x - task.target.means[task.target.assign(x)], axis=-1)
            print(f"{kind}: {label} {sampler:>15s} x{steps:<2d} "
                  f"{np.array2string(freqs, precision=3)} max|dev| "
                  f"{np.abs(freqs - truth).max():.3f}, within 3 std of a mode "
                  f"{np.mean(near < 3 * task.mode_std):.3f}, {ms:.0f} ms / {args.samples}")
    adapters = ([(f"BESOScore sigma in {r}", BESOScore(policy, r))
                 for r in [(0.01, 0.05), (0.05, 0.2), (0.2, 0.5)]] if kind == "beso" else
                [(f"DDPMScore t in {r}", DDPMScore(policy, r)) for r in [(1, 1), (1, 2), (1, 4)]]
                + [("DDPMScore t in (1, 2), scale_input", DDPMScore(policy, (1, 2),
                                                                     scale_input=True))])
    for name, adapter in adapters:
        print(f"{kind}: {name}: cosine to the analytic score "
              f"{score_agreement(policy, adapter, task):.3f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", choices=["beso", "ddpm", "both"], default="both")
    p.add_argument("--iterations", type=int, default=6000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--ema-decay", type=float, default=0.999)
    p.add_argument("--sigma-max", type=float, default=1.0)
    p.add_argument("--noise-freqs", type=int, default=8)
    p.add_argument("--sigma-data", type=float, default=1.0)
    p.add_argument("--sigma-sampling", choices=["loguniform", "lognormal"], default="loguniform")
    p.add_argument("--samples", type=int, default=8000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest here)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    for kind in (["beso", "ddpm"] if args.teacher == "both" else [args.teacher]):
        run(kind, args)


if __name__ == "__main__":
    main()
