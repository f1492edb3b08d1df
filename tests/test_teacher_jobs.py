"""Teachers trained side by side in worker processes are the teachers the driver would have
trained itself: same cache key, same weights, bit for bit."""

import gin
import torch

import envs
from bench.config import parse_gin
from bench.gin_classes import configurable
from bench.teacher_jobs import TeacherJob, train_side_by_side
from bench.teacher_store import load_or_train_teacher, teacher_path
from bench.trainer import TrainerConfig

BINDINGS = ["TeacherTrainingConfig.iterations = 15", "TeacherTrainingConfig.batch_size = 32",
            "DDPMConfig.n_layer = 1", "DDPMConfig.n_head = 1", "DDPMConfig.n_embd = 16",
            "BESOConfig.n_layer = 1", "BESOConfig.n_head = 1", "BESOConfig.n_embd = 16"]


def test_side_by_side_teachers_equal_in_process_ones(tmp_path):
    parse_gin(["gin/toy2d.gin"], BINDINGS)
    try:
        task = configurable(envs.Toy2D)(num_demos=256)
        data = task.make_dataset(0)
        trainer = TrainerConfig(progress=False, checkpoint_every=10)
        jobs = [TeacherJob("ddpm", 0), TeacherJob("beso", 1)]
        done = train_side_by_side(jobs, task, data, data_seed=0, cache_dir=tmp_path / "workers",
                                  trainer_config=trainer, config_text=gin.config_str(),
                                  workers=2)
        assert set(done) == set(jobs)
        assert all(r.history and r.history[-1][0] == 15 for r in done.values())
        torch.set_num_threads(1)
        for job in jobs:
            here = load_or_train_teacher(job.kind, task, data, 0, cache_dir=tmp_path / "driver",
                                         trainer_config=trainer, train_seed=job.seed)
            there = load_or_train_teacher(job.kind, task, data, 0,
                                          cache_dir=tmp_path / "workers",
                                          trainer_config=trainer, train_seed=job.seed)
            assert not here.cached and there.cached and here.key == there.key
            assert there.path == teacher_path(job.kind, task, 0, cache_dir=tmp_path / "workers",
                                              train_seed=job.seed)
            a, b = here.policy.state_dict(), there.policy.state_dict()
            assert a.keys() == b.keys()
            assert all(torch.equal(a[k], b[k]) for k in a), job
    finally:
        gin.clear_config()
