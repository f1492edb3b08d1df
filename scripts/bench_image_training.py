"""Training cost of the image policies, measured side by side in one process on one device.

Builds a BESO teacher, the MoE (VDD from that teacher, and EM from data) and the CD student
for the image tasks' observation (robot state + two 96x96 cameras, packed as the envs give
it; random pixels: the cost does not depend on what the images show) and times one training
iteration of each (median over rounds, interleaved so load changes hit all alike), with the
peak GPU memory of each when on CUDA. From these and the iteration counts of a config, the
script prints what a full training would take.

    .venv/bin/python scripts/bench_image_training.py [--device cuda] [--batch 256] \
        [--encoder resnet18] [--window 5] [--rounds 10]
"""

from __future__ import annotations

import argparse
import time

import torch

from distill import (CD, EM, VDD, CDConfig, ConsistencyConfig, ConsistencyPolicy, EMConfig,
                     VDDConfig)
from moe import MoEConfig, MoEPolicy
from teachers import (BESOConfig, BESOPolicy, BESOScore, DiffusionAlgorithm,
                      TeacherTrainingConfig)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--state-dim", type=int, default=4)
    p.add_argument("--action-dim", type=int, default=2)
    p.add_argument("--cameras", type=int, default=2)
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--encoder", default="resnet18")
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=72)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--iterations", type=int, nargs=4, default=[40000, 20000, 20000, 20000],
                   metavar=("TEACHER", "VDD", "CD", "EM"),
                   help="iterations of a full training, for the time estimate")
    return p


def main() -> None:
    args = _parser().parse_args()
    dev = args.device
    pixels = args.cameras * 3 * args.image_size ** 2
    image = dict(cameras=args.cameras, image_size=args.image_size,
                 image_encoder=args.encoder)
    dims = dict(obs_dim=args.state_dim + pixels, action_dim=args.action_dim,
                window=args.window, n_layer=args.n_layer, n_head=args.n_head,
                n_embd=args.n_embd, **image)
    torch.manual_seed(0)
    B, T = args.batch, args.window

    def batch() -> dict[str, torch.Tensor]:
        state = torch.randn(B, T, args.state_dim, device=dev)
        pix = torch.randint(0, 256, (B, T, pixels), device=dev).float()
        return {"obs": torch.cat([state, pix], -1),
                "actions": torch.randn(B, T, args.action_dim, device=dev) * 0.01}

    teacher = BESOPolicy(BESOConfig(**dims, sampler="euler_ancestral", num_steps=8)).to(dev)
    teacher_algo = DiffusionAlgorithm(teacher, TeacherTrainingConfig(batch_size=B))
    init = torch.randn(1024, args.action_dim) * 0.01
    vdd_policy = MoEPolicy(MoEConfig(**dims, num_experts=8)).to(dev)
    vdd_policy.load_image_encoder_from(teacher.model.obs_embed)
    vdd = VDD(vdd_policy, BESOScore(teacher), VDDConfig(batch_size=B), init_actions=init)
    em = EM(MoEPolicy(MoEConfig(**dims, num_experts=8)).to(dev), EMConfig(batch_size=B),
            init_actions=init)
    cd_cfg = ConsistencyConfig.from_teacher(teacher.config, parameterization="cm")
    cd_policy = ConsistencyPolicy(cd_cfg).to(dev)
    cd = CD(cd_policy, teacher, CDConfig(batch_size=B))
    cases = {"teacher (BESO)": teacher_algo, "VDD": vdd, "CD": cd, "EM": em}
    sync = torch.cuda.synchronize if dev.startswith("cuda") else (lambda: None)
    times: dict[str, list[float]] = {k: [] for k in cases}
    peak: dict[str, float] = {}
    for r in range(args.rounds + 2):
        for name, algo in cases.items():
            batches = [batch() for _ in range(algo.batches_per_update)]
            if dev.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            sync()
            t0 = time.perf_counter()
            algo.update(batches)
            sync()
            if r >= 2:  # warm-up rounds
                times[name].append(time.perf_counter() - t0)
            if dev.startswith("cuda"):
                peak[name] = max(peak.get(name, 0.0), torch.cuda.max_memory_allocated() / 2**30)
    name_dev = torch.cuda.get_device_name() if dev.startswith("cuda") else "cpu"
    print(f"device {dev} ({name_dev}), encoder {args.encoder} x {args.cameras} cameras "
          f"{args.image_size}px, window {T}, batch {B}, GPT {args.n_layer}/{args.n_head}/"
          f"{args.n_embd}; medians of {args.rounds} interleaved rounds\n")
    print(f"{'algorithm':16s} {'s/iteration':>12s} {'windows/s':>10s} {'peak GiB':>9s} "
          f"{'iterations':>11s} {'full training h':>16s}")
    for (name, ts), iters in zip(times.items(), args.iterations):
        med = sorted(ts)[len(ts) // 2]
        per_update = cases[name].batches_per_update
        print(f"{name:16s} {med:12.3f} {B * per_update / med:10.0f} "
              f"{peak.get(name, float('nan')):9.2f} {iters:11d} {iters * med / 3600:16.2f}")


if __name__ == "__main__":
    main()
