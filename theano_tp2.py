"""Exercise 1 of TP2: the Theano tutorial's algebra exercise and logistic regression, on PyTensor.

1a. The tutorial's exercise: two symbolic vectors `a` and `b`, compile `a**2 + b**2 + 2*a*b`
    and print it for a sample input.
1b. The tutorial's "A Real Example: Logistic Regression" (sigmoid output, cross-entropy plus
    0.01 * L2, gradient descent with learning rate 0.1, 10,000 full-batch steps on N=400 random
    samples of 784 features). On random labels the test error must be about 50%: this is the
    sanity check of the report, written to `random_check.md` / `.csv`.
Table 1. The same model on Caltech101 airplanes vs Motorbikes (grayscale 28x28 = 784 features,
    as in the tutorial) in four experiments: full-batch gradient descent, minibatch SGD, and
    minibatch SGD with one hidden layer of 100 sigmoid or ReLU units.

What changes from the report: every experiment is repeated (10 times by default) on a fresh
stratified 80/20 train/test split per repetition (the same split for the four models), with
seeds, and reported as mean (SD); the test set is never used for training choices; the
training time excludes compilation. Learning rates and epochs are set so that every model
converges (see the constants below and the README).

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

import logging
import sys
import time
import warnings

import numpy as np

# Without a system BLAS library PyTensor warns once and computes matrix products with
# NumPy's BLAS; the results are the same, so the warning is only noise in the run's log.
warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS installation")
logging.getLogger("pytensor.tensor.blas_headers").setLevel(logging.ERROR)

import pytensor  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402
import pytensor.tensor as T  # noqa: E402
from pytensor.compile.mode import Mode  # noqa: E402

from tp2.cli import (  # noqa: E402
    UserError,
    add_data_dir_option,
    add_results_dir_option,
    make_parser,
    positive_int,
    run,
)
from tp2.data import DEFAULT_CLASSES, ensure_caltech, load_image_classes  # noqa: E402
from tp2.results import (  # noqa: E402
    markdown_table,
    mean_sd,
    results_dir,
    save_figure,
    write_csv,
    write_run_info,
    write_text,
)
from tp2.splits import stratified_split  # noqa: E402

# float32: the images are 8-bit pixels, so float64 buys no accuracy, while float32 halves the
# memory traffic of every matrix product (Theano's own tutorials ran in float32 for the
# same reason). The NumPy benchmark runs the same math in float32.
FLOATX = "float32"
pytensor.config.floatX = FLOATX

# The C backend ("cvm": compiled C thunks driven by a C virtual machine). "_nogc" keeps the
# intermediate buffers between calls, which saves allocations on every training step.
# Without a BLAS library to link, PyTensor's BLAS rewrites (Gemv/Gemm) would run as Python
# calls into SciPy, which is slower than leaving the plain Dot (NumPy's BLAS) in place.
COMPILE_MODE = Mode(linker="cvm_nogc", optimizer="fast_run")
if not pytensor.config.blas__ldflags:
    COMPILE_MODE = COMPILE_MODE.excluding("BlasOpt")

# glibc's <math.h> declares its vectorised exp, log and log1p (libmvec) to g++ only when
# __FAST_MATH__ is defined. Defining that macro alone, without -ffast-math (which would also
# flush denormals to zero in the whole process and drop IEEE rules), lets g++ compute the
# fused elementwise loops (sigmoid, softplus) 8 or 16 values at a time, as NumPy's own
# float32 loops do: about 3x faster, with results within 3 float32 ulps (NumPy's SIMD exp is
# within 2.4). In the full-batch model these loops took a fifth of every step.
VECTOR_MATH_FLAG = "-D__FAST_MATH__"
if sys.platform.startswith("linux") and VECTOR_MATH_FLAG not in pytensor.config.gcc__cxxflags.split():
    pytensor.config.gcc__cxxflags = f"{pytensor.config.gcc__cxxflags} {VECTOR_MATH_FLAG}".strip()

IMAGE_SIZE = 28
TEST_FRACTION = 0.2
L2_WEIGHT = 0.01  # the tutorial's 0.01 * (w ** 2).sum(), on every weight matrix
HIDDEN_UNITS = 100
# The matrices here are small (at most 1278 x 784): a second BLAS thread buys little and,
# on a shared 2-core machine, made single trainings swing tenfold in time. One thread.
BLAS_THREADS = 1
DEFAULT_REPETITIONS = 10
QUICK_REPETITIONS = 2

# The tutorial's random-data example.
RANDOM_CHECK = dict(n_train=400, n_test=400, features=784, steps=10_000, learning_rate=0.1)
QUICK_RANDOM_STEPS = 2_000

# The four experiments of Table 1. `batch_size=None` is full-batch gradient descent, whose
# "epochs" are single steps. Inputs are standardised per pixel (training-split mean and SD).
EXPERIMENTS = {
    "batch": dict(hidden=None, batch_size=None, learning_rate=0.1, epochs=1000),
    "minibatch": dict(hidden=None, batch_size=32, learning_rate=0.01, epochs=50),
    "minibatch_hidden_sigmoid": dict(hidden="sigmoid", batch_size=32, learning_rate=0.1, epochs=50),
    "minibatch_hidden_relu": dict(hidden="relu", batch_size=32, learning_rate=0.02, epochs=50),
}
QUICK_EPOCHS = {"batch": 300, "minibatch": 10, "minibatch_hidden_sigmoid": 10, "minibatch_hidden_relu": 10}

REPORT_NAMES = {
    "batch": "Batch",
    "minibatch": "Minibatch",
    "minibatch_hidden_sigmoid": "Minibatch + sigmoid hidden layer",
    "minibatch_hidden_relu": "Minibatch + ReLU hidden layer",
}


def parse_args(argv=None):
    parser = make_parser(
        "Exercise 1 of TP2 on PyTensor (Theano's continuation): the tutorial's algebra exercise, "
        "its logistic regression on random data, and Table 1 (four models on Caltech101 "
        "airplanes vs Motorbikes, 28x28 grayscale), repeated on stratified splits.",
        epilog="Writes table1.{csv,md}, random_check.{csv,md}, figure_table1_curves.png and "
        "run_theano_tp2.json to the results folder.",
    )
    add_data_dir_option(parser)
    add_results_dir_option(parser)
    parser.add_argument(
        "--classes",
        nargs=2,
        metavar=("A", "B"),
        default=list(DEFAULT_CLASSES),
        help="the two Caltech101 classes (default: airplanes Motorbikes)",
    )
    parser.add_argument(
        "--repetitions",
        type=positive_int,
        default=None,
        help=f"repetitions with different seeds (default: {DEFAULT_REPETITIONS}, --quick: {QUICK_REPETITIONS})",
    )
    parser.add_argument("--seed", type=int, default=0, help="base seed; repetition r uses seed+r (default: 0)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and epochs (about 30 s)")
    args = parser.parse_args(argv)
    if args.classes[0] == args.classes[1]:
        raise UserError(f"--classes needs two different classes, got {args.classes[0]} twice")
    if args.repetitions is None:
        args.repetitions = QUICK_REPETITIONS if args.quick else DEFAULT_REPETITIONS
    return args


# --- 1a: the algebra exercise ----------------------------------------------------------


def compile_algebra():
    """The tutorial's exercise: f(a, b) = a**2 + b**2 + 2*a*b for two vectors."""
    a = T.vector("a")
    b = T.vector("b")
    out = a**2 + b**2 + 2 * a * b
    return pytensor.function([a, b], out, mode=COMPILE_MODE)


