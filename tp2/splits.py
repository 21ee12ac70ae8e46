"""Splits from a seed: stratified ones (every class keeps its share in every part), and the 2016
recipe's shuffled train/test split."""

import numpy as np


def stratified_split(labels, fractions, seed):
    """Split sample indices into len(fractions) parts, stratified by label.

    `fractions` must sum to 1, e.g. (0.8, 0.2) or (0.7, 0.1, 0.2). Returns a tuple of
    sorted index arrays, disjoint and covering every sample. Same seed, same split.
    """
    fractions = np.asarray(fractions, dtype=float)
    if np.any(fractions <= 0) or not np.isclose(fractions.sum(), 1.0):
        raise ValueError(f"fractions must be positive and sum to 1, got {fractions.tolist()}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts = [[] for _ in fractions]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        bounds = np.round(np.cumsum(fractions)[:-1] * len(members)).astype(int)
        for part, chunk in zip(parts, np.split(members, bounds)):
            part.append(chunk)
    return tuple(np.sort(np.concatenate(chunks)) for chunks in parts)


def stratified_subset(labels, fraction, seed):
    """Indices of a stratified `fraction` of the samples (e.g. 25% of a training set)."""
    if fraction >= 1.0:
        return np.arange(len(labels))
    subset, _ = stratified_split(labels, (fraction, 1.0 - fraction), seed)
    return subset


def stratified_holdout(labels, per_class, seed):
    """(train, test) sorted indices: `per_class` samples of every class drawn as the test split."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    test = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) <= per_class:
            raise ValueError(f"class {label} has {len(members)} samples, not more than the {per_class} to hold out")
        test.append(rng.choice(members, per_class, replace=False))
    test = np.sort(np.concatenate(test))
    return np.setdiff1d(np.arange(len(labels)), test), test


def standardised_stratified_split(settings, x, y, seed):
    """The stratified train/test split of `seed` (a `settings.test_fraction` test split), standardised
    per pixel with the training split's mean and SD unless `settings.standardise` is false;
    returns (train_x, train_y, test_x, test_y)."""
    fractions = (1 - settings.test_fraction, settings.test_fraction)
    train_idx, test_idx = stratified_split(y.astype(int), fractions, seed)
    if not settings.standardise:
        return x[train_idx], y[train_idx], x[test_idx], y[test_idx]
    mean = x[train_idx].mean(axis=0)
    sd = x[train_idx].std(axis=0) + np.asarray(1e-3, settings.dtype)
    return (x[train_idx] - mean) / sd, y[train_idx], (x[test_idx] - mean) / sd, y[test_idx]


def shuffled_split(settings, x, y, rng):
    """The 2016 split (TP2 dataPartition.py): shuffle every index with `rng`; the first
    round(N * settings.test_fraction) are the test split, the others (in their original order) the
    training split. Returns (train_x, train_y, test_x, test_y)."""
    order = np.arange(len(y))
    rng.shuffle(order)
    test_idx = order[: round(len(y) * settings.test_fraction)]
    train_idx = np.setdiff1d(np.arange(len(y)), test_idx)
    return x[train_idx], y[train_idx], x[test_idx], y[test_idx]
