"""Pushing env (MuJoCo) and its scripted demonstrator: shapes, contexts, success, modes."""

import numpy as np
import pytest

from envs.d3il.push_planning import PushControl, next_stage
from envs.d3il.pushing import (
    CONTEXT_HIGH, CONTEXT_LOW, NUM_MODES, TARGETS, PushingEnv, cubes_overlap, pushing_mode,
    pushing_success,
)
from envs.d3il.pushing_demo import PushingDemonstrator
from envs.demonstrator import run_episode
from envs.metrics import normalized_entropy

RED_T, GREEN_T = TARGETS
FAR = np.array([0.45, -0.1])


@pytest.fixture(scope="module")
def env():
    env = PushingEnv()
    yield env
    env.close()


def test_shapes_and_spaces(env):
    obs, info = env.reset(seed=0)
    assert obs.shape == (10,) and env.observation_space.shape == (10,)
    assert env.action_space.shape == (2,) and env.max_steps == 400
    np.testing.assert_allclose(obs[:4], [0.525, -0.3, 0.525, -0.3], atol=1e-9)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert obs.shape == (10,) and info["mode"] == -1 and not terminated and not truncated


def test_reset_places_the_given_context(env):
    context = np.array([0.43, -0.05, 0.3, 0.61, -0.12, -1.0])
    obs, info = env.reset(options={"context": context})
    np.testing.assert_allclose(obs[4:6], context[:2], atol=1e-9)
    np.testing.assert_allclose(obs[7:9], context[3:5], atol=1e-9)
    np.testing.assert_allclose([obs[6], obs[9]], np.tan([0.3, -1.0]), rtol=1e-9)
    np.testing.assert_allclose(info["context"], context)
    np.testing.assert_allclose(env.cube_pose("green"), context[3:], atol=1e-9)


