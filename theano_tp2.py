"""
Title: Exercise 1 — the Theano tutorial's logistic regression on PyTensor (Table 1)
Description: the tutorial's algebra exercise (1a), its logistic regression on random data
(1b, the sanity check: about 50% test error on random labels), and Table 1: the same model
on Caltech101 airplanes vs Motorbikes (grayscale 28x28 = 784 features, as in the tutorial)
with full-batch gradient descent, minibatch SGD, and minibatch SGD with one hidden layer of
100 sigmoid or ReLU units.

What changes from the report: every experiment is repeated (10 times by default) on a fresh
stratified 80/20 train/test split per repetition (the same split for the four models), with
seeds, and reported as mean (SD); the test set is never used for training choices; the
training time excludes compilation. Learning rates and epochs are set so that every model
converges (see `Settings` below and the README).

Theano -> PyTensor (PyTensor is the maintained continuation of Theano; the API is the same):
    import theano                    -> import pytensor
    import theano.tensor as T        -> import pytensor.tensor as T
    theano.shared(value)             -> pytensor.shared(value)
    theano.function(inputs, outputs, updates=...) -> pytensor.function(inputs, outputs, updates=...)
    T.grad(cost, wrt)                -> T.grad(cost, wrt)
    T.dmatrix / T.dvector            -> T.matrix / T.vector (dtype taken from config.floatX)
    T.nnet.sigmoid, T.nnet.relu      -> T.sigmoid, T.maximum(z, 0)
    theano.config.floatX             -> pytensor.config.floatX
The C backend (g++) compiles each function, as Theano's did.

Usage:
    python theano_tp2.py                 # full run, 10 repetitions -> results/
    python theano_tp2.py --quick         # a run of ~30 s with the same outputs
"""

import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as T
from threadpoolctl import threadpool_limits

from tp2.cli import (UserError, add_classes_option, add_data_dir_option, add_results_dir_option,
                     check_classes, make_parser, positive_int, run)
from tp2.data import DEFAULT_CLASSES, ensure_caltech, load_image_classes
from tp2.pytensor_setup import COMPILE_MODE, FLOATX  # float32, C backend, g++ flags (README, Performance notes)
from tp2.report.format import mean_sd
from tp2.results import results_dir, save_figure, write_csv, write_run_info
from tp2.settings import option_help
from tp2.splits import stratified_split
from tp2.stats import sample_sd

# The four experiments of Table 1, in the report's order. `batch_size=None` is full-batch
# gradient descent, whose "epochs" are single steps; `title` names the model in tables and figures.
EXPERIMENTS = {
    "batch": dict(title="Batch", hidden=None, batch_size=None, learning_rate=0.1, epochs=1000),
    "minibatch": dict(title="Minibatch", hidden=None, batch_size=32, learning_rate=0.01, epochs=50),
    "minibatch_hidden_sigmoid": dict(title="Minibatch + sigmoid hidden layer", hidden="sigmoid",
                                     batch_size=32, learning_rate=0.1, epochs=50),
    "minibatch_hidden_relu": dict(title="Minibatch + ReLU hidden layer", hidden="relu",
                                  batch_size=32, learning_rate=0.02, epochs=50),
}


@dataclass(frozen=True)
class Settings:
    """What a run of Exercise 1 does: FULL is this reproduction's protocol, QUICK the --quick run."""

    image_size: int = 28
    """Side of the grayscale images in pixels (28 x 28 = 784 features, as the tutorial)."""
    test_fraction: float = 0.2
    """Share of each class held out as the test split of a repetition."""
    l2_weight: float = 0.01
    """Weight of the tutorial's L2 term, 0.01 * (w ** 2).sum(), on every weight matrix."""
    hidden_units: int = 100
    """Units of the hidden layer of the two hidden-layer experiments."""
    blas_threads: int = 1
    """BLAS threads while training: the matrices are small (README, Performance notes)."""
    repetitions: int = 10
    """Repetitions with different seeds, each on its own split."""
    random_check: dict = field(default_factory=lambda: dict(
        n_train=400, n_test=400, features=784, steps=10_000, learning_rate=0.1))
    """The tutorial's random-data example (1b): n_train + n_test random samples of `features`
    features, `steps` full-batch gradient steps at `learning_rate`."""
    experiments: dict = field(default_factory=lambda: dict(EXPERIMENTS))
    """Table 1's experiments: {name: title, hidden, batch_size, learning_rate, epochs}."""


def with_epochs(experiments, **epochs):
    """The same experiments with other epoch counts, e.g. with_epochs(experiments, batch=300)."""
    return {name: dict(spec, epochs=epochs.get(name, spec["epochs"])) for name, spec in experiments.items()}


