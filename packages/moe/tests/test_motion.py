"""The motion embedding: what it computes, what it saves, and the case it exists for."""

import numpy as np
import pytest
import torch

from moe import MoEConfig, MoEPolicy, MotionEmbedding, make_obs_embedding, window_differences


def test_window_differences_are_zero_at_the_first_step():
    obs = torch.tensor([[[1.0, 2.0], [1.5, 2.0], [3.0, 1.0]]])
    d = window_differences(obs)
    assert d.tolist() == [[[0.0, 0.0], [0.5, 0.0], [1.5, -1.0]]]


def test_fit_scales_motion_to_unit_rms_and_keeps_still_dims_at_one():
    rng = np.random.default_rng(0)
    moving = np.cumsum(rng.normal(0, 0.02, (200, 5, 1)), axis=1)
    still = np.full((200, 5, 1), 3.0)
    emb = MotionEmbedding(2, 8).fit(np.concatenate([moving, still], -1))
    d = np.diff(moving, axis=1)
    assert emb.motion_scale[0].item() == pytest.approx(1 / np.sqrt(np.mean(d**2)), rel=1e-4)
    assert emb.motion_scale[1].item() == 1.0
    with pytest.raises(ValueError, match="windows"):
        emb.fit(np.zeros((10, 1, 2)))


def test_padded_start_window_equals_a_plain_position_token():
    """At an episode start the window repeats one observation: no motion term."""
    emb = MotionEmbedding(3, 8)
    obs = torch.randn(1, 1, 3).repeat(2, 4, 1)
    assert torch.allclose(emb(obs), emb.position(obs))


def test_motion_needs_state_observations_and_saves_its_scale(tmp_path):
    with pytest.raises(ValueError, match="state observations"):
        make_obs_embedding(obs_dim=3 + 3 * 8 * 8, n_embd=8, cameras=1, image_size=8,
                           motion=True)
    with pytest.raises(ValueError, match="obs_motion"):
        MoEConfig(obs_dim=4, action_dim=2, obs_motion="yes")
    torch.manual_seed(0)
    policy = MoEPolicy(MoEConfig(obs_dim=2, action_dim=1, window=3, n_layer=1, n_head=1,
                                 n_embd=8, num_experts=2, obs_motion=True))
    obs = np.cumsum(np.random.default_rng(0).normal(0, 0.1, (50, 3, 2)), axis=1)
    policy.fit_normalizers(obs, np.zeros((50, 3, 1)))
    scale = policy.obs_embed.motion_scale.clone()
    assert not torch.allclose(scale, torch.ones(2))
    policy.save(tmp_path / "p")
    loaded = MoEPolicy.load(tmp_path / "p")
    assert torch.equal(loaded.obs_embed.motion_scale, scale)


def _branch_data(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Windows of 2 steps that all start at one point (spread 1e-3) among positions spread ~1:
    the first step went left or right by 0.01 and the action keeps that side. The side is
    visible only in the motion, ~1% of the observation scale (like a robot's first steps)."""
    side = rng.choice([-1.0, 1.0], n)
    start = rng.normal(0, 1e-3, (n, 1))
    obs = np.stack([start, start + 0.01 * side[:, None]], axis=1)  # (n, 2, 1)
    far = rng.normal(0, 1.0, (n, 2, 1))  # the rest of the workspace, still
    actions = np.stack([rng.choice([-1.0, 1.0], n), side], axis=1)[..., None]  # step 0: either
    actions = actions + rng.normal(0, 0.1, actions.shape)
    far_actions = rng.normal(0, 1.0, (n, 2, 1))
    return (np.concatenate([obs, far]).astype(np.float32),
            (np.concatenate([actions, far_actions]) * 0.01).astype(np.float32))


def test_a_policy_with_motion_keeps_the_side_it_set_off_in():
    rng = np.random.default_rng(0)
    obs, actions = _branch_data(512, rng)
    torch.manual_seed(0)
    policy = MoEPolicy(MoEConfig(obs_dim=1, action_dim=1, window=2, n_layer=1, n_head=1,
                                 n_embd=16, num_experts=2, covariance="diagonal",
                                 obs_motion=True, head_layers=0))  # 300 steps: Linear heads
    policy.fit_normalizers(obs, actions)
    batch = {"obs": torch.as_tensor(obs), "actions": torch.as_tensor(actions)}
    opt = torch.optim.Adam(policy.parameters(), lr=3e-3)
    for _ in range(300):
        loss, _ = policy.compute_loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    test_obs, _ = _branch_data(200, np.random.default_rng(1))
    test_obs = test_obs[:200]  # the branching windows
    side = np.sign(test_obs[:, 1, 0] - test_obs[:, 0, 0])
    torch.manual_seed(1)
    a = policy.sample_actions(torch.as_tensor(test_obs), greedy=True).numpy()[:, 0]
    assert np.mean(np.sign(a) == side) > 0.95
