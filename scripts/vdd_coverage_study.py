"""VDD (ours) and VDD (published) on a family of Gaussian-mixture targets beyond the toy ring.

Each target of `distill.testing.target_family()` (grids, unequal weights, anisotropic modes,
3-6 dimensions, modes off the origin) is distilled from its exact score through the public API
(`MoEPolicy` + `VDD` + a score adapter), one expert per mode, with the toy's settings read from
gin/toy2d.gin (methods `vdd` and `vdd_published`, their MoE and VDD bindings; only the action
dimension and the number of experts follow the target). Prints one row per target x method:
runs covering every mode (weight error < 0.05), modes covered per seed, max weight error,
max sample-frequency error and reverse KL (worst over seeds).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/vdd_coverage_study.py [--targets grid3x3 ...]
        [--seeds 0 1 2 3 4] [--methods vdd vdd_published] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from bench.methods import method_settings
from distill.testing import FAMILY, fit_vdd, measure, target_family

REPO = Path(__file__).resolve().parents[1]


def toy_settings(method: str):
    """(VDDConfig, MoEConfig) of a toy method as gin/toy2d.gin configures it."""
    return method_settings(REPO / "gin" / "toy2d.gin", method)


def run(targets, seeds, methods) -> list[dict]:
    family, rows = target_family(), []
    for method in methods:
        config, student = toy_settings(method)
        for name in targets:
            for seed in seeds:
                start = time.perf_counter()
                policy = fit_vdd(family[name], config=config, student=student, seed=seed)
                report = measure(policy, family[name], seed=seed)
                rows.append({"target": name, "method": method, "seed": seed,
                             "seconds": time.perf_counter() - start, **report.to_dict()})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| target | method | runs covering every mode | modes covered per seed | "
             "max weight error | max sample-freq error | reverse KL (max) |",
             "|---|---|---|---|---|---|---|"]
    keys = dict.fromkeys((r["target"], r["method"]) for r in rows)
    for target, method in keys:
        rs = [r for r in rows if r["target"] == target and r["method"] == method]
        covered = " ".join(f"{r['modes_covered']}/{r['num_modes']}" for r in rs)
        lines.append(
            f"| {target} | {method} | {sum(r['all_covered'] for r in rs)}/{len(rs)} | "
            f"{covered} | {max(r['weight_error_max'] for r in rs):.3f} | "
            f"{max(r['sample_freq_error_max'] for r in rs):.3f} | "
            f"{max(r['reverse_kl'] for r in rs):.3f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", nargs="+", default=list(FAMILY), choices=list(FAMILY))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--methods", nargs="+", default=["vdd", "vdd_published"],
                   choices=["vdd", "vdd_published"])
    p.add_argument("--json", type=Path, help="also write every run's numbers here")
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = run(args.targets, args.seeds, args.methods)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
