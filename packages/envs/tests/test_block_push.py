"""Block Push env (MuJoCo, 10 Hz) and its scripted oracle: shapes, contexts, action limits,
success, reward, modes, demonstrations."""

import gymnasium as gym
import numpy as np
import pytest

from envs.block_push.env import (
    CONTEXT_HIGH, CONTEXT_LOW, MIN_BLOCK_DIST, NUM_MODES, TARGETS, WORKSPACE, BlockPushEnv,
    block_push_mode, block_push_success, features_yaw, in_target, yaw_features,
)
from envs.block_push.oracle import BlockPushDemonstrator
from envs.demonstrator import run_episode
from envs.metrics import normalized_entropy
from envs.task_specs import ROD_TASKS

T0, T1 = TARGETS
# block 0, block 1 (x, y, yaw): apart, neither in a target
START = np.array([0.35, -0.25, 0.3, 0.47, -0.12, 1.2])


@pytest.fixture(scope="module")
def env():
    env = BlockPushEnv()
    yield env
    env.close()


def test_shapes_spaces_and_registration(env):
    obs, info = env.reset(seed=0)
    assert obs.shape == (16,) and env.observation_space.shape == (16,)
    assert env.action_space.shape == (2,) and env.max_steps == 350 and env.frame_skip == 100
    np.testing.assert_allclose(obs[:4], [0.3, -0.4, 0.3, -0.4], atol=1e-9)
    np.testing.assert_allclose(obs[12:], TARGETS.reshape(-1))
    assert info["levels"] == {"p1": (False, -1)} and info["mode"] == -1
    with pytest.raises(ValueError, match="2 values"):
        env.step(np.zeros(3))
    spec = ROD_TASKS["block_push"]
    assert (spec.num_modes, spec.num_demos, spec.eval_contexts, spec.eval_rollouts) == (
        4, 1000, 100, 1)
    made = gym.make(spec.env_id)
    assert made.reset(seed=0)[0].shape == (16,)
    made.close()


