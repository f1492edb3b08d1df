"""Training cost of every algorithm on a state-based rod task, side by side in one process.

Times one update of each algorithm (median over interleaved rounds, so load changes hit all
alike) at the CPU-budget size (2 layers / 64-d) and the published size (4 layers / 72-d), with
the motion embedding, on random windows shaped like Avoiding's (obs 4, action 2, window 5);
for VDD also the share of an update spent in the teacher's score queries (B x Z x V windows
through the teacher per expert step), at the published V = 2 and at V = 1.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_rod_training.py [--threads 1] [--rounds 7]
"""

from __future__ import annotations

import argparse
import time

import torch

from distill import (CD, CTM, EM, IMC, VDD, CDConfig, ConsistencyConfig, ConsistencyPolicy,
                     CTMConfig, EMConfig, IMCConfig, VDDConfig)
from moe import MoEConfig, MoEPolicy
from teachers import (BESOConfig, BESOPolicy, DDPMConfig, DDPMPolicy, DDPMScore,
                      DiffusionAlgorithm, TeacherTrainingConfig)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--obs-dim", type=int, default=4)
    p.add_argument("--action-dim", type=int, default=2)
    p.add_argument("--window", type=int, default=5)
    return p


def cases(size: tuple[int, int, int], args) -> dict[str, object]:
    n_layer, n_head, n_embd = size
    dims = dict(obs_dim=args.obs_dim, action_dim=args.action_dim, window=args.window,
                n_layer=n_layer, n_head=n_head, n_embd=n_embd, obs_motion=True)
    obs = torch.cumsum(torch.randn(512, args.window, args.obs_dim) * 0.01, 1)
    act = torch.randn(512, args.window, args.action_dim) * 0.005
    ddpm = DDPMPolicy(DDPMConfig(**dims, num_train_steps=8, num_steps=8, sampler="ddpm"))
    beso = BESOPolicy(BESOConfig(**dims, num_steps=8, sampler="euler_ancestral"))
    for p in (ddpm, beso):
        p.fit_normalizers(obs, act)

    def moe() -> MoEPolicy:
        m = MoEPolicy(MoEConfig(**dims, num_experts=8))
        m.fit_normalizers(obs, act)
        return m

    init = act.reshape(-1, args.action_dim)
    out: dict[str, object] = {
        "teacher DDPM b256": DiffusionAlgorithm(ddpm, TeacherTrainingConfig(batch_size=256)),
        "teacher BESO b256": DiffusionAlgorithm(beso, TeacherTrainingConfig(batch_size=256)),
    }
    for batch, samples in ((128, 2), (128, 1), (1024, 2)):
        out[f"VDD b{batch} V{samples}"] = VDD(
            moe(), DDPMScore(ddpm, (1, 4)),
            VDDConfig(batch_size=batch, num_samples=samples), init_actions=init)
    out["CD b128"] = CD(ConsistencyPolicy(ConsistencyConfig.from_teacher(
        beso.config, parameterization="cm")), beso, CDConfig(batch_size=128))
    out["CTM b128"] = CTM(ConsistencyPolicy(ConsistencyConfig.from_teacher(
        beso.config, parameterization="ctm")), beso, CTMConfig(batch_size=128))
    out["EM b256"] = EM(moe(), EMConfig(batch_size=256), init_actions=init)
    out["IMC b256"] = IMC(moe(), IMCConfig(batch_size=256), init_actions=init)
    return out


def main() -> None:
    args = _parser().parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch threads {torch.get_num_threads()}; medians of {args.rounds} interleaved rounds;"
          f" obs {args.obs_dim}, action {args.action_dim}, window {args.window}\n")
    print(f"{'size':10s} {'algorithm':20s} {'ms/update':>10s} {'score share':>12s}")
    for size in ((2, 2, 64), (4, 4, 72)):
        algos = cases(size, args)
        times = {k: [] for k in algos}
        shares = {k: [] for k in algos}
        for r in range(args.rounds + 1):
            for name, algo in algos.items():
                batch_size = algo.config.batch_size
                batches = []
                for _ in range(algo.batches_per_update):
                    o = torch.cumsum(torch.randn(batch_size, args.window, args.obs_dim) * 0.01, 1)
                    batches.append({"obs": o, "actions": torch.randn(
                        batch_size, args.window, args.action_dim) * 0.005,
                        "index": torch.arange(batch_size)})  # IMC: the rows drawn
                query = [0.0]
                score = getattr(algo, "teacher", None)
                raw = getattr(score, "score", None)
                if isinstance(algo, VDD):
                    def timed(*a, _raw=raw, **k):
                        t = time.perf_counter()
                        out = _raw(*a, **k)
                        query[0] += time.perf_counter() - t
                        return out
                    score.score = timed
                t0 = time.perf_counter()
                algo.update(batches)
                dt = time.perf_counter() - t0
                if isinstance(algo, VDD):
                    score.score = raw
                if r:  # round 0 warms up
                    times[name].append(dt)
                    shares[name].append(query[0] / dt)
        label = "/".join(map(str, size))
        for name, ts in times.items():
            med = sorted(ts)[len(ts) // 2]
            share = sorted(shares[name])[len(ts) // 2]
            print(f"{label:10s} {name:20s} {1000 * med:10.1f} "
                  f"{(f'{share:.0%}' if share else '-'):>12s}")


if __name__ == "__main__":
    main()
