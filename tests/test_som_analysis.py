"""som_analysis.py on synthetic grid files whose accuracy depends only on activation and n1."""

import itertools
import json
from dataclasses import replace

import h5py
import numpy as np
import pandas as pd
import pytest

from conftest import assert_clean_error, run_script

import som_analysis
from tp2 import grid_store, stats
from tp2.report import som as som_report

TRIAL_DTYPE = np.dtype([
    ("augmentation", "u1"), ("n1", "i4"), ("n2", "i4"), ("dropout", "f8"), ("activation", "S7"),
    ("seed", "i4"), ("val_acc", "f8"), ("test_acc", "f8"), ("epochs", "i4"), ("train_time_s", "f8"),
])
GRID = {
    "augmentation": [0, 1],
    "n1": [16, 32, 64, 128],
    "n2": [0, 16, 32, 64, 128],
    "dropout": [0.0, 0.1, 0.2],
    "activation": ["sigmoid", "relu"],
}
NOISE_SD = 0.004


def planted_accuracy(n1, activation):
    """The only signal: ReLU +0.02, and +0.005 per doubling of the first layer."""
    return 0.95 + 0.02 * (activation == "relu") + 0.005 * np.log2(n1 / 16)


def grid_trials(seeds=3, rng_seed=0, grid=GRID):
    rng = np.random.default_rng(rng_seed)
    rows = []
    for augmentation, n1, n2, dropout, activation in itertools.product(*grid.values()):
        base = planted_accuracy(n1, activation)
        for seed in range(seeds):
            val, test = base + rng.normal(0, NOISE_SD, size=2)
            rows.append((augmentation, n1, n2, dropout, activation.encode(), seed, val, test, 20, 1.5))
    return np.array(rows, dtype=TRIAL_DTYPE)


def write_grid(path, trials, attrs=True):
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as handle:
        handle.create_dataset("trials", data=trials)
        if attrs:
            handle.attrs["grid"] = json.dumps(GRID)
            handle.attrs["versions"] = json.dumps({"keras": "3.15.1"})
            handle.attrs["date"] = "2026-01-01T00:00:00+00:00"
    return path


@pytest.fixture(scope="module")
def planted_grid(tmp_path_factory):
    return write_grid(tmp_path_factory.mktemp("grid") / "grid_search.h5", grid_trials())


def test_read_trials_gives_one_row_per_trial(planted_grid):
    frame = grid_store.read_trials(planted_grid)
    assert len(frame) == 240 * 3
    assert list(frame.columns) == list(grid_store.FIELDS)
    assert set(frame["activation"]) == {"sigmoid", "relu"}
    assert frame["activation"].map(type).eq(str).all()
    assert frame["n2"].dtype.kind == "i" and frame["dropout"].dtype.kind == "f"
    assert frame.attrs["grid"]["n1"] == [16, 32, 64, 128]
    assert frame.attrs["date"].startswith("2026-01-01")
    configurations = grid_store.summarise(frame)
    assert len(configurations) == 240 and (configurations["seeds"] == 3).all()


def test_anova_ranks_planted_factors_first(planted_grid):
    table, notes = stats.factorial_anova(grid_store.read_trials(planted_grid), grid_store.FACTORS, som_analysis.FULL.response)
    assert notes == []
    effects = table[table["kind"] != "residual"]
    assert list(effects["term"][:2]) == ["activation", "n1"]
    assert (effects["p_value"][:2] < 0.01).all()
    others = effects.iloc[2:]
    assert len(others) == 3 + 10  # three other main effects, ten two-way interactions
    assert (others["p_value"] > 0.01).all(), others
    # A complete balanced grid: type II sums of squares add up to the total.
    assert table["eta_sq"].sum() == pytest.approx(1.0, abs=1e-6)
    assert "augmentation × n1" in set(effects["term"])


def test_som_inputs_are_scaled_by_grid_level(planted_grid):
    configurations = grid_store.summarise(grid_store.read_trials(planted_grid))
    matrix, ticks = som_analysis.som_matrix(configurations, som_analysis.FULL)
    assert list(matrix.columns) == [
        "augmentation", "n1", "n2", "has_second_layer", "dropout", "sigmoid", "relu", "accuracy"
    ]
    assert matrix.min().min() == 0.0 and matrix.max().max() == 1.0
    assert sorted(matrix["n1"].unique()) == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert (matrix.loc[configurations["n2"] == 0, "n2"] == 0).all()
    assert (matrix["has_second_layer"] == (configurations["n2"] > 0)).all()
    assert (matrix["sigmoid"] + matrix["relu"] == 1).all()
    assert [label for _, label in ticks["n2"]] == ["none", "16", "32", "64", "128"]
    assert som_analysis.default_som_size(240) == (9, 9)


