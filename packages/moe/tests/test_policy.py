import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from moe import CheckpointError, MoEConfig, MoEPolicy, kmeans_pp
from moe.mixture import experts_from_uniform
from moe.policy import ACT_THREADS


def make_policy(**kw) -> MoEPolicy:
    torch.manual_seed(0)
    cfg = dict(obs_dim=3, action_dim=2, window=4, num_experts=5, n_layer=1, n_head=2, n_embd=16)
    cfg.update(kw)
    policy = MoEPolicy(MoEConfig(**cfg))
    rng = np.random.default_rng(0)
    policy.fit_normalizers(rng.normal(3.0, 2.0, (100, cfg["obs_dim"])),
                           rng.normal(-1.0, 0.5, (100, cfg["action_dim"])))
    return policy


@pytest.mark.parametrize("covariance", ["full", "diagonal"])
def test_forward_shapes_and_initial_spread(covariance):
    policy = make_policy(covariance=covariance, bias_init_bound=1.0)
    mix = policy.mixture(torch.randn(7, 4, 3))
    assert mix.log_weights.shape == (7, 4, 5)
    assert mix.means.shape == (7, 4, 5, 2)
    assert mix.scale_tril.shape == (7, 4, 5, 2, 2)
    # experts start apart, each with std init_std, and the gating starts uniform
    assert mix.means[0, 0].std(0).min() > 0.1
    assert torch.allclose(torch.diagonal(mix.scale_tril, dim1=-2, dim2=-1), torch.ones(1))
    assert torch.allclose(mix.weights, torch.full_like(mix.weights, 0.2))


def test_bad_shapes_give_clear_errors():
    policy = make_policy()
    with pytest.raises(ValueError, match=r"\(batch, window, obs_dim\)"):
        policy.mixture(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="obs_dim 2, the policy expects 3"):
        policy.mixture(torch.zeros(1, 4, 2))
    with pytest.raises(ValueError, match="takes 1..4"):
        policy.mixture(torch.zeros(1, 5, 3))
    with pytest.raises(ValueError, match="act expects"):
        policy.act(np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="covariance"):
        MoEConfig(obs_dim=1, action_dim=1, covariance="diag")
    with pytest.raises(ValueError, match="num_experts"):
        MoEConfig(obs_dim=1, action_dim=1, num_experts=0)


def test_act_keeps_a_window_and_reset_clears_it():
    policy = make_policy().eval()
    obs = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
    policy.reset()
    for t in range(6):
        a = policy.act(obs[t], greedy=True)
        assert a.shape == (2,) and isinstance(a, np.ndarray)
    window = torch.as_tensor(obs[2:6])[None]
    expected = policy.sample_actions(window, greedy=True)[0].numpy()
    np.testing.assert_allclose(a, expected, atol=1e-6)
    # first call after reset pads with the first observation
    policy.reset()
    first = policy.act(obs[0], greedy=True)
    padded = torch.as_tensor(obs[:1]).repeat(4, 1)[None]
    np.testing.assert_allclose(first, policy.sample_actions(padded, greedy=True)[0].numpy(),
                               atol=1e-6)
    with pytest.raises(ValueError, match="call reset"):
        policy.act(np.zeros((3, 3)))
    policy.reset()
    assert policy.act(torch.zeros(3, 3)).shape == (3, 2)


def test_sampled_acting_returns_expert_means():
    policy = make_policy(gating="uniform").eval()
    obs = torch.randn(2000, 1, 3)
    actions = policy.sample_actions(obs[:1].expand(2000, 1, 3).contiguous())
    means = policy.action_normalizer.unnormalize(policy.mixture(obs[:1]).means[0, 0])
    # every action is one of the expert means, and every expert gets picked
    d = (actions[:, None] - means[None]).norm(dim=-1)
    assert d.min(-1).values.max() < 1e-5
    assert set(d.argmin(-1).tolist()) == set(range(5))


def test_log_prob_in_raw_units_includes_the_normaliser_jacobian():
    policy = make_policy()
    obs, actions = torch.randn(4, 2, 3), torch.randn(4, 2, 2)
    mix = policy.mixture(obs)
    in_norm = mix.log_prob(policy.action_normalizer.normalize(actions))
    expected = in_norm - torch.log(policy.action_normalizer.std).sum()
    assert torch.allclose(policy.log_prob(obs, actions), expected, atol=1e-5)


def test_save_load_roundtrip_gives_identical_outputs(tmp_path):
    policy = make_policy(covariance="full").eval()
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.01 * torch.randn_like(p))
    policy.save(tmp_path / "ckpt")
    loaded = MoEPolicy.load(tmp_path / "ckpt")
    obs, actions = torch.randn(5, 4, 3), torch.randn(5, 4, 2)
    assert torch.equal(policy.log_prob(obs, actions), loaded.log_prob(obs, actions))
    a, b = policy.mixture(obs), loaded.mixture(obs)
    assert torch.equal(a.means, b.means) and torch.equal(a.scale_tril, b.scale_tril)
    assert loaded.config == policy.config
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json",
                                                                      "model.safetensors"]


