"""Contracts every registered algorithm and policy variant keeps: build, update with typed
finite stats, act, save/load with identical outputs."""

import dataclasses

import numpy as np
import pytest
import torch

from distill import ALGORITHMS, GaussianMixtureScore
from envs import TASKS
from moe import MoEConfig, MoEPolicy

VARIANTS = [dict(covariance=c, gating=g) for c in ("full", "diagonal")
            for g in ("learned", "uniform")]


def tiny_policy(**kw) -> MoEPolicy:
    torch.manual_seed(0)
    p = MoEPolicy(MoEConfig(obs_dim=3, action_dim=2, window=2, num_experts=3, n_layer=1,
                            n_head=1, n_embd=8, **kw))
    rng = np.random.default_rng(0)
    p.fit_normalizers(rng.normal(size=(50, 3)), rng.normal(size=(50, 2)))
    return p


def batch(n=6):
    return {"obs": torch.randn(n, 2, 3), "actions": torch.randn(n, 2, 2)}


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(v.values()))
def test_algorithm_update_returns_finite_typed_stats(name, variant):
    algo_cls, cfg_cls = ALGORITHMS[name]
    policy = tiny_policy(**variant)
    score = GaussianMixtureScore(means=[[0.0, 0.0], [1.0, 1.0]], stds=[1.0, 1.0],
                                 weights=[0.5, 0.5], action_mean=policy.action_normalizer.mean,
                                 action_std=policy.action_normalizer.std)
    cfg = cfg_cls(iterations=4, batch_size=6, num_samples=2)
    algo = algo_cls(policy, score, cfg, init_actions=batch(20)["actions"])
    before = [p.detach().clone() for p in policy.parameters()]
    for _ in range(2):
        stats = algo.update([batch() for _ in range(algo.batches_per_update)])
    assert dataclasses.is_dataclass(stats)
    assert all(np.isfinite(v) for v in stats.to_dict().values())
    assert any(not torch.equal(a, b) for a, b in zip(before, policy.parameters()))


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(v.values()))
def test_policy_loss_act_save_load(variant, tmp_path):
    policy = tiny_policy(**variant)
    loss, stats = policy.compute_loss(batch())
    loss.backward()
    assert np.isfinite(stats["nll"])
    policy.eval().reset()
    assert policy.act(np.zeros(3, np.float32)).shape == (2,)
    policy.save(tmp_path / "p")
    loaded = MoEPolicy.load(tmp_path / "p")
    obs = torch.randn(4, 2, 3)
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert torch.equal(policy.sample_actions(obs, generator=gen()),
                       loaded.sample_actions(obs, generator=gen()))


@pytest.mark.parametrize("name", sorted(TASKS))
def test_tasks_make_seeded_datasets_with_declared_shapes(name, tmp_path):
    if name == "toy2d":
        task = TASKS[name]()
        make = lambda: task.make_dataset(0, num_demos=16)  # noqa: E731
    else:  # rod tasks: demonstrations generated once, then read from the on-disk cache
        task = TASKS[name](num_demos=2, workers=1)
        make = lambda: task.make_dataset(0, cache_dir=tmp_path, progress=False)  # noqa: E731
    d = make()
    n = len(d["obs"])
    assert n >= 2 and d["obs"].shape == (n, task.window, task.obs_dim)
    assert d["actions"].shape == (n, task.window, task.action_dim)
    assert np.array_equal(d["actions"], make()["actions"])
