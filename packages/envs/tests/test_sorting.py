"""Sorting env (MuJoCo) and its scripted demonstrator: shapes, contexts, success, modes, images."""

import numpy as np
import pytest

from envs.d3il.push_planning import route, segments_clearance
from envs.d3il.pushing import cubes_overlap
from envs.d3il.sorting import (
    BLUE, RED, SLOTS, ZONES, Sorting2Env, Sorting6Env, SortingEnv, colour_sequences, in_zone,
    mode_sequence, sequence_mode, sorting_mode, sorting_success,
)
from envs.d3il.sorting_demo import SortingDemonstrator
from envs.demonstrator import run_episode

RED_IN, BLUE_IN = np.array([0.4, 0.3]), np.array([0.62, 0.3])
# 4 cubes (red, red, blue, blue) each in its own zone / none in a zone
SORTED = np.array([0.35, 0.3, 0.0, 0.45, 0.3, 0.2, 0.58, 0.3, 0.0, 0.68, 0.3, 0.0])
START = np.array([0.45, -0.12, 0.0, 0.6, 0.07, 0.3, 0.6, -0.12, 0.5, 0.45, 0.07, -0.2])


@pytest.fixture(scope="module")
def env():
    env = SortingEnv()
    yield env
    env.close()


@pytest.mark.parametrize("cls, n, steps, modes", [
    (Sorting2Env, 2, 500, 2), (SortingEnv, 4, 700, 6), (Sorting6Env, 6, 1200, 20)])
def test_shapes_and_spaces(cls, n, steps, modes):
    env = cls()
    obs, info = env.reset(seed=0)
    assert obs.shape == (4 + 3 * n,) and env.observation_space.shape == (4 + 3 * n,)
    assert env.action_space.shape == (2,) and env.max_steps == steps and env.num_modes == modes
    assert env.context.shape == (3 * n,) and env.report_mode_kl
    np.testing.assert_allclose(obs[:4], [0.525, -0.3, 0.525, -0.3], atol=1e-9)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert obs.shape == (4 + 3 * n,) and info["mode"] == -1 and not terminated and not truncated
    env.close()


def test_reset_places_the_given_context(env):
    obs, info = env.reset(options={"context": START})
    poses = obs[4:].reshape(4, 3)
    np.testing.assert_allclose(poses[:, :2], START.reshape(4, 3)[:, :2], atol=1e-9)
    np.testing.assert_allclose(poses[:, 2], np.tan(START[2::3]), rtol=1e-9)
    np.testing.assert_allclose(info["context"], START)
    np.testing.assert_allclose(env.cube_poses(), START.reshape(4, 3), atol=1e-9)
    with pytest.raises(ValueError, match="shape"):
        env.reset(options={"context": START[:9]})


