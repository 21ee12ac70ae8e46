"""Table 2 and its curves in words (keras_mnist.py's outputs).

Reads `table2.csv` (mean and SD per experiment), `table2_runs.csv` (every run and epoch)
and `run_keras_mnist.json` (epochs, validation images and each experiment's display label);
writes table2.md (the table with its caption) and the Table 2 part of REPORT.md, beside the
2016 report's single runs.
"""

import lazy_loader

from tp2.report.format import (beyond_spread, distance_in_sd, figure, markdown_table, missing_note, read_csv,
                               read_json)

pd = lazy_loader.load("pandas")  # imported on first use, so that --help answers at once

RUN_INFO = "run_keras_mnist.json"
FIGURE = "figure_mnist_curves.png"
FIGURE_CAPTION = ("Validation accuracy per epoch of the six MNIST experiments (mean, band = SD); right: each seed's "
                  "test accuracy, and the mean ± SD per experiment.")
# Table 2 of the report: one run each; validation was the test set.
ORIGINAL_TABLE2 = dict(  # pd.DataFrame(**ORIGINAL_TABLE2) where used
    data=[
        ("original", 0.9820, 0.982, 1.0),
        ("i_25pct_data", 0.9670, 0.967, 0.545),
        ("ii_one_layer", 0.9818, 0.9818, 0.989),
        ("iii_sigmoid", 0.9809, 0.9809, 0.942),
        ("iv_more_dropout", 0.9779, 0.9779, 0.814),
        ("v_no_dropout", 0.9821, 0.9821, 1.005),
    ],
    columns=["experiment", "val_acc_2016", "test_acc_2016", "relative_improvement_2016"],
)


def table2_markdown(table, runs, settings):
    """table2.md: the report's Table 2 with mean ± SD, and how each change compares to the original."""
    has_original = "original" in set(table["experiment"])
    if has_original:
        original = table.set_index("experiment").loc["original"]
    cells = []
    for row in table.itertuples():
        cell = {
            "Experiment": settings["experiments"][row.experiment]["label"],
            "Validation Acc": f"{row.val_acc_mean:.4f} ± {row.val_acc_sd:.4f}",
            "Test Acc": f"{row.test_acc_mean:.4f} ± {row.test_acc_sd:.4f}",
            "Relative improvement over original": "–" if pd.isna(row.relative_improvement)
            else f"{row.relative_improvement:.3f}",
        }
        if has_original:
            difference = row.test_acc_mean - original["test_acc_mean"]
            beyond = abs(difference) > max(row.test_acc_sd, original["test_acc_sd"])
            cell["Test Acc − original"] = f"{difference:+.4f}"
            can_tell = row.experiment != "original" and row.seeds > 1 and original["seeds"] > 1
            cell["Beyond 1 SD?"] = ("yes" if beyond else "no") if can_tell else "–"
        cells.append(cell)
    seeds = sorted(set(runs["seed"]))
    sizes = runs.groupby("experiment", sort=False)["train_size"].last()
    if settings.get("validation") == "test":
        validation = ("The 2016 protocol: validation = the official 10,000 test images, as the author passed them "
                      "as `validation_data` (so both columns are test accuracy); no choice is made on them. ")
    else:
        validation = (
            "Validation = a held-out stratified 1/6 of the 60,000 training images "
            f"({settings['validation_images']:,} images, the same for every run); "
            "test = the official 10,000 test images, never used for any choice "
            "(the report used the test set as validation, hence its identical columns). ")
    caption = (
        "**Table 2:** Results of the modifications of Keras' `mnist_mlp` example on MNIST. "
        f"Mean ± SD over {len(seeds)} seeds ({', '.join(map(str, seeds))}), {settings['epochs']} epochs each. "
        + validation +
        f"Training images per run: {', '.join(f'{name} {size:,}' for name, size in sizes.items())}. "
        "Relative improvement = original's test error / this experiment's test error. "
        "'Beyond 1 SD' = the test-accuracy difference from the original exceeds the larger of the two SDs."
    )
    return caption + "\n\n" + markdown_table(pd.DataFrame(cells))


def markdown_files(folder):
    """{"table2.md": its text}, from table2.csv, table2_runs.csv and run_keras_mnist.json."""
    table, runs = read_csv(folder, "table2.csv"), read_csv(folder, "table2_runs.csv")
    info = read_json(folder, RUN_INFO)
    if table is None or runs is None or info is None:
        return {}
    return {"table2.md": table2_markdown(table, runs, info["settings"])}


