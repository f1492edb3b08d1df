"""Contracts every registered algorithm and policy variant keeps: build, update with typed
finite stats, act, save/load with identical outputs."""

import dataclasses

import numpy as np
import pytest
import torch

from distill import ALGORITHMS, ConsistencyConfig, ConsistencyPolicy, GaussianMixtureScore
from envs import TASKS
from moe import MoEConfig, MoEPolicy
from teachers import BESOConfig, BESOPolicy

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
    """A batch as the trainer draws it: raw windows and the dataset rows they came from."""
    return {"obs": torch.randn(n, 2, 3), "actions": torch.randn(n, 2, 2),
            "index": torch.arange(n)}


MOE_ALGORITHMS = sorted(n for n, spec in ALGORITHMS.items() if spec.moe)


def build(name: str, policy: MoEPolicy | None = None):
    """(algorithm, trained policy) of a registered algorithm, tiny settings."""
    algo_cls, cfg_cls = ALGORITHMS[name].algorithm, ALGORITHMS[name].config
    if name in ("cd", "ctm"):  # one-step students of a (tiny, untrained) BESO teacher
        torch.manual_seed(0)
        teacher = BESOPolicy(BESOConfig(obs_dim=3, action_dim=2, window=2, n_layer=1, n_head=1,
                                        n_embd=8))
        teacher.fit_normalizers(np.random.default_rng(0).normal(size=(50, 3)),
                                np.random.default_rng(1).normal(size=(50, 2)))
        student = ConsistencyPolicy(ConsistencyConfig.from_teacher(
            teacher.config, parameterization="cm" if name == "cd" else "ctm"))
        return algo_cls(student, teacher, cfg_cls(iterations=4, batch_size=6)), student
    init = batch(20)["actions"]
    if name == "vdd":
        score = GaussianMixtureScore(means=[[0.0, 0.0], [1.0, 1.0]], stds=[1.0, 1.0],
                                     weights=[0.5, 0.5], action_mean=policy.action_normalizer.mean,
                                     action_std=policy.action_normalizer.std)
        return algo_cls(policy, score, cfg_cls(iterations=4, batch_size=6, num_samples=2),
                        init_actions=init), policy
    return algo_cls(policy, cfg_cls(iterations=4, batch_size=6), init_actions=init), policy


def check_update(algo, policy) -> None:
    before = [p.detach().clone() for p in policy.parameters()]
    for _ in range(2):
        stats = algo.update([batch() for _ in range(algo.batches_per_update)])
    assert dataclasses.is_dataclass(stats) and algo.config.iterations == 4
    assert all(np.isfinite(float(v)) for v in stats.to_dict().values())  # floats or 0-dim tensors
    assert any(not torch.equal(a, b) for a, b in zip(before, policy.parameters()))
    with pytest.raises(ValueError, match="batch"):
        algo.update([batch() for _ in range(algo.batches_per_update + 1)])


@pytest.mark.parametrize("name", MOE_ALGORITHMS)
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(v.values()))
def test_moe_algorithm_update_returns_finite_typed_stats(name, variant):
    check_update(*build(name, tiny_policy(**variant)))


@pytest.mark.parametrize("name", ["cd", "ctm"])
def test_consistency_algorithm_update_returns_finite_typed_stats(name, tmp_path):
    algo, student = build(name)
    check_update(algo, student)
    student.eval().reset()
    assert student.act(np.zeros(3, np.float32)).shape == (2,)
    student.save(tmp_path / "s")
    loaded = ConsistencyPolicy.load(tmp_path / "s")
    obs = torch.randn(4, 2, 3)
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert torch.equal(student.sample_actions(obs, generator=gen()),
                       loaded.sample_actions(obs, generator=gen()))


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
