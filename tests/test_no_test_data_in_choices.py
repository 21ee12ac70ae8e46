"""The test split is used only to report: whatever trains, standardises or stops a model never
sees a test image (revised protocol). Each test spies on what the choice receives."""

from dataclasses import replace

import numpy as np

import keras_imageTools as kit
import keras_mnist
import theano_tp2
from tp2 import trial_runner
from tp2.splits import standardised_stratified_split, stratified_split


def test_the_per_pixel_standardiser_sees_only_the_training_split():
    rng = np.random.default_rng(0)
    x = rng.random((60, 9)).astype("float32")
    y = np.repeat([0.0, 1.0], 30).astype("float32")
    settings = theano_tp2.FULL
    train_x, _, test_x, _ = standardised_stratified_split(settings, x, y, seed=4)
    _, test_idx = stratified_split(y.astype(int), (1 - settings.test_fraction, settings.test_fraction), 4)
    planted = x.copy()
    planted[test_idx] = 1e6  # a standardiser that looked at the test split would move everything
    train_again, _, test_again, _ = standardised_stratified_split(settings, planted, y, seed=4)
    np.testing.assert_array_equal(train_x, train_again)
    assert np.all(test_again > 1e3)  # the test images are only transformed, with the training statistics


def test_mnist_validation_data_is_held_out_training_images_never_the_test_set(monkeypatch):
    rng = np.random.default_rng(1)
    splits = {
        "x_train": rng.random((40, 784), dtype=np.float32), "y_train": np.arange(40) % 10,
        "x_val": rng.random((20, 784), dtype=np.float32), "y_val": np.arange(20) % 10,
        "x_test": rng.random((20, 784), dtype=np.float32), "y_test": np.arange(20) % 10,
    }
    seen = {}
    build = keras_mnist.build_model

    def spying_build(experiment, settings):
        model = build(experiment, settings)
        fit = model.fit

        def spying_fit(x, y, **options):
            seen["train"], seen["validation"] = x, options["validation_data"][0]
            return fit(x, y, **options)

        model.fit = spying_fit
        return model

    monkeypatch.setattr(keras_mnist, "build_model", spying_build)
    keras_mnist.train_run("original", splits, seed=0, settings=replace(keras_mnist.FULL, epochs=1))
    assert seen["validation"] is splits["x_val"]
    test_rows = {row.tobytes() for row in splits["x_test"]}
    assert not any(row.tobytes() in test_rows for row in (*seen["train"], *seen["validation"]))


def test_early_stopping_in_the_grid_watches_the_validation_split_only(monkeypatch):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (40, 64, 64, 3), dtype=np.uint8)
    labels = np.repeat([0, 1], 20)
    seen = {}
    reuse = trial_runner.reused_model

    def spying_reuse(key, build_fresh):
        model = reuse(key, build_fresh)
        fit = model.fit

        def spying_fit(x, y=None, **options):
            seen["train"], seen["validation"] = x, options["validation_data"][0]
            seen["monitor"] = [c.monitor for c in options["callbacks"]]
            return fit(x, y, **options)

        model.fit = spying_fit
        return model

    monkeypatch.setattr(trial_runner, "reused_model", spying_reuse)
    config = {"augmentation": 0, "n1": 8, "n2": 0, "dropout": 0.0, "activation": "relu"}
    _, split, _ = kit.train_model(config, 3, images, labels, settings=replace(kit.FULL, max_epochs=1))
    np.testing.assert_array_equal(seen["validation"], images[split["val"]])
    assert seen["monitor"] == ["val_loss"]
    test_rows = {image.tobytes() for image in images[split["test"]]}
    assert not any(image.tobytes() in test_rows for image in (*seen["train"], *seen["validation"]))
