"""Every model kind follows `.to(device)`: its parameters, buffers and every tensor its loss,
sampling, score and update paths make live on the device it was moved to.

Run on the `meta` device (no data, shapes only) under a torch-function mode that records the
device of every tensor an op returns, so a tensor created on the CPU inside a forward or
sampling path (`torch.zeros(...)` without `device=`) is caught even where it would be mixed
silently into a CPU computation.
"""

from __future__ import annotations

import traceback

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from distill import ConsistencyConfig, ConsistencyPolicy
from moe import MoEConfig, MoEPolicy
from teachers import BESOConfig, BESOPolicy, BESOScore, DDPMConfig, DDPMPolicy, DDPMScore

META = torch.device("meta")
O, A, T = 3, 2, 2


# host-side numerics by design: noise grids computed in float64 on the CPU and read as Python
# floats or moved once (`karras_sigmas(..., device=)`), never mixed into device tensors
HOST_SIDE = ("teachers/schedules.py",)


def _host_side() -> bool:
    return any(f.filename.replace("\\", "/").endswith(HOST_SIDE)
               for f in traceback.extract_stack())


class DeviceRecorder(TorchFunctionMode):
    """Records (op name, device) of every tensor a torch function returns (CPU tensors made by
    the host-side schedule helpers excepted)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, torch.device]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            # a 0-dim CPU tensor is a Python scalar to torch (mixes with any device)
            if torch.is_tensor(t) and not (t.device.type == "cpu" and t.dim() == 0):
                if t.device.type == "cpu" and _host_side():
                    continue
                self.seen.append((getattr(func, "__name__", str(func)), t.device))
        return out

    def off_device(self, device: torch.device) -> list[str]:
        return sorted({name for name, d in self.seen if d != device})


def _fitted(policy):
    rng = np.random.default_rng(0)
    policy.fit_normalizers(rng.normal(size=(40, T, O)).astype(np.float32),
                           rng.normal(size=(40, T, A)).astype(np.float32))
    return policy


def moe(**kw) -> MoEPolicy:
    return _fitted(MoEPolicy(MoEConfig(obs_dim=O, action_dim=A, window=T, num_experts=3,
                                       n_layer=1, n_head=1, n_embd=8, **kw)))


def beso() -> BESOPolicy:
    return _fitted(BESOPolicy(BESOConfig(obs_dim=O, action_dim=A, window=T, n_layer=1,
                                         n_head=1, n_embd=8, obs_motion=True)))


def ddpm() -> DDPMPolicy:
    return _fitted(DDPMPolicy(DDPMConfig(obs_dim=O, action_dim=A, window=T, n_layer=1,
                                         n_head=1, n_embd=8, num_train_steps=4, num_steps=4)))


def consistency(parameterization: str) -> ConsistencyPolicy:
    teacher = beso()
    student = ConsistencyPolicy(ConsistencyConfig.from_teacher(
        teacher.config, parameterization=parameterization))
    student.init_from_teacher(teacher)
    TEACHER_OF[id(student)] = teacher  # for its algorithm (CD / CTM need the teacher's ODE)
    return student


TEACHER_OF: dict[int, BESOPolicy] = {}


def loss_fn(policy):
    """The policy's training loss as a function of a batch: its own (a MoE: the negative
    log-likelihood its algorithms build on), or its consistency algorithm's (target network,
    teacher ODE and noise grid built here, on the policy's device)."""
    if isinstance(policy, MoEPolicy):
        def nll(batch):
            obs, actions = policy.normalize_batch(batch)
            return -policy(obs).log_prob(actions).mean()
        return nll
    if not isinstance(policy, ConsistencyPolicy):
        return lambda batch: policy.compute_loss(batch)[0]
    from distill import CD, CTM, CDConfig, CTMConfig

    teacher = TEACHER_OF[id(policy)].to(policy.device)
    algo = (CD(policy, teacher, CDConfig()) if policy.config.parameterization == "cm"
            else CTM(policy, teacher, CTMConfig()))
    return lambda batch: algo.loss(*policy.normalize_batch(batch))[0]


def moe_images() -> MoEPolicy:
    """A MoE on packed camera observations (a tiny timm CNN, 32x32 pixels)."""
    from moe import pixel_dim

    pytest.importorskip("timm")
    cfg = MoEConfig(obs_dim=O + pixel_dim(1, 32), action_dim=A, window=T, num_experts=3,
                    n_layer=1, n_head=1, n_embd=8, cameras=1, image_size=32,
                    image_encoder="resnet10t")
    policy = MoEPolicy(cfg)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(8, T, pixel_dim(1, 32))).astype(np.float32)
    obs = np.concatenate([rng.normal(size=(8, T, O)).astype(np.float32), pixels], axis=-1)
    policy.fit_normalizers(obs, rng.normal(size=(8, T, A)).astype(np.float32))
    return policy


KINDS = {
    "moe_images": moe_images,
    "moe_full_learned": lambda: moe(covariance="full", gating="learned"),
    "moe_diagonal_uniform": lambda: moe(covariance="diagonal", gating="uniform"),
    "moe_motion": lambda: moe(obs_motion=True),
    "beso": beso,
    "ddpm": ddpm,
    "consistency_cm": lambda: consistency("cm"),
    "consistency_ctm": lambda: consistency("ctm"),
}


