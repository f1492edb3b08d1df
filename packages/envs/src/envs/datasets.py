"""Demonstration datasets of the rod tasks: generated in parallel, cached on disk in Minari
format, and cut into training windows.

Episode i of a dataset comes from seed SeedSequence([seed, i]) (env reset and demonstrator
draw), so a dataset is a function of (task, size, seed) whatever the number of workers. Only
successful episodes are kept (failures are replaced by further seeds), like a curated human
dataset; every episode's mode, seed and context are stored as Minari episode metadata.
The cache directory is `<cache_dir>/datasets/<dataset id>`, the id a Minari one
(`dataset_id`: `vdd/<task>/n<demos>-seed<seed>-<key>-v<format>`, key: a hash of everything that
determines the data) and `env_spec` the task's registered env, so Minari's own tools list, show
and load the cache (`MINARI_DATASETS_PATH=<cache_dir>/datasets minari list local`). Entries of
the earlier layout (`<cache_dir>/datasets/<task>-<key>`, same key) are moved to their id on first
use (`migrate_legacy`). An entry is written to a hidden temporary directory and renamed into
place, so an interrupted generation never leaves a half dataset behind. Image tasks also store
the camera frames there (`images.h5`, compressed; see `envs.image_store`), streamed to disk
while the episodes are generated, and their training windows are built lazily (`PackedWindows`).
Each entry records the SHA-256 of its files (`hashes.json`, the image store included), checked
when it is read; a garbled, truncated or incomplete entry (or one whose episodes hold NaN) is
named in one line, moved aside and regenerated. Entries from before the hashes are checked by
loading them.

Shapes: L steps of an episode, O obs, A action, T window, N windows.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from envs.demonstrator import Episode, run_episode
from envs.image_store import FRAMES_FILE, IMAGE_FILE, ImageFrames, ImageWriter
from envs.task_specs import ROD_TASKS, load_object

__all__ = ["DATASET_FORMAT", "dataset_key", "dataset_id", "env_spec_json", "entry_path",
           "migrate_legacy", "episode_seed", "generate_episodes", "save_episodes",
           "load_episodes", "load_or_generate", "CachedDataset",
           "content_hashes", "verify_entry"]

DATASET_FORMAT = 1  # bump when generation changes what a cached dataset contains
HASHES = "hashes.json"  # SHA-256 of every other file of an entry, by relative path
AUTHOR = ("vdd-envs",)  # Minari metadata of the datasets written here
CODE_PERMALINK = "packages/envs/src/envs/datasets.py"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def content_hashes(directory: str | Path) -> dict[str, str]:
    """SHA-256 of every file under `directory` (but the hash file and the frames decoded
    from `images.h5` on first load, which `ImageFrames.open` checks and rebuilds), by path."""
    root = Path(directory)
    return {str(p.relative_to(root)): _sha256(p) for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != HASHES and not p.name.startswith(FRAMES_FILE)}


def verify_entry(directory: str | Path) -> str:
    """Why the cache entry `directory` is not the one written ("" when its files match the
    recorded hashes, or when it has none: entries from before them)."""
    root = Path(directory)
    if not (root / HASHES).is_file():
        return ""
    try:
        recorded = json.loads((root / HASHES).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        return f"{HASHES} unreadable: {e}"
    actual = content_hashes(root)
    changed = sorted(set(recorded) ^ set(actual)
                     | {k for k in recorded if actual.get(k) != recorded[k]})
    return f"files changed since written: {changed[:5]}" if changed else ""


def quarantine(path: Path, reason: str) -> Path:
    """Move a corrupt entry aside (`.<entry>.corrupt-<pid>`, hidden from Minari's listing) and
    say so in one line."""
    aside = path.with_name(f".{path.name}.corrupt-{os.getpid()}")
    shutil.rmtree(aside, ignore_errors=True)
    os.replace(path, aside)
    print(f"[envs] cache entry {path} is corrupt ({' '.join(reason.split())}); moved aside to "
          f"{aside.name}, regenerating it", file=sys.stderr, flush=True)
    return aside


def episode_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def dataset_key(task: str, num_demos: int, seed: int, action_noise: float = 0.0) -> str:
    settings = {"format": DATASET_FORMAT, "task": task, "num_demos": num_demos, "seed": seed}
    if action_noise:  # DART data (keys of noise-free data are unchanged)
        settings["action_noise"] = float(action_noise)
    spec = ROD_TASKS.get(task)
    if spec is not None and spec.env_options:
        settings["env_options"] = dict(spec.env_options)
    if spec is not None and spec.observation != "state":
        settings["observation"] = spec.observation
    blob = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def dataset_id(task: str, num_demos: int, seed: int, action_noise: float = 0.0) -> str:
    """The Minari id of a cached dataset (`namespace/name-vN`): one name per key, so Minari's
    listing (which keeps the latest version of a name) shows every cached dataset."""
    dart = f"-dart{action_noise:g}" if action_noise else ""
    key = dataset_key(task, num_demos, seed, action_noise)
    return f"vdd/{task}/n{num_demos}-seed{seed}{dart}-{key}-v{DATASET_FORMAT}"


def entry_path(task: str, num_demos: int, seed: int, cache_dir: str | Path,
               action_noise: float = 0.0) -> Path:
    """Where the dataset of (task, num_demos, seed) is cached: `<cache_dir>/datasets/<id>`."""
    return Path(cache_dir) / "datasets" / dataset_id(task, num_demos, seed, action_noise)


def env_spec_json(task: str) -> str | None:
    """The task's registered gymnasium EnvSpec as JSON (Minari's `env_spec`), or None for a
    task without an env of its own."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers the tasks' envs)

    spec = ROD_TASKS.get(task)
    return gym.spec(spec.env_id).to_json() if spec is not None else None


