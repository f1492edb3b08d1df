"""Caches you can trust (issue 19): a garbled, truncated or incomplete teacher entry is named
in one line, moved aside and retrained; entries from before content hashes still load; a
checkpoint writer killed at any step leaves a whole checkpoint."""

import json
import os
import subprocess
import sys

import gin
import pytest
import torch

import envs
from bench.config import parse_gin
from bench.gin_classes import configurable
from bench.teacher_store import load_or_train_teacher
from bench.trainer import TrainerConfig
from moe.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

QUIET = TrainerConfig(progress=False)


@pytest.fixture
def toy(repo_root):
    parse_gin([repo_root / "gin" / "toy2d.gin"],
              ["TeacherTrainingConfig.iterations = 2", "TeacherTrainingConfig.batch_size = 16",
               "DDPMConfig.n_layer = 1", "DDPMConfig.n_head = 1", "DDPMConfig.n_embd = 16"])
    task = configurable(envs.Toy2D)()
    yield task, task.make_dataset(0)
    gin.clear_config()


def _garble(path):
    (path / "model.safetensors").write_bytes(os.urandom(2000))


def _truncate(path):
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])


def _incomplete(path):
    (path / "config.json").unlink()


def _nan_without_hashes(path):  # an entry from before hashes, its weights overwritten by NaN
    from safetensors.torch import load_file, save_file

    state = load_file(str(path / "model.safetensors"))
    save_file({k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
               for k, v in state.items()}, str(path / "model.safetensors"),
              metadata={"format_version": "1"})
    _drop_hash(path)


