"""Contracts of both teachers: shapes, validation, acting, checkpoints, registry."""

import json

import numpy as np
import pytest
import torch
from teacher_helpers import beso_config, ddpm_config

from moe import CheckpointError
from teachers import (
    TEACHERS, BESOConfig, BESOPolicy, DDPMConfig, DDPMPolicy, DiffusionAlgorithm,
    TeacherTrainingConfig, karras_sigmas, step_subsequence,
)

KINDS = {"beso": (BESOPolicy, beso_config), "ddpm": (DDPMPolicy, ddpm_config)}
SAMPLERS = {"beso": ["ddim", "euler_ancestral"], "ddpm": ["ddim", "ddpm"]}


def make(kind, **kw):
    torch.manual_seed(0)
    cls, cfg = KINDS[kind]
    policy = cls(cfg(**{"obs_dim": 3, "window": 4, **kw}))
    rng = np.random.default_rng(0)
    policy.fit_normalizers(rng.normal(3.0, 2.0, (100, 3)), rng.normal(-1.0, 0.5, (100, 2)))
    return policy


def test_registry_and_version():
    import teachers

    assert {k: t.policy for k, t in TEACHERS.items()} == {"beso": BESOPolicy, "ddpm": DDPMPolicy}
    assert TEACHERS["beso"].ode and not TEACHERS["ddpm"].ode
    assert teachers.__version__ == "0.1.0"


@pytest.mark.parametrize("kind", KINDS)
def test_loss_and_sampling_shapes(kind):
    policy = make(kind)
    batch = {"obs": torch.randn(8, 4, 3), "actions": torch.randn(8, 4, 2)}
    loss, stats = policy.compute_loss(batch)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert stats["loss"] == pytest.approx(float(loss.detach()))
    loss.backward()
    for sampler in SAMPLERS[kind]:
        for steps in (1, 3):
            a = policy.sample_actions(torch.randn(5, 4, 3), num_steps=steps, sampler=sampler)
            assert a.shape == (5, 2) and torch.isfinite(a).all()
    assert policy.sample_actions(torch.randn(5, 2, 3)).shape == (5, 2)  # shorter window ok


@pytest.mark.parametrize("kind", KINDS)
def test_bad_shapes_and_names_give_clear_errors(kind):
    policy = make(kind)
    with pytest.raises(ValueError, match=r"\(batch, window, obs_dim\)"):
        policy.sample_actions(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="obs_dim 2, the policy expects 3"):
        policy.sample_actions(torch.zeros(1, 4, 2))
    with pytest.raises(ValueError, match="takes 1..4"):
        policy.sample_actions(torch.zeros(1, 5, 3))
    with pytest.raises(ValueError, match=r"action_dim=2\), got \(8, 4, 3\)"):
        policy.compute_loss({"obs": torch.zeros(8, 4, 3), "actions": torch.zeros(8, 4, 3)})
    with pytest.raises(ValueError, match="must share"):
        policy.compute_loss({"obs": torch.zeros(8, 4, 3), "actions": torch.zeros(8, 3, 2)})
    with pytest.raises(ValueError, match="samplers are .*got 'heun'"):
        policy.sample_actions(torch.zeros(1, 4, 3), sampler="heun")
    with pytest.raises(ValueError, match="num_steps must be a positive int, got 0"):
        policy.sample_actions(torch.zeros(1, 4, 3), num_steps=0)
    with pytest.raises(ValueError, match="act expects"):
        policy.act(np.zeros((2, 2, 3)))


def test_ddpm_step_count_is_bounded_by_the_train_steps():
    policy = make("ddpm", num_train_steps=8, num_steps=8)
    with pytest.raises(ValueError, match=r"int in 1..8 \(the train steps\), got 9"):
        policy.sample_actions(torch.zeros(1, 4, 3), num_steps=9)


@pytest.mark.parametrize("cls,kw,match", [
    (BESOConfig, dict(sigma_min=0.5, sigma_max=0.1), "sigma_min=0.5, sigma_max=0.1"),
    (BESOConfig, dict(sigma_data=-1.0), "sigma_data must be > 0, got -1.0"),
    (BESOConfig, dict(sampler="ddpm"), r"\['ddim', 'euler_ancestral'\], got 'ddpm'"),
    (BESOConfig, dict(sigma_sampling="uniform"), "got 'uniform'"),
    (BESOConfig, dict(window=0), "window must be a positive int, got 0"),
    (BESOConfig, dict(n_embd=30, n_head=4), r"n_embd \(30\) must be divisible by n_head \(4\)"),
    (DDPMConfig, dict(num_train_steps=0), "num_train_steps must be a positive int, got 0"),
    (DDPMConfig, dict(num_train_steps=8, num_steps=10), r"num_steps \(10\) cannot exceed"),
    (DDPMConfig, dict(sampler="euler_ancestral"), "got 'euler_ancestral'"),
    (DDPMConfig, dict(max_beta=1.0), r"max_beta must lie in \(0, 1\), got 1.0"),
    (DDPMConfig, dict(clip_sample=-1.0), "clip_sample must be >= 0, got -1.0"),
])
def test_config_validation_prints_the_bad_value(cls, kw, match):
    with pytest.raises(ValueError, match=match):
        cls(obs_dim=1, action_dim=2, **kw)


