"""A diffusion teacher on Avoiding keeps the side it set off in (slow: trains a small teacher).

The defect this guards against (README, "Rod tasks: diagnosis"): all Avoiding demonstrations
start at one point and the first steps move ~5 mm, ~0.03 of the position normaliser's scale.
A teacher whose tokens saw only positions continued its own first steps' side only 58-81% of
the time at steps 1-3 (5k iterations), so in closed loop it dithered into the first cylinder.
Fed the demonstrations' own first windows, a teacher with the motion embedding must continue
their side at steps 1-4 like the data does (100%).
"""

import numpy as np
import pytest
import torch

from envs import RolloutTask
from envs.d3il.avoiding import side_agreement
from envs.windows import make_windows
from teachers import DDPMConfig, DDPMPolicy, DiffusionAlgorithm, TeacherTrainingConfig

pytestmark = pytest.mark.slow


def test_motion_teacher_commits_to_its_first_steps(tmp_path):
    torch.set_num_threads(1)
    task = RolloutTask(name="avoiding")
    episodes = task.load_episodes(0, cache_dir=tmp_path, progress=False).episodes
    data = make_windows(episodes, 5)
    torch.manual_seed(0)
    policy = DDPMPolicy(DDPMConfig(obs_dim=4, action_dim=2, window=5, n_layer=2, n_head=2,
                                   n_embd=64, num_train_steps=8, num_steps=8, sampler="ddpm",
                                   obs_motion=True))
    policy.fit_normalizers(data["obs"], data["actions"])
    algo = DiffusionAlgorithm(policy, TeacherTrainingConfig(iterations=3000, batch_size=256,
                                                            lr=1e-3, warmup_steps=100))
    obs, act = torch.as_tensor(data["obs"]), torch.as_tensor(data["actions"])
    rng = np.random.default_rng(0)
    for _ in range(3000):
        idx = torch.as_tensor(rng.integers(0, len(obs), 256))
        algo.update([{"obs": obs[idx], "actions": act[idx]}])
    torch.manual_seed(0)
    agreement = side_agreement(
        lambda obs: policy.sample_actions(torch.as_tensor(obs)).numpy(), episodes, window=5)
    assert np.mean(agreement) >= 0.9, agreement
    assert min(agreement[1:]) >= 0.95, agreement