# --- The models: logistic regression, optionally with one hidden layer ------------------


def initial_parameters(n_features, hidden, rng):
    """Zero weights for logistic regression (as the Theano deep learning tutorial); Glorot
    uniform for a hidden layer (4x wider for sigmoid, as the tutorial's MLP)."""
    if hidden is None:
        return {"w": np.zeros(n_features, FLOATX), "b": np.zeros((), FLOATX)}
    bound = np.sqrt(6.0 / (n_features + HIDDEN_UNITS)) * (4.0 if hidden == "sigmoid" else 1.0)
    return {
        "w1": rng.uniform(-bound, bound, (n_features, HIDDEN_UNITS)).astype(FLOATX),
        "b1": np.zeros(HIDDEN_UNITS, FLOATX),
        "w": np.zeros(HIDDEN_UNITS, FLOATX),
        "b": np.zeros((), FLOATX),
    }


def squared_norm(weights):
    """The tutorial's (weights ** 2).sum(), computed as the dot product of the flattened
    weights with themselves: the same number, but a vectorised BLAS call instead of
    PyTensor's scalar C loop, which took a third of every minibatch step of the hidden-layer
    models (about 65 vs 7 microseconds for the 784 x 100 weights)."""
    flat = weights.ravel()
    return T.dot(flat, flat)


