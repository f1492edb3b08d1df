"""The image-task path across packages: rendered demonstrations stored compressed, lazy packed
windows, an image teacher trained on them by the bench's loop, and a VDD student that starts
from (and freezes) the teacher's camera encoders."""

import gin
import numpy as np
import torch

from bench.methods import build_student, method_table
from bench.teacher_store import load_or_train_teacher
from bench.trainer import Trainer, TrainerConfig
from envs.image_store import PackedWindows
from envs.rollout_task import RolloutTask

TINY = [f"{scope}.{k} = {v}" for scope in ("BESOConfig", "student/MoEConfig") for k, v in
        (("n_layer", 1), ("n_head", 1), ("n_embd", 16), ("image_encoder", "'lcnet_050'"))]


def test_sorting_image_data_teacher_and_vdd_student(tmp_path):
    task = RolloutTask(name="sorting_image", num_demos=1, window=2, workers=1)
    data = task.make_dataset(0, cache_dir=tmp_path, progress=False)
    obs = data["obs"]
    assert isinstance(obs, PackedWindows) and obs.shape == (len(data["actions"]), 2, task.obs_dim)
    assert task.image_layout() == {"cameras": 2, "image_size": 96} and len(data["modes"]) == 1
    pixels = obs[np.arange(3)][..., 4:]
    assert pixels.min() >= 0 and pixels.max() <= 255 and pixels.std() > 10  # a real scene
    again = task.load_episodes(0, cache_dir=tmp_path, progress=False)  # frames decoded by now
    assert again.cached and np.array_equal(again.images.frames[:3], obs.store.frames[:3])
    gin.clear_config()
    gin.parse_config(["import bench.configurables", *TINY,
                      "TeacherTrainingConfig.iterations = 2",
                      "TeacherTrainingConfig.batch_size = 4",
                      "VDDConfig.batch_size = 4", "VDDConfig.iterations = 1",
                      "StudentEncoder.freeze = True"])
    try:
        teacher = load_or_train_teacher("beso", task, data, 0, cache_dir=tmp_path,
                                        trainer_config=TrainerConfig(progress=False))
        assert teacher.policy.config.cameras == 2 and teacher.policy.config.state_dim == 4
        assert teacher.policy.obs_normalizer.mean.shape == (4,)  # fitted on the state only
        built = build_student(method_table()["vdd_beso"], task, data, 0, teacher=teacher)
    finally:
        gin.clear_config()
    student, teacher_cnn = built.policy, teacher.policy.model.obs_embed.encoders
    before = {k: v.clone() for k, v in student.obs_embed.encoders.state_dict().items()}
    for k, v in teacher_cnn.state_dict().items():
        assert torch.equal(before[k], v), k  # copied from the teacher
    Trainer(built.algorithm, data, iterations=1, batch_size=4, checkpoint_dir=tmp_path / "s",
            seed=0, config=TrainerConfig(progress=False)).fit()
    for k, v in student.obs_embed.encoders.state_dict().items():
        assert torch.equal(before[k], v), k  # frozen: unchanged by the VDD update
    action = student.act(obs[0][-1].astype(np.float32))
    assert action.shape == (2,) and np.all(np.isfinite(action))


def test_dict_observations_pack_into_the_policy_input_of_before():
    """The envs' Dict observation (state + uint8 cameras) reaches an image policy through the
    bench's adapter as exactly the float vector the envs gave before (state, then pixels
    channels-first as 0..255, camera-major), so trained policies act the same."""
    import gymnasium as gym

    from bench.scoring import view
    from envs.image_obs import stack_observations
    from moe import MoEConfig, MoEPolicy

    task = RolloutTask(name="stacking_image")
    env = gym.make("envs/StackingImage-v0")
    space = env.observation_space
    assert isinstance(space, gym.spaces.Dict) and task.camera_names == ("overview", "in_hand")
    assert all(space["images"][c].dtype == np.uint8 and space["images"][c].shape == (96, 96, 3)
               for c in task.camera_names)
    old, new = [], []
    for seed in (0, 1):
        obs, _ = env.reset(seed=seed)
        obs = env.step(np.r_[0.01, 0.0, -0.01, 0.0, 0.05])[0]
        assert space.contains(obs)
        base = env.unwrapped
        old.append(np.concatenate([  # the packed observation the env returned before
            base.image_state(),
            base.render_cameras().transpose(0, 3, 1, 2).reshape(-1).astype(np.float64)]))
        new.append(obs)
    env.close()
    old_BO = np.stack(old).astype(np.float32)
    torch.manual_seed(0)
    policy = MoEPolicy(MoEConfig(obs_dim=task.obs_dim, action_dim=task.action_dim, window=2,
                                 num_experts=2, n_layer=1, n_head=1, n_embd=16,
                                 image_encoder="lcnet_050", **task.image_layout()))
    policy.fit_normalizers(torch.from_numpy(np.stack([old_BO, old_BO], 1)),
                           torch.randn(2, 2, task.action_dim))
    adapter = view(policy, cameras=task.camera_names, greedy=True)
    batch = stack_observations(new)
    np.testing.assert_array_equal(adapter.policy_input(batch), old_BO)
    policy.eval()
    adapter.reset()
    from_dict = adapter(batch)
    policy.reset()
    with torch.no_grad():
        from_old = policy.act(old_BO, greedy=True)
    np.testing.assert_array_equal(from_dict, from_old)