def test_load_rejects_mismatched_checkpoints(tmp_path):
    make_policy().save(tmp_path / "a")
    meta = json.loads((tmp_path / "a" / "config.json").read_text())
    meta["format_version"] = 99
    (tmp_path / "a" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="format version 99"):
        MoEPolicy.load(tmp_path / "a")
    make_policy().save(tmp_path / "b")
    meta = json.loads((tmp_path / "b" / "config.json").read_text())
    meta["config"]["num_experts"] = 7
    (tmp_path / "b" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="shape"):
        MoEPolicy.load(tmp_path / "b")
    with pytest.raises(CheckpointError, match="not a checkpoint directory"):
        MoEPolicy.load(tmp_path / "missing")


def test_maximum_likelihood_fits_two_modes():
    torch.manual_seed(0)
    # Linear heads: with the default 2 x 256 MLP heads, Adam at lr 1e-2 moves the means by
    # whole modes per step and this 300-step fit misses (measured)
    policy = make_policy(obs_dim=1, action_dim=1, window=1, num_experts=2, covariance="diagonal",
                         head_layers=0)
    rng = np.random.default_rng(0)
    actions = np.concatenate([rng.normal(-2, 0.1, 500), rng.normal(2, 0.1, 500)])[:, None, None]
    obs = np.zeros((1000, 1, 1), np.float32)
    policy.fit_normalizers(obs, actions)
    batch = {"obs": torch.as_tensor(obs), "actions": torch.as_tensor(actions, dtype=torch.float32)}
    opt = torch.optim.Adam(policy.parameters(), lr=1e-2)
    first = None
    for _ in range(300):
        loss, stats = policy.compute_loss(batch)
        first = first if first is not None else stats["nll"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert stats["nll"] < first - 1.0
    means = sorted(policy.action_normalizer.unnormalize(
        policy.mixture(obs[:1]).means[0, 0]).flatten().tolist())
    assert means == pytest.approx([-2, 2], abs=0.1)


def test_init_experts_from_actions_spreads_over_clusters():
    policy = make_policy(obs_dim=1, action_dim=2, window=1, num_experts=4)
    centres = np.array([[5, 5], [-5, 5], [5, -5], [-5, -5]], float)
    rng = np.random.default_rng(0)
    actions = np.concatenate([c + 0.1 * rng.normal(size=(50, 2)) for c in centres])
    policy.fit_normalizers(np.zeros((200, 1)), actions)
    policy.init_experts_from_actions(actions, generator=torch.Generator().manual_seed(0))
    means = policy.action_normalizer.unnormalize(policy.mixture(torch.zeros(1, 1, 1)).means[0, 0])
    nearest = torch.cdist(means.double(), torch.as_tensor(centres)).argmin(-1)
    assert sorted(nearest.tolist()) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="at least 4 points"):
        kmeans_pp(torch.zeros(3, 2), 4)


def test_a_uniform_draw_picks_experts_by_the_gating_cdf():
    torch.manual_seed(0)
    log_w = torch.log_softmax(torch.randn(6, 5), -1)
    u = torch.rand(6)
    cdf = log_w.exp().cumsum(-1)
    expected = [int((cdf[i] < u[i] * cdf[i, -1]).sum()) for i in range(6)]
    assert experts_from_uniform(log_w, u).tolist() == expected
    assert experts_from_uniform(log_w[:, :1] * 0, torch.ones(6)).tolist() == [0] * 6  # u=1 stays
    # sample_actions(u=...) returns the chosen expert's mean; u=0 / u~1 the first / last expert
    policy = make_policy(gating="uniform").eval()
    obs = torch.randn(2, 4, 3)
    means = policy.action_normalizer.unnormalize(policy.mixture(obs).means[:, -1])
    got = policy.sample_actions(obs, u=np.array([0.0, 0.9999], np.float32))
    torch.testing.assert_close(got, torch.stack([means[0, 0], means[1, -1]]))
    with pytest.raises(ValueError, match=r"u must be shaped \(2,\)"):
        policy.sample_actions(obs, u=[0.5])


def test_act_runs_with_its_own_thread_count_and_restores_torchs():
    policy = make_policy().eval()
    seen = []
    original = policy.sample_actions
    policy.sample_actions = lambda *a, **k: seen.append(torch.get_num_threads()) or original(
        *a, **k)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        policy.act(np.zeros(3, np.float32))
        assert seen[-1] == ACT_THREADS == 1 and torch.get_num_threads() == 2
        policy.act_threads = None  # keep torch's setting
        policy.act(np.zeros(3, np.float32))
        assert seen[-1] == 2
    finally:
        torch.set_num_threads(before)


def test_importing_moe_never_loads_onnx():
    """`pip install packages/moe` stays light: acting and saving import no export package."""
    code = ("import sys, numpy as np, moe\n"
            "p = moe.MoEPolicy(moe.MoEConfig(obs_dim=2, action_dim=2))\n"
            "p.act(np.zeros(2, np.float32))\n"
            "print(sorted(m for m, mod in sys.modules.items() if mod is not None and "
            "m.split('.')[0] in ('onnx', 'onnxruntime', 'onnxscript', 'moe_runtime')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