FULL = Settings()
QUICK = replace(FULL, repetitions=2, random_check=dict(FULL.random_check, steps=2_000), experiments=with_epochs(
    FULL.experiments, batch=300, minibatch=10, minibatch_hidden_sigmoid=10, minibatch_hidden_relu=10))


def parse_args(argv=None):
    parser = make_parser(
        "Exercise 1 of TP2 on PyTensor (Theano's continuation): the tutorial's algebra exercise, "
        "its logistic regression on random data, and Table 1 (four models on Caltech101 "
        "airplanes vs Motorbikes, 28x28 grayscale), repeated on stratified splits.",
        epilog="Writes table1.csv, random_check.csv, figure_table1_curves.png and run_theano_tp2.json "
        "to the results folder; make_report.py turns them into Markdown.",
    )
    add_data_dir_option(parser)
    add_results_dir_option(parser)
    add_classes_option(parser, DEFAULT_CLASSES)
    parser.add_argument("--repetitions", type=positive_int, default=None,
                        help=option_help(Settings, "repetitions", FULL, QUICK))
    parser.add_argument("--seed", type=int, default=0, help="base seed; repetition r uses seed+r (default: 0)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and epochs (about 30 s)")
    return parser.parse_args(argv)


def settings_from(args):
    """QUICK with --quick, else FULL; --repetitions, when given, replaces their repetitions."""
    settings = QUICK if args.quick else FULL
    return settings if args.repetitions is None else replace(settings, repetitions=args.repetitions)


# --- 1a: the algebra exercise ----------------------------------------------------------


def compile_algebra():
    """The tutorial's exercise: f(a, b) = a**2 + b**2 + 2*a*b for two vectors."""
    a, b = T.vector("a"), T.vector("b")
    out = a**2 + b**2 + 2 * a * b
    return pytensor.function([a, b], out, mode=COMPILE_MODE)


# --- The models: logistic regression, optionally with one hidden layer ------------------


def initial_parameters(settings, n_features, hidden, rng):
    """Zero weights for logistic regression (as the Theano deep learning tutorial); Glorot
    uniform for a hidden layer (4x wider for sigmoid, as the tutorial's MLP)."""
    if hidden is None:
        return {"w": np.zeros(n_features, FLOATX), "b": np.zeros((), FLOATX)}
    units = settings.hidden_units
    bound = np.sqrt(6.0 / (n_features + units)) * (4.0 if hidden == "sigmoid" else 1.0)
    return {"w1": rng.uniform(-bound, bound, (n_features, units)).astype(FLOATX),
            "b1": np.zeros(units, FLOATX), "w": np.zeros(units, FLOATX), "b": np.zeros((), FLOATX)}


def squared_norm(weights):
    """The tutorial's (weights ** 2).sum() as a dot product: one BLAS call (README, Performance notes)."""
    flat = weights.ravel()
    return T.dot(flat, flat)


def build_model(settings, n_features, hidden, learning_rate):
    """Compile train_step(x, y) -> cost (one gradient step on the shared parameters) and
    predict(x) -> 0/1 labels. Returns (params dict of shared variables, train_step, predict)."""
    placeholder = initial_parameters(settings, n_features, hidden, np.random.default_rng(0))
    params = {name: pytensor.shared(value, name=name) for name, value in placeholder.items()}
    x, y = T.matrix("x"), T.vector("y")
    features = x
    if hidden is not None:
        z1 = T.dot(x, params["w1"]) + params["b1"]
        features = T.sigmoid(z1) if hidden == "sigmoid" else T.maximum(z1, 0)
    z = T.dot(features, params["w"]) + params["b"]  # logit
    p_1 = T.sigmoid(z)  # probability of class 1
    prediction = p_1 > 0.5
    # The tutorial's -y log(p_1) - (1 - y) log(1 - p_1) with the logit: one softplus (README, Performance notes).
    xent = T.softplus(z) - y * z
    l2 = sum(squared_norm(params[name]) for name in ("w", "w1") if name in params)
    cost = xent.mean() + settings.l2_weight * l2
    shared = list(params.values())
    grads = T.grad(cost, shared)
    rate = np.asarray(learning_rate, dtype=FLOATX)
    updates = [(p, p - rate * g) for p, g in zip(shared, grads)]
    train_step = pytensor.function(inputs=[x, y], outputs=cost, updates=updates, mode=COMPILE_MODE)
    predict = pytensor.function(inputs=[x], outputs=prediction, mode=COMPILE_MODE)
    train_step.trust_input = True  # inputs are always float32 arrays built here: skip the checks
    # One call of each now, so that no lazy set-up counts as training time (callers set the parameters).
    warm_x = np.zeros((2, n_features), FLOATX)
    train_step(warm_x, np.zeros(2, FLOATX))
    predict(warm_x)
    return params, train_step, predict


def set_parameters(params, values):
    for name, value in values.items():
        params[name].set_value(np.array(value, dtype=FLOATX, copy=True))