def section(folder):
    """Table 2: the 2016 report, the 2016 protocol rerun today and the revised protocol, side by side."""
    ours = read_csv(folder, "table2.csv")
    rerun = read_csv(folder / "2016", "table2.csv")
    lines = ["## Table 2 — Exercise 2a: the mnist_mlp example and five changes\n"]
    if ours is None:
        return lines + [missing_note("table2.csv", "mnist")]
    merged = pd.DataFrame(**ORIGINAL_TABLE2).merge(ours, on="experiment", how="left")
    if rerun is not None:
        merged = merged.merge(rerun.add_prefix("rerun_"), left_on="experiment", right_on="rerun_experiment", how="left")
    rows = []
    for r in merged.itertuples():
        row = {"Experiment": r.experiment, "Test acc. 2016 report (= val.)": f"{r.test_acc_2016:.4f}"}
        if rerun is not None:
            row["Test acc. 2016 rerun"] = f"{r.rerun_test_acc_mean:.4f} ± {r.rerun_test_acc_sd:.4f}"
            row["Rerun − report (SD)"] = distance_in_sd(r.rerun_test_acc_mean, r.rerun_test_acc_sd, r.test_acc_2016)
        row["Test acc. revised"] = f"{r.test_acc_mean:.4f} ± {r.test_acc_sd:.4f}"
        row["Val. acc. revised"] = f"{r.val_acc_mean:.4f} ± {r.val_acc_sd:.4f}"
        row["Rel. improvement 2016 report"] = f"{r.relative_improvement_2016:.3f}"
        if rerun is not None:
            row["Rel. improvement 2016 rerun"] = f"{r.rerun_relative_improvement:.3f}"
        row["Rel. improvement revised"] = f"{r.relative_improvement:.3f}"
        rows.append(row)
    lines += [
        "*2016 report*: one run each, the test set passed as validation data. *2016 rerun*: the author's "
        "recipe today (`keras_mnist.py --protocol 2016`: all 60,000 training images, the test set as "
        "validation, a random 25% for i), mean ± SD over seeds. *Revised*: validation held out from the "
        "training images, the test set only reported. Variants as the author's code defines them: ii is "
        "one hidden layer without dropout, iv has dropout 0.6. \"Rerun − report (SD)\" is the distance "
        "of the rerun's mean from the report's number in units of the rerun's SD.\n",
        markdown_table(pd.DataFrame(rows)),
    ]
    if rerun is None:
        lines.append("\n" + missing_note("2016/table2.csv", "mnist"))
    else:
        lines.append("\n" + rerun_sentence(merged) + "\n")
    original = merged.set_index("experiment").loc["original"]
    differ, same = [], []
    for r in merged.itertuples():
        if r.experiment == "original":
            continue
        target = differ if beyond_spread(r.test_acc_mean, r.test_acc_sd, original.test_acc_mean, original.test_acc_sd) else same
        target.append(r.experiment)
    worst = merged.loc[merged["test_acc_mean"].idxmin(), "experiment"]
    seeds = int(ours["seeds"].iloc[0])
    sentence = (
        f"With {seeds} seeds per experiment, validation on held-out training images and the official "
        f"test set kept for reporting only, the original reaches {original.test_acc_mean:.4f} ± "
        f"{original.test_acc_sd:.4f} (2016: {original.test_acc_2016:.4f}, one run). "
        f"The worst experiment is {worst} (2016: i_25pct_data). "
        + (f"Beyond one SD of the original: {', '.join(differ)}. " if differ else "")
        + (f"Within the spread of the original: {', '.join(same)}. " if same else "")
        + "The 2016 validation and test columns are identical because the test set served as validation; "
        "here they are separate sets, so they differ. 'Beyond the spread' / 'beyond one SD': the two means "
        "are further apart than the sum of their SDs (a single run's SD counts as 0); a rule of thumb, not a test."
    )
    return lines + ["\n" + sentence + "\n", figure(folder, FIGURE, FIGURE_CAPTION)]


def rerun_sentence(merged):
    """Which of the report's Table-2 test accuracies come back under the 2016 protocol (within 2 SD)."""
    back = [r.experiment for r in merged.itertuples()
            if r.rerun_test_acc_sd > 0 and abs(r.rerun_test_acc_mean - r.test_acc_2016) <= 2 * r.rerun_test_acc_sd]
    away = [r.experiment for r in merged.itertuples() if r.experiment not in back]
    seeds = int(merged["rerun_seeds"].iloc[0])
    return (
        f"Rerun today with the author's recipe ({seeds} seeds), {len(back)} of the report's {len(merged)} test "
        "accuracies come back within 2 SD of the rerun's mean" + (f"; not within 2 SD: {', '.join(away)}" if away else "")
        + ". The report's numbers are single runs, so a distance of 1–2 SD is what one run's luck gives."
    )


def differences(folder):
    """REPORT.md's 'What explains the differences' for Table 2: the rerun against the revised protocol."""
    ours, rerun = read_csv(folder, "table2.csv"), read_csv(folder / "2016", "table2.csv")
    lines = ["### Table 2\n"]
    if ours is None or rerun is None:
        return lines + [missing_note("table2.csv" if ours is None else "2016/table2.csv", "mnist")]
    merged = rerun.merge(ours, on="experiment", suffixes=("_rerun", "_revised"))
    rows = [{"Experiment": r.experiment,
             "Test acc. 2016 rerun − revised (points)": f"{100 * (r.test_acc_mean_rerun - r.test_acc_mean_revised):+.2f}",
             "Sum of the two SDs (points)": f"{100 * (r.test_acc_sd_rerun + r.test_acc_sd_revised):.2f}"}
            for r in merged.itertuples()]
    lines += [
        "The two protocols train the same networks, with the same variants, for the same 20 epochs; without early "
        "stopping the validation data never changes training. What differs is the training data (all 60,000 "
        "images vs 50,001, and for i a random rather than stratified 25%) and RMSprop's epsilon (1e-8 vs "
        "1e-7), so the difference below is what those cost or give.\n",
        markdown_table(pd.DataFrame(rows)),
    ]
    return lines
