"""Figures. Toy: (1) target density and score field, then each MoE method's experts (means and
2-sigma covariance ellipses, opacity by gating weight) at several stages of training;
(2) samples of every method over the target density. Every task: (3) the comparison of
methods, quality per method and quality against inference cost."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from bench.toy_eval import MixtureSnapshot  # noqa: E402
from envs import GaussianMixtureTarget  # noqa: E402

__all__ = ["draw_toy_figure", "draw_sample_figure", "draw_comparison_figure", "method_style",
           "log_scale_fits"]


def _extent(target: GaussianMixtureTarget) -> tuple[float, float]:
    r = np.abs(target.means).max() + 4 * target.stds.max()
    return -r, r


def _density(ax, target: GaussianMixtureTarget, *, alpha: float = 1.0) -> None:
    lo, hi = _extent(target)
    g = np.linspace(lo, hi, 200)
    X, Y = np.meshgrid(g, g)
    logp = target.log_prob(np.stack([X, Y], axis=-1))
    ax.contourf(X, Y, np.exp(logp), levels=30, cmap="Blues", alpha=alpha)


def _score_field(ax, target: GaussianMixtureTarget) -> None:
    lo, hi = _extent(target)
    g = np.linspace(lo, hi, 21)
    X, Y = np.meshgrid(g, g)
    s = target.score(np.stack([X, Y], axis=-1))
    norm = np.linalg.norm(s, axis=-1, keepdims=True) + 1e-9
    s = s / norm * np.log1p(norm)  # compress magnitudes so far-field arrows stay readable
    ax.quiver(X, Y, s[..., 0], s[..., 1], color="0.3", width=0.003)


def _frame(ax, lo: float, hi: float) -> None:
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def _save(fig, path: str | Path, *, tight: bool = True) -> Path:
    if tight:
        fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100, bbox_inches="tight")  # legends placed outside the axes too
    plt.close(fig)
    return path


def _experts(ax, snap: MixtureSnapshot) -> None:
    wmax = max(float(snap.weights.max()), 1e-9)
    for mu, cov, w in zip(snap.means, snap.covariances, snap.weights):
        vals, vecs = np.linalg.eigh(cov)
        vals = np.clip(vals, 1e-12, None)
        angle = np.degrees(np.arctan2(vecs[1, -1], vecs[0, -1]))
        alpha = 0.25 + 0.75 * float(w) / wmax
        ax.add_patch(Ellipse(mu, 4 * np.sqrt(vals[-1]), 4 * np.sqrt(vals[0]), angle=angle,
                             fill=False, color="crimson", lw=1.5, alpha=alpha))
        ax.plot(*mu, "o", color="crimson", ms=4, alpha=alpha)


def draw_toy_figure(target: GaussianMixtureTarget,
                    runs: dict[str, Sequence[MixtureSnapshot]], path: str | Path) -> Path:
    """One row per method: target + score field, then the experts at each snapshot."""
    n_cols = 1 + max(len(s) for s in runs.values())
    fig, axes = plt.subplots(len(runs), n_cols, figsize=(3 * n_cols, 3 * len(runs)),
                             squeeze=False)
    lo, hi = _extent(target)
    for row, (label, snaps) in zip(axes, runs.items()):
        _density(row[0], target)
        _score_field(row[0], target)
        row[0].set_title("target density + score")
        row[0].set_ylabel(label)
        for ax, snap in zip(row[1:], snaps):
            _density(ax, target, alpha=0.5)
            _experts(ax, snap)
            ax.set_title(f"iteration {snap.iteration}")
        for ax in row[: 1 + len(snaps)]:
            _frame(ax, lo, hi)
        for ax in row[1 + len(snaps):]:
            ax.axis("off")
    fig.legend(handles=_toy_legend(), loc="lower center", ncol=4, frameon=False,
               bbox_to_anchor=(0.5, 0.0), fontsize=9)
    fig.tight_layout(rect=(0, 0.5 / (3 * len(runs)), 1, 1))  # room for the legend below
    return _save(fig, path, tight=False)


def _toy_legend() -> list:
    """Proxy artists naming what the toy figure draws."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    return [Patch(color=plt.cm.Blues(0.6), label="target density"),
            Line2D([], [], color="0.3", marker=r"$\rightarrow$", ls="", ms=12,
                   label="score field (log-compressed)"),
            Line2D([], [], color="crimson", marker="o", ls="", ms=5,
                   label="expert mean (opacity: gating weight)"),
            Ellipse((0, 0), 1, 0.5, fill=False, color="crimson", lw=1.5,
                    label="expert 2-sigma ellipse")]


