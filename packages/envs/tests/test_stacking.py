"""Stacking env (MuJoCo, parallel gripper) and its scripted demonstrator: shapes, contexts,
grasping in physics, success levels, order modes, images."""

import itertools

import numpy as np
import pytest

from envs.d3il.geometry import footprints_overlap
from envs.d3il.stacking import (
    BLOCK_HALF, CONTEXT_HIGH, CONTEXT_LOW, ORDERS, ZONE_CENTRE, StackingEnv, first_block_mode,
    in_zone, order_mode, stacked_blocks,
)
from envs.d3il.stacking_demo import StackingDemonstrator
from envs.demonstrator import run_episode

# red, green, blue (x, y, yaw): apart, none in the zone
START = np.array([0.4, -0.2, 0.3, 0.4, -0.05, -0.5, 0.575, -0.1, 0.8])
ZX, ZY = ZONE_CENTRE


@pytest.fixture(scope="module")
def env():
    env = StackingEnv()
    yield env
    env.close()


def test_shapes_and_spaces(env):
    obs, info = env.reset(seed=0)
    assert obs.shape == (20,) and env.observation_space.shape == (20,)
    assert env.action_space.shape == (5,) and StackingEnv.action_size() == 5
    assert env.max_steps == 1000 and env.num_modes == 6 and env.context.shape == (9,)
    np.testing.assert_allclose(obs[:6], [0.5, -0.3, 0.15] * 2, atol=2e-3)
    assert abs(obs[6]) < 1e-6 and obs[7] > 0.085  # starts at yaw 0, open
    assert set(info["levels"]) == {"stacking_1", "stacking_2", "stacking_3"}
    with pytest.raises(ValueError, match="5 values"):
        env.step(np.zeros(3))
    assert StackingEnv(observation="image").max_steps == 1200


def test_reset_places_the_given_context_and_is_seeded(env):
    obs, info = env.reset(options={"context": START})
    blocks = obs[8:].reshape(3, 4)
    np.testing.assert_allclose(blocks[:, :2], START.reshape(3, 3)[:, :2], atol=1e-9)
    np.testing.assert_allclose(blocks[:, 2], BLOCK_HALF[:, 2], atol=1e-9)
    np.testing.assert_allclose(blocks[:, 3], np.tan(START[2::3]), rtol=1e-9)
    np.testing.assert_allclose(info["context"], START)
    with pytest.raises(ValueError, match="shape"):
        env.reset(options={"context": START[:6]})
    a, _ = env.reset(seed=5)
    b, _ = env.reset(seed=5)
    c, _ = env.reset(seed=6)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_sampled_contexts_are_in_range_and_apart(env):
    rng = np.random.default_rng(0)
    for _ in range(200):
        context = env.sample_context(rng)
        assert np.all(context >= CONTEXT_LOW) and np.all(context <= CONTEXT_HIGH)
        poses = context.reshape(3, 3)
        for i, j in itertools.combinations(range(3), 2):
            assert not footprints_overlap(poses[i], BLOCK_HALF[i, :2], poses[j],
                                          BLOCK_HALF[j, :2], gap=0.01)


def test_stacked_blocks_known_answers():
    table = [ZX, ZY, 0.03]
    assert stacked_blocks(np.array([table, [ZX, ZY, 0.09], [ZX, ZY, 0.15]])) == 3
    assert stacked_blocks(np.array([table, [ZX, ZY, 0.09], [0.4, -0.2, 0.03]])) == 2
    assert stacked_blocks(np.array([table, [0.4, 0.0, 0.03], [0.4, -0.2, 0.03]])) == 1
    assert stacked_blocks(np.array([[0.4, 0, 0.03], [0.4, -0.2, 0.03], [0.6, 0, 0.03]])) == 0
    # side by side in the zone is not a stack; a block held in the air is not resting
    assert stacked_blocks(np.array([table, [ZX + 0.03, ZY, 0.03], [0.4, 0, 0.03]])) == 1
    assert stacked_blocks(np.array([table, [ZX, ZY, 0.2], [0.4, 0, 0.03]])) == 1
    assert stacked_blocks(np.array([[ZX, ZY, 0.1], [ZX, ZY, 0.16], [0.4, 0, 0.03]])) == 0
    assert in_zone([ZX + 0.059, ZY]) and not in_zone([ZX + 0.061, ZY])


def test_order_modes():
    assert len(ORDERS) == 6 and len(set(ORDERS)) == 6
    for mode, order in enumerate(ORDERS):
        assert order_mode(order[:2]) == mode and order_mode(order) == mode
    assert order_mode([]) == -1 and order_mode([2]) == -1
    assert first_block_mode([]) == -1 and first_block_mode([2, 0]) == 2


def test_success_levels_and_mode_in_env(env):
    env.reset(options={"context": START})
    _, reward, terminated, _, info = env.step(np.r_[0, 0, 0, 0, 0.09])
    assert not info["success"] and not terminated and reward == 0.0 and info["mode"] == -1
    assert info["levels"] == {"stacking_1": (False, -1), "stacking_2": (False, -1),
                              "stacking_3": (False, -1)}
    # blue already in the zone at reset: Stacking-1 reached in the mode "blue first"
    one = START.copy()
    one[6:8] = ZONE_CENTRE
    env.reset(options={"context": one})
    _, _, terminated, _, info = env.step(np.r_[0, 0, 0, 0, 0.09])
    assert info["levels"]["stacking_1"] == (True, 2) and not info["levels"]["stacking_2"][0]
    assert info["mode"] == -1 and not terminated


