"""Progress lines where no terminal shows a bar: every N iterations or M seconds, with the
iteration, a loss, it/s and an ETA; none when progress is off."""

import io
import re

import pytest

from bench.progress import ProgressLines, cell_line, format_duration
from bench.trainer import Trainer, TrainerConfig
from distill import VDD, GaussianMixtureScore, VDDConfig

from test_trainer import tiny

LINE = re.compile(r"\[bench\] vdd-seed0: iteration (\d+)/12 \(\d+%\), expert_loss [-\d.e+]+, "
                  r"[\d.]+ it/s, ETA \d+s")


def _train(tmp_path, config):
    data, policy = tiny(32)
    score = GaussianMixtureScore(means=[[0.0, 0.0]], stds=[1.0], weights=[1.0],
                                 action_mean=[0.0, 0.0], action_std=[1.0, 1.0])
    algo = VDD(policy, score, VDDConfig(iterations=12, batch_size=4, num_samples=2,
                                        expert_init="random"))
    Trainer(algo, data, iterations=12, batch_size=4, checkpoint_dir=tmp_path / "c", seed=0,
            config=config, label="vdd-seed0").fit()


def test_redirected_stdout_gets_a_line_every_n_iterations(tmp_path, capsys):
    _train(tmp_path, TrainerConfig(progress_every=5, progress_seconds=3600))
    out = capsys.readouterr().out  # captured: not a terminal
    iterations = [int(m.group(1)) for m in map(LINE.search, out.splitlines()) if m]
    assert iterations == [5, 10, 12], out


def test_progress_off_prints_nothing(tmp_path, capsys):
    _train(tmp_path, TrainerConfig(progress=False, progress_every=1))
    assert "iteration" not in capsys.readouterr().out


def test_a_line_is_due_after_the_seconds_even_between_multiples():
    stream = io.StringIO()
    lines = ProgressLines(label="t", total=10**6, every=10**6, seconds=1e-9, stream=stream)
    assert lines.update(3, {"loss": 0.5}) and lines.update(4)
    assert stream.getvalue().count("iteration") == 2 and "loss 0.5" in stream.getvalue()


def test_bad_settings_name_the_value():
    with pytest.raises(ValueError, match="progress_every must be an int >= 1, got 0"):
        TrainerConfig(progress_every=0)
    with pytest.raises(ValueError, match="progress_seconds must be a number > 0, got -1"):
        TrainerConfig(progress_seconds=-1)


def test_formats():
    assert [format_duration(s) for s in (42, 185, 3720)] == ["42s", "3m05s", "1h02m"]
    assert cell_line(3, 12, "vdd-seed0", 65) == ("[bench] cell 3 of 12: vdd-seed0 (grid "
                                                 "running for 1m05s)")
