"""Result tables: per method the number of seeds n, mean +- std over them (numpy's std, ddof 0)
and, for the headline metrics, a 95% interval of the mean (Student t, n >= 2), as printed text,
Markdown and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Column", "TOY_COLUMNS", "ROLLOUT_COLUMNS", "rollout_columns", "ResultTable",
           "PaperTable", "add_speedups", "mean_interval", "summary_line"]

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Column:
    key: str  # metric key in each row
    label: str
    fmt: str = ".3f"
    count: bool = False  # show "k/n": seeds where the (0/1) metric is 1
    interval: bool = False  # also show the 95% interval of the mean over seeds

    @property
    def interval_label(self) -> str:
        return f"{self.label} 95% CI"


TOY_COLUMNS = (
    Column("eval/modes_covered", "modes covered (experts)", ".1f"),
    Column("eval/all_modes_covered", "seeds with all modes", count=True),
    Column("eval/modes_hit", "modes hit (samples)", ".1f"),
    Column("eval/sample_freq_error_max", "max freq error", ".3f"),
    Column("eval/weight_error_max", "max weight error", ".3f"),
    Column("eval/energy_distance", "energy distance", ".3f", interval=True),
    Column("eval/energy_distance_teacher", "distance to teacher", ".3f"),
    Column("eval/reverse_kl", "reverse KL (nats)", ".3f"),
    Column("eval/heldout_log_lik", "held-out log-lik", ".3f"),
    Column("timing/forward_passes_per_action", "passes/action", ".0f"),
    Column("timing/ms_per_action_b1", "ms/action b1", ".2f"),
    Column("timing/ms_per_action_b256", "ms/action b256", ".2f"),
    Column("timing/speedup_vs_teacher", "speed-up", ".1f"),
    Column("train/wall_s", "train s", ".1f"),
)

# the rod tasks (D3IL metrics: success rate and mode entropy of the successful rollouts)
ROLLOUT_COLUMNS = (
    Column("eval/success_rate", "success", ".2f", interval=True),
    Column("eval/entropy", "entropy", ".2f"),
    Column("eval/context_entropy", "context entropy", ".2f"),
    Column("eval/modes_seen", "modes seen", ".1f"),
    Column("timing/forward_passes_per_action", "passes/action", ".0f"),
    Column("timing/ms_per_action_b1", "ms/action b1", ".2f"),
    Column("timing/ms_per_action_b256", "ms/action b256", ".2f"),
    Column("timing/speedup_vs_teacher", "speed-up", ".1f"),
    Column("train/wall_s", "train s", ".1f"),
)


def rollout_columns(levels=(), mode_kl: bool = False) -> tuple[Column, ...]:
    """ROLLOUT_COLUMNS plus, after the entropies, each graded success level's success and
    entropy (e.g. Stacking-1/-2), the mean number of levels reached where there are several
    (Stacking: blocks stacked; Kitchen: subtasks done) and the mode KL to the demonstrations
    where a task has them."""
    extra = []
    for name in levels:
        label = name.replace("_", "-")
        extra += [Column(f"eval/{name}/success_rate", f"{label} success", ".2f"),
                  Column(f"eval/{name}/entropy", f"{label} entropy", ".2f")]
    if len(levels) > 1:  # Kitchen's published metric: subtasks completed (of 4)
        extra.append(Column("eval/levels_reached", f"levels reached (of {len(levels)})", ".2f",
                            interval=True))
    if mode_kl:
        extra.append(Column("eval/mode_kl", "mode KL to demos", ".2f"))
    return ROLLOUT_COLUMNS[:4] + tuple(extra) + ROLLOUT_COLUMNS[4:]


def mean_interval(values: Sequence[float], *, confidence: float = CONFIDENCE
                  ) -> tuple[float, float] | None:
    """Student-t interval of the mean of `values` (seeds as independent draws), or None for
    fewer than two values: one seed says nothing about the spread."""
    from scipy import stats  # slow to import: only when a table is drawn

    vals = np.asarray(values, dtype=float)
    if vals.size < 2:
        return None
    half = (stats.t.ppf(0.5 + confidence / 2, vals.size - 1) * vals.std(ddof=1)
            / np.sqrt(vals.size))
    return float(vals.mean() - half), float(vals.mean() + half)


def summary_line(label: str, metrics: dict[str, float], *, levels=()) -> str:
    """One method x seed's result as the progress line printed after it: rollout metrics
    (success, entropy; graded `levels`' success appended) or the toy's sample metrics."""
    if "eval/success_rate" in metrics:
        graded = "".join(f", {name} {metrics[f'eval/{name}/success_rate']:.2f}"
                         for name in levels if f"eval/{name}/success_rate" in metrics)
        return (f"[bench] {label}: success {metrics['eval/success_rate']:.2f}, entropy "
                f"{metrics['eval/entropy']:.2f}, modes seen {metrics['eval/modes_seen']:.0f}/"
                f"{metrics['eval/num_modes']:.0f}{graded}")
    mixture = (f"experts on modes {metrics['eval/modes_covered']}/"
               f"{metrics['eval/num_modes']}, reverse KL {metrics['eval/reverse_kl']:.3f}, "
               if "eval/modes_covered" in metrics else "")
    return (f"[bench] {label}: {mixture}modes hit {metrics['eval/modes_hit']}/"
            f"{metrics['eval/num_modes']}, energy distance {metrics['eval/energy_distance']:.3f}")


def _markdown(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body]) + "\n"


def _text(header: list[str], body: list[list[str]]) -> str:
    table = [header] + body
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in table) + "\n"


class ResultTable:
    """Rows are dicts with "method", "seed" and metric keys; one output line per method."""

    def __init__(self, rows: Sequence[dict], columns: Sequence[Column]) -> None:
        self.rows, self.columns = list(rows), list(columns)
        self.methods = list(dict.fromkeys(r["method"] for r in self.rows))

    def values(self, method: str, col: Column) -> np.ndarray:
        """The column's value of every seed of `method` that has it."""
        return np.array([r[col.key] for r in self.rows if r["method"] == method and col.key in r],
                        dtype=float)

    def seeds(self, method: str) -> int:
        """The seeds of `method` that finished (failed cells have no metrics)."""
        return sum(r["method"] == method and not r.get("failed") for r in self.rows)

    def failures(self, method: str | None = None) -> list[dict]:
        """The failed rows (of `method`), each with its reason under "failed"."""
        return [r for r in self.rows if r.get("failed") and method in (None, r["method"])]

    def name(self, method: str) -> str:
        """The method as the table shows it: marked when some of its cells failed."""
        bad = len(self.failures(method))
        if not bad:
            return method
        return f"{method} (FAILED {bad}/{bad + self.seeds(method)})"

    def notes(self) -> str:
        """One line per failed cell with its reason ("" when every cell finished)."""
        return "".join(f"FAILED: {r['method']} seed {r['seed']}: {r['failed']}\n"
                       for r in self.failures())

    def cell(self, method: str, col: Column) -> str:
        vals = self.values(method, col)
        if vals.size == 0:
            return "-"
        if col.count:
            return f"{int(vals.sum())}/{vals.size}"
        if vals.size == 1:
            return format(vals[0], col.fmt)
        return f"{format(vals.mean(), col.fmt)} ± {format(vals.std(), col.fmt)}"

    def interval_cell(self, method: str, col: Column) -> str:
        """The 95% interval of the mean over seeds as "[lo, hi]"; "-" below two seeds."""
        bounds = mean_interval(self.values(method, col))
        if bounds is None:
            return "-"
        return f"[{format(bounds[0], col.fmt)}, {format(bounds[1], col.fmt)}]"

    def header(self) -> list[str]:
        labels = [lab for c in self.columns
                  for lab in ([c.label, c.interval_label] if c.interval else [c.label])]
        return ["method", "seeds"] + labels

    def body(self) -> list[list[str]]:
        out = []
        for m in self.methods:
            cells = [cell for c in self.columns for cell in (
                [self.cell(m, c), self.interval_cell(m, c)] if c.interval else [self.cell(m, c)])]
            out.append([self.name(m), str(self.seeds(m))] + cells)
        return out

    def markdown(self) -> str:
        notes = self.notes()
        return _markdown(self.header(), self.body()) + (f"\n{notes}" if notes else "")

    def text(self) -> str:
        return _text(self.header(), self.body()) + self.notes()

    def csv(self) -> str:
        """Per-seed rows, every metric column: for spreadsheets and re-analysis."""
        keys = sorted({k for r in self.rows for k in r} - {"method", "seed"})
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["method", "seed"] + keys)  # a failed cell: its reason under "failed"
        for r in self.rows:
            w.writerow([r["method"], r["seed"]] + [r.get(k, "") for k in keys])
        return buf.getvalue()