def build_model(n_features, hidden, learning_rate):
    """Compile train_step(x, y) -> cost (one gradient step on the shared parameters) and
    predict(x) -> 0/1 labels. Returns (params dict of shared variables, train_step, predict)."""
    placeholder = initial_parameters(n_features, hidden, np.random.default_rng(0))
    params = {name: pytensor.shared(value, name=name) for name, value in placeholder.items()}
    x = T.matrix("x")
    y = T.vector("y")
    features = x
    if hidden is not None:
        z1 = T.dot(x, params["w1"]) + params["b1"]
        features = T.sigmoid(z1) if hidden == "sigmoid" else T.maximum(z1, 0)
    z = T.dot(features, params["w"]) + params["b"]  # logit
    p_1 = T.sigmoid(z)  # probability of class 1
    prediction = p_1 > 0.5
    # The tutorial's cross-entropy -y log(p_1) - (1 - y) log(1 - p_1), written with the logit:
    # log(1 + e^z) - y z. PyTensor rewrites the tutorial's form into two softplus terms plus
    # the sigmoid of the gradient; this form needs one softplus, and its gradient is
    # (p_1 - y) / n, as the tutorial's.
    xent = T.softplus(z) - y * z
    l2 = sum(squared_norm(params[name]) for name in ("w", "w1") if name in params)
    cost = xent.mean() + L2_WEIGHT * l2
    shared = list(params.values())
    grads = T.grad(cost, shared)
    rate = np.asarray(learning_rate, dtype=FLOATX)
    train_step = pytensor.function(
        inputs=[x, y],
        outputs=cost,
        updates=[(p, p - rate * g) for p, g in zip(shared, grads)],
        mode=COMPILE_MODE,
    )
    predict = pytensor.function(inputs=[x], outputs=prediction, mode=COMPILE_MODE)
    # Inputs are always float32 arrays built here: skip PyTensor's per-call input checks.
    train_step.trust_input = True
    # One call of each now, so that no lazy set-up is counted as training time later
    # (the caller sets the parameters before training).
    warm_x = np.zeros((2, n_features), FLOATX)
    train_step(warm_x, np.zeros(2, FLOATX))
    predict(warm_x)
    return params, train_step, predict


def set_parameters(params, values):
    for name, value in values.items():
        params[name].set_value(np.array(value, dtype=FLOATX, copy=True))


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


def random_check(repetitions, steps, seed):
    """Train the tutorial's model on random data; random labels leave ~50% test error."""
    settings = RANDOM_CHECK
    params, train_step, predict = build_model(settings["features"], None, settings["learning_rate"])
    rows = []
    for rep in range(repetitions):
        rng = np.random.default_rng([seed, rep, 1])
        n = settings["n_train"] + settings["n_test"]
        x = rng.standard_normal((n, settings["features"])).astype(FLOATX)
        y = rng.integers(0, 2, n).astype(FLOATX)
        train_x, test_x = x[: settings["n_train"]], x[settings["n_train"] :]
        train_y, test_y = y[: settings["n_train"]], y[settings["n_train"] :]
        # The tutorial starts from w ~ N(0, 1), b = 0.
        set_parameters(params, {"w": rng.standard_normal(settings["features"]), "b": 0.0})
        train(train_step, train_x, train_y, None, [None] * steps)
        rows.append(
            {
                "train_error": 1 - accuracy(predict, train_x, train_y),
                "test_error": 1 - accuracy(predict, test_x, test_y),
            }
        )
    return rows


