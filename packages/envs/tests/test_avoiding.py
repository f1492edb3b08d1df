"""Avoiding: geometry, mode detection on hand-built paths, collisions, the demonstrator."""

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the gymnasium ids)
from envs.d3il.avoiding import NUM_MODES, AvoidingEnv, avoiding_mode, mode_levels, side_agreement
from envs.d3il.avoiding_demo import AvoidingDemonstrator
from envs.demonstrator import run_episode
from envs.metrics import normalized_entropy


def _polyline(*points, step=0.002):
    pts = np.asarray(points, dtype=float)
    out = [pts[0]]
    for a, b in zip(pts[:-1], pts[1:]):
        n = max(1, int(np.ceil(np.linalg.norm(b - a) / step)))
        out += [a + (b - a) * k / n for k in range(1, n + 1)]
    return np.asarray(out)


def test_mode_of_hand_built_paths():
    # right of level 1, middle gap of level 2, third gap of level 3 -> 12 + 4 + 2
    path = _polyline((0.525, -0.28), (0.56, -0.1), (0.5, 0.08), (0.575, 0.26), (0.575, 0.4))
    assert avoiding_mode(path) == 18
    assert mode_levels(18) == (1, 1, 2)
    # far left everywhere -> 0; far right everywhere -> 23
    assert avoiding_mode(_polyline((0.44, -0.3), (0.38, 0.08), (0.28, 0.26), (0.28, 0.4))) == 0
    assert avoiding_mode(_polyline((0.56, -0.3), (0.65, 0.08), (0.72, 0.26), (0.72, 0.4))) == 23
    # a path that stops before the last row has no mode yet
    assert avoiding_mode(_polyline((0.525, -0.28), (0.56, -0.1), (0.5, 0.2))) == -1


def _drive(env, waypoints, pace=0.006):
    """Steer the desired position through waypoints; return the last step's info."""
    obs, info = env.reset(seed=0)
    for target in waypoints:
        for _ in range(400):
            delta = np.asarray(target) - obs[:2]
            if np.linalg.norm(delta) < 1e-3:
                break
            obs, _, terminated, truncated, info = env.step(
                delta * min(1.0, pace / np.linalg.norm(delta)))
            if terminated or truncated:
                return info, obs
    return info, obs


def test_env_success_mode_and_collision():
    env = AvoidingEnv()
    info, obs = _drive(env, [(0.56, -0.15), (0.56, -0.05), (0.5, 0.03), (0.5, 0.13),
                             (0.575, 0.21), (0.575, 0.31), (0.575, 0.45)])
    assert info["success"] and not info["failure"] and info["mode"] == 18
    assert obs[3] > 0.35
    info, _ = _drive(env, [(0.525, 0.0)])  # straight into the level-1 cylinder
    assert info["failure"] and not info["success"] and info["mode"] == -1


def test_spaces_reset_and_gym_id():
    env = gym.make("envs/Avoiding-v0")
    obs, _ = env.reset(seed=3)
    assert obs.shape == (4,) and env.action_space.shape == (2,)
    np.testing.assert_allclose(obs, [0.525, -0.28, 0.525, -0.28], atol=1e-6)
    a = np.array([0.004, 0.005])
    first = [env.step(a)[0] for _ in range(5)]
    env.reset(seed=3)
    np.testing.assert_array_equal(first, [env.step(a)[0] for _ in range(5)])
    # the desired position moves by the (clipped) action; the rod follows with a lag
    env.reset(seed=0)
    obs, *_ = env.step(np.array([0.5, 0.0]))
    assert obs[0] == pytest.approx(0.525 + AvoidingEnv.max_delta)
    assert 0.525 < obs[2] < obs[0]
    env.close()


def test_render_headless():
    env = AvoidingEnv(render_mode="rgb_array", width=64, height=48)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
    rgb = frame.astype(int)
    red = (rgb[..., 0] - rgb[..., 1] > 40) & (rgb[..., 0] - rgb[..., 2] > 40)
    assert red.any()  # the cylinders are in view
    env.close()


def test_demonstrator_small_sample():
    env, demo = AvoidingEnv(), AvoidingDemonstrator()
    episodes = [run_episode(env, demo, seed=s) for s in range(24)]
    assert sum(e.success for e in episodes) >= 23
    modes = [e.mode for e in episodes if e.success]
    assert len(set(modes)) >= 12
    assert normalized_entropy(modes, NUM_MODES) > 0.75
    # seeded: the same seed gives the same demonstration
    a, b = run_episode(env, demo, seed=5), run_episode(env, demo, seed=5)
    np.testing.assert_array_equal(a.actions, b.actions)


def test_demonstrator_follows_drawn_path():
    env, demo = AvoidingEnv(), AvoidingDemonstrator()
    for s in range(6):
        ep = run_episode(env, demo, seed=s)
        assert ep.success and ep.mode == demo.intended_mode


@pytest.mark.slow
def test_demonstrator_acceptance_200_episodes():
    env, demo = AvoidingEnv(), AvoidingDemonstrator()
    episodes = [run_episode(env, demo, seed=s) for s in range(200)]
    success = np.mean([e.success for e in episodes])
    entropy = normalized_entropy([e.mode for e in episodes if e.success], NUM_MODES)
    assert success >= 0.95 and entropy >= 0.9, (success, entropy)


def test_side_agreement_scores_a_policy_against_the_demonstrations_own_sides():
    env, demo = AvoidingEnv(), AvoidingDemonstrator()
    episodes = [run_episode(env, demo, seed=s) for s in range(6)]
    right = [float(np.mean([ep.actions[k, 0] > 0 for ep in episodes])) for k in (1, 2)]
    always_right = side_agreement(lambda obs: np.tile([0.003, 0.005], (len(obs), 1)), episodes,
                                  window=5, steps=(1, 2), samples=3)
    assert always_right == pytest.approx(right)

    def follow_motion(obs):  # continue the window's last step: the demonstrations' own side
        return obs[:, -1, :2] - obs[:, -2, :2]

    assert side_agreement(follow_motion, episodes, window=5, steps=(2, 3)) == [1.0, 1.0]
