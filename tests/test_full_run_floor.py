"""The full run's matrix-product floor: which products a training does, and how many."""

import json

import pandas as pd
import pytest

import bench
import keras_imageTools
import keras_mnist
from benchmarks import full_run_floor as floor


def flops(products):
    return sum(2.0 * batch * inputs * outputs * count for (batch, inputs, outputs, _), count in products.items())


def test_a_training_step_does_the_six_flops_per_weight_and_sample_but_the_input_gradient():
    widths, samples = [784, 512, 512, 10], 1000
    products = floor.dense_products(widths, 128, samples)
    weights = [i * o for i, o in zip(widths, widths[1:])]
    assert flops(products) == pytest.approx(6.0 * sum(weights) * samples - 2.0 * weights[0] * samples)
    assert products[(128, 784, 512, "forward")] == pytest.approx(samples / 128)
    assert (128, 784, 512, "input_gradient") not in products  # no gradient for the images
    assert products[(128, 512, 10, "input_gradient")] == pytest.approx(samples / 128)
    scoring = floor.dense_products(widths, 1000, samples, train=False)
    assert flops(scoring) == pytest.approx(2.0 * sum(weights) * samples)
    assert {kind for *_, kind in scoring} == {"forward"}


def test_table2_runs_count_every_epoch_of_training_and_validation_and_one_test_pass():
    runs = pd.DataFrame({"experiment": ["original"] * 3 + ["ii_one_layer"] * 3, "seed": [0] * 6,
                         "train_size": [256] * 6, "epoch": [1, 2, 3] * 2})
    products = floor.mnist_products(runs, keras_mnist.FULL, {"val": 500, "test": 2000})
    assert products[(128, 784, 512, "forward")] == pytest.approx(2 * 3 * 256 / 128)  # both networks
    assert products[(128, 512, 512, "forward")] == pytest.approx(3 * 256 / 128)  # the two-layer one only
    assert products[(1000, 784, 512, "forward")] == pytest.approx(2 * (3 * 500 + 2000) / 1000)
    assert products[(1000, 784, 512, "weight_gradient")] == 0


def test_grid_trials_count_their_own_epochs_and_the_2016_trials_their_fixed_batches():
    trials = pd.DataFrame([dict(n1=16, n2=0, epochs=4), dict(n1=16, n2=32, epochs=2)])
    sizes = {"train": 100, "val": 20, "test": 40}
    revised = floor.grid_products(trials, keras_imageTools.FULL, sizes)
    assert revised[(32, 12288, 16, "forward")] == pytest.approx((4 + 2) * 100 / 32)
    assert revised[(32, 16, 32, "input_gradient")] == pytest.approx(2 * 100 / 32)
    assert revised[(20, 12288, 16, "forward")] == pytest.approx(4 + 2)  # validation, every epoch
    assert revised[(60, 12288, 16, "forward")] == pytest.approx(2)  # validation and test at the end
    old = floor.grid_products(trials, keras_imageTools.PROTOCOL_2016, {"train": 100, "test": 40})
    assert old[(64, 12288, 16, "weight_gradient")] == pytest.approx(2 * 15 * 20)  # epochs ignored: 15 x 20 batches
    assert old[(40, 12288, 16, "forward")] == pytest.approx(2)


def test_the_floor_adds_count_times_the_time_of_each_product():
    products = {(2, 3, 4, "forward"): 10, (2, 3, 4, "weight_gradient"): 0.5}
    assert floor.floor_seconds(products, lambda b, i, o, kind: 1.0 if kind == "forward" else 4.0) == 12.0
    assert 0 < floor.product_seconds(64, 256, 32, "weight_gradient", trials=2) < 1


def test_the_committed_full_run_trains_the_images_its_files_record(real_data_dir):
    parts = floor.full_run_products(bench.ROOT / "results", real_data_dir)
    assert set(parts) == {"MNIST revised", "grid revised", "MNIST 2016", "grid 2016"}
    for protocol, folder in (("revised", "results"), ("2016", "results/2016")):
        runs = pd.read_csv(bench.ROOT / folder / "table2_runs.csv")
        first_layer = sum(count * batch for (batch, inputs, _, kind), count in parts[f"MNIST {protocol}"].items()
                          if kind == "weight_gradient" and inputs == keras_mnist.INPUT_SIZE)
        assert first_layer == pytest.approx(runs["train_size"].sum())  # a row per run and epoch
    trials = pd.read_csv(bench.ROOT / "results/2016/grid_search.csv")
    trained = sum(count * batch for (batch, inputs, _, kind), count in parts["grid 2016"].items()
                  if kind == "weight_gradient" and inputs == 64 * 64 * 3)
    assert trained == pytest.approx(len(trials) * 15 * 20 * 64)


def test_the_floor_needs_full_runs_of_table2_and_the_grids(tmp_path):
    (tmp_path / "2016").mkdir()
    scripts = ("keras_mnist", "keras_imageTools")
    for folder in (tmp_path, tmp_path / "2016"):
        for script in scripts:
            (folder / f"run_{script}.json").write_text(json.dumps({"command": f"python {script}.py", "wall_time_s": 1.0}))
    assert bench.full_results(tmp_path, scripts)
    (tmp_path / "2016" / "run_keras_mnist.json").write_text(json.dumps({"command": "python keras_mnist.py --quick"}))
    assert not bench.full_results(tmp_path, scripts)
    (tmp_path / "2016" / "run_keras_mnist.json").unlink()
    assert not bench.full_results(tmp_path, scripts)
