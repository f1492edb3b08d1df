"""VDD (ours) covers Gaussian-mixture targets beyond the toy ring (issue 18, item 7).

The family (`distill.testing.target_family`: a 3x3 grid, a 12-mode ring with weights
0.02-0.16, rotated anisotropic modes, 3-D and 6-D targets, modes off the origin) is distilled
from its exact score through the public API with the toy's settings from gin/toy2d.gin, one
expert per mode (full-covariance experts on the target with rotated modes). Acceptance: every
mode covered with weight error < 0.05 in each of 5 seeds on every target (met since re-seeded
experts climb to their mode's centre; the 12-mode ring's seed 2 missed a light mode before).
scripts/vdd_coverage_study.py prints the same runs as a table (README, issue 18).
"""

from dataclasses import replace
from pathlib import Path

import pytest

from bench.methods import method_settings
from distill.testing import FAMILY, WEIGHT_TOL, fit_vdd, measure, target_family

REPO = Path(__file__).resolve().parents[1]


def toy_settings(method: str):
    """(VDDConfig, MoEConfig) of a toy method as gin/toy2d.gin configures it."""
    return method_settings(REPO / "gin" / "toy2d.gin", method)


def test_a_small_case_of_the_family_is_covered():
    """Five rotated, elongated modes off the origin, unequal weights (0.1-0.3): a short run of
    the toy's settings with full-covariance experts (200 iterations, V = 16, re-seeding checks
    every 50) covers them all."""
    config, student = toy_settings("vdd")
    config = replace(config, iterations=200, num_samples=16, reseed_every=50)
    family = target_family()
    target = family["aniso5_2d"]
    assert target.correlated and not family["grid3x3"].correlated  # full vs diagonal experts
    report = measure(fit_vdd(target, config=config, student=student, seed=0, num_demos=2048),
                     target, seed=0)
    assert report.modes_covered == 5, report
    assert report.weight_error_max < WEIGHT_TOL, report


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILY)
def test_vdd_ours_covers_every_target_in_every_seed(name):
    config, student = toy_settings("vdd")
    target = target_family()[name]
    for seed in range(5):
        report = measure(fit_vdd(target, config=config, student=student, seed=seed), target,
                         seed=seed)
        assert report.all_covered, (name, seed, report)
        assert report.sample_freq_error_max < WEIGHT_TOL, (name, seed, report)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vdd_as_published_leaves_most_of_the_grid_empty(seed):
    """What the published settings (toy config: random start in +-0.33 normalised, uniform
    gating, no re-seeding) miss on the 3x3 grid: every expert starts within about one unit
    of the centre mode (the modes are 4 apart) and never crosses a gap to the outer ones
    (measured: 0, 3, 3 of 9 modes covered, max weight error 0.89, 0.33, 0.33, seeds 0-2)."""
    config, student = toy_settings("vdd_published")
    assert config.expert_init == "random" and config.reseed_every == 0
    target = target_family()["grid3x3"]
    report = measure(fit_vdd(target, config=config, student=student, seed=seed), target,
                     seed=seed)
    assert report.modes_covered <= 3, report
    assert report.weight_error_max > 0.3, report
