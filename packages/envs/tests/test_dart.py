"""DART noise injection while recording demonstrations (`RolloutTask.demo_action_noise`)."""

from __future__ import annotations

import numpy as np
import pytest

from envs import RolloutTask
from envs.datasets import dataset_key, generate_episodes


def _executed(ep) -> np.ndarray:
    """The actions the env executed: the desired position's steps (Avoiding's obs[:2])."""
    return np.diff(ep.observations[:, :2], axis=0)


def test_noise_free_episodes_record_what_was_executed():
    (ep,) = generate_episodes("avoiding", 1, 0, workers=1, progress=False)
    np.testing.assert_allclose(_executed(ep), ep.actions, atol=1e-9)


def test_dart_executes_noisy_actions_and_records_the_clean_ones():
    (clean,) = generate_episodes("avoiding", 1, 0, workers=1, progress=False)
    (dart,) = generate_episodes("avoiding", 1, 0, workers=1, progress=False,
                                action_noise=0.0015)
    gap = _executed(dart) - dart.actions  # the injected noise, per step
    assert 0.001 < gap.std() < 0.002
    # the demonstrator corrects: the path stays close to the clean one, and it still succeeds
    n = min(len(clean.observations), len(dart.observations))
    assert dart.success and dart.mode == clean.mode
    assert np.abs(dart.observations[:n, :2] - clean.observations[:n, :2]).max() < 0.02


def test_dart_data_has_its_own_cache_key_and_noise_free_keys_are_unchanged():
    assert dataset_key("avoiding", 96, 0) == dataset_key("avoiding", 96, 0, 0.0)
    assert dataset_key("avoiding", 96, 0, 0.0015) != dataset_key("avoiding", 96, 0)
    plain = RolloutTask(name="avoiding").data_settings()
    assert "demo_action_noise" not in plain
    assert RolloutTask(name="avoiding", demo_action_noise=0.0015).data_settings()[
        "demo_action_noise"] == 0.0015


@pytest.mark.parametrize("bad", [-0.001, "0.1", True])
def test_bad_noise_is_refused_with_the_value(bad):
    with pytest.raises(ValueError, match="demo_action_noise"):
        RolloutTask(name="avoiding", demo_action_noise=bad)