def _drop_hash(path):
    meta = json.loads((path / "config.json").read_text())
    del meta["sha256"]
    (path / "config.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("damage", [_garble, _truncate, _incomplete, _nan_without_hashes])
def test_a_corrupt_teacher_entry_is_moved_aside_and_retrained(toy, tmp_path, capsys, damage):
    task, data = toy
    first = load_or_train_teacher("ddpm", task, data, 0, cache_dir=tmp_path, trainer_config=QUIET)
    assert "sha256" in json.loads((first.path / "config.json").read_text())
    damage(first.path)
    capsys.readouterr()
    again = load_or_train_teacher("ddpm", task, data, 0, cache_dir=tmp_path, trainer_config=QUIET)
    out = capsys.readouterr().out
    assert not again.cached and again.path == first.path
    assert f"cache entry {first.path} is corrupt (" in out and "rebuilding it" in out
    assert len(list(tmp_path.glob(f"{first.path.name}.corrupt-*"))) == 1
    assert not list(tmp_path.glob("*.training"))
    third = load_or_train_teacher("ddpm", task, data, 0, cache_dir=tmp_path, trainer_config=QUIET)
    assert third.cached


def test_an_entry_from_before_hashes_still_loads(toy, tmp_path):
    task, data = toy
    first = load_or_train_teacher("ddpm", task, data, 0, cache_dir=tmp_path, trainer_config=QUIET)
    _drop_hash(first.path)
    again = load_or_train_teacher("ddpm", task, data, 0, cache_dir=tmp_path, trainer_config=QUIET)
    assert again.cached and again.key == first.key


def test_a_changed_file_fails_its_hash(tmp_path):
    path = save_checkpoint(tmp_path / "ck", kind="k", config={"a": 1},
                           state_dict={"w": torch.ones(3)})
    data = bytearray((path / "model.safetensors").read_bytes())
    data[-1] ^= 1  # one bit of a weight: still a readable, finite tensor
    (path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="model.safetensors changed since it was written"):
        load_checkpoint(path, kind="k")


WRITER = """
import os, sys, torch
from moe import checkpoint as C
calls = 0
real_rename, real_fsync = os.rename, os.fsync
def die_at(real):
    def f(*a):
        global calls
        calls += 1
        if calls == int(sys.argv[2]):
            os._exit(9)
        return real(*a)
    return f
os.rename, os.fsync = die_at(real_rename), die_at(real_fsync)
C.save_checkpoint(sys.argv[1], kind="k", config={}, state_dict={"w": torch.full((3,), 2.0)})
os._exit(0)
"""


def test_a_writer_killed_at_any_step_leaves_a_whole_checkpoint(tmp_path):
    """Each rename and fsync of a save is a step; the writer is killed at each in turn."""
    step, done = 0, False
    while not done:
        step += 1
        path = tmp_path / f"step{step}" / "ck"
        save_checkpoint(path, kind="k", config={}, state_dict={"w": torch.ones(3)})
        rc = subprocess.run([sys.executable, "-c", WRITER, str(path), str(step)]).returncode
        done = rc == 0
        assert rc in (0, 9)
        _, state, _ = load_checkpoint(path, kind="k")  # the old one or the new one, whole
        assert state["w"].tolist() in ([1.0] * 3, [2.0] * 3)
        if done:
            assert state["w"].tolist() == [2.0] * 3
        assert not list(path.parent.glob(".ck.old-*"))
    assert step > 4


@pytest.mark.parametrize("damage", ["garble", "truncate", "incomplete"])
def test_a_corrupt_dataset_is_moved_aside_and_regenerated(tmp_path, capsys, damage):
    from envs.datasets import load_or_generate

    first = load_or_generate("avoiding", 2, seed=0, cache_dir=tmp_path, workers=1,
                             progress=False)
    assert (first.path / "hashes.json").is_file()
    assert load_or_generate("avoiding", 2, seed=0, cache_dir=tmp_path, workers=1).cached
    (data,) = [p for p in (first.path / "data").rglob("*.hdf5")] or [None]
    if damage == "garble":
        data.write_bytes(os.urandom(data.stat().st_size))
    elif damage == "truncate":
        data.write_bytes(data.read_bytes()[:100])
    else:
        (first.path / "data" / "metadata.json").unlink()
    capsys.readouterr()
    again = load_or_generate("avoiding", 2, seed=0, cache_dir=tmp_path, workers=1,
                             progress=False)
    assert not again.cached
    assert f"cache entry {first.path} is corrupt (" in capsys.readouterr().err
    assert [e.observations.tolist() for e in again.episodes] == \
        [e.observations.tolist() for e in first.episodes]
    assert load_or_generate("avoiding", 2, seed=0, cache_dir=tmp_path, workers=1).cached


LOCKED = """
import sys, time
from pathlib import Path
from bench.locks import file_lock
with file_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(3)
"""


def test_a_cache_entry_is_built_under_a_file_lock(tmp_path):
    """A second run needing the same entry waits for the first (then loads what it built)."""
    import time

    from bench.locks import file_lock

    holder = subprocess.Popen([sys.executable, "-c", LOCKED, str(tmp_path / "entry")],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    start = time.perf_counter()
    with file_lock(tmp_path / "entry"):
        waited = time.perf_counter() - start
    holder.wait()
    assert waited > 1.0


OPEN_TRACKER = """
import sys
from bench.tracking import Tracker
t = Tracker(experiment="race", run_name=sys.argv[1], tags={})
t.parent.finish("FINISHED")
"""


def test_two_runs_starting_at_once_share_a_fresh_sqlite_store(tmp_path):
    """The store's tables are created once (under a lock): neither run crashes in migration."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/fresh.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_TRACKER, f"run{i}"], env=env,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-1500:] for e in errors]
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("race").experiment_id])
    assert sorted(r.info.run_name for r in runs) == ["run0", "run1"]


def test_stale_training_folders_are_swept_and_a_live_one_is_kept(tmp_path):
    """A `.training` folder of a killed run (nobody holds its entry's lock) is removed by the
    next run; one whose entry is locked (a teacher being trained now) is kept."""
    from bench.locks import file_lock
    from bench.teacher_store import sweep_stale_trainings

    stale, live = tmp_path / "toy2d-ddpm-aaaa.training", tmp_path / "toy2d-beso-bbbb.training"
    for work in (stale, live):
        work.mkdir()
        (work / "config.json").write_text("{}")
    with file_lock(tmp_path / "toy2d-beso-bbbb"):
        removed = sweep_stale_trainings(tmp_path)
    assert removed == [stale] and not stale.exists() and live.is_dir()