def add_speedups(rows: Sequence[dict], reference: dict[str, str]) -> None:
    """Set `timing/speedup_vs_teacher` on every row: ms/action (batch 1) of the N-step teacher
    `reference[method]` at the same seed, over the row's own. Rows without a reference run
    are left without it."""
    ms = {(r["method"], r["seed"]): r.get("timing/ms_per_action_b1") for r in rows}
    for r in rows:
        ref = ms.get((reference.get(r["method"]), r["seed"]))
        own = r.get("timing/ms_per_action_b1")
        if ref and own:
            r["timing/speedup_vs_teacher"] = ref / own


class PaperTable:
    """The published layout: methods as columns (paper order), metrics as rows (first the
    number of seeds, each headline metric followed by its 95% interval), plus the published
    numbers for the task where TASKS.md has them, and a caption with the `protocol` (which
    teachers the seeds used) and what the spread means."""

    def __init__(self, result: ResultTable, *, metrics: Sequence[Column], labels: dict[str, str],
                 published: dict[str, dict[str, float]] | None = None,
                 protocol: str = "") -> None:
        self.result, self.metrics, self.labels = result, list(metrics), labels
        self.published, self.protocol = published or {}, protocol

    def header(self) -> list[str]:
        fails = {m: len(self.result.failures(m)) for m in self.result.methods}
        return ["metric"] + [self.labels.get(m, m) + (" (FAILED)" if fails[m] else "")
                             for m in self.result.methods]

    def body(self) -> list[list[str]]:
        methods = self.result.methods
        out = [["seeds"] + [str(self.result.seeds(m)) for m in methods]]
        for c in self.metrics:
            out.append([c.label] + [self.result.cell(m, c) for m in methods])
            if c.interval:
                out.append([c.interval_label] + [self.result.interval_cell(m, c)
                                                 for m in methods])
        for metric, values in self.published.items():
            out.append([f"{metric} (published)"] + [
                format(values[m], ".2f") if m in values else "-" for m in methods])
        return out

    def caption(self) -> str:
        stats = ("mean ± std over the seeds (one value: one seed); 95% CI: Student-t interval "
                 "of the mean (needs two seeds or more)")
        return f"{self.protocol}; {stats}" if self.protocol else stats

    def markdown(self) -> str:
        notes = self.result.notes()
        return (_markdown(self.header(), self.body()) + f"\n{self.caption()}\n"
                + (f"\n{notes}" if notes else ""))

    def text(self) -> str:
        return _text(self.header(), self.body()) + f"{self.caption()}\n" + self.result.notes()