def test_reset_is_reproducible_per_seed_and_contexts_are_valid(env):
    a, _ = env.reset(seed=7)
    b, _ = env.reset(seed=7)
    c, _ = env.reset(seed=8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    rng = np.random.default_rng(0)
    for _ in range(100):
        ctx = env.sample_context(rng)
        assert np.all(ctx >= CONTEXT_LOW) and np.all(ctx <= CONTEXT_HIGH)
        assert not cubes_overlap(ctx[:3], ctx[3:])
    # rotated by 45 deg two cubes 5 cm apart intersect; side by side 1.5 cm apart they do not
    assert cubes_overlap(np.array([0.5, 0.0, np.pi / 4]), np.array([0.55, 0.0, np.pi / 4]))
    apart = np.array([0.5, 0.0, 0.0]), np.array([0.575, 0.0, 0.0])
    assert not cubes_overlap(*apart) and cubes_overlap(*apart, gap=0.02)


@pytest.mark.parametrize("context, success", [
    ([0.42, 0.3, 0.0, 0.63, 0.3, 0.2], True),      # each cube in its own zone
    ([0.63, 0.31, 0.5, 0.41, 0.29, 0.0], True),    # swapped zones also count
    ([0.395, 0.3, 0.0, 0.46, 0.3, 0.0], False),    # both cubes in the red zone
    ([0.42, 0.3, 0.0, 0.6, 0.0, 0.0], False),      # only one cube placed
])
def test_success_known_answers(env, context, success):
    env.reset(options={"context": np.array(context)})
    _, reward, terminated, _, info = env.step(np.zeros(2))
    assert info["success"] is success and terminated is success and reward == float(success)


def test_pushing_success_function():
    assert pushing_success(RED_T + 0.03, GREEN_T - 0.03)
    assert not pushing_success(RED_T + 0.04, GREEN_T - 0.04)  # 0.057 from the centres
    assert not pushing_success(RED_T, RED_T + [0.0, 0.04])


def _path(start, end, n=20):
    return np.linspace(start, end, n)


@pytest.mark.parametrize("red_end, green_end, red_first, mode", [
    (RED_T, GREEN_T, True, 0),     # red -> red zone first
    (GREEN_T, RED_T, True, 1),     # red -> green zone first
    (RED_T, GREEN_T, False, 2),    # green -> green zone first
    (GREEN_T, RED_T, False, 3),    # green -> red zone first
])
def test_pushing_mode_known_answers(red_end, green_end, red_first, mode):
    red = np.vstack([_path(FAR, red_end), np.repeat(red_end[None], 20, 0)])
    green = np.vstack([_path(FAR + 0.15, green_end), np.repeat(green_end[None], 20, 0)])
    if red_first:
        green = np.vstack([np.repeat(green[:1], 20, 0), green[:20]])
    else:
        red = np.vstack([np.repeat(red[:1], 20, 0), red[:20]])
    assert pushing_mode(red, green) == mode


def test_pushing_mode_undecided_and_ties():
    red, green = _path(FAR, FAR + [0.0, 0.2]), _path(FAR + 0.15, FAR + [0.15, 0.2])
    assert pushing_mode(red, green) == -1  # near the zones but never inside
    assert pushing_mode(red[:0], green[:0]) == -1
    # both arrive on the same step: red counts first
    assert pushing_mode(_path(FAR, GREEN_T), _path(FAR, RED_T)) == 1


def test_mode_tracked_in_env(env):
    env.reset(options={"context": np.array([0.6, 0.3, 0.0, 0.55, -0.1, 0.0])})
    _, _, terminated, _, info = env.step(np.zeros(2))
    assert info["mode"] == 1 and not terminated  # red already in the green zone
    env.reset(options={"context": np.array([0.45, -0.1, 0.0, 0.42, 0.3, 0.0])})
    assert env.step(np.zeros(2))[-1]["mode"] == 3


def test_demonstrator_succeeds_in_several_modes(env):
    demo = PushingDemonstrator()
    episodes = [run_episode(env, demo, seed=s) for s in range(16)]
    assert sum(e.success for e in episodes) >= 14
    assert len({e.mode for e in episodes if e.success}) >= 3
    for e in episodes:
        assert e.actions.shape[1] == 2 and np.abs(e.actions).max() <= env.max_delta
        assert e.length <= env.max_steps and e.observations.shape == (e.length + 1, 10)


def test_demonstrator_is_seeded(env):
    demo = PushingDemonstrator()
    a, b = run_episode(env, demo, seed=3), run_episode(env, demo, seed=3)
    assert np.array_equal(a.actions, b.actions) and a.mode == b.mode


@pytest.mark.slow
def test_demonstrator_acceptance_200_episodes(env):
    demo = PushingDemonstrator()
    episodes = [run_episode(env, demo, seed=s) for s in range(200)]
    success = np.mean([e.success for e in episodes])
    entropy = normalized_entropy([e.mode for e in episodes if e.success], NUM_MODES)
    assert success >= 0.95 and entropy >= 0.9


def test_push_plan_stages_restart_when_a_placed_cube_is_knocked_out():
    plan, targets = [(0, 1), (1, 0)], np.array([[0.0, 0.0], [1.0, 0.0]])
    placed, started, stop = [False, False], [True, False], np.array([0.02, 0.02])
    kw = dict(placed=placed, started=started, stop=stop, placed_tol=0.04)
    cubes = np.array([[1.01, 0.0, 0.0], [0.5, 0.5, 0.0]])  # cube 0 at its target
    assert next_stage(plan, cubes, targets, **kw) == 1 and placed == [True, False]
    cubes[1, :2] = [0.0, 0.01]
    assert next_stage(plan, cubes, targets, **kw) == -1 and placed == [True, True]
    cubes[0, :2] = [0.9, 0.0]  # knocked out: its push is due again, from the start
    assert next_stage(plan, cubes, targets, **kw) == 0
    assert placed == [False, True] and started == [False, False]


def test_push_control_lines_up_with_hysteresis_and_steps():
    control = PushControl(max_lead=0.01)
    c, d = np.zeros(2), np.array([1.0, 0.0])
    behind = np.array([-0.05, 0.015])  # |lat| 0.015: too far across to start, close enough to hold
    assert control.pushing(behind, c, d, 0.04, 0.0, False) == (False, 0.015)
    assert control.pushing(behind, c, d, 0.04, 0.0, True) == (True, 0.015)
    np.testing.assert_allclose(control.push_step(d, 0.015, 0.005), [0.005, -0.005])
    np.testing.assert_allclose(control.base(np.array([0.05, 0.0]), np.zeros(2)), [0.01, 0.0])
    np.testing.assert_allclose(control.approach_step(np.zeros(2), np.array([0.0, 0.2]), 0.01),
                               [0.0, 0.01])


def test_scenes_share_the_preamble():
    from envs.d3il.gripper_scene import gripper_scene_xml
    from envs.d3il.scene import scene_preamble, scene_xml

    rod = scene_xml(name="a", bodies="", rod_start=(0.5, 0.0, 0.01))
    hand = gripper_scene_xml(name="b", bodies="", hand_start=(0.5, 0.0, 0.1))
    assert rod.startswith(scene_preamble(name="a", impratio=2, table_friction="0.4 0.005 0.0001"))
    assert hand.startswith(scene_preamble(name="b", impratio=10,
                                          table_friction="0.6 0.005 0.0001"))
