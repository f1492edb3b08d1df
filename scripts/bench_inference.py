"""Inference cost of every policy kind, measured side by side in one process on one device.

Builds (untrained: the cost does not depend on the weights) a BESO and a DDPM teacher, the MoE
and the CD/CTM student at one size (default: the published D3IL size, Avoiding's dims) and
times, at batch 1 and batch 256, interleaved round by round so that load changes hit all of
them alike: the teacher's bare network pass, the teacher sampled in 1 and N steps, the MoE
(one pass: gating, expert choice, mean), and the one-step consistency student. Prints ms per
action (medians), the MoE's cost relative to one teacher pass, and the speed-ups over the
N-step teachers. `--cameras 2` times the image policies instead (robot state + two 96x96
cameras packed as the envs give them, random pixels, `--encoder` per camera).

    .venv/bin/python scripts/bench_inference.py [--device cuda] [--steps 8] [--n-embd 72] ...
    .venv/bin/python scripts/bench_inference.py --cameras 2 --encoder resnet18 --rounds 20
"""

from __future__ import annotations

import argparse
import time

import torch

from distill import ConsistencyConfig, ConsistencyPolicy
from moe import MoEConfig, MoEPolicy
from teachers import BESOConfig, BESOPolicy, DDPMConfig, DDPMPolicy


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--obs-dim", type=int, default=4)
    p.add_argument("--action-dim", type=int, default=2)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=72)
    p.add_argument("--experts", type=int, default=8)
    p.add_argument("--steps", type=int, default=8, help="N, the teachers' sampling steps")
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--cameras", type=int, default=0, help="image policies: cameras (0: state)")
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--encoder", default="resnet18", help="timm model per camera")
    return p


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    args = _parser().parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = args.device
    pixels = args.cameras * 3 * args.image_size ** 2
    image = (dict(cameras=args.cameras, image_size=args.image_size, image_encoder=args.encoder)
             if args.cameras else {})
    dims = dict(obs_dim=args.obs_dim + pixels, action_dim=args.action_dim, window=args.window,
                n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd, **image)
    torch.manual_seed(0)
    beso = BESOPolicy(BESOConfig(**dims, sampler="euler_ancestral")).to(dev).eval()
    ddpm = DDPMPolicy(DDPMConfig(**dims, num_train_steps=args.steps, num_steps=args.steps,
                                 sampler="ddpm")).to(dev).eval()
    moe = MoEPolicy(MoEConfig(**dims, num_experts=args.experts)).to(dev).eval()
    cd = ConsistencyPolicy(ConsistencyConfig.from_teacher(beso.config, parameterization="cm"))
    cd = cd.to(dev).eval()
    N = args.steps
    cases = {
        "BESO network pass": lambda o: beso.denoise(
            torch.zeros(o.shape[0], o.shape[1], args.action_dim, device=dev),
            torch.ones(o.shape[0], device=dev), o),
        "BESO-1 (1 step)": lambda o: beso.sample_actions(o, num_steps=1),
        f"BESO ({N} steps)": lambda o: beso.sample_actions(o, num_steps=N),
        "DDPM-1 (1 step)": lambda o: ddpm.sample_actions(o, num_steps=1),
        f"DDPM ({N} steps)": lambda o: ddpm.sample_actions(o, num_steps=N),
        "CD/CTM student (1 step)": lambda o: cd.sample_actions(o),
        f"MoE ({args.experts} experts, 1 pass)": lambda o: moe.sample_actions(o),
    }
    results: dict[tuple[str, int], float] = {}
    with torch.no_grad():
        for batch in (1, 256):
            obs = torch.cat([torch.randn(batch, args.window, args.obs_dim, device=dev),
                             torch.randint(0, 256, (batch, args.window, pixels),
                                           device=dev).float()], dim=-1)
            times: dict[str, list[float]] = {name: [] for name in cases}
            for r in range(args.rounds + 5):
                for name, fn in cases.items():
                    _sync(dev)
                    t0 = time.perf_counter()
                    fn(obs)
                    _sync(dev)
                    if r >= 5:  # warm-up rounds
                        times[name].append((time.perf_counter() - t0) * 1e3)
            for name, ts in times.items():
                results[(name, batch)] = sorted(ts)[len(ts) // 2]
    cams = (f", {args.cameras} cameras {args.image_size}px ({args.encoder} each)"
            if args.cameras else "")
    print(f"device {dev}, threads {torch.get_num_threads()}, model {args.n_layer} layers / "
          f"{args.n_head} heads / {args.n_embd}-d, window {args.window}{cams}, medians of "
          f"{args.rounds} interleaved rounds\n")
    print(f"{'policy':34s} {'ms/action b1':>13s} {'ms/action b256':>15s}")
    for name in cases:
        print(f"{name:34s} {results[(name, 1)]:13.3f} {results[(name, 256)]:15.3f}")
    moe_name = f"MoE ({args.experts} experts, 1 pass)"
    print()
    for b in (1, 256):
        moe_ms = results[(moe_name, b)]
        print(f"batch {b}: MoE / one teacher step (BESO-1) = "
              f"{moe_ms / results[('BESO-1 (1 step)', b)]:.2f}x, MoE / bare network pass = "
              f"{moe_ms / results[('BESO network pass', b)]:.2f}x; speed-up of the MoE over "
              f"BESO ({N} steps) {results[(f'BESO ({N} steps)', b)] / moe_ms:.1f}x, over DDPM "
              f"({N} steps) {results[(f'DDPM ({N} steps)', b)] / moe_ms:.1f}x")


if __name__ == "__main__":
    main()
