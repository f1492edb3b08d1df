"""Eager MoE vs its ONNX export (moe_runtime), side by side in one process on the CPU.

Builds the MoE at the published D3IL size with Avoiding's dims (untrained: the cost does not
depend on the weights), exports it, checks that both give the same actions for the same uniform
draws, then times (the single-thread variants interleaved call by call, so that load changes
hit them alike; then every variant alone, see below):

1. ms per action of `sample_actions` at batch 1 and 256 (eager: torch with 1 thread and with
   torch's default; exported: ONNX Runtime with each of `--ort-threads`, on the any-batch file
   and, at batch 1, on the file exported with `batch=1`), p50 and p99;
2. the control loop: `act` on one observation per tick at `--rate` Hz (eager `act` with its
   `act_threads` default and with torch's default threads; the runtime's `act` on the file
   exported for batch 1 and on the any-batch file), p50 and p99.

Every variant is also timed alone (marked *), in the same process: those with more threads
only so, as after a call their worker threads spin, waiting for work, for a while, and would
slow whatever ran next; and the interleaved figures of the small ONNX graph include the cache
misses that the eager calls between leave. Prints markdown tables and the load average before
and after (figures on a machine shared with other jobs are not those of an idle one; say so
when quoting them).

    .venv/bin/python scripts/bench_export.py [--calls 1000] [--rate 500] [--ticks 1000]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from moe import MoEConfig, MoEPolicy
from moe.policy import ACT_THREADS, cpu_threads
from moe_runtime import OnnxPolicy


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--obs-dim", type=int, default=4)
    p.add_argument("--action-dim", type=int, default=2)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=72)
    p.add_argument("--experts", type=int, default=8)
    p.add_argument("--calls", type=int, default=1000, help="timed calls per variant, batch 1")
    p.add_argument("--calls-256", type=int, default=100, help="timed calls per variant, b256")
    p.add_argument("--ort-threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--rate", type=float, default=500.0, help="control-loop rate, Hz")
    p.add_argument("--ticks", type=int, default=1000, help="control-loop ticks")
    p.add_argument("--episode", type=int, default=300, help="ticks between reset() calls")
    return p


def interleaved(fns: dict[str, Callable[[int], object]], calls: int, *, warmup: int = 20,
                period_s: float = 0.0,
                every_round: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """Milliseconds per call of every fn(round), called in turn (the order rotating each round),
    one round per `period_s` if given; `every_round(round)` runs untimed before each round."""
    names = list(fns)
    times: dict[str, list[float]] = {n: [] for n in names}
    deadline = time.perf_counter()
    for r in range(calls + warmup):
        if every_round is not None:
            every_round(r)
        k = r % len(names)
        for name in names[k:] + names[:k]:
            t0 = time.perf_counter()
            fns[name](r)
            if r >= warmup:
                times[name].append((time.perf_counter() - t0) * 1e3)
        if period_s:
            deadline += period_s
            time.sleep(max(0.0, deadline - time.perf_counter()))
    return {n: np.array(v) for n, v in times.items()}


def timed(single: dict[str, Callable[[int], object]], multi: dict[str, Callable[[int], object]],
          calls: int, **kw) -> dict[str, np.ndarray]:
    """`single` (one thread each) interleaved, then every variant alone (name + " *")."""
    out = interleaved(single, calls, **kw)
    for name, fn in {**single, **multi}.items():
        out[f"{name} *"] = interleaved({name: fn}, calls, **kw)[name]
    return out


def pct(ms: np.ndarray) -> tuple[float, float]:
    p50, p99 = np.percentile(ms, [50, 99])
    return float(p50), float(p99)


def main() -> None:
    args = _parser().parse_args()
    default_threads = torch.get_num_threads()
    load_before = os.getloadavg()
    torch.manual_seed(0)
    policy = MoEPolicy(MoEConfig(obs_dim=args.obs_dim, action_dim=args.action_dim,
                                 window=args.window, num_experts=args.experts,
                                 n_layer=args.n_layer, n_head=args.n_head,
                                 n_embd=args.n_embd)).eval()
    with torch.no_grad():  # means and gating that depend on the state, as after training
        policy.experts.mean_out.weight.normal_(0.0, 0.1)
        policy.gating.out.weight.normal_(0.0, 0.1)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = policy.export_onnx(Path(tmp) / "any.onnx")
        path1 = policy.export_onnx(Path(tmp) / "b1.onnx", batch=1)
        size_kb = path.stat().st_size / 1e3
        anyb = {n: OnnxPolicy(path, threads=n, seed=0) for n in args.ort_threads}
        b1 = {n: OnnxPolicy(path1, threads=n, seed=0) for n in args.ort_threads}

    # same draws -> same actions
    obs256 = rng.normal(size=(256, args.window, args.obs_dim)).astype(np.float32)
    u256 = rng.random(256, dtype=np.float32)
    diff = max(float(np.abs(rt.sample_actions(obs256, u=u256)
                            - policy.sample_actions(obs256, u=u256).numpy()).max())
               for rt in anyb.values())
    diff = max([diff] + [float(np.abs(rt.sample_actions(obs256[:1], u=u256[:1])
                                      - policy.sample_actions(obs256[:1], u=u256[:1]).numpy()
                                      ).max()) for rt in b1.values()])

    def eager(obs: np.ndarray, u: np.ndarray, threads: int | None) -> Callable[[int], object]:
        def call(_: int) -> object:
            with cpu_threads(threads):
                return policy.sample_actions(obs, u=u)
        return call

    def ort_threads(n: int) -> str:
        return f"{n} thread{'s' * (n > 1)}"

    passes: dict[int, dict[str, np.ndarray]] = {}
    for batch, calls in ((1, args.calls), (256, args.calls_256)):
        print(f"timing sample_actions at batch {batch} ...", file=sys.stderr, flush=True)
        obs, u = obs256[:batch].copy(), u256[:batch].copy()
        fns = {"eager torch, 1 thread": eager(obs, u, 1),
               f"eager torch, default {default_threads} threads": eager(obs, u, None)}
        fns.update({f"ONNX Runtime, any-batch file, {ort_threads(n)}":
                    (lambda _, rt=rt, o=obs, uu=u: rt.sample_actions(o, u=uu))
                    for n, rt in anyb.items()})
        if batch == 1:
            fns.update({f"ONNX Runtime, batch-1 file, {ort_threads(n)}":
                        (lambda _, rt=rt, o=obs, uu=u: rt.sample_actions(o, u=uu))
                        for n, rt in b1.items()})
        multi = {n: fns.pop(n) for n in list(fns) if not n.endswith(" 1 thread")}
        passes[batch] = timed(fns, multi, calls)

    # the control loop: one observation per tick, each variant keeping its own window (so the
    # two eager variants are two copies of the policy), a reset every episode
    acting = copy.deepcopy(policy)  # act_threads = ACT_THREADS, the default
    torch_default = copy.deepcopy(policy)
    torch_default.act_threads = None  # torch's own thread setting
    actors = {f"eager act, act_threads={ACT_THREADS} (default)": acting,
              f"eager act, torch default {default_threads} threads": torch_default}
    actors.update({f"ONNX Runtime act, batch-1 file, {ort_threads(n)}": rt
                   for n, rt in b1.items()})
    first = args.ort_threads[0]
    actors[f"ONNX Runtime act, any-batch file, {ort_threads(first)}"] = anyb[first]
    tick_obs = rng.normal(size=(args.ticks + 20, args.obs_dim)).astype(np.float32)

    def reset_on_episode(t: int) -> None:
        if t % args.episode == 0:
            for actor in actors.values():
                actor.reset()

    print("timing the control loop ...", file=sys.stderr, flush=True)
    fns = {name: (lambda t, a=actor: a.act(tick_obs[t])) for name, actor in actors.items()}
    multi = {n: fns.pop(n) for n in list(fns)
             if not (n.endswith(" 1 thread") or n.endswith("(default)"))}
    loop = timed(fns, multi, args.ticks, period_s=1.0 / args.rate if args.rate > 0 else 0.0,
                 every_round=reset_on_episode)
    load_after = os.getloadavg()

    print(f"MoE {args.n_layer} layers / {args.n_head} heads / {args.n_embd}-d, "
          f"{args.experts} experts, obs {args.obs_dim}, action {args.action_dim}, window "
          f"{args.window}; ONNX file {size_kb:.0f} kB; {os.cpu_count()} CPUs, load average "
          f"{load_before[0]:.1f} before / {load_after[0]:.1f} after (1 min)")
    print(f"exported vs eager, same draws, batch 256: max |action difference| {diff:.2e}\n")
    print(f"sample_actions, ms per call, interleaved ({args.calls} calls at batch 1, "
          f"{args.calls_256} at batch 256):\n")
    print("| variant | b1 p50 | b1 p99 | b256 p50 | b256 p99 |")
    print("|---|---|---|---|---|")
    for name in passes[1]:
        one = pct(passes[1][name])
        big = f"{pct(passes[256][name])[0]:.2f} | {pct(passes[256][name])[1]:.2f}" \
            if name in passes[256] else "- | -"
        print(f"| {name} | {one[0]:.3f} | {one[1]:.3f} | {big} |")
    print(f"\ncontrol loop: act on one observation per tick at {args.rate:g} Hz, "
          f"{args.ticks} ticks, reset every {args.episode}:\n")
    print("| variant | p50 ms | p99 ms |")
    print("|---|---|---|")
    for name, ms in loop.items():
        p50, p99 = pct(ms)
        print(f"| {name} | {p50:.3f} | {p99:.3f} |")
    eager_name = f"eager act, act_threads={ACT_THREADS} (default)"
    ort_name = f"ONNX Runtime act, batch-1 file, {ort_threads(1)}"
    if ort_name in loop:
        e50, o50 = pct(loop[eager_name])[0], pct(loop[ort_name])[0]
        a50 = pct(loop[f"{ort_name} *"])[0] / pct(loop[f"{eager_name} *"])[0]
        print(f"\nbatch 1, control loop p50: {ort_name} is {e50 / o50:.1f}x faster than "
              f"{eager_name} side by side ({1 / a50:.1f}x timed alone)")
    print("* timed alone, after the interleaved single-thread variants")


if __name__ == "__main__":
    main()
