import numpy as np
import torch

from distill import GaussianMixtureScore, ScoreAdapter
from envs import ring_layout
from moe import Normalizer


def test_analytic_score_matches_numpy_target_in_normalised_units():
    target = ring_layout(6, radius=3.0, std=0.5, weights=np.arange(1, 7) / 21)
    x, _ = target.sample(4000, np.random.default_rng(0))
    norm = Normalizer(2).fit(x)
    adapter = GaussianMixtureScore.from_target(target, norm)
    assert isinstance(adapter, ScoreAdapter)
    a_raw = torch.as_tensor(np.random.default_rng(1).normal(scale=3, size=(64, 1, 2)),
                            dtype=torch.float32)
    a_norm = norm.normalize(a_raw)
    got = adapter.score(a_norm, torch.zeros(64, 1, 1))
    want = target.score(a_raw.numpy().astype(np.float64)) * norm.std.numpy()
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-4)
    # and it is the gradient of log p w.r.t. the normalised action
    a = a_norm.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(adapter.log_prob_raw(norm.unnormalize(a)).sum(), a)
    np.testing.assert_allclose(got.numpy(), g.numpy(), rtol=1e-4, atol=1e-4)
