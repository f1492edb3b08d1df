import numpy as np

from bench.table import (
    TOY_COLUMNS, Column, PaperTable, ResultTable, add_speedups, mean_interval, rollout_columns,
)


def test_mean_std_count_and_exports():
    rows = [{"method": "a", "seed": 0, "x": 1.0, "ok": 1.0},
            {"method": "a", "seed": 1, "x": 3.0, "ok": 0.0},
            {"method": "b", "seed": 0, "x": 5.0}]
    t = ResultTable(rows, [Column("x", "x", ".1f"), Column("ok", "ok", count=True)])
    assert t.body() == [["a", "2", "2.0 ± 1.0", "1/2"], ["b", "1", "5.0", "-"]]
    md = t.markdown().splitlines()
    assert md[0] == "| method | seeds | x | ok |" and md[2] == "| a | 2 | 2.0 ± 1.0 | 1/2 |"
    csv_lines = t.csv().splitlines()
    assert csv_lines[0] == "method,seed,ok,x" and csv_lines[3] == "b,0,,5.0"


def test_speedups_are_taken_against_the_same_seeds_reference():
    rows = [{"method": "ddpm", "seed": 0, "timing/ms_per_action_b1": 8.0},
            {"method": "ddpm", "seed": 1, "timing/ms_per_action_b1": 10.0},
            {"method": "vdd_ddpm", "seed": 0, "timing/ms_per_action_b1": 1.0},
            {"method": "vdd_ddpm", "seed": 1, "timing/ms_per_action_b1": 2.0},
            {"method": "em_gpt", "seed": 0, "timing/ms_per_action_b1": 4.0},
            {"method": "cd", "seed": 0, "timing/ms_per_action_b1": 1.0}]
    add_speedups(rows, {"ddpm": "ddpm", "vdd_ddpm": "ddpm", "em_gpt": "ddpm"})
    got = [r.get("timing/speedup_vs_teacher") for r in rows]
    assert got == [1.0, 1.0, 8.0, 5.0, 2.0, None]  # cd: its teacher (beso) did not run


def test_paper_layout_has_methods_as_columns_seeds_intervals_published_rows_and_protocol():
    rows = [{"method": "ddpm", "seed": 0, "s": 0.5}, {"method": "vdd_ddpm", "seed": 0, "s": 0.25},
            {"method": "vdd_ddpm", "seed": 1, "s": 0.75}]
    table = ResultTable(rows, [Column("s", "success", ".2f", interval=True)])
    labels = {"ddpm": "DDPM", "vdd_ddpm": "VDD-DDPM"}
    paper = PaperTable(table, metrics=table.columns, labels=labels,
                       published={"success": {"ddpm": 0.94}}, protocol="teachers: one per seed")
    lines = paper.markdown().splitlines()
    assert lines[0] == "| metric | DDPM | VDD-DDPM |"
    assert lines[2] == "| seeds | 1 | 2 |"
    assert lines[3] == "| success | 0.50 | 0.50 ± 0.25 |"
    # two seeds 0.25, 0.75: sample std 0.354, t(0.975, 1) = 12.706 -> half-width 3.18
    assert lines[4] == "| success 95% CI | - | [-2.68, 3.68] |"
    assert lines[5] == "| success (published) | 0.94 | - |"
    assert lines[-1].startswith("teachers: one per seed; mean ± std over the seeds")
    assert paper.text().splitlines()[-1] == lines[-1]


def test_interval_is_the_student_t_interval_of_the_mean_from_two_seeds():
    assert mean_interval([0.4]) is None
    lo, hi = mean_interval([0.4, 0.5, 0.6])  # mean 0.5, s 0.1, t(0.975, 2) = 4.303
    assert abs(lo - (0.5 - 4.303 * 0.1 / 3 ** 0.5)) < 1e-3 and abs(hi + lo - 1.0) < 1e-12
    many = mean_interval(list(np.random.default_rng(0).normal(2.0, 1.0, size=400)))
    assert many[0] < 2.0 < many[1] and many[1] - many[0] < 0.25  # ~2 * 1.97 / 20
    rows = [{"method": "a", "seed": s, "x": v} for s, v in enumerate((0.4, 0.5, 0.6))]
    rows.append({"method": "b", "seed": 0, "x": 0.9})
    t = ResultTable(rows, [Column("x", "success", ".2f", interval=True)])
    assert t.header() == ["method", "seeds", "success", "success 95% CI"]
    assert t.body() == [["a", "3", "0.50 ± 0.08", "[0.25, 0.75]"], ["b", "1", "0.90", "-"]]


def test_headline_metrics_carry_intervals():
    flagged = {c.key for c in (*TOY_COLUMNS, *rollout_columns(("a", "b"))) if c.interval}
    assert flagged == {"eval/energy_distance", "eval/success_rate", "eval/levels_reached"}


def test_rollout_columns_add_levels_and_the_mean_levels_reached():
    labels = [c.label for c in rollout_columns(("stacking_1", "stacking_2"), mode_kl=True)]
    assert labels[:4] == ["success", "entropy", "context entropy", "modes seen"]
    assert labels[4:9] == ["stacking-1 success", "stacking-1 entropy", "stacking-2 success",
                           "stacking-2 entropy", "levels reached (of 2)"]
    assert labels[9] == "mode KL to demos"
    one = [c.label for c in rollout_columns(("p1",))]
    assert "p1 success" in one and not any(lab.startswith("levels reached") for lab in one)
