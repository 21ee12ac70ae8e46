"""The training loops of `theano_tp2.py`: compiled PyTensor steps driven over the data.

A model of Exercise 1 is a pair of compiled functions, `train_step(x, y)` (one gradient
step on its shared parameters) and `predict(x)` (0/1 labels), as in the Theano tutorial.
`train` runs the tutorial's loops (full batch, or shuffled minibatches every epoch);
`train_until_stable` runs the author's 2016 loop (minibatches drawn with replacement until
the cross-entropy stops changing). Both time training only: sample orders are drawn first.
"""

import time

import numpy as np


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
