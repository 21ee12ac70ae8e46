"""make_report.py: original numbers beside ours, sentences generated from the numbers."""

import json

import pandas as pd
from conftest import ROOT, run_script


def write_fake_results(folder):
    folder.mkdir(exist_ok=True)
    pd.DataFrame(
        {
            "experiment": ["batch", "minibatch", "minibatch_hidden_sigmoid", "minibatch_hidden_relu"],
            "train_acc_mean": [0.99, 0.98, 0.99, 0.995],
            "train_acc_sd": [0.001, 0.002, 0.001, 0.001],
            "test_acc_mean": [0.975, 0.9481, 0.975, 0.976],
            "test_acc_sd": [0.005, 0.006, 0.004, 0.004],
            "time_s_mean": [1.0, 0.5, 0.7, 0.8],
            "time_s_sd": [0.1, 0.05, 0.07, 0.08],
            "repetitions": [10] * 4,
        }
    ).to_csv(folder / "table1.csv", index=False)
    pd.DataFrame(
        {
            "experiment": ["original", "i_25pct_data", "ii_one_layer", "iii_sigmoid", "iv_more_dropout", "v_no_dropout"],
            "val_acc_mean": [0.982, 0.965, 0.981, 0.979, 0.980, 0.981],
            "val_acc_sd": [0.001] * 6,
            "test_acc_mean": [0.983, 0.966, 0.9825, 0.978, 0.982, 0.9828],
            "test_acc_sd": [0.001] * 6,
            "relative_improvement": [1.0, 0.5, 0.97, 0.77, 0.94, 0.99],
            "seeds": [5] * 6,
        }
    ).to_csv(folder / "table2.csv", index=False)
    (folder / "run_theano_tp2.json").write_text(
        json.dumps({"command": "python theano_tp2.py", "wall_time_s": 120.0, "date": "2026-11-27T00:00:00", "versions": {"numpy": "2"}})
    )


def test_report_puts_2016_numbers_beside_ours_and_judges_the_spread(tmp_path):
    results = tmp_path / "results"
    write_fake_results(results)
    completed = run_script("make_report.py", "--results-dir", results)
    assert completed.returncode == 0, completed.stderr
    report = (results / "REPORT.md").read_text()
    assert "0.9556 ± 0.0094" in report and "0.9750 ± 0.0050" in report  # Table 1, 2016 and now
    assert "0.9670" in report and "0.9660 ± 0.0010" in report  # Table 2, i_25pct_data
    table1_sentence = next(line for line in report.splitlines() if line.startswith("Over 10 repetitions"))
    # minibatch: 94.81 ± 1.04 then, 94.81 ± 0.60 now: within; batch: 95.56 ± 0.94 then, 97.50 ± 0.50 now: beyond
    assert "beyond the spread for batch" in table1_sentence and "minibatch," not in table1_sentence
    table2_sentence = next(line for line in report.splitlines() if line.startswith("With 5 seeds"))
    assert "worst experiment is i_25pct_data" in table2_sentence
    assert "Beyond one SD of the original: i_25pct_data, iii_sigmoid" in table2_sentence
    assert "`table3.csv` is not in the results folder yet: run `make som`" in report
    assert "python theano_tp2.py" in report and "2.0" in report


def test_every_quantity_has_one_format_in_every_file(tmp_path):
    """Made from the committed results: accuracies are fractions with 4 decimals and mean ± SD, sizes in
    B/kB/MB, grid levels spelled one way (augmentation yes/no, n2 'none')."""
    import re
    import shutil

    results = tmp_path / "results"
    shutil.copytree(ROOT / "results", results)
    completed = run_script("make_report.py", "--results-dir", results)
    assert completed.returncode == 0, completed.stderr
    for path in sorted(results.rglob("*.md")):
        text = path.read_text()
        assert "(SD:" not in text, path
        assert not re.findall(r"\b[01]\.\d{3} ± |± 0\.\d{3}\b", text), (path, re.findall(r".{20}\b[01]\.\d{3} ± .{8}", text))
        assert not re.findall(r"\d{4,} B\b|\d[\d,]{2,} bytes\b", text), path
        assert "configuration(s)" not in text and "aug=" not in text, path
        for row in re.findall(r"^\| *(?:\d+ *\| *)?(0|1|yes|no) *\| *\d+ *\| *(\S+) *\|", text, flags=re.M):
            assert row[0] in ("yes", "no") and row[1] != "-", (path, row)


