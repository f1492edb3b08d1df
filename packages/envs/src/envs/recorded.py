"""Recorded data in the original formats (D4RL, Minari), read as `Episode`s of the benchmark.

What a user who has the original data (e.g. Relay Kitchen's `kitchen-mixed`) trains on, with
`RolloutTask.dataset_path`.

`read_d4rl_hdf5`: D4RL's HDF5 layout (observations (N, O), actions (N, A), rewards, terminals,
timeouts, optional infos/*), split into episodes after each step with terminals | timeouts (a
trailing unfinished episode is kept). D4RL stores no next observation at the end of an
episode, so the episode's observations are its N_i recorded ones and its actions the first
N_i - 1 (the last action has no following observation).
`read_minari`: a Minari dataset directory; Dict observations (kitchen-mixed's `observation`,
`achieved_goal`, `desired_goal`) are reduced to their 59-D "observation" entry, the layout of
FrankaKitchen-v1's observation and of `RelayKitchenEnv`; Box observations are read as they are.
Modes and seeds are unknown in both formats (-1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from envs.demonstrator import Episode

__all__ = ["read_d4rl_hdf5", "write_d4rl_hdf5", "read_minari"]


def _episode(obs: np.ndarray, actions: np.ndarray, success: bool) -> Episode:
    return Episode(np.asarray(obs, np.float64), np.asarray(actions, np.float64), success,
                   False, -1, np.zeros(0), -1)


def read_d4rl_hdf5(path: str | Path) -> list[Episode]:
    """Episodes of a D4RL-layout HDF5 file (split on terminals | timeouts)."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no HDF5 file at {path}")
    with h5py.File(path, "r") as f:
        missing = [k for k in ("observations", "actions") if k not in f]
        if missing:
            raise ValueError(f"{path} lacks the D4RL datasets {missing}")
        obs, act = np.asarray(f["observations"]), np.asarray(f["actions"])
        n = len(obs)
        if len(act) != n:
            raise ValueError(f"{path}: {n} observations but {len(act)} actions")
        ends = np.zeros(n, dtype=bool)
        for key in ("terminals", "timeouts"):
            if key in f:
                ends |= np.asarray(f[key]).astype(bool).reshape(n)
        terminals = np.asarray(f["terminals"]).astype(bool) if "terminals" in f else ends
    episodes, start = [], 0
    for stop in [*(np.nonzero(ends)[0] + 1), n]:
        if stop - start >= 2:
            episodes.append(_episode(obs[start:stop], act[start:stop - 1],
                                     bool(terminals[stop - 1])))
        start = stop
    return episodes


def write_d4rl_hdf5(path: str | Path, episodes: list[Episode]) -> Path:
    """Write `episodes` in D4RL's layout (the inverse of `read_d4rl_hdf5`; for tests and
    exports). The last step of each episode repeats its last action."""
    import h5py

    obs, act, term, tout = [], [], [], []
    for ep in episodes:
        obs.append(ep.observations)
        act.append(np.concatenate([ep.actions, ep.actions[-1:]]))
        end = np.zeros(len(ep.observations), dtype=bool)
        end[-1] = True
        term.append(end & ep.success)
        tout.append(end & (not ep.success))
    path = Path(path)
    with h5py.File(path, "w") as f:
        f["observations"] = np.concatenate(obs)
        f["actions"] = np.concatenate(act)
        f["rewards"] = np.zeros(sum(len(o) for o in obs))
        f["terminals"] = np.concatenate(term)
        f["timeouts"] = np.concatenate(tout)
    return path


def read_minari(path: str | Path) -> list[Episode]:
    """Episodes of a Minari dataset directory (kitchen-mixed's Dict observations flattened to
    the 59-D "observation"; an episode succeeds if it ends terminated)."""
    from minari import MinariDataset

    path = Path(path).absolute()
    data = path / "data" if (path / "data").is_dir() else path
    if not (data / "metadata.json").is_file():
        raise FileNotFoundError(f"no Minari dataset at {path} (expected {data}/metadata.json)")
    episodes = []
    for ep in MinariDataset(data).iterate_episodes():
        obs = ep.observations
        if isinstance(obs, dict):
            if "observation" not in obs:
                raise ValueError(f"Dict observations without an 'observation' key: {list(obs)}")
            obs = obs["observation"]
        episodes.append(_episode(obs, ep.actions, bool(np.any(ep.terminations))))
    return episodes
