"""Training time of the four Table-1 models on PyTensor vs the same math in plain NumPy.

For every experiment of `theano_tp2.FULL.experiments` the ratio is

    PyTensor training wall time / NumPy training wall time

on the same data and with the same work: the airplanes vs Motorbikes training split of
repetition 0 (seed 0, from `tp2.data.load_caltech_vectors` and
`tp2.splits.standardised_stratified_split`), the same
starting parameters and minibatch orders as `theano_tp2.run_table1` draws for that
repetition, the full-run number of epochs (steps for full batch), float32 throughout.
Both sides run through `tp2.pytensor_training.train`, so the loop, the shuffled copies and the
slicing are identical; only the step differs: PyTensor's compiled `train_step` (compiled
before timing) or a NumPy step doing the same forward pass, cross-entropy + 0.01 L2
cost, hand-written gradient and update. After each pair of runs the two sets of final
parameters are compared: a benchmark of different math would be meaningless, so a
difference beyond float32 rounding is an error. The two runs of a repeat are
interleaved (their order alternates between repeats) so that noise from other work on
the machine hits both.

Both sides run with one BLAS thread. The matrix products here are small (at most
1278 x 784 by a vector, or 32 x 784 by 784 x 100) and gain little from a second thread,
while on a 2-core machine shared with other work OpenBLAS's second thread made the same
300 full-batch steps take anywhere from 0.07 to 0.8 s, on either side, which drowned the
difference being measured; with one thread the runs repeat within a few percent.
"""

import os

import numpy as np

from benchmarks import ratio_row
from tp2 import pytensor_training

TARGET_RATIO = 1.0
SEED = 0  # run_table1's base seed: the split and the starting point of its repetition 0
REPETITION = 0
# Final parameters of the two sides agree to float32 rounding accumulated over the steps
# (about 1e-7 after the full-run epochs); a different gradient is off by far more.
RTOL = 1e-4
ATOL = 1e-5


# --- The NumPy side: forward and backward passes of the Table-1 models --------------------


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def hidden_forward(params, x, activation):
    """Hidden layer: (pre-activation z1, activation h)."""
    z1 = x @ params["w1"] + params["b1"]
    return z1, (sigmoid(z1) if activation == "sigmoid" else np.maximum(z1, 0))


def output_forward(params, features):
    """Output logit z and probability of class 1."""
    z = features @ params["w"] + params["b"]
    return z, sigmoid(z)


def cost(params, z, y, l2_weight):
    """Mean cross-entropy (as log(1 + e^z) - y z, the stable form of the tutorial's
    -y log p - (1 - y) log(1 - p)) plus l2_weight times the squared weights."""
    xent = np.logaddexp(0, z) - y * z
    l2 = sum((params[name] ** 2).sum() for name in ("w", "w1") if name in params)
    return xent.mean() + l2_weight * l2


def output_backward(params, features, p, y, l2_weight):
    """Gradients of w and b, and d cost / d z (the logit)."""
    dz = (p - y) / len(y)
    return {"w": features.T @ dz + 2 * l2_weight * params["w"], "b": dz.sum()}, dz


def hidden_backward(params, x, z1, h, dz, activation, l2_weight):
    """Gradients of w1 and b1, from d cost / d z and the output weights (before their step)."""
    dh = np.outer(dz, params["w"])
    dz1 = dh * (h * (1 - h) if activation == "sigmoid" else (z1 > 0))
    return {"w1": x.T @ dz1 + 2 * l2_weight * params["w1"], "b1": dz1.sum(axis=0)}


def numpy_step(params, x, y, activation, rate, l2_weight):
    """One gradient step on `params` (in place, all gradients from the old values); returns
    the cost before the step, as PyTensor's train_step does."""
    if activation is None:
        features = x
    else:
        z1, features = hidden_forward(params, x, activation)
    z, p = output_forward(params, features)
    grads, dz = output_backward(params, features, p, y, l2_weight)
    if activation is not None:
        grads.update(hidden_backward(params, x, z1, features, dz, activation, l2_weight))
    value = cost(params, z, y, l2_weight)
    for name, grad in grads.items():
        params[name] -= rate * grad
    return value


# --- The two timed runs ---------------------------------------------------------------------


def load_split(data_dir):
    """The training split of Table 1's repetition 0 (standardised float32 images, 0/1 labels)."""
    from theano_tp2 import FULL
    from tp2.data import load_caltech_vectors
    from tp2.splits import standardised_stratified_split

    x, y = load_caltech_vectors(FULL, data_dir)
    train_x, train_y, _, _ = standardised_stratified_split(FULL, x, y, SEED + REPETITION)
    return train_x, train_y


