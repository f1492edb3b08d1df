"""Aligning: env contract (spaces, context placement, seeding, success, failure, mode) and the
scripted demonstrator (succeeds, shows both modes, ends in the mode it intended)."""

import mujoco
import numpy as np
import pytest

from envs.d3il.aligning import (
    NUM_MODES, AligningEnv, aligned, aligning_mode, orientation_error, quat_yaw, yaw_quat,
)
from envs.d3il.aligning_demo import AligningDemonstrator
from envs.demonstrator import run_episode
from envs.metrics import normalized_entropy


@pytest.fixture(scope="module")
def env():
    e = AligningEnv()
    yield e
    e.close()


def test_spaces_and_shapes(env):
    assert env.observation_space.shape == (20,)
    assert env.action_space.shape == (3,)
    np.testing.assert_allclose(env.action_space.high, env.max_delta)
    assert env.max_steps == 400
    obs, info = env.reset(seed=0)
    assert obs.shape == (20,) and env.observation_space.contains(obs)
    assert info["mode"] == -1 and info["context"].shape == (6,)
    np.testing.assert_allclose(obs[0:3], (0.525, -0.35, 0.12))  # desired = TCP = start
    np.testing.assert_allclose(obs[3:6], (0.525, -0.35, 0.12), atol=1e-9)
    obs, reward, terminated, truncated, info = env.step(np.zeros(3, dtype=np.float32))
    assert obs.shape == (20,) and not terminated and not truncated and reward == 0.0


def test_sampled_context_ranges(env):
    ctx = np.array([env.sample_context(np.random.default_rng(s)) for s in range(200)])
    assert ctx.shape == (200, 6)
    for col, (lo, hi) in enumerate([(0.4, 0.6), (-0.25, -0.1), (-np.pi / 2, np.pi / 2),
                                    (0.4, 0.6), (0.2, 0.35), (-np.pi / 2, np.pi / 2)]):
        assert lo <= ctx[:, col].min() and ctx[:, col].max() <= hi


def test_reset_places_the_given_context(env):
    ctx = np.array([0.45, -0.2, 0.7, 0.55, 0.3, -1.2])
    obs, info = env.reset(seed=1, options={"context": ctx})
    np.testing.assert_allclose(info["context"], ctx)
    np.testing.assert_allclose(obs[6:8], ctx[:2], atol=1e-9)
    assert quat_yaw(obs[9:13]) == pytest.approx(ctx[2])
    np.testing.assert_allclose(obs[13:16], [0.55, 0.3, 0.0])
    np.testing.assert_allclose(obs[16:20], yaw_quat(-1.2))
    for _ in range(10):  # the box rests where it was put
        obs, *_ = env.step(np.zeros(3))
    np.testing.assert_allclose(obs[6:8], ctx[:2], atol=1e-3)
    assert orientation_error(obs[9:13], yaw_quat(0.7)) < 1e-3


def test_reset_is_reproducible(env):
    a, ia = env.reset(seed=7)
    b, ib = env.reset(seed=7)
    c, _ = env.reset(seed=8)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ia["context"], ib["context"])
    assert not np.allclose(a, c)


def test_box_on_target_is_success(env):
    env.reset(options={"context": np.array([0.5, -0.15, 0.4, 0.5, -0.15, 0.4])})
    assert env.is_success()
    _, reward, terminated, _, info = env.step(np.zeros(3))
    assert terminated and info["success"] and reward == 1.0
    assert info["mode"] == 1  # the rod is far outside the box
    env.reset(options={"context": np.array([0.5, -0.15, 0.4, 0.5, -0.15, 0.6])})  # 11 deg off
    assert not env.is_success()


def test_aligned_thresholds():
    q = yaw_quat(0.3)
    assert aligned([0.5, 0.2], q, [0.5, 0.217], q)
    assert not aligned([0.5, 0.2], q, [0.5, 0.22], q)
    assert aligned([0.5, 0.2], q, [0.5, 0.2], yaw_quat(0.3 + np.deg2rad(8.5)))
    assert not aligned([0.5, 0.2], q, [0.5, 0.2], yaw_quat(0.3 + np.deg2rad(9.0)))


def test_orientation_error_known_answers():
    q = yaw_quat(0.4)
    assert orientation_error(q, q) == pytest.approx(0.0, abs=1e-6)
    assert orientation_error(q, -q) == pytest.approx(0.0, abs=1e-6)  # same rotation
    assert orientation_error(yaw_quat(0.0), yaw_quat(np.pi / 2)) == pytest.approx(0.5)
    assert orientation_error(yaw_quat(-np.pi / 2), yaw_quat(np.pi / 2)) == pytest.approx(1.0)
    tilt = np.array([np.cos(np.pi / 4), np.sin(np.pi / 4), 0.0, 0.0])  # 90 deg about x
    assert orientation_error(yaw_quat(0.0), tilt) == pytest.approx(0.5)


def test_aligning_mode_known_answers():
    box = np.array([0.5, 0.1])
    assert aligning_mode(box, box) == 0
    assert aligning_mode(box, box + [0.035, 0.035]) == 0  # rod in an inner corner
    assert aligning_mode(box, box + [0.0, 0.052]) == 1
    assert aligning_mode(box, box + [-0.06, 0.0]) == 1  # rod against an outer wall
    assert NUM_MODES == 2


def test_tipped_box_is_failure(env):
    env.reset(options={"context": np.array([0.5, -0.15, 0.0, 0.5, 0.3, 0.0])})
    assert not env.is_failure()
    adr = env.model.joint("box").qposadr[0]
    env.data.qpos[adr + 2] = 0.05
    env.data.qpos[adr + 3:adr + 7] = [np.cos(np.pi / 4), np.sin(np.pi / 4), 0.0, 0.0]
    mujoco.mj_forward(env.model, env.data)
    assert env.is_failure()


def _rollouts(n: int):
    env = AligningEnv()
    demo = AligningDemonstrator()
    episodes, intended = [], []
    for seed in range(n):
        episodes.append(run_episode(env, demo, seed=seed))
        intended.append(demo.intended_mode)
    env.close()
    return episodes, intended


def test_demonstrator_succeeds_in_both_modes():
    episodes, intended = _rollouts(16)
    ok = [ep for ep in episodes if ep.success]
    assert len(ok) >= 14
    assert {ep.mode for ep in ok} == {0, 1}
    for ep, mode in zip(episodes, intended):
        if ep.success:
            assert ep.mode == mode  # ends where it meant to: inside or outside the box
        assert np.abs(ep.actions).max() <= 0.03 + 1e-12
        assert ep.length <= 400


def test_fixed_mode_demonstrator():
    env = AligningEnv()
    for mode in (0, 1):
        ep = run_episode(env, AligningDemonstrator(mode), seed=100 + mode)
        assert ep.success and ep.mode == mode
    env.close()


@pytest.mark.slow
def test_demonstrator_200_episodes():
    episodes, _ = _rollouts(200)
    success = np.mean([ep.success for ep in episodes])
    entropy = normalized_entropy([ep.mode for ep in episodes if ep.success], NUM_MODES)
    assert success >= 0.95 and entropy >= 0.9