def _obs(policy, n: int) -> torch.Tensor:
    return torch.empty(n, T, policy.config.obs_dim, device=META)


def _batch(policy, n: int = 4) -> dict[str, torch.Tensor]:
    return {"obs": _obs(policy, n), "actions": torch.empty(n, T, A, device=META)}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_parameters_buffers_and_outputs_follow_to(kind):
    policy = KINDS[kind]().to(META)
    assert {p.device for p in policy.parameters()} == {META}
    assert {b.device for b in policy.buffers()} == {META}
    loss_of = loss_fn(policy)
    recorder = DeviceRecorder()
    with recorder:
        loss = loss_of(_batch(policy))
        actions = policy.sample_actions(_obs(policy, 5))
    assert loss.device == META and actions.device == META and actions.shape == (5, A)
    assert recorder.seen, "the recorder saw no ops"
    assert recorder.off_device(META) == [], recorder.seen


@pytest.mark.parametrize("kind", ["moe_full_learned", "moe_diagonal_uniform"])
def test_moe_mixture_and_log_prob_stay_on_the_device(kind):
    policy = KINDS[kind]().to(META)
    recorder = DeviceRecorder()
    with recorder:
        mix = policy.mixture(torch.empty(4, T, O, device=META))
        draws = mix.rsample_experts(2)
        log_q = policy.log_prob(torch.empty(4, T, O, device=META),
                                torch.empty(4, T, A, device=META))
        entropies = mix.entropies()
    assert {draws.device, log_q.device, entropies.device} == {META}
    assert recorder.off_device(META) == [], recorder.seen


@pytest.mark.parametrize(("make_teacher", "adapter"), [(beso, BESOScore), (ddpm, DDPMScore)],
                         ids=["beso", "ddpm"])
def test_score_adapters_follow_their_teacher(make_teacher, adapter):
    score = adapter(make_teacher().to(META))
    recorder = DeviceRecorder()
    with recorder:
        out = score.score(torch.empty(6, T, A, device=META), torch.empty(6, T, O, device=META))
        grouped = score.score_grouped(torch.empty(6, T, A, device=META),
                                      torch.empty(3, T, O, device=META))
    assert out.device == META and grouped.device == META and grouped.shape == (6, T, A)
    assert recorder.off_device(META) == [], recorder.seen


def test_the_recorder_catches_a_tensor_made_on_the_cpu():
    """The check can fail: a forward that makes `torch.zeros(...)` without `device=` is seen."""

    class Careless(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(2, 2)

        def forward(self, x):
            return self.lin(x), torch.zeros(x.shape[0], 2)  # the bug: no device=

    model = Careless().to(META)
    recorder = DeviceRecorder()
    with recorder:
        model(torch.empty(3, 2, device=META))
    assert recorder.off_device(META) == ["zeros"]


def test_checkpoints_are_saved_from_the_cpu_and_load_onto_a_device(tmp_path):
    """Saved device-independent (tensors moved to the CPU first), loaded where asked."""
    from bench.checkpoints import load_policy
    from safetensors import safe_open

    for name, make in (("moe", moe), ("beso", beso), ("cm", lambda: consistency("cm"))):
        policy = make()
        policy.save(tmp_path / name)
        with safe_open(str(tmp_path / name / "model.safetensors"), "pt") as f:
            assert {f.get_tensor(k).device.type for k in f.keys()} == {"cpu"}
        loaded = load_policy(tmp_path / name, device=META)
        assert {p.device for p in loaded.parameters()} == {META}
        assert {b.device for b in loaded.buffers()} == {META}
        assert not loaded.training


@pytest.mark.parametrize("name", ["cd", "ctm", "em", "imc", "vdd", "beso", "ddpm"])
def test_every_algorithm_updates_under_bf16_autocast(name):
    """`Benchmark.precision = 'bf16'` runs updates under autocast (CUDA only; the CPU's autocast
    stands in here): half-precision network outputs must not reach the mixture's triangular
    solves (no bf16 kernels), and the stats stay finite."""
    from test_contracts import batch, build, tiny_policy

    from distill import ALGORITHMS
    from teachers import DiffusionAlgorithm, TeacherTrainingConfig

    if name in ("beso", "ddpm"):
        policy = beso() if name == "beso" else ddpm()
        algo = DiffusionAlgorithm(policy, TeacherTrainingConfig(iterations=2, batch_size=4))
        batches = [_raw_batch(4)]
    else:
        algo, policy = build(name, tiny_policy() if ALGORITHMS[name].moe else None)
        batches = [batch() for _ in range(algo.batches_per_update)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        stats = algo.update(batches).to_dict()
    assert all(np.isfinite(float(v)) for v in stats.values()), stats


def _raw_batch(n: int) -> dict[str, torch.Tensor]:
    return {"obs": torch.randn(n, T, O), "actions": torch.randn(n, T, A)}
