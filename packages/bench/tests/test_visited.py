"""The student's own states for VDD's on-policy expert steps: collected from real rollouts."""

import numpy as np
import pytest
import torch

from bench.visited import VisitHook, collect_visited
from distill import VDD, VDDConfig
from distill.score import GaussianMixtureScore
from envs import RolloutTask, Toy2D
from moe import MoEConfig, MoEPolicy


def small_student(task) -> MoEPolicy:
    torch.manual_seed(0)
    policy = MoEPolicy(MoEConfig(obs_dim=task.obs_dim, action_dim=task.action_dim, window=3,
                                 num_experts=2, n_layer=1, n_head=1, n_embd=8))
    rng = np.random.default_rng(0)
    policy.fit_normalizers(rng.normal(size=(50, 3, task.obs_dim)),
                           0.01 * rng.normal(size=(50, 3, task.action_dim)))
    return policy


def test_collect_visited_returns_the_windows_the_student_acted_on():
    task = RolloutTask(name="aligning")
    policy = small_student(task)
    policy.train()
    before = torch.get_rng_state()
    windows, success = collect_visited(task, policy, rollouts=2, seed=5)
    assert torch.equal(torch.get_rng_state(), before) and policy.training
    assert windows.shape[1:] == (3, task.obs_dim) and 2 * 3 <= len(windows)
    assert 0.0 <= success <= 1.0 and torch.isfinite(windows).all()
    # each episode starts with its first observation repeated over the window
    starts = (windows[:, 0] == windows[:, -1]).all(-1).sum()
    assert starts >= 2
    again, _ = collect_visited(task, policy, rollouts=2, seed=5)
    assert torch.equal(again, windows)  # seeded


def test_visit_hook_feeds_vdd_and_refuses_tasks_without_states():
    task = RolloutTask(name="aligning")
    policy = small_student(task)
    A = task.action_dim
    score = GaussianMixtureScore(means=[[0.0] * A], stds=[1.0], weights=[1.0],
                                 action_mean=[0.0] * A, action_std=[1.0] * A)
    cfg = VDDConfig(iterations=4, batch_size=4, expert_init="random", reseed_every=0,
                    visited_share=0.5, visited_every=2, visited_rollouts=2)
    algo = VDD(policy, score, cfg)
    logged = []
    hook = VisitHook(algo, task, seed=0, log=lambda m, it: logged.append((it, m)))
    hook(0)
    assert len(algo.visited) == 0
    algo.iteration = 2
    hook(2)
    assert len(algo.visited) > 0 and logged[0][0] == 2
    assert set(logged[0][1]) == {"train/visited_success", "train/visited_windows"}
    with pytest.raises(ValueError, match="visited_share needs a state-based rollout task"):
        VisitHook(algo, Toy2D(), seed=0)


def test_live_rows_skips_the_rows_the_runner_repeats():
    from bench.visited import live_rows

    first = np.array([[0.0, 1.0], [2.0, 3.0]])
    assert live_rows(first, None).tolist() == [True, True]
    step = np.array([[0.5, 1.0], [2.0, 3.0]])  # env 1 finished: its row repeats
    assert live_rows(step, first).tolist() == [True, False]
    assert live_rows(step[:1], first).tolist() == [True]  # a new wave of another size
