"""Image datasets: compressed frames on disk, decoded once, packed windows built lazily."""

import numpy as np
import pytest

from envs.windows import make_windows
from envs.demonstrator import Episode
from envs.image_store import FRAMES_FILE, IMAGE_FILE, ImageFrames, ImageWriter, packed_windows

K, H = 2, 8  # cameras, image size
P = K * 3 * H * H


def _episode(length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (length + 1, K, 3, H, H), dtype=np.uint8)
    states = rng.normal(size=(length + 1, 4)).astype(np.float32)
    return frames, states


@pytest.fixture()
def store(tmp_path):
    episodes = [_episode(3, 0), _episode(5, 1)]
    with ImageWriter(tmp_path / IMAGE_FILE) as w:
        for frames, states in episodes:
            w.add(frames, states)
    return ImageFrames.open(tmp_path), episodes


def test_frames_round_trip_and_decode_once(store, tmp_path):
    frames, episodes = store
    assert frames.frames.shape == (4 + 6, P) and frames.frame_shape == (K, 3, H, H)
    np.testing.assert_array_equal(frames.frames[4:], episodes[1][0].reshape(6, P))
    np.testing.assert_array_equal(frames.states[:4], episodes[0][1])
    assert list(frames.offsets) == [0, 4]
    assert frames.compressed_bytes > 0 and frames.decoded_bytes == 10 * P
    # the decoded file is reused, not rewritten, and nothing temporary is left behind
    mtime = (tmp_path / FRAMES_FILE).stat().st_mtime_ns
    ImageFrames.open(tmp_path)
    assert (tmp_path / FRAMES_FILE).stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == [FRAMES_FILE, IMAGE_FILE]


def test_packed_windows_match_eager_windows(store):
    frames, episodes = store
    eps = [Episode(np.concatenate([s, f.reshape(len(f), P).astype(np.float64)], axis=1),
                   np.arange(len(f) - 1, dtype=float)[:, None], True, False, 0, np.zeros(0), 0)
           for f, s in episodes]
    eager = make_windows(eps, window=3)
    lazy = make_windows(eps, window=3, images=frames)
    assert lazy["obs"].shape == eager["obs"].shape == (3 + 5, 3, 4 + P)
    np.testing.assert_allclose(lazy["obs"][np.arange(8)], eager["obs"], rtol=1e-6)
    np.testing.assert_allclose(lazy["obs"][..., :4], eager["obs"][..., :4], rtol=1e-6)
    np.testing.assert_array_equal(lazy["actions"], eager["actions"])
    batch = lazy["obs"].gather_batch([7, 0, 3])
    np.testing.assert_allclose(batch.numpy(), eager["obs"][[7, 0, 3]], rtol=1e-6)
    assert batch.dtype.is_floating_point and lazy["obs"][0].shape == (3, 4 + P)
    with pytest.raises(IndexError, match="state part only"):
        lazy["obs"][..., :5]


def test_bad_input_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an image dataset"):
        ImageFrames.open(tmp_path)
    with ImageWriter(tmp_path / IMAGE_FILE) as w:
        with pytest.raises(ValueError, match="uint8"):
            w.add(np.zeros((2, K, 3, H, H), np.float32), np.zeros((2, 4)))
        with pytest.raises(ValueError, match="robot states"):
            w.add(np.zeros((2, K, 3, H, H), np.uint8), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="window"):
        packed_windows(None, [], 0)  # type: ignore[arg-type]