def random_check_tables(rows, steps):
    import pandas as pd

    train_error = [r["train_error"] for r in rows]
    test_error = [r["test_error"] for r in rows]
    sd = lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0  # noqa: E731
    frame = pd.DataFrame(
        [
            {
                "check": "random_labels",
                "n_train": RANDOM_CHECK["n_train"],
                "n_test": RANDOM_CHECK["n_test"],
                "features": RANDOM_CHECK["features"],
                "steps": steps,
                "learning_rate": RANDOM_CHECK["learning_rate"],
                "train_error_mean": float(np.mean(train_error)),
                "train_error_sd": sd(train_error),
                "test_error_mean": float(np.mean(test_error)),
                "test_error_sd": sd(test_error),
                "repetitions": len(rows),
            }
        ]
    )
    shown = pd.DataFrame(
        [
            {
                "Data": f"random N({RANDOM_CHECK['n_train']}+{RANDOM_CHECK['n_test']}) x {RANDOM_CHECK['features']}, random labels",
                "Steps": str(steps),
                "Train error (%)": mean_sd(train_error, 100, 2, "report"),
                "Test error (%)": mean_sd(test_error, 100, 2, "report"),
                "Repetitions": str(len(rows)),
            }
        ]
    )
    text = (
        "# Random-data check (Exercise 1b)\n\n"
        "The tutorial's logistic regression (cross-entropy + 0.01 L2, learning rate "
        f"{RANDOM_CHECK['learning_rate']}, full-batch gradient descent) trained on random features "
        "with random labels, then scored on fresh random samples. A test error near 50% is the "
        "expected result: there is nothing to learn, the training error only shows memorisation.\n\n"
        + markdown_table(shown)
    )
    return frame, text


# --- Table 1: Caltech101 airplanes vs Motorbikes -------------------------------------------


def load_dataset(data_dir, classes):
    """Images as float vectors in [0, 1] (n, 784) and labels 0/1 (index of the class)."""
    root = ensure_caltech(data_dir, tuple(classes))
    images, labels, _ = load_image_classes(root, tuple(classes), size=IMAGE_SIZE, mode="L")
    if min(np.bincount(labels, minlength=2)) < 2:
        raise UserError(f"each class needs at least 2 readable images for a train/test split in {root}")
    x = images.reshape(len(images), -1).astype(FLOATX) / np.asarray(255, FLOATX)
    return x, labels.astype(FLOATX)


def standardise(train_x, test_x):
    """Per-pixel standardisation with the training split's mean and SD."""
    mean = train_x.mean(axis=0)
    sd = train_x.std(axis=0) + np.asarray(1e-3, FLOATX)
    return (train_x - mean) / sd, (test_x - mean) / sd


def split_for_repetition(x, y, seed):
    train_idx, test_idx = stratified_split(y.astype(int), (1 - TEST_FRACTION, TEST_FRACTION), seed)
    train_x, test_x = standardise(x[train_idx], x[test_idx])
    return train_x, y[train_idx], test_x, y[test_idx]


def run_table1(x, y, repetitions, seed, epochs_of):
    """Every experiment on every repetition's split; returns (results, loss curves)."""
    models = {}
    for name, spec in EXPERIMENTS.items():
        models[name] = build_model(x.shape[1], spec["hidden"], spec["learning_rate"])  # compiled once
    results = {name: [] for name in EXPERIMENTS}
    curves = {name: [] for name in EXPERIMENTS}
    with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
        for rep in range(repetitions):
            run_repetition(x, y, models, rep, repetitions, seed, epochs_of, results, curves)
    return results, curves


def run_repetition(x, y, models, rep, repetitions, seed, epochs_of, results, curves):
    """The four experiments on one repetition's split; appends to `results` and `curves`."""
    train_x, train_y, test_x, test_y = split_for_repetition(x, y, seed + rep)
    for name, spec in EXPERIMENTS.items():
        params, train_step, predict = models[name]
        rng = np.random.default_rng([seed, rep, 2])
        set_parameters(params, initial_parameters(x.shape[1], spec["hidden"], rng))
        epochs = epochs_of[name]
        if spec["batch_size"] is None:
            orders = [None] * epochs
        else:
            orders = minibatch_orders(len(train_y), epochs, rng)
        losses, seconds = train(train_step, train_x, train_y, spec["batch_size"], orders)
        result = {
            "train_acc": accuracy(predict, train_x, train_y),
            "test_acc": accuracy(predict, test_x, test_y),
            "time_s": seconds,
        }
        results[name].append(result)
        curves[name].append(losses)
        print(
            f"  repetition {rep + 1}/{repetitions} {name:<25} train {result['train_acc']:.4f} "
            f"test {result['test_acc']:.4f} time {seconds:.2f} s",
            flush=True,
        )


