"""The parallel evaluation runner on Avoiding with scripted, deterministic policies."""

from __future__ import annotations

from functools import partial

import gymnasium as gym
import numpy as np
import pytest

from envs.d3il.avoiding import NUM_MODES, AvoidingEnv
from envs.evaluation import evaluate, rollout_seed

make_avoiding = partial(AvoidingEnv)

# The path of mode 18 = 12*1 + 4*1 + 2: right of the level-1 cylinder (x 0.56 at y -0.1), the
# middle level-2 gap (x 0.5 at y 0.08), the third level-3 gap (x 0.575 at y 0.26), then on to
# the finish line (y 0.35). Desired x as a piecewise-linear function of desired y.
PATH_Y = np.array([-0.28, -0.2, -0.04, 0.01, 0.14, 0.19, 0.5])
PATH_X = np.array([0.525, 0.56, 0.56, 0.5, 0.5, 0.575, 0.575])
STEP = 0.01  # desired y advance per step


def follow_path(obs: np.ndarray) -> np.ndarray:
    """Stateless: move the desired position along the path, STEP further in y."""
    des = obs[:, :2]
    y = des[:, 1] + STEP
    return np.stack([np.interp(y, PATH_Y, PATH_X) - des[:, 0], y - des[:, 1]], axis=1)


def straight_ahead(obs: np.ndarray) -> np.ndarray:
    """Drive up at x = 0.5, into the level-1 cylinder."""
    return np.stack([0.5 - obs[:, 0], np.full(len(obs), STEP)], axis=1)


class CountingPolicy:
    """follow_path that records its resets and the batch sizes between them."""

    def __init__(self) -> None:
        self.waves: list[set[int]] = []

    def reset(self) -> None:
        self.waves.append(set())

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        self.waves[-1].add(len(obs))
        return follow_path(obs)


