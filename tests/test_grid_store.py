"""tp2/grid_store.py: one row per configuration, ranked on validation with tied ranks."""

import numpy as np
import pandas as pd
import pytest

from tp2 import grid_store

CONFIG = {"augmentation": 0, "n1": 16, "n2": 0, "dropout": 0.0, "activation": "relu"}


def trials(per_config):
    """{n1: ([val accuracies], [test accuracies])} -> rows, one per seed."""
    return [dict(CONFIG, n1=n1, seed=seed, val_acc=val, test_acc=test, epochs=3 + seed, train_time_s=1.0)
            for n1, (vals, tests) in per_config.items() for seed, (val, test) in enumerate(zip(vals, tests))]


def test_summary_is_one_row_per_configuration_with_sample_sd():
    summary = grid_store.summarise(trials({32: ([0.8, 0.9, 1.0], [0.5, 0.7, 0.9]), 16: ([0.9], [0.1])}))
    assert list(summary["n1"]) == [16, 32]  # factor order, not input order
    row = summary.set_index("n1").loc[32]
    assert row["seeds"] == 3 and row["val_acc_mean"] == pytest.approx(0.9)
    assert row["val_acc_sd"] == pytest.approx(0.1)  # ddof 1: sqrt((0.01 + 0 + 0.01) / 2)
    assert row["test_acc_sd"] == pytest.approx(0.2) and row["epochs_mean"] == 4
    assert np.isnan(summary.set_index("n1").loc[16, "val_acc_sd"])  # one seed: no SD


def test_ranking_uses_validation_only_and_shares_ranks_between_ties():
    # 16 and 64 tie on mean validation (0.2); 64 has the smaller SD and goes first within the tie.
    # 128 has the best test accuracy but the worst validation: it comes last.
    # The two means of 0.2 differ in the last bit (summed from other values): still a tie.
    summary = grid_store.summarise(trials({
        16: ([0.1, 0.35, 0.15], [0.5] * 3),
        32: ([0.25, 0.25, 0.25], [0.6] * 3),
        64: ([0.2, 0.2, 0.2], [0.4] * 3),
        128: ([0.1, 0.1, 0.1], [1.0] * 3),
    }))
    means = summary.set_index("n1")["val_acc_mean"]
    assert means[16] != means[64] and means[16] == pytest.approx(means[64])
    order = grid_store.ranked(summary)
    assert list(order["n1"]) == [32, 64, 16, 128]
    assert list(order["rank"]) == [1, 2, 2, 4]


def test_within_a_tie_the_smaller_sd_goes_first_even_when_its_mean_is_lower_in_the_last_bit():
    summary = grid_store.summarise(trials({
        16: ([0.2, 0.05, 0.05], [0.5] * 3),  # mean 0.10000000000000002, SD 0.087
        32: ([0.05, 0.1, 0.15], [0.5] * 3),  # mean 0.09999999999999999, SD 0.05: the same mean, steadier
    }))
    means = summary.set_index("n1")["val_acc_mean"]
    assert means[16] > means[32] and means[16] == pytest.approx(means[32])
    order = grid_store.ranked(summary)
    assert list(order["n1"]) == [32, 16] and list(order["rank"]) == [1, 1]


def test_rows_survive_save_and_the_csv_is_regenerated_from_them(tmp_path):
    definition = {"factors": {"n1": [16, 32]}, "max_epochs": 3}
    rows = trials({32: ([0.75, 0.5], [0.25, 0.5]), 16: ([0.5], [0.5])})
    grid_store.save(tmp_path, rows, definition, image_size=64)
    again = grid_store.read_rows(tmp_path / grid_store.GRID_FILE, definition)
    assert sorted(again, key=lambda r: (r["n1"], r["seed"])) == sorted(rows, key=lambda r: (r["n1"], r["seed"]))
    csv = pd.read_csv(tmp_path / grid_store.GRID_CSV)
    assert list(csv.columns) == list(grid_store.FIELDS) and list(csv["n1"]) == [16, 32, 32]
    frame = grid_store.read_trials(tmp_path / grid_store.GRID_FILE)
    assert frame.attrs["grid"] == definition and len(frame) == 3


def test_a_grid_write_that_fails_midway_leaves_the_previous_files_intact(tmp_path, monkeypatch):
    import h5py

    rows = [{"augmentation": 0, "n1": n1, "n2": 0, "dropout": 0.0, "activation": "relu", "seed": 0,
             "val_acc": 0.9, "test_acc": 0.8, "epochs": 3, "train_time_s": 1.0} for n1 in (16, 32)]
    grid_store.save(tmp_path, rows[:1], {"factors": {}})
    grid_store.save_partial(tmp_path, rows[:1], {"factors": {}})
    before = {name: (tmp_path / name).read_bytes()
              for name in (grid_store.GRID_FILE, grid_store.GRID_CSV, grid_store.PARTIAL_FILE)}
    real_create = h5py.Group.create_dataset

    def create_then_fail(group, *args, **kwargs):
        real_create(group, *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(h5py.Group, "create_dataset", create_then_fail)
    for write in (grid_store.save, grid_store.save_partial):
        with pytest.raises(OSError):
            write(tmp_path, rows, {"factors": {}})
    assert {name: (tmp_path / name).read_bytes() for name in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before)  # no temporary file left behind


def test_the_anova_is_type_ii_on_an_unbalanced_design():
    """Type II SS of a factor = RSS of the model without it (but with the other main effect) minus RSS
    of both main effects; computed here by least squares, on a design where type I would differ."""
    import numpy as np

    from tp2 import stats

    rng = np.random.default_rng(1)
    a = np.repeat([0, 0, 1, 1], [12, 3, 4, 11])  # a and b correlated: unbalanced cells
    b = np.repeat([0, 1, 0, 1], [12, 3, 4, 11])
    y = 0.8 + 0.05 * a + 0.03 * b + rng.normal(0, 0.01, len(a))
    trials = pd.DataFrame({"a": a, "b": b, "acc": y})
    table, _ = stats.factorial_anova(trials, ("a", "b"), "acc")

    def rss(*columns):
        x = np.column_stack([np.ones(len(y)), *columns])
        residual = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
        return float(residual @ residual)

    type_ii = {"a": rss(b) - rss(a, b), "b": rss(a) - rss(a, b)}
    type_i_a = rss() - rss(a)
    by_term = table.set_index("term")["sum_sq"]
    assert by_term["a"] == pytest.approx(type_ii["a"], rel=1e-6)
    assert by_term["b"] == pytest.approx(type_ii["b"], rel=1e-6)
    assert abs(type_i_a - type_ii["a"]) > 0.1 * type_ii["a"]  # the design tells the two types apart


def test_the_summary_does_not_depend_on_the_order_trials_finish_in():
    # Parallel trials (--jobs 2) finish in any order; a float mean depends on the order it sums in.
    rng = np.random.default_rng(0)
    rows = [dict(CONFIG, n1=n1, dropout=dropout, seed=seed, val_acc=rng.integers(280, 319) / 318,
                 test_acc=rng.integers(280, 321) / 320, epochs=20, train_time_s=1.0)
            for n1 in (16, 32, 64, 128) for dropout in (0.0, 0.1, 0.2) for seed in range(3)]
    in_order = grid_store.summarise(rows)
    for attempt in range(5):
        shuffled = grid_store.summarise([rows[i] for i in rng.permutation(len(rows))])
        assert in_order.equals(shuffled), f"shuffle {attempt}: the means or SDs moved"
        assert grid_store.ranked(in_order).equals(grid_store.ranked(shuffled))
