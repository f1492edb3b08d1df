"""Training on recorded data (`RolloutTask.dataset_path`): D4RL-layout HDF5 files and Minari
folders are read, checked against the task and cut into the same windows as generated data."""

import numpy as np
import pytest

from envs.datasets import generate_episodes, save_episodes
from envs.windows import make_windows
from envs.recorded import read_d4rl_hdf5, write_d4rl_hdf5
from envs.rollout_task import RolloutTask


@pytest.fixture(scope="module")
def episodes():
    return generate_episodes("avoiding", 3, seed=0, workers=1, progress=False)


def test_d4rl_file_trains_like_generated_data(episodes, tmp_path):
    path = write_d4rl_hdf5(tmp_path / "avoiding.hdf5", episodes)
    back = read_d4rl_hdf5(path)
    assert len(back) == 3
    for a, b in zip(episodes, back, strict=True):
        np.testing.assert_array_equal(a.observations, b.observations)
        np.testing.assert_array_equal(a.actions, b.actions)
    task = RolloutTask(name="avoiding", window=3, dataset_path=str(path))
    data = task.make_dataset(seed=0, cache_dir=tmp_path / "cache", progress=False)
    expected = make_windows(episodes, 3)
    np.testing.assert_array_equal(data["obs"], expected["obs"])
    np.testing.assert_array_equal(data["actions"], expected["actions"])
    assert not (tmp_path / "cache").exists()  # nothing generated
    # the teacher cache tells recorded data from generated data
    assert task.data_settings()["dataset_path"] == str(path.absolute())
    assert "dataset_path" not in RolloutTask(name="avoiding").data_settings()
    two = RolloutTask(name="avoiding", num_demos=2, dataset_path=str(path))
    assert len(two.load_episodes(0, cache_dir=tmp_path).episodes) == 2


def test_minari_folder_is_read(episodes, tmp_path):
    save_episodes(tmp_path / "ds", episodes, task="avoiding", metadata={"seed": 0})
    task = RolloutTask(name="avoiding", dataset_path=str(tmp_path / "ds"))
    got = task.load_episodes(0, cache_dir=tmp_path).episodes
    assert [len(e.actions) for e in got] == [len(e.actions) for e in episodes]
    np.testing.assert_allclose(got[0].observations, episodes[0].observations)


def test_bad_recorded_data_is_refused(episodes, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        RolloutTask(name="avoiding", dataset_path=str(tmp_path / "missing.hdf5"))
    path = write_d4rl_hdf5(tmp_path / "avoiding.hdf5", episodes)
    with pytest.raises(ValueError, match="expects 20 and 3"):  # Avoiding data for Aligning
        RolloutTask(name="aligning", dataset_path=str(path)).load_episodes(0, cache_dir=tmp_path)
