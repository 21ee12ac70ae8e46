"""The arithmetic floor of a full run: can `make all` fit in its 90-minute budget on this machine?

Every Keras training of a full run (Table 2's runs and both grids, both protocols) is a stack of
dense layers, and each training step multiplies at least these matrices per layer: the forward
product x·W, the weight gradient xᵀ·δ and, past the first layer, the input gradient δ·Wᵀ. The
validation and test passes do the forward products. This benchmark counts those products for
the run the results folder holds (each run's training images and epochs, each trial's epochs),
times every distinct product shape with NumPy on this machine (float32, best of 5) and adds
them up. That is how long the Keras parts would take if they were nothing but NumPy's own
matrix products at their own sizes: no data handling, activations, dropout, optimizer,
compilation or Python. Partial last batches count pro rata, so it is a floor.

Unlike the GEMM bound of `mnist_gemm_bound.py` (one large square product's rate), it uses the
rate NumPy reaches at the products' own, small sizes: what any framework's kernels compete with.
The ratio is the floor over the 90-minute budget. Exercise 1 and the SOM are left out (a few
minutes; Exercise 1 trains at or below NumPy's time, `theano_vs_numpy.py`).
"""

import os
from collections import Counter

import numpy as np

from benchmarks.mnist_gemm_bound import best_seconds

BUDGET_S = 90 * 60
TRIALS = 5
KINDS = ("forward", "weight_gradient", "input_gradient")


def dense_products(widths, batch, samples, train=True):
    """Counter {(batch, inputs, outputs, kind): how many} for `samples` images through dense layers of
    `widths` (input first), in batches of `batch` (fractional: a partial batch counts pro rata)."""
    steps, products = samples / batch, Counter()
    for layer, (inputs, outputs) in enumerate(zip(widths, widths[1:])):
        products[(batch, inputs, outputs, "forward")] += steps
        if train:
            products[(batch, inputs, outputs, "weight_gradient")] += steps
            if layer > 0:  # no gradient is needed for the input images
                products[(batch, inputs, outputs, "input_gradient")] += steps
    return products


def mnist_products(runs, settings, sizes):
    """The products of Table 2's runs: `runs` is table2_runs.csv (one row per run and epoch),
    `sizes` the validation and test sets' image counts."""
    import keras_mnist

    products = Counter()
    for (experiment, _seed), run in runs.groupby(["experiment", "seed"]):
        layers = keras_mnist.EXPERIMENTS[experiment]["hidden_layers"]
        widths = [keras_mnist.INPUT_SIZE] + [settings.hidden_units] * layers + [keras_mnist.NUM_CLASSES]
        epochs, train_size = len(run), int(run["train_size"].iloc[0])
        products += dense_products(widths, settings.batch_size, epochs * train_size)
        products += dense_products(widths, settings.eval_batch_size, epochs * sizes["val"] + sizes["test"], train=False)
    return products


def grid_products(trials, settings, sizes):
    """The products of a grid's trials (`trials`: grid_search.csv), as run_trial trains and scores them."""
    inputs = settings.image_size**2 * 3
    products = Counter()
    for trial in trials.itertuples():
        widths = [inputs, trial.n1] + ([trial.n2] if trial.n2 else []) + [1]
        if settings.patience is None:  # 2016: fixed batches, then the held-out images once
            products += dense_products(widths, settings.batch_size,
                                       settings.max_epochs * settings.steps_per_epoch * settings.batch_size)
            products += dense_products(widths, sizes["test"], sizes["test"], train=False)
        else:  # every epoch a pass over the training split and the validation split in one batch
            products += dense_products(widths, settings.batch_size, trial.epochs * sizes["train"])
            products += dense_products(widths, sizes["val"], trial.epochs * sizes["val"], train=False)
            products += dense_products(widths, sizes["val"] + sizes["test"], sizes["val"] + sizes["test"], train=False)
    return products


def product_seconds(batch, inputs, outputs, kind, trials=TRIALS, seed=0):
    """NumPy's best time of one float32 product of this shape and kind."""
    rng = np.random.default_rng(seed)
    x, w = rng.random((batch, inputs), np.float32), rng.random((inputs, outputs), np.float32)
    delta = rng.random((batch, outputs), np.float32)
    product = {"forward": lambda: x @ w, "weight_gradient": lambda: x.T @ delta, "input_gradient": lambda: delta @ w.T}[kind]
    return best_seconds(product, trials)


def floor_seconds(products, seconds_of=product_seconds):
    """Σ count × NumPy's time, over the distinct products."""
    return sum(count * seconds_of(*shape) for shape, count in products.items())


def full_run_products(results, data_dir):
    """{part: products} for the full run in `results` (and results/2016), as its scripts ran it."""
    import keras_imageTools as kit
    import keras_mnist
    import pandas as pd
    from tp2 import data as tp2_data

    parts = {}
    classes = tp2_data.DEFAULT_CLASSES
    _, labels, _ = kit.read_images(tp2_data.ensure_caltech(data_dir, classes), classes, kit.FULL)
    for protocol, folder in (("revised", results), ("2016", results / "2016")):
        mnist = keras_mnist.PROTOCOLS[protocol][0]
        splits = tp2_data.load_mnist_splits(data_dir, 0, mnist)
        parts[f"MNIST {protocol}"] = mnist_products(pd.read_csv(folder / "table2_runs.csv"), mnist, {
            "val": len(splits["y_val"]), "test": len(splits["y_test"])})
        grid = kit.PROTOCOLS[protocol][0]
        sizes = {name: len(index) for name, index in kit.split_indices(labels, 0, grid).items()}
        parts[f"grid {protocol}"] = grid_products(pd.read_csv(folder / "grid_search.csv"), grid, sizes)
    return parts


def measure(data_dir, repeats=3, results="results"):
    from pathlib import Path

    from benchmarks import ratio_row

    parts = full_run_products(Path(results), data_dir)
    shapes = sorted(set().union(*parts.values()))
    ratios, minutes = [], []
    for _ in range(repeats):
        seconds = {shape: product_seconds(*shape) for shape in shapes}
        floors = {part: floor_seconds(products, lambda *shape: seconds[shape]) for part, products in parts.items()}
        ratios.append(sum(floors.values()) / BUDGET_S)
        minutes.append({part: floor / 60 for part, floor in floors.items()})
    middle = minutes[int(np.argsort(ratios)[len(ratios) // 2])]
    flops = sum(2.0 * b * i * o * count for products in parts.values() for (b, i, o, _), count in products.items())
    return [ratio_row(
        "full_run_matmul_floor",
        "≤ 1.0",
        ratios,
        f"the matrix products of every Keras training in a full run ({flops / 1e15:.2f} PFLOP; "
        + ", ".join(f"{part} {value:.1f} min" for part, value in middle.items())
        + f"), each timed with NumPy float32 at its own shape ({len(shapes)} shapes), / {BUDGET_S // 60} min: "
        f"the budget is {1 / float(np.median(ratios)):.2f}× these products alone, for everything else a Keras "
        "training does (Exercise 1 and the SOM left out)",
    )]


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    for row in measure(os.environ.get("TP2_DATA_DIR"), repeats=int(sys.argv[1]) if len(sys.argv) > 1 else 1):
        print(row)