@pytest.mark.parametrize("kw,match", [
    (dict(iterations=0), "iterations must be a positive int, got 0"),
    (dict(lr=0.0), "lr must be > 0, got 0.0"),
    (dict(ema_decay=1.0), r"ema_decay must lie in \[0, 1\), got 1.0"),
    (dict(lr_schedule="linear"), "got 'linear'"),
])
def test_training_config_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        TeacherTrainingConfig(**kw)


def test_schedules():
    s = karras_sigmas(5, 0.001, 1.0)
    assert s.shape == (6,) and s[0] == pytest.approx(1.0) and s[4] == pytest.approx(0.001)
    assert s[-1] == 0 and (s[:-1] > s[1:]).all()
    assert karras_sigmas(1, 0.001, 1.0).tolist() == [1.0, 0.0]
    assert step_subsequence(1, 16) == [16, 0]
    assert step_subsequence(16, 16) == list(range(16, -1, -1))
    for n in range(1, 17):
        steps = step_subsequence(n, 16)
        assert len(set(steps)) == n + 1 and steps[0] == 16 and steps == sorted(steps)[::-1]


@pytest.mark.parametrize("kind", KINDS)
def test_act_keeps_a_window_and_reset_clears_it(kind):
    policy = make(kind).eval()
    obs = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
    policy.reset()
    for t in range(6):
        torch.manual_seed(t)
        a = policy.act(obs[t], num_steps=2)
        assert a.shape == (2,) and isinstance(a, np.ndarray)
    torch.manual_seed(5)  # same global RNG state as the last act call
    expected = policy.sample_actions(torch.as_tensor(obs[2:6])[None], num_steps=2)[0].numpy()
    np.testing.assert_allclose(a, expected, atol=1e-5)
    with pytest.raises(ValueError, match="call reset"):
        policy.act(np.zeros((3, 3)))
    policy.reset()
    assert policy.act(torch.zeros(3, 3)).shape == (3, 2)


@pytest.mark.parametrize("kind", KINDS)
def test_checkpoint_round_trip_gives_identical_samples(kind, tmp_path):
    policy = make(kind)
    # one training step so the EMA weights differ from the initial ones
    algo = DiffusionAlgorithm(policy, TeacherTrainingConfig(iterations=2, batch_size=8,
                                                            ema_decay=0.5))
    for _ in range(2):
        algo.update([{"obs": torch.randn(8, 4, 3), "actions": torch.randn(8, 4, 2)}])
    policy.save(tmp_path / "ckpt", extra={"iteration": 2})
    loaded = type(policy).load(tmp_path / "ckpt", expect_config=policy.config)
    assert loaded.config == policy.config and not loaded.training
    obs = torch.randn(16, 4, 3)
    for sampler in SAMPLERS[kind]:
        a = policy.sample_actions(obs, num_steps=3, sampler=sampler,
                                  generator=torch.Generator().manual_seed(7))
        b = loaded.sample_actions(obs, num_steps=3, sampler=sampler,
                                  generator=torch.Generator().manual_seed(7))
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(loaded.action_normalizer.std, policy.action_normalizer.std)


def test_loading_the_wrong_kind_fails_clearly(tmp_path):
    make("beso").save(tmp_path / "beso")
    make("ddpm").save(tmp_path / "ddpm")
    with pytest.raises(CheckpointError, match="holds a 'teachers.BESOPolicy' checkpoint, not a "
                                              "'teachers.DDPMPolicy'"):
        DDPMPolicy.load(tmp_path / "beso")
    with pytest.raises(CheckpointError, match="'teachers.DDPMPolicy' checkpoint, not a "
                                              "'teachers.BESOPolicy'"):
        BESOPolicy.load(tmp_path / "ddpm")


def test_loading_after_a_shape_change_names_the_mismatch(tmp_path):
    policy = make("beso")
    policy.save(tmp_path / "ckpt")
    with pytest.raises(CheckpointError, match="n_embd: saved 32, expected 64"):
        BESOPolicy.load(tmp_path / "ckpt", expect_config=beso_config(obs_dim=3, window=4,
                                                                     n_embd=64))
    # a config edited on disk no longer fits the tensors
    meta_path = tmp_path / "ckpt" / "config.json"
    meta = json.loads(meta_path.read_text())
    meta["config"]["action_dim"] = 3
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"has shape \(2,\), the config gives \(3,\)"):
        BESOPolicy.load(tmp_path / "ckpt")
    meta["config"]["bogus"] = 1
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"no fields \['bogus'\]"):
        BESOPolicy.load(tmp_path / "ckpt")


def test_ema_policy_tracks_the_online_model():
    policy = make("beso")
    before = [p.detach().clone() for p in policy.parameters()]
    algo = DiffusionAlgorithm(policy, TeacherTrainingConfig(iterations=5, batch_size=8,
                                                            ema_decay=0.9, lr=1e-2))
    assert algo.batches_per_update == 1 and algo.policy is policy
    batch = {"obs": torch.randn(8, 4, 3), "actions": torch.randn(8, 4, 2)}
    for _ in range(5):
        stats = algo.update([batch])
    assert set(stats.to_dict()) == {"loss", "lr", "ema_decay", "grad_norm"}
    moved = sum(float((p - b).detach().abs().sum()) for p, b in zip(policy.parameters(), before))
    assert moved > 0
    # the EMA lags behind the online weights
    lag = sum(float((p - q).detach().abs().sum()) for p, q in zip(policy.parameters(),
                                                        algo.online.parameters()))
    assert lag > 0
    with pytest.raises(ValueError, match="needs 1 batch, got 2"):
        algo.update([batch, batch])