def migrate_legacy(task: str, num_demos: int, seed: int, cache_dir: str | Path) -> bool:
    """Move the entry of the earlier layout (`datasets/<task>-<key>`) to its Minari id with
    the id and env spec in its metadata; True when one was moved. The data files are linked
    (copied where links fail), not rewritten; a damaged legacy entry is moved aside instead."""
    key = dataset_key(task, num_demos, seed)
    legacy = Path(cache_dir) / "datasets" / f"{task}-{key}"
    path = entry_path(task, num_demos, seed, cache_dir)
    if not (legacy / "data" / "metadata.json").is_file() or path.exists():
        return False
    reason = verify_entry(legacy)
    if reason:
        quarantine(legacy, reason)
        return False
    staging = path.with_name(f".{path.name}.migrate-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for src in sorted(legacy.rglob("*")):
            dst = staging / src.relative_to(legacy)
            if src.is_dir():
                dst.mkdir(parents=True, exist_ok=True)
            elif src.name not in (HASHES, "metadata.json"):
                dst.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(src, dst)
                except OSError:
                    shutil.copy2(src, dst)
        meta = json.loads((legacy / "data" / "metadata.json").read_text())
        meta.update(dataset_id=dataset_id(task, num_demos, seed), env_spec=env_spec_json(task),
                    author=sorted(AUTHOR), code_permalink=CODE_PERMALINK)
        (staging / "data" / "metadata.json").write_text(json.dumps(meta))
        (staging / HASHES).write_text(json.dumps(content_hashes(staging), indent=2,
                                                 sort_keys=True))
        os.replace(staging, path)
    except OSError:
        if not path.exists():  # not another process's migration that won: a real failure
            raise
        return False
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(legacy, ignore_errors=True)
    print(f"[envs] moved cached dataset {legacy.name} to {path} (Minari id "
          f"{dataset_id(task, num_demos, seed)})", file=sys.stderr, flush=True)
    return True


# ---------------------------------------------------------------------- generation
_WORKER: dict = {}


def _init_worker(task: str, action_noise: float = 0.0) -> None:
    spec = ROD_TASKS[task]
    _WORKER["action_noise"] = action_noise
    # the demonstrator acts on the state observation; image tasks also record the cameras
    _WORKER["env"] = load_object(spec.env)(**dict(spec.env_options))
    _WORKER["demo"] = load_object(spec.demonstrator)()
    _WORKER["images"] = spec.observation == "image"


def _episode(seed: int) -> Episode:
    return run_episode(_WORKER["env"], _WORKER["demo"], seed=seed,
                       record_images=_WORKER["images"], action_noise=_WORKER["action_noise"])


def generate_episodes(task: str, num_demos: int, seed: int, *, workers: int | None = None,
                      progress: bool = True,
                      on_episode: Callable[[Episode], None] | None = None,
                      action_noise: float = 0.0) -> list[Episode]:
    """`num_demos` successful demonstrations, in seed order, on `workers` processes
    (default: all cores; 1 runs in this process). `action_noise` > 0 records DART data (see
    `run_episode`): the env executes noisy actions, the episodes keep the clean labels.

    `on_episode` is called with each kept episode in order; the episode's camera frames are
    dropped after the call (so a caller streams them to disk instead of holding them all)."""
    if task not in ROD_TASKS:
        raise ValueError(f"unknown rod task {task!r}; choose one of {sorted(ROD_TASKS)}")
    if num_demos < 1:
        raise ValueError(f"num_demos must be >= 1, got {num_demos}")
    if not action_noise >= 0:
        raise ValueError(f"action_noise must be >= 0 (metres of std), got {action_noise!r}")
    workers = workers or os.cpu_count() or 1
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if workers > 1 and main_file is not None and not os.path.exists(main_file):
        workers = 1  # e.g. `python -` from stdin: worker processes could not import __main__
    from tqdm.auto import tqdm

    bar = tqdm(total=num_demos, desc=f"{task} demos", disable=not progress, leave=False)
    kept: list[Episode] = []
    next_index, attempts = 0, 0
    pool = None
    if workers > 1:
        from envs.processes import worker_context

        pool = worker_context().Pool(workers, initializer=_init_worker,
                                        initargs=(task, action_noise))
    else:
        _init_worker(task, action_noise)
    try:
        while len(kept) < num_demos:
            need = num_demos - len(kept)
            batch = [episode_seed(seed, i) for i in range(next_index, next_index + need)]
            next_index += need
            results = pool.imap(_episode, batch, chunksize=4) if pool else map(_episode, batch)
            for ep in results:
                attempts += 1
                if ep.success and len(kept) < num_demos:
                    if on_episode is not None:
                        on_episode(ep)
                        ep.images = ep.image_states = None
                    kept.append(ep)
                    bar.update(1)
            if attempts > 3 * num_demos + 20:
                raise RuntimeError(
                    f"the {task} demonstrator succeeded in only {len(kept)} of {attempts} "
                    "episodes; the task or the demonstrator is broken")
    finally:
        if pool is not None:
            pool.close()
            pool.join()
        bar.close()
    return kept


# ---------------------------------------------------------------------- storage
def save_episodes(path: str | Path, episodes: Sequence[Episode], *, task: str,
                  metadata: dict | None = None, images: str | Path | None = None,
                  minari_id: str | None = None) -> Path:
    """Write `episodes` as a Minari dataset at `path` (a directory), atomically; `images` is
    an `images.h5` of the same episodes (ImageWriter), moved in with them; `minari_id` is its
    Minari dataset id (default `vdd/<task>-v0`, for a dataset kept outside the cache)."""
    import gymnasium as gym
    import minari
    from minari.data_collector import EpisodeBuffer
    from minari.dataset.minari_storage import MinariStorage

    path = Path(path).absolute()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "data").mkdir(parents=True)
    obs_dim, act_dim = episodes[0].observations.shape[1], episodes[0].actions.shape[1]
    storage = MinariStorage.new(
        tmp / "data",
        observation_space=gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float64),
        action_space=gym.spaces.Box(-np.inf, np.inf, (act_dim,), np.float64))
    storage.update_metadata({
        "dataset_id": minari_id or f"vdd/{task}-v0", "minari_version": minari.__version__,
        "env_spec": env_spec_json(task), "algorithm_name": "scripted demonstrator (vdd-envs)",
        "author": set(AUTHOR), "code_permalink": CODE_PERMALINK,
        "description": json.dumps({"task": task, **(metadata or {})}, default=str)})
    buffers = [
        EpisodeBuffer(id=i, seed=ep.seed, observations=list(ep.observations),
                      actions=list(ep.actions), rewards=[0.0] * (ep.length - 1) + [1.0],
                      terminations=[False] * (ep.length - 1) + [True],
                      truncations=[False] * ep.length)
        for i, ep in enumerate(episodes)]
    storage.update_episodes(buffers)
    storage.update_episode_metadata([
        {"mode": ep.mode, "success": ep.success, "context": ep.context} for ep in episodes])
    if images is not None:
        os.replace(images, tmp / IMAGE_FILE)
    (tmp / HASHES).write_text(json.dumps(content_hashes(tmp), indent=2, sort_keys=True))
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)
    return path


