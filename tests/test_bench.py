"""bench.py's bookkeeping: ratios judged on the median against the target's direction."""

import json

import bench


def test_ratio_rows_are_judged_on_the_median_in_the_targets_direction():
    at_most = bench.ratio_row("pytensor_vs_numpy", "≤ 1.0", [0.5, 0.9, 1.7], "x")
    assert (at_most["ratio_min"], at_most["ratio_median"], at_most["ratio_max"]) == (0.5, 0.9, 1.7)
    assert at_most["met"] is True
    assert bench.ratio_row("a", "≤ 1.0", [0.5, 1.1, 1.2], "x")["met"] is False
    assert bench.ratio_row("cache", "≥ 10", [8.0, 12.0, 30.0], "x")["met"] is True
    assert bench.ratio_row("cache", "≥ 10", [8.0, 9.0, 30.0], "x")["met"] is False


def test_full_run_row_adds_both_protocols_run_files_and_ignores_quick_runs(tmp_path):
    (tmp_path / "2016").mkdir()
    for i, script in enumerate(bench.SCRIPTS):  # 600 + 1200 + 1800 + 2400 s, and 60 s for each 2016 run
        (tmp_path / f"run_{script}.json").write_text(json.dumps({"command": f"python {script}.py", "wall_time_s": 600.0 * (i + 1)}))
        (tmp_path / "2016" / f"run_{script}.json").write_text(json.dumps({"command": f"python {script}.py --protocol 2016", "wall_time_s": 60.0}))
    row = bench.full_scripts(tmp_path)
    assert row["ratio_median"] == 6240.0 / 5400.0 and row["met"] is False  # / 90 minutes
    (tmp_path / "2016" / "run_som_analysis.json").unlink()
    assert bench.full_scripts(tmp_path) is None
    (tmp_path / "2016" / "run_som_analysis.json").write_text(json.dumps({"command": "python som_analysis.py", "wall_time_s": 60.0}))
    (tmp_path / "run_som_analysis.json").write_text(json.dumps({"command": "python som_analysis.py --quick", "wall_time_s": 1.0}))
    assert bench.full_scripts(tmp_path) is None


def test_full_run_row_leaves_out_a_grid_that_resumed_or_reused_its_trials(tmp_path):
    (tmp_path / "2016").mkdir()
    for folder in (tmp_path, tmp_path / "2016"):
        for script in bench.SCRIPTS:
            (folder / f"run_{script}.json").write_text(json.dumps({"command": f"python {script}.py", "wall_time_s": 60.0}))
    grid = {"command": "python keras_imageTools.py", "wall_time_s": 600.0,
            "settings": {"trials": 600, "trials_trained_in_this_run": 600}}
    (tmp_path / "2016" / "run_keras_imageTools.json").write_text(json.dumps(grid))
    assert bench.full_scripts(tmp_path)["ratio_median"] == (7 * 60.0 + 600.0) / 5400.0
    grid["settings"]["trials_trained_in_this_run"] = 0  # --reuse
    (tmp_path / "2016" / "run_keras_imageTools.json").write_text(json.dumps(grid))
    assert bench.full_scripts(tmp_path) is None


def test_bench_writes_markdown_and_csv(tmp_path):
    rows = [bench.ratio_row("cache", "≥ 10", [12.0, 14.0, 15.0], "cached / decoded")]
    bench.write_outputs(tmp_path, rows)
    assert "12.00 / 14.00 / 15.00" in (tmp_path / "bench.md").read_text()
    assert (tmp_path / "bench.csv").read_text().splitlines()[0].startswith("benchmark,target,ratio_min")


def test_measuring_one_benchmark_again_keeps_the_other_rows_in_their_order(tmp_path):
    first = [bench.ratio_row(name, "≤ 1.0", [ratio], name) for name, ratio in (("a", 0.5), ("b", 1.5), ("c", 0.7))]
    bench.write_outputs(tmp_path, first)
    again = bench.with_earlier_rows(tmp_path, [bench.ratio_row("b", "≤ 1.0", [0.9], "b again"), bench.ratio_row("d", "≥ 10", [12.0], "d")])
    assert [(row["benchmark"], row["ratio_median"], bool(row["met"])) for row in again] == [
        ("a", 0.5, True), ("b", 0.9, True), ("c", 0.7, True), ("d", 12.0, True)]
    assert bench.with_earlier_rows(tmp_path / "nothing", first) == first


def test_each_benchmark_runs_in_a_fresh_process():
    import os

    assert bench.in_fresh_process(os.getpid) != os.getpid()
    assert bench.in_fresh_process(sorted, [3, 1, 2]) == [1, 2, 3]
