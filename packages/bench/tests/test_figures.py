"""Figures people can read: a colour and marker per method (12 methods all distinct), a log
quality axis where values span decades, the comparison and toy figures drawn."""

import numpy as np
from matplotlib.colors import to_rgb

from bench.figures import (MARKERS, PALETTE, draw_comparison_figure, draw_toy_figure,
                           log_scale_fits, method_style)
from bench.toy_eval import MixtureSnapshot
from envs import Toy2D


def test_twelve_methods_get_distinct_colours_and_markers():
    styles = [method_style(i) for i in range(12)]
    colours = [to_rgb(c) for c, _ in styles]
    assert len(set(colours)) == 12 and len({m for _, m in styles}) == 12
    gaps = [np.abs(np.subtract(a, b)).sum() for i, a in enumerate(colours)
            for b in colours[i + 1:]]
    assert min(gaps) > 0.3  # no two nearly the same colour
    assert method_style(len(PALETTE)) != method_style(0)  # past the palette: another marker
    assert len(MARKERS) >= 12


def test_log_axis_only_where_values_span_a_decade_and_are_positive():
    assert log_scale_fits([0.005, 0.02, 0.5])
    assert not log_scale_fits([0.3, 0.5, 0.6])
    assert not log_scale_fits([0.0, 0.5, 0.9])  # success rates with a zero


def test_figures_are_drawn(tmp_path):
    methods = [f"m{i}" for i in range(12)]
    rows = [{"method": m, "seed": s, "eval/energy_distance": 0.005 * (i + 1) ** 1.5,
             "timing/ms_per_action_b1": 1.0 + 0.01 * i} for i, m in enumerate(methods)
            for s in range(2)]
    path = draw_comparison_figure(rows, methods, quality="eval/energy_distance",
                                  quality_label="energy distance", labels={},
                                  path=tmp_path / "comparison.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    target = Toy2D().target
    snap = MixtureSnapshot(0, target.means, np.repeat(np.eye(2)[None], 8, 0) * 0.2,
                           np.full(8, 1 / 8))
    toy = draw_toy_figure(target, {"vdd (seed 0)": [snap]}, tmp_path / "toy.png")
    assert toy.stat().st_size > 10_000
