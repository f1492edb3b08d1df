"""D3IL metrics on synthetic mode lists with known answers."""

import numpy as np
import pytest

from envs.metrics import mode_distribution, mode_kl, normalized_entropy, rollout_metrics


def test_normalized_entropy_known_answers():
    assert normalized_entropy(list(range(24)) * 3, 24) == pytest.approx(1.0)
    assert normalized_entropy([5] * 10, 24) == 0.0
    assert normalized_entropy([0, 1], 4) == pytest.approx(0.5)  # log 2 / log 4
    assert normalized_entropy([], 4) == 0.0
    assert normalized_entropy([-1, -1, 2], 4) == 0.0  # undecided modes are ignored
    p = np.array([0.5, 0.25, 0.25])
    modes = [0, 0, 1, 2]
    assert normalized_entropy(modes, 3) == pytest.approx(-(p * np.log(p)).sum() / np.log(3))
    with pytest.raises(ValueError, match="num_modes"):
        normalized_entropy([0, 5], 4)


def test_rollout_metrics_counts_only_successes_and_averages_contexts():
    # context 0: two successes in different modes; context 1: no success at all
    m = rollout_metrics(success=[True, True, False, False], modes=[0, 1, 1, 0],
                        contexts=[0, 0, 1, 1], num_modes=2)
    assert m["success_rate"] == 0.5
    assert m["entropy"] == pytest.approx(1.0)
    assert m["context_entropy"] == pytest.approx(0.5)  # (1 + 0) / 2
    assert m["modes_seen"] == 2 and m["contexts"] == 2 and m["rollouts"] == 4
    # a failed rollout's mode does not count
    m = rollout_metrics([True, False], [0, 1], [0, 0], 2)
    assert m["entropy"] == 0.0
    with pytest.raises(ValueError, match="equally many"):
        rollout_metrics([True], [0, 1], [0], 2)


def test_mode_kl():
    assert mode_kl([0, 1, 0, 1], [1, 0], 2) == pytest.approx(0.0, abs=1e-9)
    assert mode_kl([0, 0], [0, 1], 2) == pytest.approx(np.log(2), rel=1e-3)
    np.testing.assert_allclose(mode_distribution([0, 0, 2, -1], 3), [2 / 3, 0, 1 / 3])
