"""Known-answer helpers for checking distillation beyond the shipped toy task: Gaussian-mixture
targets of many layouts with exact scores (`gmm`), and a VDD fit with its coverage scored
(`coverage`). Used by the coverage tests and scripts/vdd_coverage_study.py."""

from distill.testing.coverage import (
    ON_MODE_TOL, WEIGHT_TOL, CoverageReport, fit_vdd, make_demos, measure,
)
from distill.testing.gmm import FAMILY, GMMScore, GMMTarget, target_family

__all__ = ["FAMILY", "GMMScore", "GMMTarget", "target_family", "CoverageReport", "fit_vdd",
           "make_demos", "measure", "ON_MODE_TOL", "WEIGHT_TOL"]