def test_planted_factor_plane_looks_like_accuracy_plane(planted_grid):
    configurations = grid_store.summarise(grid_store.read_trials(planted_grid))
    matrix, _ = som_analysis.som_matrix(configurations, som_analysis.FULL)
    som = som_analysis.fit_som(matrix, replace(som_analysis.FULL, som_size=(9, 9), iterations=3000, seed=0))
    r = som["correlations"]
    assert r["relu"] > 0.8 and r["sigmoid"] < -0.8
    similarity = som_report.som_factor_similarity(r)
    assert max(similarity, key=similarity.get) == "activation"
    assert abs(r["augmentation"]) < 0.3
    assert r["n1"] > 0
    assert som["planes"]["accuracy"].shape == (9, 9)
    assert 0 <= som["topographic_error"] <= 1 and som["quantization_error"] > 0


def test_cli_outputs_rank_on_validation_and_repeat_under_a_seed(planted_grid, tmp_path):
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        folder = tmp_path / name
        write_grid(folder / "grid_search.h5", grid_trials())
        result = run_script(
            "som_analysis.py", "--results-dir", folder, "--seed", seed, "--quick", "--iterations", 1500
        )
        assert result.returncode == 0, result.stderr
        assert "quantization error" in result.stdout and "topographic error" in result.stdout
        runs[name] = folder
    outputs = ["figure1_som.png", "figure1_som_data.csv", "table3.csv", "hparam_importance.csv",
               "figure_hparam_importance.png", "som_facts.json", "run_som_analysis.json"]
    for name in outputs:
        assert (runs["a"] / name).stat().st_size > 0, name
    markdown = {name: som_report.markdown_files(folder) for name, folder in runs.items()}
    for name in ["figure1_som.md", "table3.md", "hparam_importance.md", "som_anova_summary.md"]:
        assert markdown["a"][name], name
    for name in ["figure1_som_data.csv", "table3.csv", "hparam_importance.csv"]:
        assert (runs["a"] / name).read_bytes() == (runs["b"] / name).read_bytes(), name
    assert markdown["a"]["som_anova_summary.md"] == markdown["b"]["som_anova_summary.md"]
    assert (runs["a"] / "figure1_som_data.csv").read_bytes() != (runs["c"] / "figure1_som_data.csv").read_bytes()

    # Table 3 ranks on mean validation accuracy, not on test accuracy.
    table3 = pd.read_csv(runs["a"] / "table3.csv")
    assert list(table3.columns) == ["augmentation", "n1", "n2", "dropout", "activation", "val_acc_mean",
                                    "val_acc_sd", "test_acc_mean", "test_acc_sd", "seeds"]
    configurations = grid_store.summarise(grid_store.read_trials(planted_grid))
    by_val = configurations.sort_values("val_acc_mean", ascending=False).head(5)
    by_test = configurations.sort_values("test_acc_mean", ascending=False).head(5)
    assert list(table3["val_acc_mean"]) == pytest.approx(list(by_val["val_acc_mean"]), abs=1e-5)
    assert list(table3["test_acc_mean"]) != pytest.approx(list(by_test["test_acc_mean"]), abs=1e-5)
    assert (table3["seeds"] == 3).all() and (table3["activation"] == "relu").all()
    settings = json.loads((runs["a"] / "run_som_analysis.json").read_text())["settings"]
    assert settings["iterations"] == 1500 and settings["seed"] == 3 and settings["som_size"] == [9, 9]
    assert settings["quick"] is True and settings["top_configurations"] == 5
    assert "validation" in markdown["a"]["table3.md"]

    importance = pd.read_csv(runs["a"] / "hparam_importance.csv")
    assert list(importance["term"][:2]) == ["activation", "n1"]
    summary = markdown["a"]["som_anova_summary.md"]
    assert "Augmentation does not matter detectably" in summary
    assert "Sigmoid vs ReLU matters" in summary
    assert "type II" in markdown["a"]["hparam_importance.md"]


def test_one_seed_grid_says_noise_cannot_be_separated(tmp_path):
    write_grid(tmp_path / "grid_search.h5", grid_trials(seeds=1))
    result = run_script("som_analysis.py", "--results-dir", tmp_path, "--quick", "--iterations", 500)
    assert result.returncode == 0, result.stderr
    assert "warning: one seed per configuration" in result.stderr
    markdown = som_report.markdown_files(tmp_path)
    assert "cannot separate" in markdown["hparam_importance.md"]
    assert "cannot separate" in markdown["som_anova_summary.md"]
    table3 = pd.read_csv(tmp_path / "table3.csv")
    assert (table3["seeds"] == 1).all() and table3["val_acc_sd"].isna().all()


