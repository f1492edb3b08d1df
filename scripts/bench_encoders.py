"""CPU cost of the timm image encoders for the packed image observations (prints only).

Times the MoE's observation embedding (two cameras, 96x96, robot state of 8): forward +
backward for batch 32, window 1 (a training step's encoder share), and forward-only for
batch 8 (acting in 8 parallel environments). Best of a few repeats (on a shared machine other
processes only ever add time), on the threads torch was given. Use it to choose a CPU-budget
`image_encoder`.

    .venv/bin/python scripts/bench_encoders.py [--threads 2] [--repeats 5] [--models ...]
"""

from __future__ import annotations

import argparse
import time

import torch

from moe import make_obs_embedding, pixel_dim

MODELS = ["resnet18", "resnet10t", "mobilenetv3_small_050", "mobilenetv3_small_100",
          "lcnet_050", "regnetx_002"]  # efficientnet_b0: ~14 s fwd+bwd, too slow on CPU


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=MODELS)
    p.add_argument("--cameras", type=int, default=2)
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    S, H, K = 8, args.image_size, args.cameras
    O = S + pixel_dim(K, H)

    def obs(B: int) -> torch.Tensor:
        return torch.cat([torch.randn(B, 1, S), torch.randint(0, 256, (B, 1, O - S)).float()], -1)

    print(f"{K} cameras {H}x{H}, {args.threads} thread(s), best of {args.repeats}")
    print(f"{'encoder':24s} {'params/cam':>10s} {'fwd+bwd B=32':>13s} {'fwd B=8':>9s}")
    for name in args.models:
        torch.manual_seed(0)
        emb = make_obs_embedding(obs_dim=O, n_embd=72, cameras=K, image_size=H,
                                 image_encoder=name)
        params = sum(p.numel() for p in emb.encoders[0].parameters())
        x32, x8 = obs(32), obs(8)

        def train_step(emb=emb, x32=x32) -> None:
            emb.zero_grad(set_to_none=True)
            emb(x32).square().mean().backward()

        def act(emb=emb, x8=x8) -> None:
            with torch.no_grad():
                emb(x8)

        emb.train()
        t_train = _time(train_step, args.repeats)
        emb.eval()
        t_act = _time(act, args.repeats)
        print(f"{name:24s} {params / 1e6:9.2f}M {t_train * 1e3:10.0f} ms {t_act * 1e3:6.0f} ms")


if __name__ == "__main__":
    main()
