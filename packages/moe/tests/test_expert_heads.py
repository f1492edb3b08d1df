"""Expert heads: one Linear layer or the VDD authors' residual MLP; old checkpoints still load."""

import json

import numpy as np
import pytest
import torch

from moe import MoEConfig, MoEPolicy
from moe.checkpoint import CheckpointError
from moe.heads import ResidualMLP

BASE = dict(obs_dim=3, action_dim=2, num_experts=4, n_layer=1, n_head=1, n_embd=8)


def _policy(**kw) -> MoEPolicy:
    torch.manual_seed(0)
    policy = MoEPolicy(MoEConfig(**BASE, **kw))
    rng = np.random.default_rng(0)
    policy.fit_normalizers(rng.normal(size=(64, 1, 3)), rng.normal(size=(64, 1, 2)))
    return policy


def test_default_heads_are_two_layer_residual_mlps_that_start_like_the_linear_ones():
    policy = _policy(head_hidden=32, init_std=0.5, bias_init_bound=0.7)
    assert MoEConfig(**BASE).head_layers == 2 and MoEConfig(**BASE).head_hidden == 256
    heads = policy.experts
    assert isinstance(heads.mean_head, ResidualMLP) and isinstance(heads.scale_head, ResidualMLP)
    assert len(heads.mean_head.blocks) == 1 and heads.mean_head.inp.out_features == 32
    obs = torch.randn(5, 1, 3)
    mix = policy.mixture(obs)
    # zero last layers: every state gets the same means (the biases) and std init_std
    assert torch.allclose(mix.means, mix.means[:1].expand_as(mix.means))
    assert mix.means.abs().max() <= 0.7
    std = torch.diagonal(mix.scale_tril, dim1=-2, dim2=-1)
    assert torch.allclose(std, torch.full_like(std, 0.5), atol=1e-5)
    target = torch.arange(8.0).reshape(4, 2)
    heads.set_means(target)
    assert torch.allclose(policy.mixture(obs).means[0, 0], target)


def test_linear_heads_with_zero_layers_and_bad_values_are_refused():
    policy = _policy(head_layers=0)
    assert isinstance(policy.experts.mean_head, torch.nn.Linear)
    assert policy.experts.mean_out is policy.experts.mean_head
    for bad in (1, 3, -2, 2.0, True):
        with pytest.raises(ValueError, match=f"head_layers .* got {bad!r}"):
            MoEConfig(**BASE, head_layers=bad)
    with pytest.raises(ValueError, match="head_hidden must be a positive int, got 0"):
        MoEConfig(**BASE, head_hidden=0)


def test_a_checkpoint_saved_before_the_head_fields_loads_with_linear_heads(tmp_path):
    old = _policy(head_layers=0)
    old.save(tmp_path / "old")
    cfg_path = tmp_path / "old" / "config.json"
    meta = json.loads(cfg_path.read_text())
    for field in ("head_layers", "head_hidden"):  # what a checkpoint of the earlier code has
        del meta["config"][field]
    cfg_path.write_text(json.dumps(meta))
    loaded = MoEPolicy.load(tmp_path / "old")
    assert loaded.config.head_layers == 0
    obs = torch.randn(3, 1, 3)
    assert torch.equal(loaded.mixture(obs).means, old.eval().mixture(obs).means)
    # a Linear-head checkpoint claimed to be an MLP-head one fails with a clear message
    meta["config"]["head_layers"] = 2
    cfg_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError):
        MoEPolicy.load(tmp_path / "old")
