"""A new algorithm, or a new teacher kind with its own score adapter, is one registry entry in
its own package: registered here in fixtures, each runs through `bench.run` with no edit to
bench (tiny toy settings)."""

from dataclasses import dataclass

import gin
import pytest
import torch

import distill
import teachers
from bench.run import main
from distill import AlgorithmSpec, BuiltStudent, StudentInputs, register_algorithm
from moe import MoEPolicy
from teachers import DDPMConfig, DDPMPolicy, DDPMScore, TeacherKind, register_teacher


@dataclass(frozen=True)
class MLEConfig:
    """A trivial algorithm's settings: the MoE fitted by maximum likelihood on the data."""

    iterations: int = 5
    batch_size: int = 64
    lr: float = 1e-3

    def to_dict(self) -> dict:
        return {"iterations": self.iterations, "batch_size": self.batch_size, "lr": self.lr}


@dataclass(frozen=True)
class MLEStats:
    loss: float

    def to_dict(self) -> dict[str, float]:
        return {"loss": self.loss}


class MLE:
    """Gradient steps on the demonstrations' negative log-likelihood under the MoE."""

    batches_per_update = 1

    def __init__(self, policy: MoEPolicy, config: MLEConfig) -> None:
        self.policy, self.config = policy, config
        self.opt = torch.optim.Adam(policy.parameters(), lr=config.lr)

    def update(self, batches) -> MLEStats:
        (batch,) = batches
        obs, actions = batch["obs"], batch["actions"]
        loss = -self.policy.log_prob(obs[:, :], actions[:, -1:]).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return MLEStats(loss.item())


def build_mle(inputs: StudentInputs) -> BuiltStudent:
    policy = MoEPolicy(inputs.student)
    policy.fit_normalizers(inputs.dataset["obs"], inputs.dataset["actions"])
    return BuiltStudent(policy, MLE(policy, inputs.config))


class NarrowDDPMScore(DDPMScore):
    """A teacher kind's own score adapter: the DDPM score at the first noise level only."""

    def __init__(self, policy, t_range=(1, 1), **kw) -> None:
        super().__init__(policy, t_range, **kw)


@pytest.fixture
def registered():
    register_algorithm(AlgorithmSpec(name="mle", algorithm=MLE, config=MLEConfig,
                                     build=build_mle, source="data", label="MLE", moe=True,
                                     description="the MoE by maximum likelihood (test)"))
    register_teacher(TeacherKind(name="ddpmx", label="DDPMX", policy=DDPMPolicy,
                                 config=DDPMConfig, score=NarrowDDPMScore))
    yield
    distill.ALGORITHMS.pop("mle")
    teachers.TEACHERS.pop("ddpmx")


def test_a_registered_algorithm_and_teacher_kind_run_through_the_bench(registered, mlflow_uri,
                                                                       tmp_path, capsys):
    args = ["--gin", "gin/toy2d.gin", "--seeds", "0", "--output-dir", str(tmp_path / "out"),
            "-b", f"Benchmark.cache_dir = '{tmp_path / 'cache'}'"]
    for b in ("Benchmark.methods = ['mle', 'ddpmx', 'ddpmx_1', 'vdd_ddpmx']",
              "Benchmark.teachers = ['ddpmx']", "MLEConfig.iterations = 7",
              "ddpmx/TeacherTrainingConfig.iterations = 20", "ddpmx/DDPMConfig.n_layer = 1",
              "ddpmx/DDPMConfig.n_head = 1", "ddpmx/DDPMConfig.n_embd = 16",
              "ddpmx/DDPMConfig.num_steps = 4", "VDDConfig.iterations = 5",
              "Benchmark.eval_samples = 300", "Benchmark.timing_repeats = 2",
              "Benchmark.snapshot_iterations = []", "TrainerConfig.progress = False"):
        args += ["-b", b]
    try:
        assert main(args) == 0
    finally:
        gin.clear_config()
    out = capsys.readouterr().out
    assert "teacher ddpmx (seed 0): trained" in out
    (table,) = (tmp_path / "out" / "toy2d").glob("*/results.md")
    rows = {line.split("|")[1].strip(): line for line in table.read_text().splitlines()[2:]}
    assert set(rows) == {"mle", "ddpmx", "ddpmx_1", "vdd_ddpmx"}
    paper = next(table.parent.glob("results_paper.md")).read_text()
    assert "MLE" in paper and "VDD-DDPMX" in paper and "DDPMX-1" in paper
