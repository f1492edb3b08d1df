"""CD and CTM students: boundary conditions, the teacher ODE, start-from-teacher, training."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from distill import CD, CTM, CDConfig, ConsistencyConfig, ConsistencyPolicy, CTMConfig
from distill.consistency_training import TeacherODE
from teachers import BESOConfig, BESOPolicy, DDPMConfig, DDPMPolicy, karras_sigmas

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "teachers" / "tests"))
from teacher_helpers import ExactBESO  # noqa: E402

TINY = dict(obs_dim=1, action_dim=1, n_layer=1, n_head=2, n_embd=32)


def student(teacher, parameterization="ctm"):
    torch.manual_seed(0)
    return ConsistencyPolicy(ConsistencyConfig.from_teacher(teacher.config,
                                                            parameterization=parameterization))


def exact_teacher(m=0.5, s=0.3):
    torch.manual_seed(0)
    t = ExactBESO(BESOConfig(**TINY), torch.tensor(m), s)
    t.fit_normalizers(np.zeros((10, 1)), np.linspace(-1, 1, 10)[:, None] * np.sqrt(3))
    t.action_normalizer.mean.zero_()
    t.action_normalizer.std.fill_(1.0)
    return t


@pytest.mark.parametrize("parameterization", ["ctm", "cm"])
def test_boundary_conditions_hold_for_any_weights(parameterization):
    torch.manual_seed(1)
    pol = student(BESOPolicy(BESOConfig(**TINY)), parameterization)
    x, obs = torch.randn(6, 1, 1), torch.randn(6, 1, 1)
    smin = torch.full((6,), pol.config.sigma_min)
    torch.testing.assert_close(pol.jump(x, smin, smin, obs), x)  # f(x, sigma_min) = x
    if parameterization == "ctm":
        t = torch.rand(6) + 0.1
        torch.testing.assert_close(pol.jump(x, t, t, obs), x)  # G(x, t, t) = x


def test_a_student_started_from_the_teacher_is_its_one_step_sampler():
    torch.manual_seed(2)
    teacher = BESOPolicy(BESOConfig(**TINY, window=3))
    teacher.fit_normalizers(np.random.randn(50, 1), np.random.randn(50, 1))
    pol = student(teacher)
    pol.init_from_teacher(teacher)
    obs = torch.randn(16, 3, 1)
    mine = pol.sample_actions(obs, generator=torch.Generator().manual_seed(0))
    theirs = teacher.sample_actions(obs, num_steps=1, sampler="ddim",
                                    generator=torch.Generator().manual_seed(0))
    # G(x, smax, smin) = (smin/smax) x + (1 - smin/smax) D(x; smax): one DDIM step up to 1e-3
    torch.testing.assert_close(mine, theirs, atol=5e-3, rtol=0)


def test_teacher_ode_follows_the_exact_probability_flow():
    m, s = 0.5, 0.3
    teacher = exact_teacher(m, s)
    levels = karras_sigmas(18, 0.001, 1.0)[:-1].flip(0)
    ode = TeacherODE(teacher, levels)
    x = torch.linspace(-2, 2, 9).reshape(9, 1, 1)
    start = torch.tensor([17, 17, 10, 10, 5, 5, 3, 1, 1])
    stop = torch.tensor([0, 13, 6, 10, 0, 4, 0, 0, 1])
    got = ode.solve(x, start, stop, torch.zeros(9, 1, 1))
    t, u = levels[start], levels[stop]
    exact = m + ((s**2 + u**2) / (s**2 + t**2)).sqrt()[:, None, None] * (x - m)
    torch.testing.assert_close(got, exact, atol=1e-2, rtol=0)  # Heun on 17 Karras steps


def test_algorithms_reject_a_mismatched_student_or_teacher():
    teacher = BESOPolicy(BESOConfig(**TINY))
    with pytest.raises(ValueError, match=r"parameterization in \['ctm'\], got 'cm'"):
        CTM(student(teacher, "cm"), teacher, CTMConfig())
    with pytest.raises(ValueError, match="CDConfig.parameterization must be one of"):
        CDConfig(parameterization="edm")
    with pytest.raises(TypeError, match="BESO teacher"):
        CTM(student(teacher), DDPMPolicy(DDPMConfig(**TINY)), CTMConfig())
    with pytest.raises(ValueError, match="max_teacher_steps"):
        CTMConfig(max_teacher_steps=0)
    with pytest.raises(ValueError, match="parameterization must be one of"):
        ConsistencyConfig(**TINY, parameterization="flow")


@pytest.mark.parametrize("algo_cls,cfg_cls,param", [(CD, CDConfig, "cm"), (CTM, CTMConfig, "ctm")])
def test_one_step_student_learns_the_exact_ode_map(algo_cls, cfg_cls, param):
    """With an exact Gaussian teacher, the trained one-step map is the analytic ODE map."""
    m, s = 0.5, 0.3
    teacher = exact_teacher(m, s)
    pol = student(teacher, param)
    algo = algo_cls(pol, teacher, cfg_cls(lr=2e-3, batch_size=64, iterations=300,
                                          target_ema=0.9))
    gen = torch.Generator().manual_seed(0)
    for _ in range(300):
        a = m + s * torch.randn(64, 1, 1, generator=gen)
        stats = algo.update([{"obs": torch.zeros(64, 1, 1), "actions": a}])
    assert np.isfinite(float(stats.loss))
    x = torch.linspace(-1.5, 1.5, 7).reshape(7, 1, 1)
    smax, smin = torch.full((7,), 1.0), torch.full((7,), 0.001)
    with torch.no_grad():
        got = pol.jump(x, smax, smin, torch.zeros(7, 1, 1))
    exact = m + np.sqrt((s**2 + 1e-6) / (s**2 + 1.0)) * (x - m)
    assert (got - exact).abs().max() < 0.08, (got.flatten(), exact.flatten())


def test_save_load_and_act(tmp_path):
    teacher = BESOPolicy(BESOConfig(**TINY, window=2))
    teacher.fit_normalizers(np.random.randn(50, 1), np.random.randn(50, 1))
    pol = student(teacher)
    pol.init_from_teacher(teacher)
    pol.save(tmp_path / "ckpt")
    loaded = ConsistencyPolicy.load(tmp_path / "ckpt")
    obs = torch.randn(4, 2, 1)
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    torch.testing.assert_close(loaded.sample_actions(obs, generator=g()),
                               pol.sample_actions(obs, generator=g()))
    loaded.reset()
    assert loaded.act(np.zeros(1, dtype=np.float32)).shape == (1,)
    assert loaded.sample_actions(obs, num_steps=3).shape == (4, 1)


@pytest.mark.parametrize("num_steps", [1, 2, 4])
def test_multistep_cm_sampling_makes_every_call_from_above_sigma_min(num_steps, monkeypatch):
    """N calls, each a jump from a distinct level > sigma_min (a jump from sigma_min is the
    identity, so a sampler that spends its last call there is an (N-1)-step sampler)."""
    pol = student(BESOPolicy(BESOConfig(**TINY)), "cm")
    calls, real = [], pol.jump

    def spy(x, t, s, obs):
        calls.append(float(t[0]))
        return real(x, t, s, obs)

    monkeypatch.setattr(pol, "jump", spy)
    pol.sample_normalized(torch.zeros(3, 1, 1), num_steps=num_steps, sampler="jump")
    c = pol.config
    assert len(calls) == num_steps and calls[0] == pytest.approx(c.sigma_max)
    assert all(t > 2 * c.sigma_min for t in calls) and calls == sorted(calls, reverse=True)