def _go(env, target, yaw, width, steps):
    """Drive the desired TCP toward `target` and yaw toward `yaw` with the fingers at `width`."""
    for _ in range(steps):
        delta = np.clip(np.asarray(target) - env.des, -0.01, 0.01)
        obs, *_ = env.step(np.r_[delta, np.clip(yaw - env.des_yaw, -0.1, 0.1), width])
    return obs


def test_grasp_lift_and_carry_in_physics(env):
    """Close on the red cube, lift it 17 cm and carry it: it stays between the fingers."""
    env.reset(options={"context": START})
    x, y, yaw = START[:3]
    _go(env, [x, y, 0.15], yaw, 0.09, 40)
    _go(env, [x, y, 0.03], yaw, 0.09, 40)
    assert np.linalg.norm(env.tcp - [x, y, 0.03]) < 0.005
    _go(env, [x, y, 0.03], yaw, 0.0, 25)
    assert 0.055 < env.finger_width < 0.062  # stopped by the 6 cm cube, not closed
    _go(env, [x, y, 0.2], yaw, 0.0, 40)
    red = env.block_poses()[0]
    assert red[2] > 0.18 and np.linalg.norm(red[:3] - env.tcp) < 0.01
    _go(env, [ZX, ZY, 0.2], yaw, 0.0, 60)
    red = env.block_poses()[0]
    assert np.linalg.norm(red[:3] - env.tcp) < 0.01 and np.linalg.norm(red[:2] - ZONE_CENTRE) < 0.01
    # the other blocks were not disturbed
    np.testing.assert_allclose(env.block_poses()[1:, :2], START.reshape(3, 3)[1:, :2], atol=1e-3)
    # lowered and released in the zone: Stacking-1 with red first
    _go(env, [ZX, ZY, 0.035], yaw, 0.0, 30)
    obs = _go(env, [ZX, ZY, 0.035], yaw, 0.09, 15)
    assert env.level_info()["stacking_1"] == (True, 0) and env.stacked() == 1
    assert abs(obs[8 + 2] - 0.03) < 0.003  # resting on the table


def test_empty_grasp_closes_fully(env):
    env.reset(options={"context": START})
    _go(env, [0.5, 0.1, 0.03], 0.0, 0.0, 40)  # nothing there
    assert env.finger_width < 0.005


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_demonstrator_stacks_all_three_in_the_intended_order(env, seed):
    demo = StackingDemonstrator()
    episode = run_episode(env, demo, seed=seed)
    assert episode.success and episode.mode == demo.intended_mode
    assert episode.length <= env.max_steps and episode.actions.shape == (episode.length, 5)
    assert env.level_info()["stacking_3"] == (True, episode.mode)
    assert tuple(env.sequence) == ORDERS[episode.mode]
    again = run_episode(env, demo, seed=seed)
    assert np.array_equal(again.actions, episode.actions)  # seeded


def test_demonstrator_draws_every_order():
    demo, rng = StackingDemonstrator(), np.random.default_rng(0)
    obs = np.zeros(20)
    modes = set()
    for _ in range(60):
        demo.reset(obs, rng)
        modes.add(demo.intended_mode)
    assert modes == set(range(6))
    with pytest.raises(ValueError, match="20 values"):
        demo.reset(np.zeros(8), rng)


def test_image_observation_renders_the_blocks_deterministically():
    env = StackingEnv(observation="image")
    obs, _ = env.reset(seed=3)
    assert env.observation_space.contains(obs) and obs["state"].shape == (8,)
    assert [obs["images"][k].dtype for k in env.cameras] == [np.uint8, np.uint8]
    again, _ = env.reset(seed=3)
    assert np.array_equal(obs["state"], again["state"])
    frames = env.render_cameras()
    assert frames.shape == (2, 96, 96, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames, np.stack([again["images"][k] for k in env.cameras]))
    r, g, b = np.moveaxis(obs["images"]["overview"].astype(np.int64), -1, 0)
    assert ((r > 120) & (g < 70) & (b < 70)).sum() >= 10  # red cube
    assert ((g > 110) & (r < 70) & (b < 90)).sum() >= 10  # green cube
    assert ((b > 120) & (r < 70) & (g < 110)).sum() >= 10  # blue box
    step_obs = env.step(np.r_[0.01, 0, 0, 0, 0.09])[0]
    assert env.observation_space.contains(step_obs)
    assert not np.array_equal(step_obs["state"], obs["state"])
    env.close()


@pytest.mark.slow
def test_demonstrator_acceptance_200_episodes(env):
    demo = StackingDemonstrator()
    episodes = [run_episode(env, demo, seed=s) for s in range(200)]
    success = np.mean([e.success for e in episodes])
    modes = {e.mode for e in episodes if e.success}
    assert success >= 0.95 and modes == set(range(6))
