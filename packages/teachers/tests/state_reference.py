"""Fixed-seed outputs of small state-only teachers, to check that later changes keep them.

`python packages/teachers/tests/state_reference.py` rewrites data/state_reference.json; run it
only when an output change is intended (cached teacher checkpoints depend on these outputs).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from teachers import BESOConfig, BESOPolicy, DDPMConfig, DDPMPolicy

REFERENCE = Path(__file__).parent / "data" / "state_reference.json"
ARCH = dict(obs_dim=3, action_dim=2, window=2, n_layer=2, n_head=2, n_embd=32)


def reference_outputs() -> dict[str, list]:
    """Samples of every sampler and one training loss per kind, from fixed seeds."""
    g = torch.Generator().manual_seed(1)
    obs, actions = torch.randn(64, 2, 3, generator=g), torch.randn(64, 2, 2, generator=g)
    out: dict[str, list] = {}
    for name, cls, config in (("beso", BESOPolicy, BESOConfig(**ARCH)),
                              ("ddpm", DDPMPolicy, DDPMConfig(**ARCH))):
        torch.manual_seed(0)
        policy = cls(config)
        policy.fit_normalizers(obs, actions)
        for sampler in config.SAMPLERS:
            sample = policy.sample_actions(obs[:8], num_steps=4, sampler=sampler,
                                           generator=torch.Generator().manual_seed(2))
            out[f"{name}/{sampler}"] = sample.tolist()
        torch.manual_seed(3)
        loss, _ = policy.compute_loss({"obs": obs, "actions": actions})
        out[f"{name}/loss"] = [float(loss.detach())]
    return out


if __name__ == "__main__":
    torch.set_num_threads(1)
    REFERENCE.write_text(json.dumps(reference_outputs(), indent=1))
    print(f"wrote {REFERENCE}")