# --- Training --------------------------------------------------------------------------------


def minibatch_orders(n_samples, epochs, rng):
    """The sample order of every epoch (a fresh shuffle per epoch), drawn before timing."""
    return [rng.permutation(n_samples) for _ in range(epochs)]


def train(train_step, x, y, batch_size, orders):
    """Run the training loop; returns (per-epoch mean training cost, wall time in s).

    Full batch (batch_size None): one gradient step per epoch on all samples.
    Minibatch: every epoch visits the samples in `orders[epoch]`, batch_size at a time.
    """
    losses = np.empty(len(orders))
    start = time.perf_counter()
    if batch_size is None:
        for epoch in range(len(orders)):
            losses[epoch] = train_step(x, y)
    else:
        n = len(y)
        for epoch, order in enumerate(orders):
            xs, ys = x[order], y[order]
            total = 0.0
            for first in range(0, n, batch_size):
                last = min(first + batch_size, n)
                total += float(train_step(xs[first:last], ys[first:last])) * (last - first)
            losses[epoch] = total / n
    return losses, time.perf_counter() - start


def accuracy(predict, x, y):
    return float(np.mean(predict(x) == y))


# --- 1b: the tutorial's logistic regression on random data -------------------------------


def random_check(settings, seed):
    """Train the tutorial's model on random data; random labels leave ~50% test error."""
    check = settings.random_check
    n_train, features = check["n_train"], check["features"]
    params, train_step, predict = build_model(settings, features, None, check["learning_rate"])
    rows = []
    for rep in range(settings.repetitions):
        rng = np.random.default_rng([seed, rep, 1])
        n = n_train + check["n_test"]
        x = rng.standard_normal((n, features)).astype(FLOATX)
        y = rng.integers(0, 2, n).astype(FLOATX)
        train_x, test_x = x[:n_train], x[n_train:]
        train_y, test_y = y[:n_train], y[n_train:]
        # The tutorial starts from w ~ N(0, 1), b = 0.
        set_parameters(params, {"w": rng.standard_normal(features), "b": 0.0})
        train(train_step, train_x, train_y, None, [None] * check["steps"])
        rows.append({"train_error": 1 - accuracy(predict, train_x, train_y),
                     "test_error": 1 - accuracy(predict, test_x, test_y)})
    return rows


def random_check_frame(settings, rows):
    """random_check.csv: one row, the errors' mean and SD over the repetitions."""
    row = {"check": "random_labels", **settings.random_check}
    for key in ("train_error", "test_error"):
        values = [r[key] for r in rows]
        row[f"{key}_mean"], row[f"{key}_sd"] = float(np.mean(values)), sample_sd(values)
    return pd.DataFrame([dict(row, repetitions=len(rows))])


# --- Table 1, data: Caltech101 airplanes vs Motorbikes -------------------------------------


def load_dataset(settings, data_dir, classes):
    """Images as float vectors in [0, 1] (n, 784) and labels 0/1 (index of the class)."""
    root = ensure_caltech(data_dir, tuple(classes))
    images, labels, _ = load_image_classes(root, tuple(classes), size=settings.image_size, mode="L")
    if min(np.bincount(labels, minlength=2)) < 2:
        raise UserError(f"each class needs at least 2 readable images for a train/test split in {root}")
    x = images.reshape(len(images), -1).astype(FLOATX) / np.asarray(255, FLOATX)
    return x, labels.astype(FLOATX)


def split_for_repetition(settings, x, y, seed):
    """The stratified train/test split of `seed`, standardised per pixel with the training split's
    mean and SD; returns (train_x, train_y, test_x, test_y)."""
    fractions = (1 - settings.test_fraction, settings.test_fraction)
    train_idx, test_idx = stratified_split(y.astype(int), fractions, seed)
    mean = x[train_idx].mean(axis=0)
    sd = x[train_idx].std(axis=0) + np.asarray(1e-3, FLOATX)
    return (x[train_idx] - mean) / sd, y[train_idx], (x[test_idx] - mean) / sd, y[test_idx]


# --- Table 1, training: every experiment on every repetition's split ------------------------


def run_table1(settings, x, y, seed):
    """Every experiment on every repetition's split; returns (results, loss curves)."""
    models = {name: build_model(settings, x.shape[1], spec["hidden"], spec["learning_rate"])  # compiled once
              for name, spec in settings.experiments.items()}
    results = {name: [] for name in settings.experiments}
    curves = {name: [] for name in settings.experiments}
    with threadpool_limits(limits=settings.blas_threads, user_api="blas"):
        for rep in range(settings.repetitions):
            run_repetition(settings, x, y, models, rep, seed, results, curves)
    return results, curves