class SeededToyEnv(gym.Env):
    """A one-dimensional env whose outcome shows its context and reset seed: the episode
    lasts 1..5 steps (drawn from the seeded np_random), the mode is the context's first
    entry, success iff the length is even."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float64)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    metadata: dict = {"render_modes": []}

    def __init__(self, *, render_mode: str | None = None) -> None:
        self.render_mode = render_mode

    def sample_context(self, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, 4, size=1).astype(np.float64)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.mode = int(options["context"][0])
        self.horizon, self.t = int(self.np_random.integers(1, 6)), 0
        return np.zeros(1), {}

    def step(self, action):
        self.t += 1
        done = self.t >= self.horizon
        info = {"success": done and self.t % 2 == 0, "failure": False,
                "mode": self.mode if done else -1}
        return np.full(1, self.t, dtype=np.float64), 0.0, done, False, info


def _outcome(result):
    timing = {"wall_seconds", "steps_per_second", "setup_seconds"}
    return ({k: v for k, v in result.metrics.items() if k not in timing}, result.records)


def test_scripted_path_succeeds_in_its_mode_and_straight_ahead_fails():
    ok = evaluate(make_avoiding, follow_path, num_modes=NUM_MODES, contexts=1,
                  rollouts_per_context=1, parallel=False, progress=False)
    (rec,) = ok.records
    assert rec.success and not rec.failure and rec.mode == 18
    assert 60 < rec.length < 250
    m = ok.metrics
    assert m["success_rate"] == 1.0 and m["modes_seen"] == 1 and m["entropy"] == 0.0
    assert m["rollouts"] == 1 and m["contexts"] == 1
    assert m["env_steps"] == rec.length == m["mean_length"] and m["steps_per_second"] > 0
    assert ok.contexts[0].shape == (0,)  # Avoiding has no randomisation

    bad = evaluate(make_avoiding, straight_ahead, num_modes=NUM_MODES, contexts=1,
                   rollouts_per_context=1, parallel=False, progress=False)
    (rec,) = bad.records
    assert rec.failure and not rec.success and rec.mode == -1 and rec.length < 40
    assert bad.metrics["success_rate"] == 0.0 and bad.metrics["modes_seen"] == 0


def test_parallel_and_serial_agree_and_waves_reset_the_policy():
    kw = dict(num_modes=NUM_MODES, contexts=2, rollouts_per_context=2, seed=3, progress=False)
    par = evaluate(make_avoiding, follow_path, num_envs=2, parallel=True, **kw)
    policy = CountingPolicy()
    ser3 = evaluate(make_avoiding, policy, num_envs=3, parallel=False, **kw)
    assert _outcome(par) == _outcome(ser3)
    assert [(r.context_id, r.rollout_id) for r in par.records] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert all(r.success and r.mode == 18 for r in par.records)
    assert par.metrics["success_rate"] == 1.0 and par.metrics["contexts"] == 2
    # 4 rollouts in waves of 3: two resets, constant batch within each wave
    assert policy.waves == [{3}, {1}]


def test_each_rollout_depends_only_on_seed_context_and_rollout_id():
    toy = partial(SeededToyEnv)
    kw = dict(num_modes=4, contexts=3, rollouts_per_context=4, seed=7, progress=False)
    one = evaluate(toy, lambda o: np.zeros((len(o), 1)), num_envs=1, parallel=False, **kw)
    par = evaluate(toy, lambda o: np.zeros((len(o), 1)), num_envs=2, parallel=True, **kw)
    three = evaluate(toy, lambda o: np.zeros((len(o), 1)), num_envs=3, parallel=False, **kw)
    assert _outcome(one) == _outcome(par) == _outcome(three)
    # the seeds and contexts are the documented ones, and they vary
    env = SeededToyEnv()
    for rec in one.records:
        assert rec.seed == rollout_seed(7, rec.context_id, rec.rollout_id)
        rng = np.random.default_rng([7, rec.context_id])
        assert rec.mode == env.sample_context(rng)[0]
        env.reset(seed=rec.seed, options={"context": np.zeros(1)})
        assert rec.length == env.horizon
    assert len({r.length for r in one.records}) > 1
    other = evaluate(toy, lambda o: np.zeros((len(o), 1)), num_envs=2, parallel=False,
                     **{**kw, "seed": 8})
    assert [r.length for r in other.records] != [r.length for r in one.records]


def test_videos_are_written_for_the_first_rollouts(tmp_path):
    result = evaluate(make_avoiding, follow_path, num_modes=NUM_MODES, contexts=1,
                      rollouts_per_context=2, num_envs=2, parallel=False, videos=1,
                      video_dir=tmp_path / "gifs", progress=False)
    (path,) = result.video_paths
    assert path.parent == tmp_path / "gifs" and path.suffix == ".gif"
    assert path.stat().st_size > 1000
    import imageio.v3 as iio

    frames = iio.imread(path)
    assert frames.shape[0] == result.records[0].length + 1 and frames.shape[-1] in (3, 4)


@pytest.mark.parametrize("kwargs, match", [
    ({"contexts": 0}, "contexts must be an integer >= 1, got 0"),
    ({"rollouts_per_context": -2}, "rollouts_per_context must be an integer >= 1, got -2"),
    ({"num_envs": 0}, "num_envs must be an integer >= 1, got 0"),
    ({"videos": 1}, "needs a video_dir"),
])
def test_bad_settings_raise_value_errors(kwargs, match):
    kw = dict(num_modes=NUM_MODES, contexts=1, rollouts_per_context=1, parallel=False,
              progress=False)
    with pytest.raises(ValueError, match=match):
        evaluate(make_avoiding, follow_path, **{**kw, **kwargs})


def test_wrong_action_shape_raises_and_closes_the_envs():
    closed: list[bool] = []

    class Tracked(AvoidingEnv):
        def close(self) -> None:
            closed.append(True)
            super().close()

    with pytest.raises(ValueError, match=r"shape \(1, 3\).*expected \(1, 2\)"):
        evaluate(partial(Tracked), lambda o: np.zeros((len(o), 3)), num_modes=NUM_MODES,
                 contexts=1, rollouts_per_context=1, parallel=False, progress=False)
    assert len(closed) == 2  # the probe env and the one vector-env worker


class LevelledToyEnv(SeededToyEnv):
    """SeededToyEnv that also reports a graded level: reached after 3 steps, mode = context."""

    def step(self, action):
        obs, reward, done, trunc, info = super().step(action)
        info["levels"] = {"level_3": (self.t >= 3, self.mode if self.t >= 3 else -1),
                          "level_5": (self.t >= 5, self.mode if self.t >= 5 else -1)}
        return obs, reward, done, trunc, info


def test_levels_and_mode_kl_are_scored_like_the_main_success():
    result = evaluate(LevelledToyEnv, lambda obs: np.zeros((len(obs), 1)), num_modes=4,
                      contexts=6, rollouts_per_context=5, seed=3, parallel=False,
                      levels={"level_3": 4, "level_5": 4}, reference_modes=[0, 1, 2, 3])
    m, records = result.metrics, result.records
    reached = [r.length >= 3 for r in records]
    assert m["level_3/success_rate"] == pytest.approx(np.mean(reached))
    # the mean number of levels reached per rollout (Kitchen: subtasks done)
    counts = [(r.length >= 3) + (r.length >= 5) for r in records]
    assert 0 < np.mean(counts) < 2 and m["levels_reached"] == pytest.approx(np.mean(counts))
    assert all(r.levels["level_3"] == (r.length >= 3, r.mode if r.length >= 3 else -1)
               for r in records)
    modes = [r.mode for r in records if r.success]
    freq = np.bincount(modes, minlength=4) / len(modes)
    expected_kl = sum(p * np.log(p / 0.25) for p in freq if p > 0)
    assert m["mode_kl"] == pytest.approx(expected_kl, abs=1e-4)
