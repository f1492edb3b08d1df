"""The shared pieces of distill's algorithms: field checks, the MoE algorithm base, its stats."""

import math

import numpy as np
import pytest
import torch

from distill import (
    EM, IMC, VDD, CDConfig, CTMConfig, EMConfig, EMStats, GaussianMixtureScore, IMCConfig,
    IMCStats, VDDConfig, VDDStats,
)
from distill.checks import check_positive_int, check_positive_number
from distill.mixture import MixtureAlgorithm, MixtureStats
from envs import Toy2D
from mixture_helpers import tiny_policy, train


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2", None])
def test_check_positive_int_names_the_field_and_shows_the_value(value):
    with pytest.raises(ValueError) as err:
        check_positive_int("Owner", good=1, bad=value)
    assert str(err.value) == f"Owner.bad must be a positive int, got {value!r}"


def test_checks_accept_good_values_and_report_the_first_bad_field():
    check_positive_int("Owner", a=1, b=10**9)
    check_positive_number("Owner", a=1, b=1e-9)
    with pytest.raises(ValueError, match=r"Owner\.first must"):
        check_positive_int("Owner", first=0, second=0)


@pytest.mark.parametrize("value", [0.0, -1e-3, float("inf"), float("nan"), True, "1"])
def test_check_positive_number_rejects(value):
    with pytest.raises(ValueError) as err:
        check_positive_number("Owner", lr=value)
    assert str(err.value) == f"Owner.lr must be a finite number > 0, got {value!r}"


@pytest.mark.parametrize("config_cls, field", [
    (VDDConfig, "iterations"), (VDDConfig, "batch_size"), (VDDConfig, "num_samples"),
    (VDDConfig, "cmp_steps"), (EMConfig, "iterations"), (EMConfig, "batch_size"),
    (IMCConfig, "iterations"), (IMCConfig, "batch_size"), (CDConfig, "iterations"),
    (CDConfig, "batch_size"), (CTMConfig, "iterations"), (CTMConfig, "max_teacher_steps"),
])
@pytest.mark.parametrize("value", [0, 2.0, False])
def test_every_config_rejects_a_bad_positive_int(config_cls, field, value):
    with pytest.raises(ValueError) as err:
        config_cls(**{field: value})
    name = config_cls.__name__
    assert str(err.value) == f"{name}.{field} must be a positive int, got {value!r}"


@pytest.mark.parametrize("config_cls", [VDDConfig, EMConfig, IMCConfig])
@pytest.mark.parametrize("field, value", [
    ("lr", 0.0), ("gating_lr", float("inf")), ("lr_decay", 1), ("grad_clip", -1.0),
    ("expert_init", "kmeans"),
])
def test_mixture_configs_share_their_checks(config_cls, field, value):
    with pytest.raises(ValueError) as err:
        config_cls(**{field: value})
    assert f"{config_cls.__name__}.{field}" in str(err.value) and repr(value) in str(err.value)


def test_vdd_reseed_below_is_checked():
    with pytest.raises(ValueError, match=r"VDDConfig\.reseed_below .* got 1\.5"):
        VDDConfig(reseed_below=1.5)


def make(algo_cls, policy, config):
    if algo_cls is VDD:
        score = GaussianMixtureScore(means=[[0.0, 0.0]], stds=[1.0], weights=[1.0],
                                     action_mean=[0.0, 0.0], action_std=[1.0, 1.0])
        return VDD(policy, score, config)
    return algo_cls(policy, config)


@pytest.mark.parametrize("algo_cls, config_cls, stats_cls", [
    (VDD, VDDConfig, VDDStats), (EM, EMConfig, EMStats), (IMC, IMCConfig, IMCStats),
])
def test_mixture_algorithms_share_the_base(algo_cls, config_cls, stats_cls):
    rng = np.random.default_rng(0)
    obs = np.zeros((64, 1, 1), np.float32)
    actions = rng.normal(size=(64, 1, 2)).astype(np.float32)
    policy = tiny_policy(obs, actions)
    assert issubclass(algo_cls, MixtureAlgorithm) and issubclass(stats_cls, MixtureStats)
    with pytest.raises(TypeError, match=f"{algo_cls.__name__} needs an? {config_cls.__name__}"):
        make(algo_cls, policy, {"expert_init": "random"})
    config = config_cls(iterations=4, batch_size=8, expert_init="random")
    algo = make(algo_cls, policy, config)
    assert algo.policy is policy and algo.config is config and algo.iteration == 0
    with pytest.raises(ValueError, match="needs an expert_loss, a gating_loss or both"):
        algo.step()
    batch = {"obs": torch.as_tensor(obs[:8]), "actions": torch.as_tensor(actions[:8]),
             "index": torch.arange(8)}
    stats = algo.update([batch] * algo.batches_per_update)
    assert isinstance(stats, stats_cls) and algo.iteration == 1
    d = stats.to_dict()
    assert list(d)[:2] == ["expert_loss", "gating_loss"] and stats.loss == stats.expert_loss
    assert all(math.isfinite(v) for v in d.values())
    assert stats.gating_loss > 0 and algo.gating_opt is not None


@pytest.mark.parametrize("algo_cls, config_cls", [
    (VDD, VDDConfig), (EM, EMConfig), (IMC, IMCConfig),
])
def test_same_seed_gives_identical_parameters(algo_cls, config_cls):
    task = Toy2D(num_modes=4)
    data = task.make_dataset(0, num_demos=512)

    def run(seed):
        torch.manual_seed(seed)
        policy = tiny_policy(data["obs"], data["actions"], covariance="full")
        config = config_cls(iterations=10, batch_size=32, lr=1e-2)
        extra = ((GaussianMixtureScore.from_target(task.target, policy.action_normalizer),)
                 if algo_cls is VDD else ())
        algo = algo_cls(policy, *extra, config, init_actions=torch.as_tensor(data["actions"]))
        if algo_cls is VDD:
            rng = np.random.default_rng(seed)
            for _ in range(5):
                idx = [rng.integers(0, len(data["obs"]), 32) for _ in range(config.cmp_steps)]
                algo.update([{"obs": data["obs"][i], "actions": data["actions"][i]} for i in idx])
        else:
            train(algo, data, 5, 32, seed)
        return [p.detach().clone() for p in policy.parameters()]

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))
