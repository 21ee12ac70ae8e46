"""Writing to the results folder: whole files or nothing, clear errors for bad folders."""

import pandas as pd
import pytest

from tp2 import UserError
from tp2.report.format import accuracy, markdown_table
from tp2.results import atomic_write, results_dir, write_csv, write_text


def test_failed_write_keeps_the_previous_file_and_leaves_no_temp(tmp_path):
    target = write_text(tmp_path / "table.md", "old table\n")

    def broken_writer(temp):
        with open(temp, "w") as stream:
            stream.write("half a tab")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken_writer)
    assert target.read_text() == "old table\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.md"]


def test_csv_round_trip(tmp_path):
    frame = pd.DataFrame({"experiment": ["a", "b"], "acc": [0.5, 0.25]})
    path = write_csv(tmp_path / "t.csv", frame)
    assert pd.read_csv(path).equals(frame)


def test_results_folder_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file, not a folder"):
        results_dir(tmp_path / "file")
    with pytest.raises(UserError, match="not writable"):
        results_dir(tmp_path / "file" / "below")
    with pytest.raises(UserError, match="not writable"):
        results_dir("/proc/self")
    assert results_dir(tmp_path / "new" / "deeper").is_dir()


def test_accuracy_is_a_fraction_with_4_decimals_and_mean_sd():
    assert accuracy(0.95, 0.05) == "0.9500 ± 0.0500" and accuracy(0.98) == "0.9800"


def test_markdown_table_keeps_cells_as_written():
    text = markdown_table(pd.DataFrame({"x": ["0.980", "1"], "y": ["a", "b"]}))
    lines = text.splitlines()
    assert lines[0].replace(" ", "") == "|x|y|" and "0.980" in lines[2] and len(lines) == 4


def test_sample_sd_uses_ddof_1_and_is_zero_for_one_value():
    from tp2.stats import sample_sd

    assert sample_sd([1.0, 2.0, 3.0, 4.0]) == pytest.approx((5 / 3) ** 0.5)  # sum of squares 5, n - 1 = 3
    assert sample_sd([0.7]) == 0.0


def test_option_help_is_written_from_the_field_docstring_and_both_defaults():
    from dataclasses import dataclass, replace

    from tp2.settings import field_docs, option_help

    @dataclass(frozen=True)
    class Settings:
        repetitions: int = 10
        """Repetitions, each on
        its own split."""
        seed_offset: int = 3

    full = Settings()
    assert field_docs(Settings) == {"repetitions": "Repetitions, each on its own split."}
    assert option_help(Settings, "repetitions", full, replace(full, repetitions=2)) == (
        "Repetitions, each on its own split (default 10; 2 with --quick)")
    assert option_help(Settings, "repetitions", full, full) == "Repetitions, each on its own split (default 10)"


def test_read_run_info_returns_the_json_or_none(tmp_path):
    from tp2.results import read_run_info, write_run_info

    assert read_run_info(tmp_path, "theano_tp2") is None
    write_run_info(tmp_path, "theano_tp2", 12.345, {"seed": 4})
    info = read_run_info(tmp_path, "theano_tp2")
    assert info["settings"] == {"seed": 4} and info["wall_time_s"] == 12.35 and info["script"] == "theano_tp2"


def test_a_run_json_records_the_machine_it_ran_on(tmp_path):
    import os

    from tp2.results import read_run_info, write_run_info

    write_run_info(tmp_path, "keras_mnist", 1.0, {})
    machine = read_run_info(tmp_path, "keras_mnist")["machine"]
    assert machine.endswith(f", {os.cpu_count()} cores") and not machine.startswith(",")


def test_ctrl_c_inside_ctrl_c_deferred_waits_for_the_block_then_interrupts():
    import os
    import signal

    from tp2.results import ctrl_c_deferred

    before = signal.getsignal(signal.SIGINT)
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with ctrl_c_deferred():
            os.kill(os.getpid(), signal.SIGINT)  # delivered here, acted on after the block
            finished.append("the rest of the block ran")
    assert finished == ["the rest of the block ran"]
    assert signal.getsignal(signal.SIGINT) is before
    with ctrl_c_deferred():  # no Ctrl-C: no KeyboardInterrupt
        finished.append("quiet block")
    assert finished[-1] == "quiet block"