def draw_sample_figure(target: GaussianMixtureTarget, samples: dict[str, np.ndarray],
                       path: str | Path, *, max_points: int = 2000) -> Path:
    """One panel per method: up to `max_points` of its samples (N, 2) over the target."""
    n = len(samples) + 1
    cols = min(n, 5)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    lo, hi = _extent(target)
    panels = [("target", None), *samples.items()]
    for ax, (label, pts) in zip(axes.flat, panels):
        _density(ax, target, alpha=0.6)
        if pts is None:
            _score_field(ax, target)
        else:
            ax.scatter(pts[:max_points, 0], pts[:max_points, 1], s=2, c="crimson", alpha=0.4)
        ax.set_title(label, fontsize=10)  # "VDD-BESO (published)" over its method key
        _frame(ax, lo, hi)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    return _save(fig, path)


# 14 colours told apart at a glance (tab10, then four more), each method also with its own marker
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf", "#000000", "#ffd700", "#00008b", "#8b0000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")


def method_style(index: int) -> tuple[str, str]:
    """(colour, marker) of the `index`-th method: distinct for the first 14 colours x
    12 markers' combinations (colours repeat only after 14 methods, with another marker)."""
    return PALETTE[index % len(PALETTE)], MARKERS[index % len(MARKERS)]


def log_scale_fits(values: Sequence[float]) -> bool:
    """Whether a quality axis reads better in log scale: all values positive and spanning at
    least a factor of 10 (energy distances 0.005-0.5; not success rates with zeros)."""
    vals = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    return bool(vals.size) and bool((vals > 0).all()) and vals.max() >= 10 * vals.min()


def _mean_std(rows, method: str, key: str) -> tuple[float, float] | None:
    vals = np.array([r[key] for r in rows if r["method"] == method and key in r], dtype=float)
    return (float(vals.mean()), float(vals.std())) if vals.size else None


def draw_comparison_figure(rows: Sequence[dict], methods: Sequence[str], *, quality: str,
                           quality_label: str, labels: dict[str, str],
                           path: str | Path) -> Path:
    """Left: `quality` per method (mean, std over seeds as error bars). Right: the same against
    milliseconds per action at batch 1 (log scale), so speed and quality read together. Each
    method has its own colour and marker, named in a legend beside the plot (no labels on the
    points to collide in a cluster); the quality axis is logarithmic where the values span a
    factor of 10 or more (`log_scale_fits`)."""
    shown = [m for m in methods if _mean_std(rows, m, quality)]
    fig, (bars, scatter) = plt.subplots(1, 2, figsize=(13, 4.8),
                                        gridspec_kw={"width_ratios": [1, 1.1]})
    means = {m: _mean_std(rows, m, quality) for m in shown}
    log = log_scale_fits([mean for mean, _ in means.values()])
    for i, m in enumerate(shown):
        color, marker = method_style(i)
        mean, std = means[m]
        low = min(std, mean * 0.999) if log else std  # a log axis cannot reach 0
        bars.bar(i, mean, yerr=[[low], [std]], color=color, capsize=3)
        ms = _mean_std(rows, m, "timing/ms_per_action_b1")
        if ms:
            scatter.errorbar(ms[0], mean, xerr=ms[1], yerr=[[low], [std]], fmt=marker,
                             color=color, capsize=3, ms=7, label=labels.get(m, m))
    bars.set_xticks(range(len(shown)), [labels.get(m, m) for m in shown], rotation=35,
                    ha="right")
    axis = f"{quality_label}{' (log)' if log else ''}"
    bars.set_ylabel(axis)
    bars.set_title("per method (mean ± std over seeds)")
    scatter.set_xscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")  # 2, 5, 10 ms rather than 2x10^0
    scatter.xaxis.set_major_formatter(plain)
    scatter.xaxis.set_minor_formatter(plain)
    if log:
        bars.set_yscale("log")
        scatter.set_yscale("log")
    scatter.set_xlabel("ms per action, batch 1 (log)")
    scatter.set_ylabel(axis)
    scatter.set_title("quality against inference cost")
    scatter.grid(alpha=0.3, which="both")
    if scatter.get_legend_handles_labels()[0]:
        scatter.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8,
                       frameon=False, borderaxespad=0)
    return _save(fig, path)
