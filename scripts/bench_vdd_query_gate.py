"""VDD's gated teacher queries (`VDDConfig.query_min_weight`): the cost of an update, side by side.

Loads a trained rod-task student and its teacher, and times VDD updates on demonstration
windows with every (state, expert) pair queried and with the gate at each `--weights` value,
interleaved round by round in one process (medians), continuing from the same trained weights
(a fresh optimiser each, so the gating is the trained one throughout). The task, the method's
VDD settings and the teacher's score range come from `--gin` as the bench reads them. Prints
ms per update, the ratio to the ungated update and the share of pairs the teacher scored.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_vdd_query_gate.py \
        --gin gin/cpu/aligning.gin --method vdd_beso \
        --student outputs/aligning/STAMP/vdd_beso-seed0/checkpoint \
        --teacher outputs/cache/aligning-beso-KEY
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import statistics
import time

import numpy as np
import torch


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gin", default="gin/cpu/aligning.gin")
    p.add_argument("--method", choices=("vdd_beso", "vdd_ddpm"), default="vdd_beso")
    p.add_argument("--student", required=True, help="a saved MoE student directory")
    p.add_argument("--teacher", required=True, help="the method's saved teacher directory")
    p.add_argument("--weights", type=float, nargs="+", default=[1e-3, 1e-2])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--updates", type=int, default=10, help="timed updates per round and case")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cache", default="outputs/cache")
    return p


def main(argv=None) -> None:
    args = _parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    from bench import methods
    from bench.config import parse_gin
    from bench.settings import Benchmark
    from bench.teacher_store import score_adapter
    from distill import VDD
    from moe import MoEPolicy
    from teachers import TEACHERS

    parse_gin([args.gin])
    method = methods.method_table()[args.method]
    config = methods.algorithm_config(method)
    task = Benchmark().task
    teacher = TEACHERS[method.teacher].policy.load(args.teacher)
    score = score_adapter(method.teacher, teacher)
    data = task.make_dataset(0, cache_dir=args.cache, progress=False)
    obs, act = torch.as_tensor(data["obs"]), torch.as_tensor(data["actions"])
    student = MoEPolicy.load(args.student)
    cases = {}
    for w in [0.0, *args.weights]:  # trained experts as they are; the lr barely decays
        cfg = dataclasses.replace(config, iterations=10**6, expert_init="random",
                                  reseed_every=0, query_min_weight=w)
        cases[w] = VDD(copy.deepcopy(student), score, cfg)
    rng = np.random.default_rng(0)

    def batches(n: int) -> list[dict]:
        idx = [torch.as_tensor(rng.integers(0, len(obs), config.batch_size)) for _ in range(n)]
        return [{"obs": obs[i], "actions": act[i]} for i in idx]

    times = {w: [] for w in cases}
    queried = {w: [] for w in cases}
    for algo in cases.values():  # warm-up
        algo.update(batches(algo.batches_per_update))
    for _ in range(args.rounds):
        for w, algo in cases.items():
            t = time.perf_counter()
            for _ in range(args.updates):
                queried[w].append(float(algo.update(batches(algo.batches_per_update)).queried))
            times[w].append(1000 * (time.perf_counter() - t) / args.updates)
    base = statistics.median(times[0.0])
    print(f"{args.gin} {args.method}: threads {args.threads}, batch {config.batch_size}, "
          f"{args.rounds} rounds x {args.updates} updates (medians); student {args.student}")
    for w in cases:
        ms = statistics.median(times[w])
        print(f"query_min_weight {w:g}: {ms:7.1f} ms per update, {ms / base:.2f}x the ungated, "
              f"teacher queried for {statistics.mean(queried[w]):.0%} of (state, expert) pairs")


if __name__ == "__main__":
    main()
