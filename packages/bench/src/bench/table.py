"""Result tables: mean +- std over seeds per method, as printed text, Markdown and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Column", "TOY_COLUMNS", "ROLLOUT_COLUMNS", "ResultTable"]


@dataclass(frozen=True)
class Column:
    key: str  # metric key in each row
    label: str
    fmt: str = ".3f"
    count: bool = False  # show "k/n": seeds where the (0/1) metric is 1


TOY_COLUMNS = (
    Column("eval/modes_covered", "modes covered (experts)", ".1f"),
    Column("eval/all_modes_covered", "seeds with all modes", count=True),
    Column("eval/modes_hit", "modes hit (samples)", ".1f"),
    Column("eval/sample_freq_error_max", "max freq error", ".3f"),
    Column("eval/weight_error_max", "max weight error", ".3f"),
    Column("eval/energy_distance", "energy distance", ".3f"),
    Column("eval/reverse_kl", "reverse KL (nats)", ".3f"),
    Column("eval/heldout_log_lik", "held-out log-lik", ".3f"),
    Column("timing/forward_passes_per_action", "passes/action", ".0f"),
    Column("timing/ms_per_action_b1", "ms/action b1", ".2f"),
    Column("timing/ms_per_action_b256", "ms/action b256", ".2f"),
    Column("train/wall_s", "train s", ".1f"),
)

# the rod tasks (D3IL metrics: success rate and mode entropy of the successful rollouts)
ROLLOUT_COLUMNS = (
    Column("eval/success_rate", "success", ".2f"),
    Column("eval/entropy", "entropy", ".2f"),
    Column("eval/context_entropy", "context entropy", ".2f"),
    Column("eval/modes_seen", "modes seen", ".1f"),
    Column("timing/forward_passes_per_action", "passes/action", ".0f"),
    Column("timing/ms_per_action_b1", "ms/action b1", ".2f"),
    Column("timing/ms_per_action_b256", "ms/action b256", ".2f"),
    Column("train/wall_s", "train s", ".1f"),
)


class ResultTable:
    """Rows are dicts with "method", "seed" and metric keys; one output line per method."""

    def __init__(self, rows: Sequence[dict], columns: Sequence[Column]) -> None:
        self.rows, self.columns = list(rows), list(columns)
        self.methods = list(dict.fromkeys(r["method"] for r in self.rows))

    def cell(self, method: str, col: Column) -> str:
        vals = np.array([r[col.key] for r in self.rows if r["method"] == method and col.key in r],
                        dtype=float)
        if vals.size == 0:
            return "-"
        if col.count:
            return f"{int(vals.sum())}/{vals.size}"
        if vals.size == 1:
            return format(vals[0], col.fmt)
        return f"{format(vals.mean(), col.fmt)} ± {format(vals.std(), col.fmt)}"

    def header(self) -> list[str]:
        return ["method", "seeds"] + [c.label for c in self.columns]

    def body(self) -> list[list[str]]:
        out = []
        for m in self.methods:
            n = sum(r["method"] == m for r in self.rows)
            out.append([m, str(n)] + [self.cell(m, c) for c in self.columns])
        return out

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.header()) + " |",
                 "|" + "---|" * len(self.header())]
        lines += ["| " + " | ".join(r) + " |" for r in self.body()]
        return "\n".join(lines) + "\n"

    def text(self) -> str:
        table = [self.header()] + self.body()
        widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in table) + "\n"

    def csv(self) -> str:
        """Per-seed rows, every metric column: for spreadsheets and re-analysis."""
        keys = sorted({k for r in self.rows for k in r} - {"method", "seed"})
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["method", "seed"] + keys)
        for r in self.rows:
            w.writerow([r["method"], r["seed"]] + [r.get(k, "") for k in keys])
        return buf.getvalue()