def test_report_has_one_title_and_the_files_it_takes_in_keep_theirs(tmp_path):
    """Made from the committed results: random_check.md and h5_answer.md go into REPORT.md under its own
    headings, without their "# " titles (one title per document); the files themselves keep them."""
    import re
    import shutil

    results = tmp_path / "results"
    shutil.copytree(ROOT / "results", results)
    completed = run_script("make_report.py", "--results-dir", results)
    assert completed.returncode == 0, completed.stderr
    outside_code = re.sub(r"```.*?```", "", (results / "REPORT.md").read_text(), flags=re.S)
    assert re.findall(r"^# .*", outside_code, flags=re.M) == ["# TP2 reproduction report"]
    for name in ("random_check.md", "h5_answer.md"):
        title, body = (results / name).read_text().split("\n", 1)
        assert title.startswith("# ") and body.strip().splitlines()[0] in outside_code, name


def test_the_som_sentence_agrees_in_number_with_the_factors_it_names():
    """On the committed results (two such factors in the revised grid, three in the 2016 one)."""
    import re

    from tp2.report import som as som_report

    sentences = [sentence for folder in (ROOT / "results", ROOT / "results" / "2016")
                 for sentence in re.findall(r"The ANOVA finds (.+?) significant although (.+?) the accuracy plane",
                                            som_report.markdown_files(folder)["som_anova_summary.md"])]
    assert len(sentences) == 2
    for names, planes in sentences:
        several = " and " in names
        assert "," not in names or several, names
        assert planes == ("their SOM planes barely resemble" if several else "its SOM plane barely resembles"), names


def test_names_in_a_sentence_are_joined_with_commas_and_a_final_and():
    from tp2.report.format import listed

    assert [listed(names) for names in (["n1"], ["n1", "n2"], ["dropout", "n1", "n2"])] == [
        "n1", "n1 and n2", "dropout, n1 and n2"]


def test_report_on_an_empty_folder_says_what_to_run(tmp_path):
    completed = run_script("make_report.py", "--results-dir", tmp_path)
    assert completed.returncode == 0, completed.stderr
    report = (tmp_path / "REPORT.md").read_text()
    for name, target in (("table1.csv", "theano"), ("table2.csv", "mnist"), ("h5_answer.md", "images")):
        assert f"`{name}` is not in the results folder yet: run `make {target}`" in report


def test_each_run_shows_the_machine_it_ran_on_not_the_one_writing_the_report(tmp_path):
    from tp2.report import environment

    run = {"command": "python theano_tp2.py", "wall_time_s": 6.0, "date": "2026-11-29T00:00:00", "python": "3.11.7"}
    (tmp_path / "run_theano_tp2.json").write_text(json.dumps(dict(run, machine="Some CPU, 8 cores")))
    (tmp_path / "run_keras_mnist.json").write_text(json.dumps(run))  # written before runs recorded their machine
    text = "\n".join(environment.section(tmp_path))
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert "Some CPU, 8 cores" in rows["theano_tp2"] and "not recorded" in rows["keras_mnist"]
    assert "- Python 3.11.7;" in text and "CPU:" not in text


def test_a_resumed_grid_run_says_how_many_trials_it_trained(tmp_path):
    from tp2.report import environment

    run = {"command": "python keras_imageTools.py", "wall_time_s": 60.0, "date": "2026-11-29T00:00:00",
           "settings": {"trials": 720, "trials_trained_in_this_run": 0}}
    (tmp_path / "run_keras_imageTools.json").write_text(json.dumps(run))
    text = "\n".join(environment.section(tmp_path))
    assert "resumed: 0 of 720 trials trained in this run" in text
    assert "Total wall time of these runs: 1.0 min (keras_imageTools resumed: the trials trained before are not in it)." in text
    run["settings"]["trials_trained_in_this_run"] = 720
    (tmp_path / "run_keras_imageTools.json").write_text(json.dumps(run))
    text = "\n".join(environment.section(tmp_path))
    assert "resumed" not in text and "Total wall time of these runs: 1.0 min.\n" in text
