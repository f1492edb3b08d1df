"""Camera frames of image datasets: compressed on disk, decoded once, windows read lazily.

On disk a dataset's frames live beside its Minari data in `images.h5`: per kept episode e,
`frames/<e>` (L+1, K, 3, H, W) uint8, gzip-compressed in one chunk per frame, and
`states/<e>` (L+1, S) float32, the robot state of the image observation. Training needs
random access to single frames at high rates, which decompressing per batch cannot give on
few cores, so the first load decodes the frames once into `frames.u8`, a raw uint8 file that
is memory-mapped: the process holds only the pages the batches touch (the OS page cache
does the rest), never a float copy and never a frame per window position.

`PackedWindows` is what `make_windows` gives image datasets instead of an (N, T, O) array:
window n is a row of frame indices; indexing it builds the packed observations
[state, pixels] (float32, pixels 0..255) of just the requested windows, and
`windows[..., :S]` gives the state part of all windows without touching pixels (what a
policy's observation normaliser fits on).

Shapes: F frames (all episodes, L+1 each), K cameras, P = K*3*H*W pixel values, S robot state,
N windows, T window length, B batch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["IMAGE_FILE", "FRAMES_FILE", "ImageWriter", "ImageFrames", "PackedWindows",
           "packed_windows"]

IMAGE_FILE = "images.h5"
FRAMES_FILE = "frames.u8"


class ImageWriter:
    """Appends episodes' frames and robot states to `images.h5` as they are generated (so a
    large dataset never sits in memory whole)."""

    def __init__(self, path: str | Path, *, compression_level: int = 4) -> None:
        import h5py

        self.path = Path(path)
        self._file = h5py.File(self.path, "w")
        self._level = compression_level
        self.count = 0

    def add(self, images_LKCHW: np.ndarray, states_LS: np.ndarray) -> None:
        images = np.asarray(images_LKCHW)
        if images.dtype != np.uint8 or images.ndim != 5:
            raise ValueError(f"frames must be uint8 (L, K, 3, H, W), got {images.dtype} "
                             f"{images.shape}")
        if len(states_LS) != len(images):
            raise ValueError(f"{len(images)} frames but {len(states_LS)} robot states")
        key = str(self.count)
        self._file.create_dataset(f"frames/{key}", data=images, chunks=(1, *images.shape[1:]),
                                  compression="gzip", compression_opts=self._level)
        self._file.create_dataset(f"states/{key}", data=np.asarray(states_LS, np.float32))
        self.count += 1

    def close(self) -> None:
        self._file.attrs["episodes"] = self.count
        self._file.close()

    def __enter__(self) -> ImageWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ImageFrames:
    """All frames of a dataset as a memory-mapped (F, P) uint8 array plus states (F, S) and each
    episode's first frame row (`offsets`)."""

    def __init__(self, frames_FP: np.ndarray, states_FS: np.ndarray, offsets: np.ndarray,
                 frame_shape: tuple[int, ...]) -> None:
        self.frames, self.states, self.offsets = frames_FP, states_FS, offsets
        self.frame_shape = frame_shape  # (K, 3, H, W)
        self.compressed_bytes = 0  # size of images.h5

    @property
    def decoded_bytes(self) -> int:
        return int(self.frames.size)

    @classmethod
    def open(cls, directory: str | Path) -> ImageFrames:
        """Open the frames of a dataset directory, decoding `images.h5` into `frames.u8` first
        if that was not done yet (written to a temporary file and renamed: atomic)."""
        import h5py

        directory = Path(directory)
        src = directory / IMAGE_FILE
        if not src.is_file():
            raise FileNotFoundError(f"no {IMAGE_FILE} in {directory}: not an image dataset, or "
                                    "an incomplete one (delete the directory to regenerate)")
        with h5py.File(src, "r") as f:
            count = int(f.attrs.get("episodes", len(f["frames"])))
            lengths = [f[f"frames/{e}"].shape[0] for e in range(count)]
            frame_shape = tuple(f["frames/0"].shape[1:])
            states = np.concatenate([f[f"states/{e}"][()] for e in range(count)])
            offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
            total, pixels = int(sum(lengths)), int(np.prod(frame_shape))
            raw = directory / FRAMES_FILE
            if not raw.is_file() or raw.stat().st_size != total * pixels:
                tmp = raw.with_name(f"{raw.name}.tmp-{os.getpid()}")
                mm = np.memmap(tmp, dtype=np.uint8, mode="w+", shape=(total, pixels))
                for e in range(count):
                    rows = slice(offsets[e], offsets[e] + lengths[e])
                    mm[rows] = f[f"frames/{e}"][()].reshape(lengths[e], pixels)
                mm.flush()
                del mm
                os.replace(tmp, raw)
        frames = np.memmap(raw, dtype=np.uint8, mode="r", shape=(total, pixels))
        store = cls(frames, states, offsets, frame_shape)
        store.compressed_bytes = src.stat().st_size
        return store


class PackedWindows:
    """Lazy (N, T, S + P) float32 windows of packed image observations (see module doc)."""

    def __init__(self, store: ImageFrames, index_NT: np.ndarray) -> None:
        self.store, self.index = store, index_NT
        self.state_dim = store.states.shape[1]
        self.pixel_dim = store.frames.shape[1]
        self.dtype = np.dtype(np.float32)

    @property
    def shape(self) -> tuple[int, int, int]:
        n, t = self.index.shape
        return n, t, self.state_dim + self.pixel_dim

    def __len__(self) -> int:
        return len(self.index)

    def state_windows(self) -> np.ndarray:
        """The state part of every window, (N, T, S) float32."""
        return self.store.states[self.index]

    def gather_batch(self, idx, device=None):
        """Windows `idx` as a torch tensor (B, T, O) on `device`: the pixels travel as uint8 and
        become floats there (a quarter of the bytes to copy)."""
        import torch

        rows = self.index[np.asarray(idx)]  # (B, T)
        pixels = torch.from_numpy(np.ascontiguousarray(self.store.frames[rows.reshape(-1)]))
        states = torch.from_numpy(self.store.states[rows.reshape(-1)])
        if device is not None:
            pixels, states = pixels.to(device, non_blocking=True), states.to(device)
        packed = torch.cat([states, pixels.float()], dim=-1)
        return packed.reshape(*rows.shape, -1)

    def __getitem__(self, key):
        if isinstance(key, tuple) and len(key) == 2 and key[0] is Ellipsis \
                and isinstance(key[1], slice):
            stop = key[1].stop
            if key[1].start in (None, 0) and key[1].step in (None, 1) and stop is not None \
                    and stop <= self.state_dim:
                return self.state_windows()[..., :stop]
            raise IndexError(f"PackedWindows[..., :k] reads the state part only (k <= "
                             f"{self.state_dim}), got {key[1]}")
        rows = self.index[key]
        return np.concatenate([self.store.states[rows],
                               self.store.frames[rows].astype(np.float32)], axis=-1)


def packed_windows(store: ImageFrames, lengths: list[int], window: int) -> PackedWindows:
    """Windows over episodes of `lengths` actions each (frames L+1 per episode, the last one
    never an input), padded at the start by repeating the first frame, like `make_windows`."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    rows = []
    for offset, length in zip(store.offsets, lengths, strict=True):
        t = np.arange(length)[:, None] + np.arange(window)[None, :] - (window - 1)
        rows.append(offset + np.clip(t, 0, None))
    return PackedWindows(store, np.concatenate(rows).astype(np.int64))
