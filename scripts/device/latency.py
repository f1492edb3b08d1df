"""Latency of every method of a config on one device: a markdown table.

Builds each method's policy at the config's sizes (untrained: the cost does not depend on the
weights; the teachers' N-step and 1-step rows, the CD/CTM students, every MoE student with its
own MoE bindings) and times `sample_actions` with `bench.timing.measure_inference` at batch 1
and 256 on the device, eagerly and, for the methods in `--compiled`, through CUDA graphs
(`torch.compile(mode="reduce-overhead")`, CUDA only; compiling takes tens of seconds each).
Peak GPU memory is per method (reset before each).

    python scripts/device/latency.py --gin gin/device/avoiding.gin --device cuda \
        --out OUT/latency.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch


def _policy(method, task):
    """An untrained policy of `method` at the config's sizes, and its forward passes."""
    from bench import methods as M
    from bench.teacher_store import teacher_configs
    from distill import ConsistencyConfig, ConsistencyPolicy
    from moe import MoEPolicy
    from teachers import TEACHERS

    if method.role == "teacher":
        arch, _ = teacher_configs(method.teacher, task)
        policy = TEACHERS[method.teacher].policy(arch)
        steps = method.num_steps or arch.num_steps
        return policy, (lambda obs: policy.sample_actions(obs, num_steps=steps)), steps
    if method.is_moe:
        policy = MoEPolicy(M.student_config(task, method))
        return policy, policy.sample_actions, 1
    arch, _ = teacher_configs(method.teacher, task)
    cfg = M.algorithm_config(method)
    param = getattr(cfg, "parameterization", "ctm")
    policy = ConsistencyPolicy(ConsistencyConfig.from_teacher(arch, parameterization=param))
    return policy, policy.sample_actions, getattr(policy.config, "num_steps", 1)


def _row(name, policy, fn, passes, window, *, device, repeats, compiled) -> dict:
    from bench.timing import measure_inference

    policy.to(device).eval()
    rng = torch.Generator().manual_seed(0)
    policy.fit_normalizers(torch.randn(64, *window.shape, generator=rng),
                           torch.randn(64, window.shape[0], policy.config.action_dim,
                                       generator=rng))
    policy.to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    m = measure_inference(fn, window, forward_passes=passes, repeats=repeats, device=device,
                          compiled=compiled)
    row = {"method": name, "passes": passes, "b1": m["timing/ms_per_action_b1"],
           "b256": m["timing/ms_per_action_b256"],
           "b1_graph": m.get("timing/ms_per_action_b1_compiled"),
           "b256_graph": m.get("timing/ms_per_action_b256_compiled"),
           "peak_mib": (torch.cuda.max_memory_allocated(device) / 2**20
                        if device.type == "cuda" else None),
           "wall_s": time.perf_counter() - start}
    print(f"[latency] {name}: b1 {row['b1']:.3f} ms, b256 {row['b256']:.3f} ms"
          + (f", graph b1 {row['b1_graph']:.3f} ms" if row["b1_graph"] else ""), flush=True)
    return row


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gin", action="append", required=True)
    p.add_argument("-b", "--binding", action="append", default=[])
    p.add_argument("--device", default="auto")
    p.add_argument("--repeats", type=int, default=100)
    p.add_argument("--compiled", nargs="*", default=["vdd_beso", "ddpm_1"],
                   help="methods also timed through CUDA graphs (CUDA only)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()

    from bench.config import parse_gin
    from bench.devices import describe, device_info, resolve_device
    from bench.errors import ConfigError
    from bench.settings import Benchmark

    try:
        parse_gin(args.gin, [*args.binding, f"Benchmark.device = {args.device!r}"])
        s = Benchmark()
        device = resolve_device(s.device)
    except (ConfigError, ValueError, TypeError) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    torch.set_num_threads(s.torch_threads())
    info = describe(device_info(device))
    print(f"[latency] {s.task.name} on {info}", flush=True)
    window = torch.zeros(s.task.window, s.task.obs_dim)
    rows = []
    for method in s.method_specs:
        torch.manual_seed(0)
        policy, fn, passes = _policy(method, s.task)
        rows.append(_row(method.name, policy, fn, passes, window, device=device,
                         repeats=args.repeats, compiled=method.name in args.compiled))
        del policy
    head = ["method", "passes", "b1", "b256", "b1_graph", "b256_graph", "peak_mib", "wall_s"]
    lines = [f"Latency on {info}: ms per action (median of {args.repeats}), untrained "
             f"policies at the sizes of {', '.join(args.gin)}; `_graph`: through CUDA graphs "
             "(torch.compile reduce-overhead); peak_mib: peak GPU memory of the method.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_fmt(r[h]) for h in head) + " |" for r in rows]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
