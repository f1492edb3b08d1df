"""Parallel policy evaluation on gymnasium tasks with the rod-task info contract.

`evaluate` runs `contexts x rollouts_per_context` episodes of a batched policy through tianshou
vector envs (subprocesses, or in-process when serial) and scores them with `rollout_metrics`.

Reproducibility: context i is `env.sample_context(np.random.default_rng([seed, i]))`, drawn in
the main process; rollout (i, r) resets with the seed `rollout_seed(seed, i, r)` (the r-th child
of the i-th child of `SeedSequence(seed)`) and `options={"context": context_i}`. A rollout
therefore depends on (seed, i, r) and the policy only, not on `num_envs` or `parallel`
(provided the policy acts on each observation row independently of the rest of the batch).

The env contract: `make_env(render_mode=None)` returns a gymnasium env with an array
observation or a Dict of arrays (the image tasks' state and uint8 camera images, passed to the
policy as they are, batched like gymnasium's vector envs do: `envs.image_obs`),
`sample_context(rng)`, `reset(seed=, options={"context": ...})`, and an `info` with "success"
and "mode" (-1 while undecided; "failure" is read when present). Any `RodTaskEnv`
subclass fits. tianshou (and with it torch) is imported only when `evaluate` runs, so
`import envs.evaluation` stays light.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from envs.image_obs import batch_size, replace_rows, stack_observations
from envs.metrics import mode_kl, rollout_metrics

__all__ = ["EvalResult", "RolloutRecord", "Policy", "evaluate", "rollout_seed", "context_rng"]


class Policy(Protocol):
    """Maps a batch of observations (B, O) to a batch of actions (B, *action_shape); Dict
    observations come as a dict of batches ({"state": (B, S), "images": {camera: (B, H, W, 3)
    uint8}}).

    An optional `reset()` is called before each wave of episodes (its batch size is constant
    within a wave, but the last wave may be smaller)."""

    def __call__(self, obs: np.ndarray, /) -> np.ndarray: ...


@dataclass(frozen=True)
class RolloutRecord:
    """The outcome of rollout `rollout_id` of context `context_id`."""

    context_id: int
    rollout_id: int
    seed: int  # the env's reset seed
    success: bool
    failure: bool
    mode: int  # -1 if undecided
    length: int  # env steps
    levels: dict[str, tuple[bool, int]] = field(default_factory=dict)  # graded success levels


@dataclass
class EvalResult:
    """Metrics (rollout_metrics plus mean_length, env_steps, wall_seconds, steps_per_second,
    setup_seconds; `<level>/success_rate`, `<level>/entropy`, ... per graded success level;
    mode_kl with reference modes), per-rollout records in (context, rollout) order, the
    contexts, and the paths of the written GIFs."""

    metrics: dict[str, float]
    records: list[RolloutRecord]
    contexts: list[np.ndarray]
    video_paths: list[Path] = field(default_factory=list)


def context_rng(seed: int, context_id: int) -> np.random.Generator:
    """The generator that draws context `context_id` of an evaluation with `seed`."""
    return np.random.default_rng([seed, context_id])


def rollout_seed(seed: int, context_id: int, rollout_id: int) -> int:
    """The reset seed of rollout (context_id, rollout_id): a spawned child of SeedSequence(seed).

    (SeedSequence([seed, i, 0]) would equal the context generator's [seed, i], so the spawn key
    keeps rollout seeds and context draws apart.)"""
    ss = np.random.SeedSequence(seed, spawn_key=(context_id, rollout_id))
    return int(ss.generate_state(1)[0])


def _check_int(name: str, value: Any, minimum: int, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}; {hint}")
    return int(value)


def _act(policy: Callable[[Any], Any], obs: Any,
         action_shape: tuple[int, ...]) -> np.ndarray:
    actions = np.asarray(policy(obs))
    expected = (batch_size(obs), *action_shape)
    if actions.shape != expected:
        raise ValueError(f"policy returned actions of shape {actions.shape} for a batch of "
                         f"{expected[0]} observations; expected {expected}: return one action "
                         "row per observation row")
    if actions.dtype.kind in "fc" and not np.all(np.isfinite(actions)):
        raise ValueError("policy returned non-finite actions (NaN or inf); check the policy")
    return actions


def _write_gif(path: Path, frames: list[np.ndarray], fps: float) -> None:
    import imageio.v3 as iio

    iio.imwrite(path, np.stack(frames), extension=".gif", duration=1000.0 / fps, loop=0)


def evaluate(
    make_env: Callable[..., Any],
    policy: Callable[[np.ndarray], Any],
    *,
    num_modes: int,
    contexts: int,
    rollouts_per_context: int,
    seed: int = 0,
    num_envs: int | None = None,
    parallel: bool = True,
    videos: int = 0,
    video_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    levels: dict[str, int] | None = None,
    reference_modes: Any = None,
) -> EvalResult:
    """Roll `policy` out `rollouts_per_context` times in each of `contexts` sampled contexts.

    `make_env(render_mode=...)` must be picklable when `parallel` (e.g. functools.partial of
    an env class). Rollouts run in waves of `num_envs` (default os.cpu_count(), capped at the
    number of rollouts) through `SubprocVectorEnv` (parallel) or `DummyVectorEnv` (serial,
    in-process, same waves); the envs are built once and reused. Each step calls `policy` once
    on the whole wave's observations; envs whose episode ended keep their last observation in
    the batch (their actions are dropped) so the batch size is constant within a wave. The
    batch passed to `policy` is a fresh array each step, so a policy may keep it.

    `videos=k` writes the first k rollouts (in (context, rollout) order) as GIFs to
    `video_dir`. `levels` {name: number of modes} scores graded success the env reports in
    `info["levels"]` ({name: (reached, mode)}, e.g. Stacking-1/-2/-3) like the main success.
    `reference_modes` (e.g. the demonstrations' modes) adds `mode_kl`: KL(successful rollouts'
    mode distribution || the reference's). `wall_seconds` and `steps_per_second` cover the
    rollouts, not env start-up (`setup_seconds`).
    """
    contexts = _check_int("contexts", contexts, 1, "evaluate at least one context")
    rollouts_per_context = _check_int("rollouts_per_context", rollouts_per_context, 1,
                                      "run at least one rollout per context")
    seed = _check_int("seed", seed, 0, "use a non-negative seed")
    videos = _check_int("videos", videos, 0, "pass 0 for no videos")
    num_modes = _check_int("num_modes", num_modes, 2, "pass the task's number of modes")
    if num_envs is None:
        num_envs = os.cpu_count() or 1
    num_envs = _check_int("num_envs", num_envs, 1, "use at least one env (or None for all CPUs)")
    if videos and video_dir is None:
        raise ValueError(f"videos={videos} needs a video_dir to write the GIFs to")
    if not callable(policy):
        raise ValueError(f"policy must be callable (obs batch -> action batch), got {policy!r}")

    total = contexts * rollouts_per_context
    num_envs = min(num_envs, total)
    order = [(i, r) for i in range(contexts) for r in range(rollouts_per_context)]
    seeds = [rollout_seed(seed, i, r) for i, r in order]

    probe = make_env(render_mode=None)
    try:
        ctx = [np.asarray(probe.sample_context(context_rng(seed, i))) for i in range(contexts)]
        action_shape = tuple(probe.action_space.shape)
        fps = float(getattr(probe, "metadata", {}).get("render_fps") or 25)
    finally:
        probe.close()

    out_dir = None
    if videos:
        out_dir = Path(video_dir)  # type: ignore[arg-type]
        out_dir.mkdir(parents=True, exist_ok=True)
    render_mode = "rgb_array" if videos else None  # renderers are built lazily: only used ones

    from tianshou.env import DummyVectorEnv, SubprocVectorEnv
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    fns = [partial(make_env, render_mode=render_mode) for _ in range(num_envs)]
    if parallel:
        from envs.processes import worker_context

        venv = SubprocVectorEnv(fns, context=worker_context())  # type: ignore[arg-type]
    else:
        venv = DummyVectorEnv(fns)
    bar = tqdm(total=total, desc="evaluate", unit="rollout", disable=not progress)
    records: list[RolloutRecord | None] = [None] * total
    paths: list[Path] = []
    reset_fn = getattr(policy, "reset", None)
    try:
        setup_seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        for start in range(0, total, num_envs):
            n = min(num_envs, total - start)
            if callable(reset_fn):
                reset_fn()
            frames: dict[int, list[np.ndarray]] = {}
            first = []
            for j in range(n):
                i, _ = order[start + j]
                o, _ = venv.reset(env_id=j, seed=seeds[start + j], options={"context": ctx[i]})
                first.append(o[0])
                if start + j < videos:
                    frames[j] = [venv.workers[j].render()]
            obs = stack_observations(first)
            active = np.ones(n, dtype=bool)
            lengths = np.zeros(n, dtype=np.int64)
            while active.any():
                actions = _act(policy, obs, action_shape)
                ids = np.flatnonzero(active)
                o, _, term, trunc, infos = venv.step(actions[ids], id=ids.tolist())
                obs = replace_rows(obs, ids, stack_observations(list(o)))
                lengths[ids] += 1
                for j, done, info in zip(ids, np.logical_or(term, trunc), infos, strict=True):
                    if j in frames:
                        frames[j].append(venv.workers[j].render())
                    if not done:
                        continue
                    active[j] = False
                    k = start + j
                    i, r = order[k]
                    records[k] = RolloutRecord(
                        context_id=i, rollout_id=r, seed=seeds[k],
                        success=bool(info.get("success", False)),
                        failure=bool(info.get("failure", False)),
                        mode=int(info.get("mode", -1)), length=int(lengths[j]),
                        levels={k: (bool(v[0]), int(v[1]))
                                for k, v in (info.get("levels") or {}).items()})
                    if j in frames:
                        assert out_dir is not None
                        path = out_dir / f"rollout_c{i:03d}_r{r:03d}.gif"
                        _write_gif(path, frames.pop(j), fps)
                        paths.append(path)
                    bar.update(1)
        wall = time.perf_counter() - t1
    except (EOFError, BrokenPipeError, ConnectionResetError) as e:
        raise RuntimeError("an env worker process died; its traceback is printed above "
                           "(rerun with parallel=False to get it in this process)") from e
    finally:
        bar.close()
        venv.close()

    done_records = [rec for rec in records if rec is not None]
    assert len(done_records) == total
    metrics: dict[str, float] = dict(rollout_metrics(
        [rec.success for rec in done_records], [rec.mode for rec in done_records],
        [rec.context_id for rec in done_records], num_modes))
    context_ids = [rec.context_id for rec in done_records]
    for name, level_modes in (levels or {}).items():
        reached = [rec.levels.get(name, (False, -1)) for rec in done_records]
        for key, value in rollout_metrics([r for r, _ in reached], [m for _, m in reached],
                                          context_ids, level_modes).items():
            metrics[f"{name}/{key}"] = value
    if levels:  # E[levels reached] = sum_k P(level k): Kitchen's subtasks done, blocks stacked
        metrics["levels_reached"] = float(np.mean(
            [sum(rec.levels.get(name, (False, -1))[0] for name in levels)
             for rec in done_records]))
    ok = [rec.mode for rec in done_records if rec.success]
    if reference_modes is not None and ok:  # undefined without a successful rollout
        metrics["mode_kl"] = mode_kl(ok, list(np.asarray(reference_modes)), num_modes)
    steps = int(sum(rec.length for rec in done_records))
    metrics.update(mean_length=steps / total, env_steps=steps, wall_seconds=wall,
                   steps_per_second=steps / wall if wall > 0 else float("inf"),
                   setup_seconds=setup_seconds)
    return EvalResult(metrics=metrics, records=done_records, contexts=ctx, video_paths=paths)
