"""Output heads of the MoE: all experts' means and Cholesky factors at once, and the gating.

Shapes: ... leading dims (B, T), D feature width, Z experts, A action dim.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ExpertHeads", "GatingNet", "ResidualMLP"]


class ResidualMLP(nn.Module):
    """in (..., D) -> out (..., O): Linear(D, H), then `hidden_layers // 2` pre-activation
    residual blocks h + W2 mish(W1 mish(h)), then Linear(H, O) (`out`).

    The shape of the VDD authors' expert heads (intuitive-robots/vdd, vdd/networks/mlp.py:
    2 hidden layers, i.e. one block, 64 wide on the toy, 256 on Kitchen, 512 on Block Push;
    their configs ask for "mish", which that code's activation lookup does not know and
    replaces with PReLU: Mish here, as intended).
    """

    def __init__(self, *, in_dim: int, out_dim: int, hidden: int, hidden_layers: int) -> None:
        super().__init__()
        if hidden_layers < 2 or hidden_layers % 2:
            raise ValueError(f"ResidualMLP needs an even hidden_layers >= 2, got {hidden_layers!r}")
        self.inp = nn.Linear(in_dim, hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Mish(), nn.Linear(hidden, hidden),
                          nn.Mish(), nn.Linear(hidden, hidden))
            for _ in range(hidden_layers // 2))
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)


def _head(in_dim: int, out_dim: int, hidden: int, hidden_layers: int) -> nn.Module:
    """One Linear (hidden_layers = 0) or a ResidualMLP."""
    if hidden_layers == 0:
        return nn.Linear(in_dim, out_dim)
    return ResidualMLP(in_dim=in_dim, out_dim=out_dim, hidden=hidden, hidden_layers=hidden_layers)


class ExpertHeads(nn.Module):
    """features (..., D) -> means (..., Z, A), scale_tril (..., Z, A, A).

    Each head is one Linear (`hidden_layers=0`) or a `ResidualMLP` (`hidden_layers` hidden
    layers of width `hidden`, as the VDD authors' heads); `mean_out` / `scale_out` are their
    last Linear layers. Mean head: last layer's weights zero and biases uniform in
    +-bias_init_bound, so experts start spread out. Scale head: last layer zero-initialised;
    the diagonal is softplus(x + shift) + min_std with the shift chosen so every expert starts
    with std `init_std`. `covariance="full"` adds A(A-1)/2 free below-diagonal entries per
    expert; `"diagonal"` keeps only the diagonal.
    """

    def __init__(
        self,
        *,
        in_dim: int,
        num_experts: int,
        action_dim: int,
        covariance: str,
        init_std: float,
        min_std: float,
        bias_init_bound: float,
        hidden_layers: int = 0,
        hidden: int = 64,
    ) -> None:
        super().__init__()
        self.Z, self.A = num_experts, action_dim
        self.full = covariance == "full"
        self.min_std = min_std
        self.shift = math.log(math.expm1(init_std - min_std))  # softplus^-1(init_std - min_std)
        self.mean_head = _head(in_dim, num_experts * action_dim, hidden, hidden_layers)
        n_tril = action_dim * (action_dim + 1) // 2 if self.full else action_dim
        self.scale_head = _head(in_dim, num_experts * n_tril, hidden, hidden_layers)
        nn.init.zeros_(self.mean_out.weight)
        nn.init.uniform_(self.mean_out.bias, -bias_init_bound, bias_init_bound)
        nn.init.zeros_(self.scale_out.weight)
        nn.init.zeros_(self.scale_out.bias)
        rows, cols = torch.tril_indices(action_dim, action_dim, offset=-1)
        self.register_buffer("off_rows", rows, persistent=False)
        self.register_buffer("off_cols", cols, persistent=False)

    @property
    def mean_out(self) -> nn.Linear:
        """The mean head's last Linear layer (its bias places the experts)."""
        return self.mean_head if isinstance(self.mean_head, nn.Linear) else self.mean_head.out

    @property
    def scale_out(self) -> nn.Linear:
        return self.scale_head if isinstance(self.scale_head, nn.Linear) else self.scale_head.out

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lead = feat.shape[:-1]
        means = self.mean_head(feat).view(*lead, self.Z, self.A)
        raw = self.scale_head(feat).view(*lead, self.Z, -1)
        diag = F.softplus(raw[..., : self.A] + self.shift) + self.min_std
        tril = torch.diag_embed(diag)
        if self.full and self.A > 1:
            tril = _fill_lower(tril, raw[..., self.A :], self.off_rows, self.off_cols)
        return means, tril

    @torch.no_grad()
    def set_means(self, means_ZA: torch.Tensor, experts: torch.Tensor | None = None) -> None:
        """Place experts' means at the given points (as the mean head's last biases, its last
        weights zeroed)."""
        weight = self.mean_out.weight.view(self.Z, self.A, -1)
        bias = self.mean_out.bias.view(self.Z, self.A)
        idx = torch.arange(self.Z, device=bias.device) if experts is None else experts
        weight[idx] = 0.0
        bias[idx] = means_ZA.to(bias)

    @torch.no_grad()
    def set_stds(self, stds_ZA: torch.Tensor, experts: torch.Tensor | None = None) -> None:
        """Give experts (all, or those indexed) the per-dimension stds (Z', A) and no
        correlation (the scale head's last biases, its last weights zeroed)."""
        n = self.scale_out.bias.numel() // self.Z
        weight = self.scale_out.weight.view(self.Z, n, -1)
        bias = self.scale_out.bias.view(self.Z, n)
        idx = torch.arange(self.Z, device=bias.device) if experts is None else experts
        excess = (stds_ZA.to(bias) - self.min_std).clamp_min(1e-6)
        weight[idx] = 0.0
        bias[idx] = 0.0
        bias[idx, : self.A] = torch.log(torch.expm1(excess)) - self.shift


def _fill_lower(tril: torch.Tensor, values: torch.Tensor, rows, cols) -> torch.Tensor:
    """Write `values` (..., A(A-1)/2) below the diagonal of `tril` (..., A, A), out of place."""
    lower = torch.zeros_like(tril)
    lower[..., rows, cols] = values
    return tril + lower


class GatingNet(nn.Module):
    """Residual MLP on *detached* backbone features -> log q(z | s), (..., Z).

    Detaching keeps the gating's loss from reshaping the backbone the experts rely on.
    """

    def __init__(self, *, in_dim: int, num_experts: int, hidden: int, num_layers: int) -> None:
        super().__init__()
        self.inp = nn.Linear(in_dim, hidden)
        self.layers = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(num_layers))
        self.out = nn.Linear(hidden, num_experts)
        nn.init.zeros_(self.out.weight)  # start uniform
        nn.init.zeros_(self.out.bias)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.inp(feat.detach()))
        for layer in self.layers:
            h = h + F.silu(layer(h))
        return F.log_softmax(self.out(h), dim=-1)
