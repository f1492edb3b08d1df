import json
import runpy
from pathlib import Path

import numpy as np


def test_control_loop_example_reaches_both_goals(capsys):
    runpy.run_path(str(Path(__file__).parents[1] / "examples" / "control_loop.py"),
                   run_name="__main__")
    out = capsys.readouterr().out
    ends = np.array(json.loads(out.split("episode end points:")[1]))
    near = [np.abs(ends - g).max(-1) < 0.2 for g in ([1.0, 1.0], [-1.0, 1.0])]
    assert (near[0] | near[1]).all()  # every episode ends at a goal
    assert near[0].any() and near[1].any()  # and both goals get chosen