@pytest.mark.parametrize("cls", [Sorting2Env, SortingEnv, Sorting6Env])
def test_reset_is_reproducible_per_seed_and_contexts_are_valid(cls):
    env = cls()
    a, _ = env.reset(seed=7)
    b, _ = env.reset(seed=7)
    c, _ = env.reset(seed=8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    rng, n = np.random.default_rng(0), env.num_cubes
    reds_in_left = set()
    for _ in range(50):
        poses = env.sample_context(rng).reshape(n, 3)
        slots = [int(np.nonzero((SLOTS[:, 0] <= x) & (x <= SLOTS[:, 1]) & (SLOTS[:, 2] <= y)
                                & (y <= SLOTS[:, 3]))[0][0]) for x, y, _ in poses]
        assert len(set(slots)) == n  # one cube per slot
        assert np.all(np.abs(poses[:, 2]) <= np.pi / 2)
        assert not any(cubes_overlap(poses[i], poses[j]) for i in range(n) for j in range(i))
        reds_in_left.add(sum(s < 3 for s in slots[: n // 2]))
    assert len(reds_in_left) > 1  # the colours are assigned to random slots
    env.close()


def test_colour_sequence_enumeration():
    assert [len(colour_sequences(n)) for n in (2, 4, 6)] == [2, 6, 20]
    assert colour_sequences(4)[0] == (RED, RED, BLUE, BLUE)
    assert colour_sequences(4)[-1] == (BLUE, BLUE, RED, RED)
    for n in (2, 4, 6):
        for mode, seq in enumerate(colour_sequences(n)):
            assert sequence_mode(seq) == mode and mode_sequence(mode, n) == seq
    with pytest.raises(ValueError, match="colour sequence"):
        sequence_mode([RED, RED, RED, BLUE])
    with pytest.raises(ValueError, match="mode"):
        mode_sequence(6, 4)
    with pytest.raises(ValueError, match="number of cubes"):
        colour_sequences(3)


def test_zone_and_success_functions():
    assert in_zone(RED_IN, RED) and not in_zone(RED_IN, BLUE) and in_zone(BLUE_IN, BLUE)
    assert not in_zone([0.51, 0.3], RED) and not in_zone([0.51, 0.3], BLUE)  # between zones
    assert not in_zone([0.4, 0.215], RED) and in_zone([0.4, 0.225], RED)
    assert in_zone([0.4, 0.225], RED) and not in_zone([0.4, 0.225], RED, margin=0.01)
    assert sorting_success([RED_IN, RED_IN + 0.05], [BLUE_IN])
    assert not sorting_success([RED_IN, BLUE_IN], [BLUE_IN])  # a red cube in the blue zone
    assert not sorting_success([RED_IN], [[0.62, 0.42]])  # a blue cube beyond its zone
    assert ZONES.shape == (2, 4)


def _trajectory(steps_to_zone, zone_xy, length=30):
    """(L, 2): outside until the given step, then in the zone."""
    out = np.array([0.45, 0.0])
    return np.array([zone_xy if t >= steps_to_zone else out for t in range(length)])


def test_sorting_mode_known_answers():
    red = np.stack([_trajectory(5, RED_IN), _trajectory(20, RED_IN)], 1)
    blue = np.stack([_trajectory(10, BLUE_IN), _trajectory(25, BLUE_IN)], 1)
    assert sorting_mode(red, blue) == sequence_mode([RED, BLUE, RED, BLUE])
    blue = np.stack([_trajectory(1, BLUE_IN), _trajectory(2, BLUE_IN)], 1)
    assert sorting_mode(red, blue) == sequence_mode([BLUE, BLUE, RED, RED])
    # a red cube in the blue zone is not sorted; one knocked out again stays sorted
    red_wrong = np.stack([_trajectory(5, RED_IN), _trajectory(3, BLUE_IN)], 1)
    assert sorting_mode(red_wrong, blue) == -1
    knocked = red.copy()
    knocked[8:, 0] = [0.45, 0.0]
    assert sorting_mode(knocked, blue) == sequence_mode([BLUE, BLUE, RED, RED])
    # a tie in one step: red first
    tie = np.stack([_trajectory(4, RED_IN)], 1), np.stack([_trajectory(4, BLUE_IN)], 1)
    assert sorting_mode(*tie) == sequence_mode([RED, BLUE])


def test_success_and_mode_in_env(env):
    env.reset(options={"context": START})
    _, reward, terminated, _, info = env.step(np.zeros(2))
    assert not info["success"] and not terminated and reward == 0.0 and info["mode"] == -1
    _, info = env.reset(options={"context": SORTED})
    assert info["mode"] == 0  # all sorted at once: red before blue
    _, reward, terminated, _, info = env.step(np.zeros(2))
    assert info["success"] and terminated and reward == 1.0 and info["mode"] == 0
    swapped = SORTED.copy()
    swapped[[0, 6]] = SORTED[[6, 0]]  # a red cube in the blue zone and vice versa
    env.reset(options={"context": swapped})
    _, _, terminated, _, info = env.step(np.zeros(2))
    assert not info["success"] and not terminated and info["mode"] == -1


def test_mode_recorded_in_order_during_an_episode(env):
    demo = SortingDemonstrator()
    episode = run_episode(env, demo, seed=1)
    assert episode.success and episode.mode == demo.intended_mode
    assert tuple(env.sequence) == demo.sequence == mode_sequence(episode.mode, 4)
    poses = episode.observations[:, 4:].reshape(-1, 4, 3)[:, :, :2]
    assert sorting_mode(poses[:, :2], poses[:, 2:]) == episode.mode


def test_route_goes_around_cubes():
    p, q = np.array([0.5, -0.2]), np.array([0.5, 0.2])
    assert np.array_equal(route(p, q, []), q)
    assert np.array_equal(route(p, q, [(np.array([0.7, 0.0]), 0.06)]), q)  # not in the way
    wall = [(np.array([x, 0.0]), 0.06) for x in (0.44, 0.5, 0.56)]  # overlapping circles
    way = route(p, q, wall)
    assert abs(way[0] - 0.5) > 0.1  # around the whole wall, not into the gaps
    assert segments_clearance(p, way, np.array([c for c, _ in wall])).min() >= 0.06 - 1e-9


@pytest.mark.parametrize("cls, seeds", [(Sorting2Env, (0, 1)), (SortingEnv, (2, 3, 4))])
def test_demonstrator_succeeds_with_the_intended_mode(cls, seeds):
    env, demo = cls(), SortingDemonstrator()
    for seed in seeds:
        e = run_episode(env, demo, seed=seed)
        assert e.success and e.mode == demo.intended_mode and demo.num_modes == env.num_modes
        assert e.actions.shape[1] == 2 and np.abs(e.actions).max() <= env.max_delta
        assert e.length <= env.max_steps and e.observations.shape == (e.length + 1, env.obs_dim)
    again = run_episode(env, demo, seed=seeds[0])
    first = run_episode(env, demo, seed=seeds[0])
    assert np.array_equal(again.actions, first.actions)  # seeded
    env.close()


def test_image_observation():
    env = SortingEnv(observation="image")
    obs, _ = env.reset(seed=3)
    assert set(obs) == {"state", "images"} and set(obs["images"]) == {"overview", "in_hand"}
    assert env.observation_space.contains(obs)
    assert SortingEnv.packed_obs_dim() == 4 + 2 * 3 * 96 ** 2  # the policy's packed input
    for frame in obs["images"].values():
        assert frame.shape == (96, 96, 3) and frame.dtype == np.uint8
    np.testing.assert_allclose(obs["state"], [0.525, -0.3, 0.525, -0.3], atol=1e-9)
    again, _ = env.reset(seed=3)
    assert np.array_equal(obs["state"], again["state"])
    assert all(np.array_equal(obs["images"][k], again["images"][k]) for k in env.cameras)
    step_obs = env.step(np.array([0.01, 0.01]))[0]
    assert env.observation_space.contains(step_obs)
    r, g, b = np.moveaxis(obs["images"]["overview"].astype(np.int64), -1, 0)
    red = (r > 120) & (g < 70) & (b < 70)
    blue = (b > 120) & (r < 70) & (g < 110)
    assert red.sum() >= 20 and blue.sum() >= 20
    env.close()


@pytest.mark.slow
def test_demonstrator_acceptance_200_episodes(env):
    demo = SortingDemonstrator()
    episodes = [run_episode(env, demo, seed=s) for s in range(200)]
    success = np.mean([e.success for e in episodes])
    modes = {e.mode for e in episodes if e.success}
    assert success >= 0.95 and modes == set(range(6))
