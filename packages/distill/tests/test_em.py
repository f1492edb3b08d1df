import math

import numpy as np
import pytest
import torch

from distill.em import EM, EMConfig
from envs import Toy2D, mode_weights, modes_covered
from mixture_helpers import WEIGHTS, constant_state_mixture, tiny_policy, train


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_em_puts_an_expert_on_every_mode_with_the_true_weights(covariance):
    task = Toy2D(num_modes=4, weights=WEIGHTS)
    data = task.make_dataset(0)
    torch.manual_seed(0)
    policy = tiny_policy(data["obs"], data["actions"], covariance=covariance)
    cfg = EMConfig(iterations=200, batch_size=256, lr=1e-2, gating_lr=1e-2)
    algo = EM(policy, cfg, init_actions=torch.as_tensor(data["actions"]))
    stats = train(algo, data, cfg.iterations, cfg.batch_size, seed=0)

    means, stds, weights = constant_state_mixture(policy)
    assert modes_covered(means, task.target).all()  # every mode has an expert within 0.2
    np.testing.assert_allclose(mode_weights(means, weights, task.target), WEIGHTS, atol=0.03)
    np.testing.assert_allclose(stds, 0.4, rtol=0.15)  # the modes' std
    first = np.mean([s.log_likelihood for s in stats[:10]])
    last = np.mean([s.log_likelihood for s in stats[-10:]])
    assert last > first + 1.0
    assert stats[-1].responsibility_entropy < 0.05  # each point owned by one expert
    assert stats[-1].lr < cfg.lr / 100  # decayed linearly towards 0


def test_em_learns_a_state_dependent_gating():
    """Two states choose between the same two actions with opposite odds: the experts are
    shared, so only the gating q(z|s) can tell the states apart."""
    rng = np.random.default_rng(0)
    n = 4000
    s = rng.choice([-1.0, 1.0], n)
    left = rng.random(n) < np.where(s < 0, 0.8, 0.2)
    actions = np.where(left[:, None], [-3.0, 0.0], [3.0, 0.0]) + 0.3 * rng.normal(size=(n, 2))
    data = {"obs": s[:, None, None].astype(np.float32),
            "actions": actions[:, None].astype(np.float32)}
    torch.manual_seed(0)
    policy = tiny_policy(data["obs"], data["actions"], num_experts=2, covariance="full")
    cfg = EMConfig(iterations=200, batch_size=256, lr=1e-2, gating_lr=1e-2)
    algo = EM(policy, cfg, init_actions=torch.as_tensor(data["actions"]))
    train(algo, data, cfg.iterations, cfg.batch_size, seed=1)

    mix = policy.mixture(torch.tensor([[[-1.0]], [[1.0]]]))
    means = policy.action_normalizer.unnormalize(mix.means[:, 0]).detach().numpy()
    left_expert = means[0, :, 0].argmin()
    np.testing.assert_allclose(means[0, left_expert], [-3.0, 0.0], atol=0.1)
    np.testing.assert_allclose(means[0, 1 - left_expert], [3.0, 0.0], atol=0.1)
    p_left = mix.weights[:, 0, left_expert].detach().numpy()
    np.testing.assert_allclose(p_left, [0.8, 0.2], atol=0.05)


@pytest.mark.parametrize("field, value", [
    ("iterations", 0), ("batch_size", -1), ("batch_size", 2.0), ("lr", 0.0),
    ("gating_lr", float("nan")), ("grad_clip", -1.0), ("expert_init", "kmeans"),
    ("lr_decay", "yes"),
])
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError) as err:
        EMConfig(**{field: value})
    assert f"EMConfig.{field}" in str(err.value) and repr(value) in str(err.value)


def test_construction_update_and_stats_contract():
    data = Toy2D(num_modes=4).make_dataset(0, num_demos=64)
    policy = tiny_policy(data["obs"], data["actions"], gating="uniform")
    with pytest.raises(ValueError, match="needs init_actions"):
        EM(policy, EMConfig())
    with pytest.raises(TypeError, match="EMConfig"):
        EM(policy, {"lr": 1e-3})
    cfg = EMConfig(iterations=5, batch_size=8, grad_clip=1.0)
    assert cfg.to_dict()["grad_clip"] == 1.0 and EMConfig(**cfg.to_dict()) == cfg
    algo = EM(policy, cfg, init_actions=data["actions"])
    assert algo.batches_per_update == 1 and algo.policy is policy and algo.config is cfg
    batch = {"obs": data["obs"][:8], "actions": data["actions"][:8]}
    for bad in ([], [batch, batch], batch):
        with pytest.raises(ValueError, match="exactly 1 batch"):
            algo.update(bad)
    with pytest.raises(ValueError, match="actions must be shaped"):
        algo.update([{"obs": data["obs"][:8], "actions": data["actions"][:4]}])
    assert algo.iteration == 0

    stats = algo.update([batch])
    assert algo.iteration == 1 and stats.lr == cfg.lr
    d = stats.to_dict()
    assert next(iter(d)) == "expert_loss" and stats.loss == stats.expert_loss
    assert all(math.isfinite(v) for v in d.values())
    # a uniform gating has nothing to fit: no gating loss, entropy log Z
    assert algo.gating_opt is None and stats.gating_loss == 0.0
    assert stats.gating_entropy == pytest.approx(math.log(4), abs=1e-5)