def starting_point(spec, n_features, n_samples, epochs):
    """Initial parameters and minibatch orders, drawn as run_table1 draws them."""
    import theano_tp2

    rng = np.random.default_rng([SEED, REPETITION, 2])
    initial = theano_tp2.initial_parameters(theano_tp2.FULL, n_features, spec["hidden"], rng)
    if spec["batch_size"] is None:
        return initial, [None] * epochs
    return initial, pytensor_training.minibatch_orders(n_samples, epochs, rng)


def run_pytensor(model, initial, x, y, spec, orders):
    """Train the compiled model from `initial`; returns (final parameters, seconds)."""
    params, train_step, _ = model
    pytensor_training.set_parameters(params, initial)
    _, seconds = pytensor_training.train(train_step, x, y, spec["batch_size"], orders)
    return {name: shared.get_value() for name, shared in params.items()}, seconds


def run_numpy(initial, x, y, spec, orders):
    """Train the NumPy model from `initial`; returns (final parameters, seconds)."""
    import theano_tp2
    from tp2.pytensor_setup import FLOATX

    params = {name: np.array(value, dtype=FLOATX) for name, value in initial.items()}
    rate = np.asarray(spec["learning_rate"], dtype=FLOATX)
    step = lambda bx, by: numpy_step(params, bx, by, spec["hidden"], rate, theano_tp2.FULL.l2_weight)  # noqa: E731
    with np.errstate(over="ignore"):  # exp(-z) overflows to inf for z < -88: sigmoid 0, as intended
        _, seconds = pytensor_training.train(step, x, y, spec["batch_size"], orders)
    return params, seconds


def max_difference(first, second):
    return max(float(np.max(np.abs(first[name] - second[name]))) for name in first)


def check_same_parameters(spec, pytensor_params, numpy_params):
    for key, value in pytensor_params.items():
        if not np.allclose(value, numpy_params[key], rtol=RTOL, atol=ATOL):
            raise AssertionError(
                f"{spec['name']}: PyTensor and NumPy disagree on {key} (max difference "
                f"{max_difference(pytensor_params, numpy_params):.3g}); they do not run the same math"
            )


def timed_pair(model, initial, x, y, spec, orders, numpy_first):
    """One PyTensor run and one NumPy run from the same start; returns
    ({side: seconds}, max parameter difference) after checking the parameters agree."""
    runs = {
        "pytensor": lambda: run_pytensor(model, initial, x, y, spec, orders),
        "numpy": lambda: run_numpy(initial, x, y, spec, orders),
    }
    final, seconds = {}, {}
    for side in (("numpy", "pytensor") if numpy_first else ("pytensor", "numpy")):
        final[side], seconds[side] = runs[side]()
    check_same_parameters(spec, final["pytensor"], final["numpy"])
    return seconds, max_difference(final["pytensor"], final["numpy"])


def measure_experiment(name, x, y, repeats, epochs=None):
    """The ratio row of one Table-1 experiment (`epochs` overrides its epoch count)."""
    import theano_tp2

    settings = theano_tp2.FULL
    spec = dict(settings.experiments[name], name=name)
    n_epochs = epochs or spec["epochs"]
    model = theano_tp2.build_model(settings, x.shape[1], spec["hidden"], spec["learning_rate"])  # compiled untimed
    initial, orders = starting_point(spec, x.shape[1], len(y), n_epochs)
    times, difference = {"pytensor": [], "numpy": []}, 0.0
    for attempt in range(repeats):
        seconds, pair_difference = timed_pair(model, initial, x, y, spec, orders, numpy_first=attempt % 2 == 1)
        for side, value in seconds.items():
            times[side].append(value)
        difference = max(difference, pair_difference)
    ratios = np.array(times["pytensor"]) / np.array(times["numpy"])
    steps = "full-batch steps" if spec["batch_size"] is None else f"epochs of minibatch {spec['batch_size']}"
    details = (
        f"training time of Table 1's {name} model ({n_epochs} {steps}, {len(y)} training images, float32, "
        f"{settings.blas_threads} BLAS thread; compilation excluded): PyTensor median "
        f"{np.median(times['pytensor']):.3g} s / the same math in plain NumPy median "
        f"{np.median(times['numpy']):.3g} s; final parameters agree to {difference:.1g}"
    )
    return ratio_row(f"pytensor_vs_numpy_{name}", f"≤ {TARGET_RATIO:g}", ratios, details)


def measure(data_dir, repeats=3, epochs=None):
    """One row per Table-1 experiment; `epochs` overrides every experiment's epoch count."""
    from threadpoolctl import threadpool_limits

    from theano_tp2 import FULL

    x, y = load_split(data_dir)
    with threadpool_limits(limits=FULL.blas_threads, user_api="blas"):
        return [measure_experiment(name, x, y, repeats, epochs) for name in FULL.experiments]


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    for row in measure(os.environ.get("TP2_DATA_DIR"), repeats=int(sys.argv[1]) if len(sys.argv) > 1 else 3):
        print(row)