def test_reset_places_the_given_context_and_is_seeded(env):
    obs, info = env.reset(options={"context": START})
    np.testing.assert_allclose(obs[4:6], START[:2], atol=1e-9)
    np.testing.assert_allclose(obs[8:10], START[3:5], atol=1e-9)
    np.testing.assert_allclose(obs[6:8], yaw_features(START[2]), atol=1e-9)
    np.testing.assert_allclose(obs[10:12], yaw_features(START[5]), atol=1e-9)
    np.testing.assert_allclose(env.block_pose(1), START[3:], atol=1e-9)
    np.testing.assert_allclose(info["context"], START)
    with pytest.raises(ValueError, match="shape"):
        env.reset(options={"context": START[:3]})
    a, _ = env.reset(seed=7)
    b, _ = env.reset(seed=7)
    c, _ = env.reset(seed=8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_sampled_contexts_are_in_range_and_apart(env):
    rng = np.random.default_rng(0)
    for _ in range(300):
        ctx = env.sample_context(rng)
        assert np.all(ctx >= CONTEXT_LOW) and np.all(ctx <= CONTEXT_HIGH)
        assert np.linalg.norm(ctx[:2] - ctx[3:5]) >= MIN_BLOCK_DIST


def test_yaw_features_have_the_cube_symmetry():
    for yaw in (0.1, -0.7, 2.0):
        np.testing.assert_allclose(yaw_features(yaw), yaw_features(yaw + np.pi / 2), atol=1e-12)
        folded = features_yaw(*yaw_features(yaw))
        assert -np.pi / 4 < folded <= np.pi / 4
        assert np.isclose(np.cos(4 * (folded - yaw)), 1.0)
    assert not np.allclose(yaw_features(0.0), yaw_features(np.pi / 4))


def test_actions_are_clipped_per_step_and_to_the_workspace(env):
    env.reset(options={"context": START})
    obs = env.step(np.array([-0.5, 0.02]))[0]
    np.testing.assert_allclose(obs[:2], [0.2, -0.38], atol=1e-9)  # x delta clipped to 0.1
    assert np.linalg.norm(obs[2:4] - obs[:2]) < 0.005  # a 10 cm jump settles within one step
    for _ in range(3):
        obs = env.step(np.array([-0.1, -0.1]))[0]
    np.testing.assert_allclose(obs[:2], WORKSPACE[0], atol=1e-9)


def test_episode_is_truncated_at_max_steps(env):
    env.reset(options={"context": START})
    for t in range(env.max_steps):
        _, reward, terminated, truncated, info = env.step(np.zeros(2))
        assert reward == 0.0 and not terminated and truncated == (t == env.max_steps - 1)
    assert not info["success"] and info["mode"] == -1


@pytest.mark.parametrize("context, success", [
    ([*T0, 0.0, *T1, 0.4], True),                        # each block in its own target
    ([T1[0] + 0.03, T1[1], 0.5, T0[0], T0[1] - 0.03, 0.0], True),  # swapped also counts
    ([T0[0] - 0.03, T0[1], 0.0, T0[0] + 0.04, T0[1], 0.0], False),  # both in target 0
    ([*T0, 0.0, 0.45, -0.1, 0.0], False),                 # only one block placed
])
def test_success_known_answers(env, context, success):
    env.reset(options={"context": np.array(context)})
    _, reward, terminated, _, info = env.step(np.zeros(2))
    assert info["success"] is success and terminated is success
    assert reward == pytest.approx(0.51 if success else 0.0)  # entries at reset earn nothing


def test_success_and_target_functions():
    assert in_target(T0 + 0.03) == 0 and in_target(T1 - [0.0, 0.049]) == 1
    assert in_target(T0 + 0.04) == -1 and in_target((T0 + T1) / 2) == -1  # 0.057 / 0.12 away
    assert block_push_success(T1, T0 + [0.02, 0.0])
    assert not block_push_success(T0, T0 + [0.0, 0.04])


def _path(start, end, n=20):
    return np.linspace(start, end, n)


FAR = np.array([0.35, -0.2])


@pytest.mark.parametrize("end0, end1, first0, mode", [
    (T0, T1, True, 0),     # block 0 -> target 0 first
    (T1, T0, True, 1),     # block 0 -> target 1 first
    (T1, T0, False, 2),    # block 1 -> target 0 first
    (T0, T1, False, 3),    # block 1 -> target 1 first
])
def test_block_push_mode_known_answers(end0, end1, first0, mode):
    b0 = np.vstack([_path(FAR, end0), np.repeat(end0[None], 20, 0)])
    b1 = np.vstack([_path(FAR + 0.15, end1), np.repeat(end1[None], 20, 0)])
    if first0:
        b1 = np.vstack([np.repeat(b1[:1], 20, 0), b1[:20]])
    else:
        b0 = np.vstack([np.repeat(b0[:1], 20, 0), b0[:20]])
    assert block_push_mode(b0, b1) == mode


def test_block_push_mode_undecided_ties_and_bad_input():
    assert block_push_mode(_path(FAR, FAR + [0, 0.3]), _path(FAR + 0.1, FAR + [0.1, 0.3])) == -1
    assert block_push_mode(np.zeros((0, 2)), np.zeros((0, 2))) == -1
    assert block_push_mode(_path(FAR, T1), _path(FAR, T0)) == 1  # same step: block 0 counts
    with pytest.raises(ValueError, match="trajectories"):
        block_push_mode(np.zeros((3, 2)), np.zeros((4, 2)))


def test_mode_p1_and_reward_tracked_in_env(env):
    # block 1 placed in target 0 at reset: mode 2 and p1 at once, no success yet
    env.reset(options={"context": np.array([0.45, -0.1, 0.0, *T0, 0.0])})
    _, _, terminated, _, info = env.step(np.zeros(2))
    assert info["mode"] == 2 and info["levels"] == {"p1": (True, 2)} and not terminated
    # the rod pushes block 0 up into target 1: a first entry earns 0.49 and sets the mode
    obs, _ = env.reset(options={"context": np.array([T1[0], T1[1] - 0.1, 0.0, 0.2, -0.1, 0.0])})
    below = np.array([T1[0], T1[1] - 0.15])  # 1.5 cm below block 0's face
    for _ in range(12):
        obs = env.step(np.clip(below - obs[:2], -0.05, 0.05))[0]
    np.testing.assert_allclose(obs[2:4], below, atol=0.003)
    rewards, info = [], {}
    for _ in range(15):
        _, reward, _, _, info = env.step(np.array([0.0, 0.01]))
        rewards.append(reward)
        if info["mode"] >= 0:
            break
    assert info["mode"] == 1 and rewards[-1] == pytest.approx(0.49) and sum(rewards[:-1]) == 0


def _roll(env, demo, seed, context=None):
    """An oracle episode by hand: (return, info, intended mode)."""
    options = None if context is None else {"context": context}
    obs, info = env.reset(seed=seed, options=options)
    demo.reset(obs, np.random.default_rng([seed, 1]))
    total = 0.0
    while True:
        obs, reward, terminated, truncated, info = env.step(demo.act(obs))
        total += reward
        if terminated or truncated:
            return total, info, demo.intended_mode


def test_demonstrator_succeeds_in_the_intended_modes(env):
    demo = BlockPushDemonstrator()
    episodes = [run_episode(env, demo, seed=s) for s in range(8)]
    assert sum(e.success for e in episodes) >= 7
    assert len({e.mode for e in episodes if e.success}) >= 3
    for e in episodes:
        assert e.actions.shape[1] == 2 and np.abs(e.actions).max() <= env.max_delta
        assert e.length <= env.max_steps and e.observations.shape == (e.length + 1, 16)
    total, info, intended = _roll(env, demo, seed=0)
    assert info["success"] and info["mode"] == intended and total == pytest.approx(1.49)


def test_demonstrator_goes_around_a_block_in_the_way(env):
    # block 1 sits on the straight line from block 0 to target 1: mode 1 needs a via point
    context = np.array([0.4, -0.3, 0.2, 0.46, -0.05, 0.7])
    demo = BlockPushDemonstrator()
    seed = next(s for s in range(100)
                if np.random.default_rng([s, 1]).integers(NUM_MODES) == 1)
    _, info, intended = _roll(env, demo, seed, context)
    assert intended == 1 and info["success"] and info["mode"] == 1


def test_demonstrator_is_seeded_and_draws_every_mode(env):
    demo = BlockPushDemonstrator()
    a, b = run_episode(env, demo, seed=3), run_episode(env, demo, seed=3)
    assert np.array_equal(a.actions, b.actions) and a.mode == b.mode
    obs, _ = env.reset(seed=0)
    drawn = []
    for s in range(40):
        demo.reset(obs, np.random.default_rng([s, 1]))
        drawn.append(demo.intended_mode)
    assert set(drawn) == set(range(NUM_MODES))
    with pytest.raises(ValueError, match="16 values"):
        demo.act(np.zeros(10))
    with pytest.raises(ValueError, match="pace"):
        BlockPushDemonstrator(pace=(0.02, 0.01))


@pytest.mark.slow
def test_demonstrator_acceptance_200_episodes(env):
    demo = BlockPushDemonstrator()
    episodes = [run_episode(env, demo, seed=s) for s in range(200)]
    success = np.mean([e.success for e in episodes])
    modes = [e.mode for e in episodes if e.success]
    assert success >= 0.95 and set(modes) == set(range(NUM_MODES))
    assert normalized_entropy(modes, NUM_MODES) >= 0.9
