"""Demonstration datasets: seeded generation, Minari cache round trip, training windows."""

import numpy as np
import pytest

from envs.datasets import generate_episodes, load_episodes, load_or_generate, save_episodes
from envs.demonstrator import Episode
from envs.windows import make_windows
from envs.rollout_task import RolloutTask


def test_generation_is_seeded_and_independent_of_workers(tmp_path):
    serial = generate_episodes("avoiding", 4, seed=7, workers=1, progress=False)
    parallel = generate_episodes("avoiding", 4, seed=7, workers=2, progress=False)
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a.actions, b.actions)
        assert a.mode == b.mode and a.seed == b.seed and a.success
    other = generate_episodes("avoiding", 1, seed=8, workers=1, progress=False)
    assert not np.array_equal(other[0].actions[:20], serial[0].actions[:20])


def test_cache_round_trip_and_reuse(tmp_path):
    first = load_or_generate("avoiding", 3, seed=0, cache_dir=tmp_path, workers=1,
                             progress=False)
    assert not first.cached and (first.path / "data" / "metadata.json").is_file()
    again = load_or_generate("avoiding", 3, seed=0, cache_dir=tmp_path, workers=1)
    assert again.cached and again.path == first.path
    for a, b in zip(first.episodes, again.episodes):
        np.testing.assert_allclose(a.observations, b.observations)
        np.testing.assert_allclose(a.actions, b.actions)
        assert (a.mode, a.seed, a.success) == (b.mode, b.seed, b.success)
    # another seed or size is another dataset; no temporary directories are left behind
    assert load_or_generate("avoiding", 2, seed=0, cache_dir=tmp_path, workers=1,
                            progress=False).path != first.path
    assert not list((tmp_path / "datasets").rglob("*.tmp-*"))


def test_save_replaces_atomically(tmp_path):
    ep = Episode(np.zeros((4, 2)), np.ones((3, 1)), True, False, 1, np.zeros(0), 9)
    path = save_episodes(tmp_path / "d", [ep], task="avoiding")
    save_episodes(path, [ep, ep], task="avoiding")
    assert len(load_episodes(path)) == 2
    with pytest.raises(FileNotFoundError, match="no Minari dataset"):
        load_episodes(tmp_path / "missing")


def test_windows_pad_the_start_like_a_policy_queue():
    obs = np.arange(5, dtype=float)[:, None] * np.ones((1, 2))  # o_0..o_4 (L = 4 actions)
    act = 10 + np.arange(4, dtype=float)[:, None]
    w = make_windows([Episode(obs, act, True, False, 0, np.zeros(0), 0)], window=3)
    assert w["obs"].shape == (4, 3, 2) and w["actions"].shape == (4, 3, 1)
    np.testing.assert_array_equal(w["obs"][0, :, 0], [0, 0, 0])
    np.testing.assert_array_equal(w["obs"][1, :, 0], [0, 0, 1])
    np.testing.assert_array_equal(w["obs"][3, :, 0], [1, 2, 3])  # the last obs is not input
    np.testing.assert_array_equal(w["actions"][3, :, 0], [11, 12, 13])
    assert w["obs"].dtype == np.float32


def test_rollout_task_dataset_and_settings(tmp_path):
    task = RolloutTask(name="avoiding", num_demos=2, window=4, workers=1)
    data = task.make_dataset(0, cache_dir=tmp_path, progress=False)
    assert data["obs"].shape[1:] == (4, task.obs_dim)
    assert data["actions"].shape[1:] == (4, task.action_dim)
    assert task.data_settings() == {"name": "avoiding", "num_demos": 2, "window": 4}
    assert (task.eval_contexts, task.eval_rollouts) == (1, 480)
    with pytest.raises(ValueError, match="unknown rod task 'avoid'"):
        RolloutTask(name="avoid")
    with pytest.raises(ValueError, match="num_demos"):
        RolloutTask(name="avoiding", num_demos=-1)
