from bench.table import Column, ResultTable


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
