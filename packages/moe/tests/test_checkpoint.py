import pytest
import torch

import moe.checkpoint as ckpt
from moe import CheckpointError, load_checkpoint, save_checkpoint


def test_roundtrip_and_kind_check(tmp_path):
    state = {"w": torch.arange(6.0).reshape(2, 3)}
    save_checkpoint(tmp_path / "c", kind="k", config={"a": 1}, state_dict=state, extra={"it": 3})
    cfg, loaded, extra = load_checkpoint(tmp_path / "c", kind="k")
    assert cfg == {"a": 1} and extra == {"it": 3} and torch.equal(loaded["w"], state["w"])
    with pytest.raises(CheckpointError, match="not a 'other'"):
        load_checkpoint(tmp_path / "c", kind="other")


def test_failed_save_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "c", kind="k", config={"v": 1}, state_dict={"w": torch.ones(2)})

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "c", kind="k", config={"v": 2}, state_dict={"w": torch.zeros(2)})
    cfg, state, _ = load_checkpoint(tmp_path / "c", kind="k")
    assert cfg == {"v": 1} and torch.equal(state["w"], torch.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]  # no temp leftovers


def test_overwrite_replaces(tmp_path):
    for v in (1, 2):
        save_checkpoint(tmp_path / "c", kind="k", config={"v": v}, state_dict={"w": torch.ones(1)})
    assert load_checkpoint(tmp_path / "c", kind="k")[0] == {"v": 2}
