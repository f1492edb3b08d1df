"""Use a MoE policy on its own: fit it to demonstrations, save and load it, drive a robot; then
export it to ONNX and drive the robot again at a fixed rate from the file alone.

The "robot" here is a point in the plane that moves by the commanded action; the
demonstrations go to one of two goals, so the action distribution is bimodal. The second loop
runs the exported file through `moe_runtime.OnnxPolicy` (numpy and onnxruntime only) at a fixed
control rate and reports the latency of each action (p50/p99) and the deadlines it missed.

Run: python examples/control_loop.py [--save DIR] [--onnx FILE] [--rate HZ] [--threads N]
     python examples/control_loop.py --run FILE [--rate HZ]   # only the ONNX loop: no torch
(the ONNX part needs `pip install "vdd-moe[export]"`; without it only the first loop runs).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GOALS = np.array([[1.0, 1.0], [-1.0, 1.0]])


def demonstrations(n_episodes: int = 200, steps: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    obs, actions = [], []
    for _ in range(n_episodes):
        pos, goal = np.zeros(2), GOALS[rng.integers(2)]
        for _ in range(steps):
            a = 0.2 * (goal - pos) + 0.01 * rng.normal(size=2)
            obs.append(pos.copy())
            actions.append(a)
            pos = pos + a
    return np.array(obs, np.float32), np.array(actions, np.float32)


def train(save_dir: str):
    """Fit a small MoE by maximum likelihood and save it (safetensors + JSON)."""
    import torch

    from moe import MoEConfig, MoEPolicy

    torch.manual_seed(0)
    obs, actions = demonstrations()
    policy = MoEPolicy(MoEConfig(obs_dim=2, action_dim=2, window=1, num_experts=2,
                                 n_layer=1, n_head=1, n_embd=32))
    policy.fit_normalizers(obs, actions)  # the normaliser lives inside the policy
    data = {"obs": torch.as_tensor(obs)[:, None], "actions": torch.as_tensor(actions)[:, None]}
    opt = torch.optim.Adam(policy.parameters(), lr=3e-3)
    for _ in range(300):  # plain maximum likelihood; see vdd-distill for distillation
        idx = torch.randint(len(obs), (256,))
        loss, stats = policy.compute_loss({k: v[idx] for k, v in data.items()})
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"final NLL {stats['nll']:.2f}")
    policy.save(save_dir)  # model.safetensors + config.json


def drive(policy, *, episodes: int = 10, steps: int = 20, rate_hz: float | None = None,
          obs_dim: int = 2, seed: int = 0):
    """Run `policy.act` in closed loop (at `rate_hz` if given); return end points and the
    latency of every action in ms. Observations other than 2-D get random values instead of
    the point robot (latency only)."""
    rng = np.random.default_rng(seed)
    ends, latencies = [], []
    period = None if rate_hz is None else 1.0 / rate_hz
    deadline = time.perf_counter()
    for _ in range(episodes):
        policy.reset()  # clears the observation window
        pos = np.zeros(obs_dim, np.float32)
        for _ in range(steps):
            obs = pos if obs_dim == 2 else rng.normal(size=obs_dim).astype(np.float32)
            t0 = time.perf_counter()
            action = policy.act(obs)  # one network pass per action
            latencies.append((time.perf_counter() - t0) * 1e3)
            if obs_dim == 2:
                pos = pos + action
            if period is not None:  # hold the control rate
                deadline += period
                time.sleep(max(0.0, deadline - time.perf_counter()))
        ends.append(pos[:2])
    return np.round(np.array(ends), 1), np.array(latencies)


def report(name: str, latencies_ms: np.ndarray, rate_hz: float | None) -> None:
    p50, p99 = np.percentile(latencies_ms, [50, 99])
    missed = "" if rate_hz is None else (
        f", {int((latencies_ms > 1e3 / rate_hz).sum())} over the {1e3 / rate_hz:.1f} ms period"
        f" at {rate_hz:g} Hz")
    print(f"{name}: {len(latencies_ms)} actions, latency p50 {p50:.3f} ms, p99 {p99:.3f} ms, "
          f"max {latencies_ms.max():.3f} ms{missed}")


def run_onnx(path: str, *, rate_hz: float, threads: int, episodes: int = 10,
             steps: int = 20) -> None:
    """Drive the robot from the exported file alone, at a fixed rate."""
    from moe_runtime import OnnxPolicy

    policy = OnnxPolicy(path, threads=threads, seed=0)
    ends, latencies = drive(policy, episodes=episodes, steps=steps, rate_hz=rate_hz,
                            obs_dim=policy.obs_dim)
    if policy.obs_dim == 2:
        print("onnx episode end points:", ends.tolist())
    report(f"onnx ({', '.join(policy.providers)}, {threads} thread(s))", latencies, rate_hz)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--save", help="keep the trained checkpoint in this directory")
    p.add_argument("--onnx", help="keep the exported file here")
    p.add_argument("--run", help="only drive the robot from this exported file (no torch)")
    p.add_argument("--rate", type=float, default=100.0, help="control rate of the ONNX loop, Hz")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    p.add_argument("--episodes", type=int, default=10)
    args = p.parse_args(argv)
    if args.run:
        run_onnx(args.run, rate_hz=args.rate, threads=args.threads, episodes=args.episodes)
        print("torch imported:", "torch" in sys.modules)
        return

    from moe import MoEPolicy

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.save or str(Path(tmp) / "checkpoint")
        train(ckpt)
        policy = MoEPolicy.load(ckpt)
        ends, latencies = drive(policy, episodes=args.episodes)
        print("episode end points:", ends.tolist())
        report("eager act", latencies, None)
        if not all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime")):
            print('skipping the ONNX loop: pip install "vdd-moe[export]"')
            return
        # batch=1: one robot; every shape a constant, so ONNX Runtime folds more of the graph
        path = policy.export_onnx(args.onnx or Path(tmp) / "policy.onnx", batch=1)
        print(f"exported {path}")
        run_onnx(str(path), rate_hz=args.rate, threads=args.threads, episodes=args.episodes)


if __name__ == "__main__":
    main()
