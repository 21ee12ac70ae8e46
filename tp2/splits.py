"""Stratified splits from a seed: every class keeps its share in every part."""

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
