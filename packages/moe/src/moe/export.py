"""The MoE's acting pass as one ONNX file, for robot stacks that load it without our code.

The file computes what `MoEPolicy.sample_actions` does, normalisers included:

    obs (B, T, O) raw observation window [, u (B,) uniform draws in [0, 1)] -> action (B, A) raw

B and T are dynamic (1 <= T <= window; feed full windows, as `act` does), unless `batch` fixes
them (B = batch, T = window): then every shape is a constant and ONNX Runtime folds the shape
arithmetic away (~150 instead of ~260 nodes after its optimisation, at the published size; 0.24
instead of 0.49 ms per action at batch 1, p50, scripts/bench_export.py on shared cores): the
file for one robot. Without `greedy` the expert is chosen by inverting the gating's CDF at `u`
(`moe.mixture.experts_from_uniform`, which `sample_actions(u=...)` uses too), so one draw gives
one action in both; with `greedy` the file has no `u` and takes the most likely expert. Only
the last timestep's means are computed: the Cholesky head does not enter an action, so it is
left out of the file.

The TorchScript-based exporter (`torch.onnx.export(dynamo=False)`) needs only the `onnx`
package beside torch (no onnxscript); opset 17 runs on ONNX Runtime's CPU and CUDA providers.
Run the file with `moe_runtime.OnnxPolicy` (numpy and onnxruntime only).

    python -m moe.export CHECKPOINT_DIR policy.onnx [--greedy] [--batch 1]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from moe.mixture import experts_from_uniform

if TYPE_CHECKING:
    from moe.policy import MoEPolicy

__all__ = ["FORMAT", "OPSET", "ActionGraph", "export_onnx"]

FORMAT = "vdd-moe-onnx/1"  # metadata `moe.format`; moe_runtime refuses other formats
OPSET = 17  # LayerNormalization is a single op from 17 on; both ORT providers run it
ONNX_MISSING = 'ONNX export needs the onnx package: pip install "vdd-moe[export]"'


class ActionGraph(nn.Module):
    """What the exported file computes: raw window (B, T, O) [+ u (B,)] -> raw action (B, A)."""

    def __init__(self, *, policy: MoEPolicy, greedy: bool) -> None:
        super().__init__()
        self.policy = policy
        self.greedy = greedy

    def forward(self, obs_BTO: torch.Tensor, u_B: torch.Tensor | None = None) -> torch.Tensor:
        p, c = self.policy, self.policy.config
        feat = p.backbone(p.obs_embed(p.obs_normalizer.normalize(obs_BTO)))[:, -1]  # (B, D)
        means = p.experts.mean_head(feat).reshape(-1, c.num_experts, c.action_dim)  # (B, Z, A)
        if p.gating is None:  # uniform: one row of constants, broadcast against the draws
            log_w = torch.full((c.num_experts,), -math.log(c.num_experts))
        else:
            log_w = p.gating(feat)
        if self.greedy:
            z = log_w.argmax(-1).expand(feat.shape[0]) if p.gating is None else log_w.argmax(-1)
        else:
            z = experts_from_uniform(log_w, u_B)
        idx = z.reshape(-1, 1, 1).expand(-1, 1, c.action_dim)
        mean = means.gather(1, idx).squeeze(1)
        return p.action_normalizer.unnormalize(mean)


def _metadata_bytes(entries: dict[str, str]) -> bytes:
    """ModelProto.metadata_props (field 14) entries, serialised. Appending a serialised field
    to a protobuf message merges it (repeated fields append), so this adds metadata to the file
    torch wrote without parsing it."""

    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)

    def field(number: int, payload: bytes) -> bytes:  # wire type 2: length-delimited
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    return b"".join(field(14, field(1, k.encode()) + field(2, v.encode()))
                    for k, v in entries.items())


def export_onnx(policy: MoEPolicy, path: str | os.PathLike, *, greedy: bool = False,
                batch: int | None = None, opset: int = OPSET) -> Path:
    """Write `policy`'s acting pass to `path` (see the module docstring); returns the path.

    `batch`: None for any batch and window length, or the one batch size the file takes (with
    full windows). Metadata (`moe.format`, `moe.window`, `moe.obs_dim`, `moe.action_dim`,
    `moe.greedy`, `moe.batch`, `moe.config` as JSON) lets a runtime keep the observation window
    without our packages.
    """
    if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool)
                              or batch < 1):
        raise ValueError(f"batch must be None or a positive int, got {batch!r}")
    if importlib.util.find_spec("onnx") is None:  # torch's exporter needs it: say which extra
        raise ImportError(ONNX_MISSING)
    c = policy.config
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    graph = ActionGraph(policy=policy, greedy=greedy)
    was_training = policy.training
    policy.eval()  # dropout off, BatchNorm on its running statistics
    B = 2 if batch is None else batch
    obs = torch.zeros(B, c.window, c.obs_dim, device=policy.device)
    args = (obs,) if greedy else (obs, torch.full((B,), 0.5, device=policy.device))
    names = ["obs"] if greedy else ["obs", "u"]
    axes = {"obs": {0: "batch", 1: "window"}, "u": {0: "batch"}, "action": {0: "batch"}}
    axes = None if batch is not None else {k: v for k, v in axes.items()
                                           if k in names or k == "action"}
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # the shape checks of the backbone trace as constants (TracerWarning); the
            # TorchScript exporter is deprecated in favour of the dynamo one (onnxscript)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(graph, args, str(path), dynamo=False, input_names=names,
                              output_names=["action"], dynamic_axes=axes,
                              opset_version=opset, do_constant_folding=True)
    finally:
        policy.train(was_training)
    meta = {"moe.format": FORMAT, "moe.window": str(c.window), "moe.obs_dim": str(c.obs_dim),
            "moe.action_dim": str(c.action_dim), "moe.greedy": str(greedy).lower(),
            "moe.batch": "any" if batch is None else str(batch),
            "moe.config": json.dumps(asdict(c), sort_keys=True)}
    with open(path, "ab") as fh:
        fh.write(_metadata_bytes(meta))
    return path


def main(argv: list[str] | None = None) -> None:
    """CLI: export a saved MoEPolicy checkpoint directory to an ONNX file."""
    parser = argparse.ArgumentParser(description="Export a MoEPolicy checkpoint to ONNX.")
    parser.add_argument("checkpoint", help="a directory written by MoEPolicy.save")
    parser.add_argument("out", help="the .onnx file to write")
    parser.add_argument("--greedy", action="store_true",
                        help="always the most likely expert (no input u)")
    parser.add_argument("--batch", type=int, default=None,
                        help="fix the batch size (e.g. 1 for one robot: faster); default any")
    args = parser.parse_args(argv)
    from moe.policy import MoEPolicy

    policy = MoEPolicy.load(args.checkpoint)
    out = export_onnx(policy, args.out, greedy=args.greedy, batch=args.batch)
    c, B = policy.config, "B" if args.batch is None else args.batch
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB): obs ({B}, {c.window}, {c.obs_dim})"
          f"{'' if args.greedy else f', u ({B},)'} -> action ({B}, {c.action_dim})")


if __name__ == "__main__":
    main()
