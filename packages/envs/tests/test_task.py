"""The `Task` protocol on both kinds of task, and `RolloutTask`'s resolved sizes."""

import dataclasses

import numpy as np
import pytest

from envs import TASKS, RolloutTask, Task, TaskEvaluation, Toy2D
from envs.task_specs import ROD_TASKS, RodTaskSpec


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_registered_task_is_a_task(name):
    assert isinstance(TASKS[name](), Task)


def test_toy_task_protocol_and_its_unchanged_settings():
    toy = Toy2D()
    assert (toy.levels, toy.is_image, toy.reports_mode_kl) == ({}, False, False)
    assert toy.data_settings() == {
        "num_modes": 8, "layout": "ring", "radius": 4.0, "mode_std": 0.4, "weights": None,
        "grid_rows": 3, "grid_cols": 3, "num_demos": 4096, "name": "toy2d", "obs_dim": 1,
        "action_dim": 2, "window": 1}
    data = toy.make_dataset(0, cache_dir="ignored")
    assert all(np.array_equal(data[k], v) for k, v in toy.make_dataset(0).items())
    assert toy.timing_window(data).shape == (1, 1)


def test_data_settings_of_the_default_rod_tasks_are_pinned():
    """They key the on-disk teacher caches."""
    assert RolloutTask(name="avoiding").data_settings() == {
        "name": "avoiding", "num_demos": 96, "window": 5}
    assert RolloutTask(name="aligning").data_settings() == {
        "name": "aligning", "num_demos": 900, "window": 5}
    assert RolloutTask(name="pushing", num_demos=7, window=3).data_settings() == {
        "name": "pushing", "num_demos": 7, "window": 3}


def test_zero_sizes_resolve_to_the_task_defaults_once():
    task = RolloutTask(name="aligning")
    assert (task.num_demos, task.eval_contexts, task.eval_rollouts) == (900, 60, 8)
    given = RolloutTask(name="aligning", num_demos=5, eval_contexts=2, eval_rollouts=3)
    assert (given.num_demos, given.eval_contexts, given.eval_rollouts) == (5, 2, 3)
    assert dataclasses.replace(task, window=3).num_demos == 900
    assert RolloutTask(name="aligning", eval_rollouts=0) == task
    for old in ("demos", "contexts", "rollouts"):
        assert not hasattr(task, old)
    assert (task.levels, task.is_image, task.reports_mode_kl) == ({}, False, False)
    assert RolloutTask(name="sorting_image").is_image
    assert RolloutTask(name="sorting").reports_mode_kl


def test_rod_task_specs_take_keywords_only():
    with pytest.raises(TypeError):
        RodTaskSpec("envs/X-v0", "m:X", "m:D", 2, 10, 1, 1)
    assert ROD_TASKS["avoiding"].eval_rollouts == 480
    assert ROD_TASKS["block_push"].env == "envs.block_push.env:BlockPushEnv"


def test_rollout_task_evaluate_returns_a_task_evaluation():
    task = RolloutTask(name="avoiding", eval_rollouts=2, num_envs=1)
    ev = task.evaluate(lambda obs: np.zeros((len(obs), 2)), seed=0, parallel=False,
                       progress=False)
    assert isinstance(ev, TaskEvaluation) and ev.samples is None and ev.video_paths == []
    assert ev.metrics is ev.raw.metrics and len(ev.raw.records) == 2
    assert ev.metrics["rollouts"] == 2 and ev.metrics["success_rate"] == 0.0
    window = task.timing_window({"obs": np.zeros((3, 5, task.obs_dim), np.float32)})
    assert window.shape == (5, task.obs_dim)
