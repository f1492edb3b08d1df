"""VDDConfig.query_min_weight: the teacher is asked only where the gating uses an expert."""

import numpy as np
import pytest
import torch

from distill import VDD, GaussianMixtureScore, VDDConfig
from distill.query_gate import gate_pairs
from moe import MoEConfig, MoEPolicy

MODES = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.0]])


class CountingScore(GaussianMixtureScore):
    """The exact mixture score, counting the query rows it answered."""

    rows = 0

    def score(self, actions, obs):
        self.rows += actions.shape[0]
        return super().score(actions, obs)


def build(query_min_weight: float, *, reseed_every: int = 0, iterations: int = 4):
    """Three experts on three modes; the gating gives expert 2 ~1e-9 at every state."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    data = MODES[rng.integers(0, 3, 600)] + 0.2 * rng.normal(size=(600, 2))
    policy = MoEPolicy(MoEConfig(obs_dim=1, action_dim=2, num_experts=3, covariance="diagonal",
                                 gating="learned", n_layer=1, n_head=1, n_embd=8))
    policy.fit_normalizers(np.zeros((len(data), 1)), data)
    norm = policy.action_normalizer
    policy.experts.set_means(norm.normalize(torch.as_tensor(MODES, dtype=torch.float32)))
    with torch.no_grad():
        policy.gating.out.weight.zero_()
        policy.gating.out.bias.copy_(torch.tensor([10.0, 10.0, -10.0]))
    score = CountingScore(means=MODES, stds=[0.3], weights=[1 / 3] * 3,
                          action_mean=norm.mean, action_std=norm.std)
    cfg = VDDConfig(iterations=iterations, batch_size=16, cmp_steps=1, expert_init="random",
                    reseed_every=reseed_every, query_min_weight=query_min_weight)
    batch = [{"obs": torch.zeros(16, 1, 1),
              "actions": torch.as_tensor(data[:16], dtype=torch.float32)[:, None]}]
    return policy, score, VDD(policy, score, cfg), batch


def test_gated_weights_are_unbiased_and_keep_every_used_pair():
    """A pair at or above the threshold (at any step of the window) is always kept with its own
    weight; one below it is kept with probability w / threshold and then weighs the threshold,
    so over many draws the loss weights average to q(z|s)."""
    w_BTZ = torch.tensor([[[0.5, 0.5 - 2e-4, 2e-4], [0.999, 0.0, 1e-3]]])  # (1, 2, 3)
    gen = torch.Generator().manual_seed(0)
    draws = [gate_pairs(w_BTZ, 1e-2, generator=gen) for _ in range(20000)]
    keep = torch.stack([k for k, _ in draws]).float()
    weights = torch.stack([w for _, w in draws])
    assert bool(keep[:, 0, :2].all())  # expert 1's 0.5 at step 0 keeps its whole window
    torch.testing.assert_close(weights[:, :, :, :2], w_BTZ[..., :2].expand(20000, 1, 2, 2))
    assert keep[:, 0, 2].mean().item() == pytest.approx(0.1, abs=0.01)  # max(2e-4, 1e-3) / 1e-2
    torch.testing.assert_close(weights.mean(0), w_BTZ, atol=2e-4, rtol=0.05)
    with pytest.raises(ValueError, match="0 < min_weight < 1"):
        gate_pairs(w_BTZ, 0.0)


def test_unused_experts_are_not_queried_and_used_ones_get_the_same_step():
    """One update with and without the gate, from the same start and the same draws: the gate
    scores 2 of 3 experts' samples (expert 2's weight, ~1e-9, keeps it with probability
    ~1e-6), leaves expert 2 where it was, and moves experts 0 and 1 exactly as the full update
    does (their gradient comes from their own samples only)."""
    rows, means = {}, {}
    for w in (0.0, 1e-3):
        policy, score, algo, batch = build(w)
        before = policy.experts.mean_out.bias.detach().clone()
        torch.manual_seed(1)
        stats = algo.update(batch)
        rows[w], means[w] = score.rows, policy.experts.mean_out.bias.detach()
        assert float(stats.queried) == pytest.approx(1.0 if w == 0 else 2 / 3)
        moved = (means[w] - before).abs().reshape(3, 2).amax(-1)
        assert bool((moved[:2] > 0).all())
        assert (moved[2] > 0) == (w == 0)  # gated: expert 2 gets no gradient at all
    V = VDDConfig().num_samples
    assert rows[0.0] == 16 * 3 * V and rows[1e-3] == 16 * 2 * V
    torch.testing.assert_close(means[1e-3][:4], means[0.0][:4])


def test_every_expert_is_queried_while_reseeding_runs():
    """Re-seeding's misfit check reads every expert's score, so the gate waits for its end."""
    policy, score, algo, batch = build(1e-3, reseed_every=100, iterations=4)
    queried = [float(algo.update(batch).queried) for _ in range(4)]
    assert queried == [1.0, 1.0, pytest.approx(2 / 3), pytest.approx(2 / 3)]


def test_query_min_weight_is_validated():
    for bad in (-0.1, 1.0, True, "0.01"):
        with pytest.raises(ValueError, match="query_min_weight must lie in"):
            VDDConfig(query_min_weight=bad)
