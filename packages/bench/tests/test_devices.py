"""Device selection (`--device`, `Benchmark.device`), precision, batches on the device, stats read
back without a per-step wait, and compiled sampling's eager fallback."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from bench import devices
from bench.compiled import CompiledSampler
from bench.errors import ConfigError, TrainingDiverged
from bench.run import main
from bench.trainer import Trainer, TrainerConfig

NO_CUDA = not torch.cuda.is_available()


def _run(args, tmp_path, monkeypatch, repo_root):
    monkeypatch.chdir(repo_root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    return main(["--gin", "gin/toy2d.gin", "--output-dir", str(tmp_path / "out"), *args])


@pytest.mark.skipif(not NO_CUDA, reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:1"])
def test_cuda_without_cuda_exits_2_with_one_line(device, capsys, tmp_path, monkeypatch,
                                                 repo_root):
    assert _run(["--device", device], tmp_path, monkeypatch, repo_root) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert f"device '{device}' asked for, but CUDA is not available here" in err
    assert not (tmp_path / "out").exists()  # nothing ran


@pytest.mark.parametrize(("args", "message"), [
    (["--device", "gpu"], "Benchmark.device must be one of auto|cpu|cuda|cuda:N, got 'gpu'"),
    (["--device", "cuda:x"], "got 'cuda:x'"),
    (["--device", "cpu", "-b", "Benchmark.precision = 'bf16'"],
     "Benchmark.precision 'bf16' needs a CUDA device"),
    (["-b", "Benchmark.precision = 'fp16'"], "Benchmark.precision must be one of ['fp32', "
                                             "'bf16'], got 'fp16'"),
    (["-b", "Benchmark.compile_act = 1"], "expected True or False"),
])
def test_bad_device_settings_exit_2_with_one_line(args, message, capsys, tmp_path, monkeypatch,
                                                  repo_root):
    assert _run(args, tmp_path, monkeypatch, repo_root) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_vdd_bench_run_takes_device(capsys, tmp_path, monkeypatch, repo_root):
    from bench.cli import main as cli_main

    monkeypatch.chdir(repo_root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    code = cli_main(["run", "--gin", "gin/toy2d.gin", "--device", "cpu", "--dry-run"])
    assert code == 0
    assert "device cpu (here: cpu), precision fp32" in capsys.readouterr().out


def test_auto_is_cuda_when_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="bf16' needs a CUDA device"):
        devices.resolve_device("auto", "bf16")  # auto fell back to the CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert devices.resolve_device("auto") == torch.device("cuda", 0)
    assert devices.resolve_device("cuda:1", "bf16") == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match=r"has 2 CUDA device\(s\) \(cuda:0..cuda:1\)"):
        devices.resolve_device("cuda:2")


def test_cpu_device_info_and_autocast():
    info = devices.device_info(torch.device("cpu"))
    assert info["device"] == "cpu" and info["device.torch"] == torch.__version__
    assert info["device.capability"].endswith("cores")
    assert devices.describe(info).startswith("cpu (")
    # fp32 anywhere and bf16 on the CPU: no autocast, the CPU's numbers stay as they were
    for precision in ("fp32", "bf16"):
        with devices.training_autocast(torch.device("cpu"), precision):
            assert not torch.is_autocast_enabled("cpu")
    # a CPU policy's generator draws what `torch.Generator().manual_seed(seed)` always drew
    gen = devices.generator_for(torch.nn.Linear(1, 1), 3)
    assert torch.equal(torch.randn(4, generator=gen),
                       torch.randn(4, generator=torch.Generator().manual_seed(3)))


# ------------------------------------------------------------------------------ trainer
@dataclass(frozen=True)
class Stats:
    loss: torch.Tensor  # a 0-dim tensor, as a device step returns it
    lr: float

    def to_dict(self):
        return {"loss": self.loss, "lr": self.lr}


class Recorder:
    """An algorithm whose policy sits on `device`: records the device of every batch field and
    returns a tensor loss (NaN from iteration `nan_at`)."""

    batches_per_update = 1

    def __init__(self, device, nan_at=None) -> None:
        self.policy = torch.nn.Linear(2, 2).to(device)
        self.policy.save = lambda *a, **k: None
        self.devices, self.calls, self.nan_at = set(), 0, nan_at

    def update(self, batches):
        self.calls += 1
        self.devices |= {v.device for v in batches[0].values()}
        bad = self.nan_at is not None and self.calls >= self.nan_at
        return Stats(torch.tensor(float("nan") if bad else 1.0 / self.calls), 0.1)


def _data(n=16):
    return {"obs": np.zeros((n, 2, 3), np.float32), "actions": np.ones((n, 2, 2), np.float32)}


def test_batches_are_drawn_on_the_policys_device(tmp_path):
    algo = Recorder("meta")
    trainer = Trainer(algo, _data(), iterations=1, batch_size=4, checkpoint_dir=tmp_path,
                      seed=0, config=TrainerConfig(progress=False))
    batch = trainer._batch()
    assert {v.device.type for v in batch.values()} == {"meta"}
    assert batch["obs"].shape == (4, 2, 3) and batch["index"].shape == (4,)


def test_tensor_stats_are_read_back_when_logged(tmp_path):
    algo = Recorder("cpu")
    logged = []
    result = Trainer(algo, _data(), iterations=7, batch_size=4, checkpoint_dir=tmp_path,
                     seed=0, config=TrainerConfig(log_every=3, progress=False)).fit(
        on_log=lambda it, s: logged.append((it, s)))
    assert [it for it, _ in logged] == [3, 6, 7]
    assert all(type(v) is float for _, s in logged for v in s.values())
    assert logged[0][1]["loss"] == pytest.approx(1 / 3, rel=1e-6)
    assert result.final_stats["loss"] == pytest.approx(1 / 7, rel=1e-6)
    assert algo.devices == {torch.device("cpu")}


def test_a_nan_is_reported_at_its_iteration_though_read_back_later(tmp_path):
    algo = Recorder("cpu", nan_at=5)
    trainer = Trainer(algo, _data(), iterations=20, batch_size=4, checkpoint_dir=tmp_path,
                      seed=0, config=TrainerConfig(log_every=8, checkpoint_every=4,
                                                   progress=False))
    with pytest.raises(TrainingDiverged, match=r"at iteration 5 \(loss=nan\); last good "
                                               r"checkpoint \(iteration 4\)"):
        trainer.fit()
    assert algo.calls == 8  # found at the next read-back (the checkpoint at 8), not after 20


# ------------------------------------------------------------------------------ compiled
def test_compiled_sampler_is_eager_on_the_cpu():
    calls = []
    fast = CompiledSampler(lambda x: x + 1, device="cpu",
                           compiler=lambda fn: calls.append(fn) or fn)
    assert not fast.active and calls == [] and fast(torch.ones(2)).tolist() == [2.0, 2.0]


def test_compiled_sampler_falls_back_to_eager_in_one_line(capsys):
    def broken_compiler(fn):
        raise RuntimeError("no compiler\nhere")

    fast = CompiledSampler(lambda x: x * 2, device="cuda", compiler=broken_compiler)
    assert not fast.active and fast.fallback == "RuntimeError: no compiler here"
    assert fast(torch.ones(1)).tolist() == [2.0]

    def fails_when_called(fn):
        def run(*args):
            raise RuntimeError("graph capture failed")
        return run

    fast = CompiledSampler(lambda x: x * 3, device="cuda", compiler=fails_when_called)
    assert fast.active
    assert fast(torch.ones(1)).tolist() == [3.0]  # eager answer of the failed call
    assert not fast.active and "graph capture failed" in fast.fallback
    err = capsys.readouterr().err
    assert err.count("compiled sampling unavailable, eager instead") == 2


def test_the_device_run_config_is_the_published_avoiding_with_short_schedules(repo_root,
                                                                                monkeypatch):
    """gin/device/avoiding.gin (scripts/device/run_avoiding.sh) parses, asks for CUDA, and
    keeps gin/avoiding.gin's methods and sizes with fewer updates and rollouts."""
    import gin

    from bench.config import parse_gin
    from bench.settings import Benchmark
    from bench.teacher_store import teacher_configs

    monkeypatch.chdir(repo_root)
    try:
        parse_gin(["gin/avoiding.gin"])
        full = Benchmark()
        published = teacher_configs("ddpm", full.task)
        parse_gin(["gin/device/avoiding.gin"], ["Benchmark.device = 'cpu'"])
        short = Benchmark()
        device_run = teacher_configs("ddpm", short.task)
        assert gin.query_parameter("Benchmark.device") == "cpu"  # the file itself says cuda
    finally:
        gin.clear_config()
    assert list(short.methods) == list(full.methods) and len(short.methods) == 12
    assert short.seeds == [0] and short.videos == 0
    assert device_run[0] == published[0]  # the published teacher architecture
    assert device_run[1].batch_size == published[1].batch_size
    assert device_run[1].iterations == 10_000 < published[1].iterations
    assert short.task.eval_rollouts == 96 < full.task.eval_rollouts
    text = (repo_root / "gin/device/avoiding.gin").read_text()
    assert "Benchmark.device = 'cuda'" in text
