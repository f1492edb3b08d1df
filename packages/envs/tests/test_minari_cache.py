"""The dataset cache in Minari's own layout: `minari list local` lists it, `minari.load_dataset`
loads it with its env spec, and entries of the earlier layout move there on first use."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from envs.datasets import HASHES, content_hashes, dataset_id, dataset_key, load_or_generate


def _minari_list(datasets: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MINARI_DATASETS_PATH": str(datasets), "COLUMNS": "250"}
    return subprocess.run([str(Path(sys.executable).with_name("minari")), "list", "local"],
                          capture_output=True, text=True, env=env, timeout=120)


def test_minari_lists_and_loads_the_cache(tmp_path, monkeypatch):
    data = load_or_generate("avoiding", 2, seed=0, cache_dir=tmp_path, workers=1,
                            progress=False)
    ident = dataset_id("avoiding", 2, 0)
    assert ident == f"vdd/avoiding/n2-seed0-{dataset_key('avoiding', 2, 0)}-v1"
    assert data.path == tmp_path / "datasets" / ident
    listed = _minari_list(tmp_path / "datasets")
    assert listed.returncode == 0, listed.stderr
    assert ident.split("/")[-1] in listed.stdout and "Misconfigured" not in listed.stderr

    import minari

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    ds = minari.load_dataset(ident)
    assert ds.total_episodes == 2 and ds.spec.env_spec.id == "envs/Avoiding-v0"
    first = next(ds.iterate_episodes())
    np.testing.assert_allclose(first.actions, data.episodes[0].actions)
    env = ds.recover_environment()  # from the stored env spec
    np.testing.assert_allclose(env.reset(seed=0)[0], first.observations[0])
    env.close()


def test_an_entry_of_the_earlier_layout_moves_to_its_minari_id(tmp_path, capsys):
    data = load_or_generate("avoiding", 2, seed=1, cache_dir=tmp_path, workers=1,
                            progress=False)
    legacy = tmp_path / "datasets" / f"avoiding-{data.key}"  # as the earlier code wrote it
    os.rename(data.path, legacy)
    meta_file = legacy / "data" / "metadata.json"
    meta = json.loads(meta_file.read_text())
    meta.update(dataset_id="vdd/avoiding-v0", env_spec=None)
    meta_file.write_text(json.dumps(meta))
    (legacy / HASHES).write_text(json.dumps(content_hashes(legacy)))
    capsys.readouterr()

    again = load_or_generate("avoiding", 2, seed=1, cache_dir=tmp_path, workers=1,
                             progress=False)
    assert again.cached and again.path == data.path and not legacy.exists()
    assert f"moved cached dataset avoiding-{data.key}" in capsys.readouterr().err
    moved = json.loads((again.path / "data" / "metadata.json").read_text())
    assert moved["dataset_id"] == dataset_id("avoiding", 2, 1) and moved["env_spec"]
    assert [e.actions.tolist() for e in again.episodes] == \
        [e.actions.tolist() for e in data.episodes]
    assert load_or_generate("avoiding", 2, seed=1, cache_dir=tmp_path, workers=1).cached
    assert _minari_list(tmp_path / "datasets").stdout.count("n2-seed1-") == 1
