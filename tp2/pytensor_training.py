"""The training loops of `theano_tp2.py`: compiled PyTensor steps driven over the data.

A model of Exercise 1 is a pair of compiled functions, `train_step(x, y)` (one gradient
step on its shared parameters) and `predict(x)` (0/1 labels), as in the Theano tutorial.
`train` runs the tutorial's loops (full batch, or shuffled minibatches every epoch);
`train_until_stable` runs the author's 2016 loop (minibatches drawn with replacement until
the cross-entropy stops changing). Both time training only: sample orders are drawn first.
`train_repetitions` trains Table 1: every experiment on every repetition's split, from the
starting weights the script's `initial_parameters` draws (the script passes it in).
"""

import time

import numpy as np
from threadpoolctl import threadpool_limits

from tp2.splits import shuffled_split, standardised_stratified_split


def set_parameters(params, values):
    """Copy `values` ({name: array}) into the shared variables `params`, in their dtype."""
    for name, value in values.items():
        params[name].set_value(np.array(value, dtype=params[name].dtype, copy=True))


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


def train_until_stable(train_step, x, y, spec, rng):
    """logRegression.py's minibatch loop: every step draws `batch_size` samples with replacement
    (RandomState `rng`); stop when the mean cross-entropy of a step differs by less than
    `stop_change` (relative) from the step before, or after `epochs` steps. The first step is
    compared with 1.0, the author's starting `err_old`. Returns (cross-entropy per step, wall
    time in s, indices of the last minibatch)."""
    losses, previous, change = [], 1.0, np.inf
    start = time.perf_counter()
    while change > spec["stop_change"] and len(losses) < spec["epochs"]:
        batch = rng.randint(0, len(y), spec["batch_size"])
        _, xent = train_step(x[batch], y[batch])
        change, previous = abs((float(xent) - previous) / previous), float(xent)
        losses.append(previous)
    return np.array(losses), time.perf_counter() - start, batch


def accuracy(predict, x, y):
    """The share of samples whose predicted label is `y`."""
    return float(np.mean(predict(x) == y))


def repetition_seeds(settings, seed):
    """The seed of every repetition: the protocol's own list (`settings.seeds`), else seed, seed + 1, ..."""
    if settings.seeds is None:
        return [seed + rep for rep in range(settings.repetitions)]
    return list(settings.seeds[: settings.repetitions])


def train_repetitions(settings, x, y, seed, models, initial_parameters, step_done=None):
    """Every experiment on every repetition's split; returns (results, loss curves), each
    {experiment: [one per repetition]}. `models` ({experiment: (params, train_step, predict)})
    are compiled once; every repetition restarts them from `initial_parameters(settings,
    n_features, hidden, rng)`. `step_done()` (an eta_clock) is called after each model.

    The revised protocol splits stratified by the repetition's seed and draws each model's start
    from its own generator; the 2016 recipe (np.random.seed(seed) in theano_tp2.py) draws the
    split, then every model's weights and minibatches, from one RandomState in turn.
    """
    results, curves = {name: [] for name in settings.experiments}, {name: [] for name in settings.experiments}
    with threadpool_limits(limits=settings.blas_threads, user_api="blas"):  # small matrices (README, Performance notes)
        for rep, rep_seed in enumerate(repetition_seeds(settings, seed)):
            shared_rng = np.random.RandomState(rep_seed) if settings.split == "shuffle" or settings.init == "normal" else None
            if settings.split == "shuffle":
                split = shuffled_split(settings, x, y, shared_rng)
            else:
                split = standardised_stratified_split(settings, x, y, rep_seed)
            for name, spec in settings.experiments.items():
                rng = shared_rng if shared_rng is not None else np.random.default_rng([seed, rep, 2])
                params, train_step, predict = models[name]
                set_parameters(params, initial_parameters(settings, x.shape[1], spec["hidden"], rng))
                result, losses = train_experiment(settings, spec, train_step, predict, split, rng)
                results[name].append(result)
                curves[name].append(losses)
                eta = f"  ETA {step_done()}" if step_done else ""
                print(f"  repetition {rep + 1}/{settings.repetitions} {name:<25} train {result['train_acc']:.4f} "
                      f"test {result['test_acc']:.4f} time {result['time_s']:.2f} s{eta}", flush=True)
    return results, curves


def train_experiment(settings, spec, train_step, predict, split, rng):
    """Train one model of Table 1 on `split` (train_x, train_y, test_x, test_y); returns (its
    accuracies and training time, its loss per epoch or step). The 2016 recipe also records the
    steps, and the accuracy on the whole training split beside the reported one."""
    train_x, train_y, test_x, test_y = split
    result = {}
    if "stop_change" in spec:
        losses, seconds, last = train_until_stable(train_step, train_x, train_y, spec, rng)
        result["train_acc"] = accuracy(predict, train_x[last], train_y[last])  # as reported: the last minibatch
        result["train_acc_split"] = accuracy(predict, train_x, train_y)
    else:
        orders = [None] * spec["epochs"] if spec["batch_size"] is None else \
            minibatch_orders(len(train_y), spec["epochs"], rng)
        losses, seconds = train(train_step, train_x, train_y, spec["batch_size"], orders)
        result["train_acc"] = accuracy(predict, train_x, train_y)
        if settings.protocol != "revised":
            result["train_acc_split"] = result["train_acc"]
    result.update(test_acc=accuracy(predict, test_x, test_y), time_s=seconds)
    if settings.protocol != "revised":
        result["steps"] = len(losses)
    return result, losses
