"""Table 2 and its curves in words (keras_mnist.py's outputs).

Reads `table2.csv` (mean and SD per experiment), `table2_runs.csv` (every run and epoch)
and `run_keras_mnist.json` (epochs, validation images and each experiment's display label);
writes table2.md (the table with its caption) and the Table 2 part of REPORT.md, beside the
2017 report's single runs.
"""

import pandas as pd

from tp2.report.format import beyond_spread, figure, markdown_table, missing_note, read_csv, read_json

RUN_INFO = "run_keras_mnist.json"
FIGURE = "figure_mnist_curves.png"
FIGURE_CAPTION = "Validation accuracy per epoch of the six MNIST experiments (mean, band = SD)."
# Table 2 of the report: one run each; validation was the test set.
ORIGINAL_TABLE2 = pd.DataFrame(
    [
        ("original", 0.9820, 0.982, 1.0),
        ("i_25pct_data", 0.9670, 0.967, 0.545),
        ("ii_one_layer", 0.9818, 0.9818, 0.989),
        ("iii_sigmoid", 0.9809, 0.9809, 0.942),
        ("iv_more_dropout", 0.9779, 0.9779, 0.814),
        ("v_no_dropout", 0.9821, 0.9821, 1.005),
    ],
    columns=["experiment", "val_acc_2017", "test_acc_2017", "relative_improvement_2017"],
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
    caption = (
        "**Table 2:** Results of the modifications of Keras' `mnist_mlp` example on MNIST. "
        f"Mean ± SD over {len(seeds)} seeds ({', '.join(map(str, seeds))}), {settings['epochs']} epochs each. "
        "Validation = a held-out stratified 1/6 of the 60,000 training images "
        f"({settings['validation_images']:,} images, the same for every run); "
        "test = the official 10,000 test images, never used for any choice "
        "(the report used the test set as validation, hence its identical columns). "
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
    """Table 2 beside the 2017 single runs, what the comparison says, then the validation curves."""
    ours = read_csv(folder, "table2.csv")
    lines = ["## Table 2 — Exercise 2a: the mnist_mlp example and five changes\n"]
    if ours is None:
        return lines + [missing_note("table2.csv", "mnist")]
    merged = ORIGINAL_TABLE2.merge(ours, on="experiment", how="left")
    rows = []
    for r in merged.itertuples():
        rows.append(
            {
                "Experiment": r.experiment,
                "Val. acc. 2017 (= test)": f"{r.val_acc_2017:.4f}",
                "Val. acc. now": f"{r.val_acc_mean:.4f} ± {r.val_acc_sd:.4f}",
                "Test acc. 2017": f"{r.test_acc_2017:.4f}",
                "Test acc. now": f"{r.test_acc_mean:.4f} ± {r.test_acc_sd:.4f}",
                "Rel. improvement 2017": f"{r.relative_improvement_2017:.3f}",
                "Rel. improvement now": f"{r.relative_improvement:.3f}",
            }
        )
    lines.append(markdown_table(pd.DataFrame(rows)))
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
        f"{original.test_acc_sd:.4f} (2017: {original.test_acc_2017:.4f}, one run). "
        f"The worst experiment is {worst} (2017: i_25pct_data). "
        + (f"Beyond one SD of the original: {', '.join(differ)}. " if differ else "")
        + (f"Within the spread of the original: {', '.join(same)}. " if same else "")
        + "The 2017 validation and test columns are identical because the test set served as validation; "
        "here they are separate sets, so they differ."
    )
    return lines + ["\n" + sentence + "\n", figure(folder, FIGURE, FIGURE_CAPTION)]