def load_episodes(path: str | Path) -> list[Episode]:
    """Episodes of a Minari dataset directory written by `save_episodes` (or any Minari
    dataset with Box observations/actions; missing modes read as -1)."""
    from minari import MinariDataset

    path = Path(path).absolute()
    data = path / "data" if (path / "data").is_dir() else path
    if not (data / "metadata.json").is_file():
        raise FileNotFoundError(f"no Minari dataset at {path} (expected {data}/metadata.json)")
    ds = MinariDataset(data)
    episodes = list(ds.iterate_episodes())
    metas = ds.storage.get_episode_metadata([ep.id for ep in episodes])
    return [Episode(np.asarray(ep.observations, dtype=np.float64),
                    np.asarray(ep.actions, dtype=np.float64),
                    bool(meta.get("success", True)), False, int(meta.get("mode", -1)),
                    np.asarray(meta.get("context", np.zeros(0))),
                    int(meta.get("seed") if meta.get("seed") is not None else -1))
            for ep, meta in zip(episodes, metas)]


@dataclass
class CachedDataset:
    episodes: list[Episode]
    path: Path
    key: str
    cached: bool
    images: ImageFrames | None = None  # image tasks: the camera frames of the episodes


def load_or_generate(task: str, num_demos: int, seed: int, *, cache_dir: str | Path,
                     workers: int | None = None, progress: bool = True,
                     action_noise: float = 0.0) -> CachedDataset:
    """The cached dataset for (task, num_demos, seed[, DART action_noise]), generating and
    caching it if absent."""
    key = dataset_key(task, num_demos, seed, action_noise)
    path = entry_path(task, num_demos, seed, cache_dir, action_noise)
    if not action_noise:  # DART entries never had the earlier layout
        migrate_legacy(task, num_demos, seed, cache_dir)
    with_images = task in ROD_TASKS and ROD_TASKS[task].observation == "image"
    complete = (path / "data" / "metadata.json").is_file() and (
        not with_images or (path / IMAGE_FILE).is_file())
    if path.exists() and not complete:
        quarantine(path, "incomplete entry (no metadata.json or image store)")
    elif complete:
        reason = verify_entry(path)
        if not reason:
            try:
                cached = CachedDataset(load_episodes(path), path, key, True,
                                       ImageFrames.open(path) if with_images else None)
            except Exception as e:  # noqa: BLE001  (h5py, minari, json: unreadable entry)
                reason = f"unreadable: {type(e).__name__}: {e}"
            else:
                bad = [i for i, ep in enumerate(cached.episodes)
                       if not (np.isfinite(ep.observations).all()
                               and np.isfinite(ep.actions).all())]
                if not bad:
                    return cached
                reason = f"non-finite observations or actions in episodes {bad[:5]}"
        quarantine(path, reason)
    meta = {"num_demos": num_demos, "seed": seed, "key": key}
    if action_noise:
        meta["action_noise"] = float(action_noise)
    minari_id = dataset_id(task, num_demos, seed, action_noise)
    if not with_images:
        episodes = generate_episodes(task, num_demos, seed, workers=workers, progress=progress,
                                     action_noise=action_noise)
        save_episodes(path, episodes, task=task, metadata=meta, minari_id=minari_id)
        return CachedDataset(episodes, path, key, False)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{IMAGE_FILE}.tmp-{os.getpid()}")
    try:
        with ImageWriter(staging) as writer:
            episodes = generate_episodes(
                task, num_demos, seed, workers=workers, progress=progress,
                on_episode=lambda ep: writer.add(ep.images, ep.image_states),
                action_noise=action_noise)
        save_episodes(path, episodes, task=task, metadata=meta, images=staging,
                      minari_id=minari_id)
    finally:
        staging.unlink(missing_ok=True)
    return CachedDataset(episodes, path, key, False, ImageFrames.open(path))
