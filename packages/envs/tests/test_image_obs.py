"""Dict image observations: the space, batching, and the evaluation runner moving them
(uint8 images through subprocess pipes, handed to the policy as a dict of batches)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from envs.evaluation import evaluate
from envs.image_obs import (
    IMAGES_KEY, STATE_KEY, batch_size, image_observation, image_observation_space, replace_rows,
    stack_observations,
)

CAMERAS = ("overview", "in_hand")
H = 6  # image size


def test_space_is_a_dict_of_a_float_state_and_uint8_images():
    space = image_observation_space(state_dim=4, cameras=CAMERAS, image_size=H)
    assert isinstance(space, gym.spaces.Dict) and set(space) == {STATE_KEY, IMAGES_KEY}
    assert space[STATE_KEY].shape == (4,) and space[STATE_KEY].dtype == np.float64
    for name in CAMERAS:
        image = space[IMAGES_KEY][name]
        assert image.shape == (H, H, 3) and image.dtype == np.uint8
        assert image.low.min() == 0 and image.high.max() == 255
    frames = np.random.default_rng(0).integers(0, 256, (2, H, H, 3), dtype=np.uint8)
    obs = image_observation(np.arange(4.0), frames, CAMERAS)
    assert space.contains(obs) and np.array_equal(obs[IMAGES_KEY]["in_hand"], frames[1])
    assert not space.contains({**obs, STATE_KEY: np.zeros(5)})
    with pytest.raises(ValueError, match="uint8"):
        image_observation(np.zeros(4), frames.astype(np.float64), CAMERAS)
    with pytest.raises(ValueError, match="distinct"):
        image_observation_space(state_dim=4, cameras=("a", "a"), image_size=H)


def test_stacking_and_replacing_rows_of_nested_batches():
    rng = np.random.default_rng(1)
    items = [image_observation(rng.normal(size=4),
                               rng.integers(0, 256, (2, H, H, 3), dtype=np.uint8), CAMERAS)
             for _ in range(3)]
    batch = stack_observations(items)
    assert batch[STATE_KEY].shape == (3, 4) and batch[IMAGES_KEY]["overview"].shape == (3, H, H, 3)
    assert batch[IMAGES_KEY]["overview"].dtype == np.uint8 and batch_size(batch) == 3
    new = replace_rows(batch, np.array([2]), stack_observations(items[:1]))
    assert np.array_equal(new[IMAGES_KEY]["in_hand"][2], items[0][IMAGES_KEY]["in_hand"])
    assert np.array_equal(batch[STATE_KEY][2], items[2][STATE_KEY])  # the old batch is kept
    flat = replace_rows(np.zeros((3, 2)), np.array([0, 2]), np.ones((2, 2)))
    assert flat.tolist() == [[1, 1], [0, 0], [1, 1]] and batch_size(flat) == 3


class DictObsEnv(gym.Env):
    """Episodes of 2..4 steps whose uint8 images show the step count and whose state is the
    reset seed's draw; succeeds always, mode = the context."""

    metadata: dict = {"render_modes": []}
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, *, render_mode: str | None = None) -> None:
        self.render_mode = render_mode
        self.observation_space = image_observation_space(state_dim=2, cameras=CAMERAS,
                                                         image_size=H)

    def sample_context(self, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, 2, size=1).astype(np.float64)

    def _obs(self):
        frames = np.full((2, H, H, 3), self.t, dtype=np.uint8)
        frames[1] += 100
        return image_observation(np.array([self.draw, self.t]), frames, CAMERAS)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.mode, self.t = int(options["context"][0]), 0
        self.draw, self.horizon = float(self.np_random.random()), int(self.np_random.integers(2, 5))
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        done = self.t >= self.horizon
        return self._obs(), 0.0, done, False, {"success": done, "mode": self.mode if done else -1}


class RecordingPolicy:
    """Checks every batch it gets is a dict of uint8 images consistent with its state."""

    def __init__(self) -> None:
        self.batches = 0

    def __call__(self, obs) -> np.ndarray:
        images = obs[IMAGES_KEY]
        assert set(images) == set(CAMERAS) and all(v.dtype == np.uint8 for v in images.values())
        steps = obs[STATE_KEY][:, 1]
        assert np.array_equal(images["overview"][:, 0, 0, 0], steps)
        assert np.array_equal(images["in_hand"][:, -1, -1, 2], steps + 100)
        self.batches += 1
        return np.zeros((len(steps), 1))


@pytest.mark.parametrize("parallel", [False, True])
def test_runner_hands_dict_batches_of_uint8_images_to_the_policy(parallel):
    policy = RecordingPolicy()
    result = evaluate(DictObsEnv, policy, num_modes=2, contexts=3, rollouts_per_context=2,
                      num_envs=2, parallel=parallel, progress=False, seed=5)
    assert result.metrics["success_rate"] == 1.0 and len(result.records) == 6
    assert all(2 <= r.length <= 4 for r in result.records)
    if parallel:  # the same rollouts, whatever the vector env
        serial = evaluate(DictObsEnv, RecordingPolicy(), num_modes=2, contexts=3,
                          rollouts_per_context=2, num_envs=3, parallel=False, progress=False,
                          seed=5)
        assert result.records == serial.records
    assert policy.batches >= 4