def run_repetition(settings, x, y, models, rep, seed, results, curves):
    """The four experiments on one repetition's split; appends to `results` and `curves`."""
    train_x, train_y, test_x, test_y = split_for_repetition(settings, x, y, seed + rep)
    for name, spec in settings.experiments.items():
        params, train_step, predict = models[name]
        rng = np.random.default_rng([seed, rep, 2])
        set_parameters(params, initial_parameters(settings, x.shape[1], spec["hidden"], rng))
        if spec["batch_size"] is None:
            orders = [None] * spec["epochs"]
        else:
            orders = minibatch_orders(len(train_y), spec["epochs"], rng)
        losses, seconds = train(train_step, train_x, train_y, spec["batch_size"], orders)
        result = {"train_acc": accuracy(predict, train_x, train_y),
                  "test_acc": accuracy(predict, test_x, test_y), "time_s": seconds}
        results[name].append(result)
        curves[name].append(losses)
        print(f"  repetition {rep + 1}/{settings.repetitions} {name:<25} train {result['train_acc']:.4f} "
              f"test {result['test_acc']:.4f} time {seconds:.2f} s", flush=True)


# --- Table 1, numbers: table1.csv -----------------------------------------------------------


def table1_frame(results):
    """table1.csv: per experiment, the mean and SD of train and test accuracy and training time."""
    rows = []
    for name, reps in results.items():
        row = {"experiment": name}
        for key in ("train_acc", "test_acc", "time_s"):
            values = [r[key] for r in reps]
            row[f"{key}_mean"], row[f"{key}_sd"] = float(np.mean(values)), sample_sd(values)
        row["repetitions"] = len(reps)
        rows.append(row)
    return pd.DataFrame(rows)


# --- Table 1, figure: the training loss curves ----------------------------------------------


def curves_figure(settings, curves):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(curves), figsize=(4 * len(curves), 3.4))
    for axis, (name, runs) in zip(axes, curves.items()):
        runs = np.array(runs)
        steps = np.arange(1, runs.shape[1] + 1)
        mean, sd = runs.mean(axis=0), runs.std(axis=0)
        axis.plot(steps, mean, color="C0")
        axis.fill_between(steps, mean - sd, mean + sd, color="C0", alpha=0.25, linewidth=0)
        spec = settings.experiments[name]
        axis.set_title(spec["title"], fontsize=10)
        axis.set_xlabel("gradient step (full batch)" if spec["batch_size"] is None else "epoch")
        axis.set_yscale("log")
        axis.grid(True, alpha=0.3)
    axes[0].set_ylabel("training loss (cross-entropy + L2)")
    figure.suptitle(f"Training loss, mean ± SD over {len(runs)} repetitions", fontsize=11)
    figure.tight_layout()
    return figure


# --- Main ----------------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(argv)
    settings = settings_from(args)
    classes = check_classes(args.classes)
    started = time.perf_counter()
    results = results_dir(args.results_dir)
    x, y = load_dataset(settings, args.data_dir, classes)
    print(f"data: {len(y)} images ({', '.join(f'{int((y == i).sum())} {c}' for i, c in enumerate(classes))})")

    algebra = compile_algebra()
    sample_a, sample_b = np.array([1, 2, 3], FLOATX), np.array([4, 5, 6], FLOATX)
    print(f"1a: a**2 + b**2 + 2*a*b for a={sample_a.tolist()}, b={sample_b.tolist()}: "
          f"{algebra(sample_a, sample_b).tolist()}")

    print(f"1b: logistic regression on random data, {settings.random_check['steps']} steps x "
          f"{settings.repetitions} repetitions")
    rows = random_check(settings, args.seed)
    write_csv(results / "random_check.csv", random_check_frame(settings, rows))

    print(f"Table 1: {len(settings.experiments)} experiments x {settings.repetitions} repetitions")
    table_results, curves = run_table1(settings, x, y, args.seed)
    write_csv(results / "table1.csv", table1_frame(table_results))
    save_figure(results / "figure_table1_curves.png", curves_figure(settings, curves))

    run_settings = dict(asdict(settings), classes=list(classes), seed=args.seed, quick=args.quick, floatX=FLOATX)
    wall = time.perf_counter() - started
    write_run_info(results, "theano_tp2", wall, run_settings)

    print(f"\nTable 1, test accuracy (%), mean ± SD over {settings.repetitions} repetitions:")
    for name, reps in table_results.items():
        print(f"  {name:<25} {mean_sd([r['test_acc'] for r in reps], 100, 2)}")
    print(f"1b, random labels: test error {mean_sd([r['test_error'] for r in rows], 100, 1)} % "
          "(expected about 50 %)")
    print(f"wrote table1.csv, random_check.csv, figure_table1_curves.png, run_theano_tp2.json "
          f"to {results}/ in {wall:.1f} s")


if __name__ == "__main__":
    run(main)
