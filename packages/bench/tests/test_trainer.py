import json

import numpy as np
import pytest
import torch

from bench.errors import TrainingDiverged
from bench.trainer import Trainer, TrainerConfig
from distill import VDD, GaussianMixtureScore, VDDConfig
from moe import MoEConfig, MoEPolicy


class NaNAfter(GaussianMixtureScore):
    """The exact score until `after` calls, then NaN: a teacher that blows up mid-training."""

    def __init__(self, after: int, **kw) -> None:
        super().__init__(**kw)
        self.after, self.calls = after, 0

    def score(self, actions, obs):
        self.calls += 1
        out = super().score(actions, obs)
        return out * float("nan") if self.calls > self.after else out


def tiny(n: int):
    torch.manual_seed(0)
    data = {"obs": np.zeros((n, 1, 1), np.float32),
            "actions": np.random.default_rng(0).normal(size=(n, 1, 2)).astype(np.float32)}
    policy = MoEPolicy(MoEConfig(obs_dim=1, action_dim=2, num_experts=2, n_layer=1, n_head=1,
                                 n_embd=8))
    policy.fit_normalizers(data["obs"], data["actions"])
    return data, policy


def test_nan_loss_stops_with_iteration_and_keeps_last_good_checkpoint(tmp_path):
    data, policy = tiny(64)
    # 2 expert steps per iteration: score call 15 is in iteration 8
    score = NaNAfter(14, means=[[0.0, 0.0]], stds=[1.0], weights=[1.0],
                     action_mean=[0.0, 0.0], action_std=[1.0, 1.0])
    algo = VDD(policy, score, VDDConfig(iterations=20, batch_size=4, num_samples=2,
                                        expert_init="random"))
    trainer = Trainer(algo, data, iterations=20, batch_size=4, checkpoint_dir=tmp_path / "ckpt",
                      seed=0, config=TrainerConfig(checkpoint_every=5, progress=False))
    with pytest.raises(TrainingDiverged, match=r"iteration 8 .*iteration 5\) kept"):
        trainer.fit()
    good = MoEPolicy.load(tmp_path / "ckpt")
    assert all(torch.isfinite(p).all() for p in good.parameters())
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["extra"]["iteration"] == 5


def test_trainer_logs_and_snapshots_on_schedule(tmp_path):
    data, policy = tiny(32)
    score = GaussianMixtureScore(means=[[0.0, 0.0]], stds=[1.0], weights=[1.0],
                                 action_mean=[0.0, 0.0], action_std=[1.0, 1.0])
    algo = VDD(policy, score, VDDConfig(iterations=6, batch_size=4, num_samples=2,
                                        expert_init="data"), init_actions=data["actions"])
    logged, seen = [], []
    result = Trainer(algo, data, iterations=6, batch_size=4, checkpoint_dir=tmp_path / "c",
                     seed=0, config=TrainerConfig(log_every=4, progress=False)).fit(
        on_log=lambda it, s: logged.append(it), on_iteration=seen.append)
    assert logged == [4, 6] and seen == list(range(7))
    assert set(result.final_stats) >= {"expert_loss", "gating_loss", "lr", "reseeded"}
    assert (tmp_path / "c" / "model.safetensors").is_file()
