"""Published results to print beside ours (../shared/TASKS.md: the VDD paper's tables).

Success rate (Kitchen: subtasks completed of 4, our `levels reached`) and normalised entropy
per task, keyed by our method names. These are the paper's numbers on the original tasks and
data, not measurements of this code; our tasks are re-creations (see the envs README), so
compare trends, not digits.
The paper's VDD columns sit under `vdd_ddpm_published` / `vdd_beso_published` (VDD as
published), not under our VDD rows, which add a mode-covering init and re-seeding.
"""

from __future__ import annotations

__all__ = ["PUBLISHED", "PAPER_ORDER"]

# the published tables' column order, then ours; methods not listed go last
PAPER_ORDER = ("ddpm", "beso", "ddpm_1", "beso_1", "cd", "ctm", "vdd_ddpm_published",
               "vdd_beso_published", "vdd_ddpm", "vdd_beso", "em_gpt", "imc_gpt", "vdd_published",
               "vdd")

_COLUMNS = ("ddpm", "beso", "ddpm_1", "beso_1", "cd", "ctm", "vdd_ddpm_published",
            "vdd_beso_published")


def _row(values: str) -> dict[str, float]:
    return dict(zip(_COLUMNS, (float(v) for v in values.split())))


def _scratch(em: float, imc: float) -> dict[str, float]:
    return {"em_gpt": em, "imc_gpt": imc}


PUBLISHED: dict[str, dict[str, dict[str, float]]] = {
    # Kitchen's number is the subtasks completed (of 4): our row "levels reached (of 4)"
    "kitchen": {"levels reached (of 4)": {**_row("3.35 4.06 0.22 4.02 3.87 3.89 3.24 3.85"),
                                          **_scratch(3.62, 3.67)}},
    "block_push": {"success": {**_row("0.96 0.96 0.09 0.94 0.89 0.89 0.93 0.91"),
                               **_scratch(0.88, 0.89)}},
    "avoiding": {"success": {**_row("0.94 0.96 0.09 0.84 0.82 0.93 0.92 0.95"),
                             **_scratch(0.65, 0.75)},
                 "entropy": _row("0.89 0.87 0.25 0.76 0.72 0.79 0.37 0.72")},
    "aligning": {"success": {**_row("0.85 0.85 0.00 0.93 0.94 0.81 0.70 0.86"),
                             **_scratch(0.78, 0.83)},
                 "entropy": _row("0.62 0.67 0.00 0.34 0.32 0.31 0.25 0.40")},
    "pushing": {"success": {**_row("0.74 0.78 0.00 0.70 0.66 0.80 0.61 0.85"),
                            **_scratch(0.16, 0.76)},
                "entropy": _row("0.74 0.76 0.00 0.50 0.53 0.54 0.66 0.69")},
    "stacking": {"stacking-1 success": {**_row("0.89 0.91 0.00 0.75 0.69 0.54 0.81 0.85"),
                                        **_scratch(0.58, 0.54)},
                 "stacking-1 entropy": _row("0.24 0.30 0.00 0.26 0.19 0.18 0.19 0.16"),
                 "stacking-2 success": {**_row("0.68 0.70 0.00 0.53 0.46 0.30 0.60 0.57"),
                                        **_scratch(0.34, 0.29)},
                 "stacking-2 entropy": _row("0.12 0.13 0.00 0.07 0.03 0.09 0.07 0.13")},
    "sorting_image": {"success": {**_row("0.69 0.70 0.20 0.68 0.71 0.70 0.80 0.76"),
                                  **_scratch(0.69, 0.74)},
                      "entropy": _row("0.16 0.19 0.09 0.14 0.14 0.08 0.12 0.22")},
    "stacking_image": {"success": {**_row("0.58 0.66 0.00 0.58 0.63 0.59 0.78 0.60"),
                                   **_scratch(0.04, 0.39)},
                       "entropy": _row("0.31 0.15 0.00 0.10 0.06 0.04 0.05 0.11")},
}