def test_small_grid_with_constant_factors_and_a_failed_trial(tmp_path):
    # The shape of keras_imageTools.py --quick: 8 configurations x 2 seeds, dropout and
    # activation fixed; one trial without an accuracy.
    grid = dict(GRID, n1=[32, 128], n2=[0, 64], dropout=[0.1], activation=["relu"])
    trials = grid_trials(seeds=2, grid=grid)
    trials["test_acc"][5] = np.nan
    write_grid(tmp_path / "grid_search.h5", trials)
    result = run_script("som_analysis.py", "--results-dir", tmp_path, "--quick")
    assert result.returncode == 0, result.stderr
    assert "1 trial(s) without a finite accuracy ignored" in result.stderr
    assert "4x4 SOM" in result.stdout
    importance = pd.read_csv(tmp_path / "hparam_importance.csv")
    assert set(importance["term"]) == {
        "augmentation", "n1", "n2", "augmentation × n1", "augmentation × n2", "n1 × n2", "residual"
    }
    assert importance["term"][0] == "n1"
    markdown = som_report.markdown_files(tmp_path)
    assert "dropout has a single level" in markdown["hparam_importance.md"]
    summary = markdown["som_anova_summary.md"]
    assert "Sigmoid vs ReLU: not varied in this grid" in summary and "nan" not in summary
    assert "n/a (constant)" in markdown["figure1_som.md"]


def test_table3_ties_share_a_rank_and_the_section_places_the_figures(tmp_path):
    # Validation accuracy without noise: ReLU with n1 = 128 ties at the top (4 configurations),
    # ReLU with n1 = 32 ties next.
    grid = dict(GRID, n1=[32, 128], n2=[0, 64], dropout=[0.1])
    trials = grid_trials(seeds=2, grid=grid)
    relu = trials["activation"] == b"relu"
    trials["val_acc"] = 0.9 + 0.02 * relu + 0.01 * (trials["n1"] == 128)
    write_grid(tmp_path / "grid_search.h5", trials)
    som_analysis.main(["--results-dir", str(tmp_path), "--quick", "--iterations", "200"])
    table3 = som_report.markdown_files(tmp_path)["table3.md"]
    assert "tie share a rank" in table3
    ranks = [line.split("|")[1].strip() for line in table3.splitlines() if line.startswith("| ") and "rank" not in line]
    assert ranks == ["1", "1", "1", "1", "5"]

    lines = som_report.section(tmp_path)
    text = "\n".join(lines)
    assert lines[0].startswith("## Table 3") and "The best configuration by validation accuracy reaches" in text
    figure1 = next(i for i, line in enumerate(lines) if line.startswith("![Figure 1"))
    anova = next(i for i, line in enumerate(lines) if line.startswith("## Which hyperparameters matter"))
    importance = next(i for i, line in enumerate(lines) if line.startswith("**Hyperparameter importance:**"))
    assert anova < figure1 < importance
    assert lines[importance + 1].startswith("![Share of variance")
    assert lines[-1].startswith("On the SOM")


def test_report_without_outputs_says_what_to_run(tmp_path):
    assert som_report.markdown_files(tmp_path) == {}
    text = "\n".join(som_report.section(tmp_path))
    assert "`table3.csv` is not in the results folder yet: run `make som`" in text
    assert "`hparam_importance.md` is not in the results folder yet: run `make som`" in text
    assert "0.980" in text  # the 2016 Table 3 is shown anyway


def bad_file(kind, path):
    trials = grid_trials(seeds=2)
    if kind == "absent":
        return
    if kind == "not hdf5":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("not an HDF5 file\n")
    elif kind == "no dataset":
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as handle:
            handle.create_dataset("results", data=trials)
    elif kind == "missing columns":
        keep = [name for name in TRIAL_DTYPE.names if name not in ("val_acc", "dropout")]
        write_grid(path, np.array(trials[keep].tolist(), dtype=[(n, TRIAL_DTYPE[n]) for n in keep]))
    elif kind == "zero rows":
        write_grid(path, trials[:0])
    elif kind == "unknown activation":
        trials["activation"][:4] = b"tanh"
        write_grid(path, trials)


@pytest.mark.parametrize(
    "kind, fragments",
    [
        ("absent", ["grid_search.h5 not found", "keras_imageTools.py"]),
        ("not hdf5", ["cannot read", "as HDF5"]),
        ("no dataset", ["no /trials dataset"]),
        ("missing columns", ["lacks columns", "dropout", "val_acc"]),
        ("zero rows", ["zero rows"]),
        ("unknown activation", ["unknown activation", "tanh"]),
    ],
)
def test_bad_grid_files_give_one_clear_line(tmp_path, kind, fragments):
    bad_file(kind, tmp_path / "grid_search.h5")
    result = run_script("som_analysis.py", "--results-dir", tmp_path, "--quick")
    assert_clean_error(result, *fragments)
    assert not (tmp_path / "table3.csv").exists()


def test_bad_options_give_one_clear_line(planted_grid):
    result = run_script("som_analysis.py", "--results-dir", planted_grid.parent, "--som-size", "0", "4")
    assert_clean_error(result, "--som-size")
    result = run_script("som_analysis.py", "--help")
    assert result.returncode == 0 and "--iterations" in result.stdout and "--som-size" in result.stdout