def table1_tables(results, epochs_of):
    import pandas as pd

    rows, shown = [], []
    for name, reps in results.items():
        values = {key: np.array([r[key] for r in reps]) for key in ("train_acc", "test_acc", "time_s")}
        row = {"experiment": name}
        for key, v in values.items():
            row[f"{key}_mean"] = float(v.mean())
            row[f"{key}_sd"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
        row["repetitions"] = len(reps)
        rows.append(row)
        shown.append(
            {
                "Experiment": REPORT_NAMES[name],
                "Train accuracy (%)": mean_sd(values["train_acc"], 100, 2, "report"),
                "Test accuracy (%)": mean_sd(values["test_acc"], 100, 2, "report"),
                "Time [s]": mean_sd(values["time_s"], 1, 2, "report"),
            }
        )
    frame = pd.DataFrame(rows)
    settings = "\n".join(
        f"- {REPORT_NAMES[name]}: "
        + ("full batch" if spec["batch_size"] is None else f"minibatch {spec['batch_size']}")
        + (f", hidden layer {HIDDEN_UNITS} {spec['hidden']}" if spec["hidden"] else "")
        + f", learning rate {spec['learning_rate']}, "
        + (f"{epochs_of[name]} steps" if spec["batch_size"] is None else f"{epochs_of[name]} epochs")
        for name, spec in EXPERIMENTS.items()
    )
    repetitions = frame["repetitions"].iloc[0]
    text = (
        "# Table 1: airplanes vs Motorbikes with the modified logistic regression example\n\n"
        f"Mean (SD) over {repetitions} repetitions, each on its own stratified "
        f"{100 - TEST_FRACTION * 100:.0f}/{TEST_FRACTION * 100:.0f} train/test split (the same split "
        "for the four models). Train accuracy is on the whole training split; time is the "
        "training wall time, compilation excluded.\n\n"
        + markdown_table(pd.DataFrame(shown))
        + "\nSettings (cross-entropy + 0.01 L2, inputs standardised per pixel):\n\n"
        + settings
        + "\n"
    )
    return frame, text


def curves_figure(curves, epochs_of):
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
        axis.set_title(REPORT_NAMES[name], fontsize=10)
        full_batch = EXPERIMENTS[name]["batch_size"] is None
        axis.set_xlabel("gradient step (full batch)" if full_batch else "epoch")
        axis.set_yscale("log")
        axis.grid(True, alpha=0.3)
    axes[0].set_ylabel("training loss (cross-entropy + L2)")
    figure.suptitle(f"Training loss, mean ± SD over {len(runs)} repetitions", fontsize=11)
    figure.tight_layout()
    return figure


# --- Main ----------------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    results = results_dir(args.results_dir)
    x, y = load_dataset(args.data_dir, args.classes)
    print(f"data: {len(y)} images ({', '.join(f'{int((y == i).sum())} {c}' for i, c in enumerate(args.classes))})")

    algebra = compile_algebra()
    sample_a, sample_b = np.array([1, 2, 3], FLOATX), np.array([4, 5, 6], FLOATX)
    print(f"1a: a**2 + b**2 + 2*a*b for a={sample_a.tolist()}, b={sample_b.tolist()}: "
          f"{algebra(sample_a, sample_b).tolist()}")

    steps = QUICK_RANDOM_STEPS if args.quick else RANDOM_CHECK["steps"]
    print(f"1b: logistic regression on random data, {steps} steps x {args.repetitions} repetitions")
    rows = random_check(args.repetitions, steps, args.seed)
    frame, text = random_check_tables(rows, steps)
    write_csv(results / "random_check.csv", frame)
    write_text(results / "random_check.md", text)
    print(f"    test error {mean_sd([r['test_error'] for r in rows], 100, 1)} % (expected about 50 %)")

    epochs_of = {name: (QUICK_EPOCHS[name] if args.quick else spec["epochs"]) for name, spec in EXPERIMENTS.items()}
    print(f"Table 1: {len(EXPERIMENTS)} experiments x {args.repetitions} repetitions")
    table_results, curves = run_table1(x, y, args.repetitions, args.seed, epochs_of)
    frame, text = table1_tables(table_results, epochs_of)
    write_csv(results / "table1.csv", frame)
    write_text(results / "table1.md", text)
    save_figure(results / "figure_table1_curves.png", curves_figure(curves, epochs_of))
    print(text)

    settings = {
        "classes": list(args.classes),
        "repetitions": args.repetitions,
        "seed": args.seed,
        "quick": args.quick,
        "floatX": FLOATX,
        "random_check_steps": steps,
        "experiments": {name: dict(spec, epochs=epochs_of[name]) for name, spec in EXPERIMENTS.items()},
    }
    wall = time.perf_counter() - started
    write_run_info(results, "theano_tp2", wall, settings)
    print(f"done in {wall:.1f} s; results in {results}/")


if __name__ == "__main__":
    run(main)
