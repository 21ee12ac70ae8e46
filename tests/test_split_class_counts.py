"""Every split the scripts make keeps each class's share in every part, to within one image.

The expected counts are computed here from the class totals and the stated fractions (README:
Table 1 80/20, MNIST 50,001/9,999 (1/6 held out), variant i 25 %, the grid 70/10/20, the 2016
grid 50 images per class held out), never read back from the code under test.
"""

import numpy as np
import pytest

import keras_imageTools as kit
import keras_mnist
from tp2.data import load_mnist, load_mnist_splits
import theano_tp2
from tp2.splits import standardised_stratified_split

CALTECH = np.repeat([0, 1], [798, 800])  # Motorbikes, airplanes


def assert_shares(labels, part, fraction):
    totals = np.bincount(labels, minlength=labels.max() + 1)
    counts = np.bincount(labels[part], minlength=len(totals))
    assert np.all(np.abs(counts - totals * fraction) <= 1), (counts.tolist(), (totals * fraction).tolist())


@pytest.mark.parametrize("seed", [0, 7])
def test_table1_train_and_test_parts_keep_the_class_shares(seed):
    x = np.arange(len(CALTECH), dtype=float)[:, None]  # each image's feature is its own index
    settings = theano_tp2.FULL
    train_x, _, test_x, _ = standardised_stratified_split(replace_standardise(settings), x, CALTECH.astype(float), seed)
    train, test = train_x[:, 0].astype(int), test_x[:, 0].astype(int)
    assert_shares(CALTECH, train, 0.8)
    assert_shares(CALTECH, test, 0.2)
    assert not set(train) & set(test) and len(train) + len(test) == len(CALTECH)


def replace_standardise(settings):
    from dataclasses import replace

    return replace(settings, standardise=False)


def test_mnist_training_and_validation_parts_keep_the_class_shares(real_data_dir):
    splits = load_mnist_splits(real_data_dir, split_seed=0, settings=keras_mnist.FULL)
    (_, y_train), _ = load_mnist(real_data_dir)
    assert_shares(y_train, splits["train_index"], 5 / 6)
    assert_shares(y_train, splits["val_index"], 1 / 6)
    quarter_x, quarter_y = keras_mnist.training_part(splits, 0.25, seed=3)
    totals = np.bincount(splits["y_train"])
    assert np.all(np.abs(np.bincount(quarter_y) - totals * 0.25) <= 1)


@pytest.mark.parametrize("seed", [0, 5])
def test_the_grid_parts_keep_the_class_shares_in_both_protocols(seed):
    split = kit.split_indices(CALTECH, seed)
    for name, fraction in (("train", 0.7), ("val", 0.1), ("test", 0.2)):
        assert_shares(CALTECH, split[name], fraction)
    held_out = kit.split_indices(CALTECH, seed, kit.PROTOCOL_2016)
    assert np.bincount(CALTECH[held_out["test"]]).tolist() == [50, 50]
