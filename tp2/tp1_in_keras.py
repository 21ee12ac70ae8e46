"""Exercise 2b as asked: TP1's image functions redone with Keras 3 primitives.

TP1 (`original-code/tp1/`) had four image functions. Each maps onto public Keras 3 API:

    TP1 function              What it does                       Keras 3 primitive (here)
    ------------------------  ---------------------------------  -----------------------------------------
    loadImages (reading)      read; grey -> 3 equal channels;    keras.utils.load_img(color_mode="rgb")
                              alpha dropped                      + keras.utils.img_to_array  -> load_rgb
    loadImages (resizing)     rescale keeping the aspect ratio   keras.ops.image.resize(pad_to_aspect_ratio=True)
                              to fit maxsize, zero-pad at the    -> fit_to_size (Keras centres the image);
                              bottom and the right               keras.ops.image.resize + keras.ops.image.pad_images
                                                                 -> fit_to_size_top_left (TP1's layout)
    normalizeImage            z-score of each channel of each    keras.layers.LayerNormalization(axis=(-3, -2),
                              image (population SD)              center=False, scale=False) -> standardize_per_image
    getPatches                N random SxS patches per image,    keras.random.randint + keras.ops.slice under
                              every position equally likely      keras.ops.vectorized_map -> random_patches
                                                                 (keras.layers.RandomCrop: one window per call)
    (none: "keras provides    all SxS patches on a grid          keras.ops.image.extract_patches -> grid_patches
    no way to extract
    patches", report §2b)
    scaleRange                min-max scale to [0, 1] to show    keras.utils.array_to_img(scale=True)
                                                                 -> scale_to_unit_range (8-bit result)

Differences worth knowing (measured in tests/test_tp1_in_keras.py):

* `keras.ops.image.resize(pad_to_aspect_ratio=True)` (also `keras.layers.Resizing` and
  `keras.utils.image_dataset_from_directory`) pads *both* sides, centring the image; TP1
  pads the bottom and the right only. It also pads first and resizes the padded image, so
  the content lands on a grid shifted by a fraction of a pixel from TP1's. The content
  itself is the same bilinear image (no anti-aliasing, like scikit-image 0.12's `rescale`).
  `image_dataset_from_directory` needs TensorFlow (`format="tf"`) or grain
  (`format="grain"`); neither is in this project, so it is not used here.
* `keras.utils.load_img(keep_aspect_ratio=True)` *crops* to the aspect ratio, it does not pad.
* `keras.layers.Normalization` standardises with statistics of a whole data set (`adapt`),
  not per image; `LayerNormalization` over the two spatial axes is TP1's per-image z-score,
  with `epsilon` added to the variance (TP1 divides by zero on a flat channel: NaN).
* `keras.layers.RandomCrop` draws one window per call, shared by the whole batch, and
  centre-crops when not training; under JAX it cannot be jit-compiled. TP1 draws a new
  position for every patch of every image, so `random_patches` draws them with
  `keras.random.randint` and cuts them with `keras.ops.slice`.
* `array_to_img(scale=True)` returns an 8-bit PIL image: values are truncated to
  multiples of 1/255 (TP1 keeps floats). It takes 1, 3 or 4 channels only.
* Under the JAX backend every new image shape costs an XLA compilation (a few tenths of a
  second for `resize`), so `load_images` suits a handful of files; the 1,598 Caltech
  images are read with `load_img(target_size=...)` (Pillow) by `keras_imageTools.py`.

`patches_vs_whole_image` answers the report's remark that "the results are similar using
the whole image": it trains the same small classifier on the whole image downsized to SxS
and on random SxS patches (an image's score: the mean over a grid of its patches).
"""

import time

import numpy as np
import pandas as pd

from tp2.keras_setup import keras
from tp2.results import write_csv
from tp2.splits import stratified_split
from tp2.stats import sample_sd

ops = keras.ops


# --- loadImages ----------------------------------------------------------------------


def load_rgb(path):
    """One image file as float32 (height, width, 3) in 0-255, at its own size.

    `load_img(color_mode="rgb")` converts through Pillow: a greyscale image becomes three
    equal channels and an alpha channel is dropped, as TP1's `loadImages` did by hand.
    """
    return keras.utils.img_to_array(keras.utils.load_img(path, color_mode="rgb"))


def fitted_content_size(image_size, size):
    """(rows, cols) of an image of `image_size` rescaled to fit in `size`, keeping its
    aspect ratio: each side times min(size / image_size), rounded (as TP1's `rescale`)."""
    rows, cols = image_size
    scale = min(size[0] / rows, size[1] / cols)
    return int(round(rows * scale)), int(round(cols * scale))


def fit_to_size(image, size, antialias=False):
    """Keras' aspect-preserving resize: the image scaled to fit `size`, zero bands added
    on both sides of the short dimension (centred). TP1 put all the padding at the bottom
    and the right: see `fit_to_size_top_left`. No anti-aliasing, like TP1's `rescale`."""
    return ops.image.resize(image, size, antialias=antialias, pad_to_aspect_ratio=True)


def fit_to_size_top_left(image, size, antialias=False):
    """TP1's layout with Keras ops: resize to the fitted size, then zero-pad at the bottom
    and the right (`pad_images` with no top or left padding)."""
    content = ops.image.resize(image, fitted_content_size(image.shape[:2], size), antialias=antialias)
    return ops.image.pad_images(content, 0, 0, target_height=size[0], target_width=size[1])


def load_images(paths, size, centred=True):
    """TP1's `loadImages`: float32 (n, rows, cols, 3) in 0-255, each image fitted in `size`.

    `centred=False` gives TP1's bottom/right padding. (TP1 meant floats in [0, 1] but
    stored them in an int8 array; divide by 255 for its intended range.)
    """
    fit = fit_to_size if centred else fit_to_size_top_left
    return np.stack([ops.convert_to_numpy(fit(load_rgb(path), size)) for path in paths])


# --- normalizeImage ------------------------------------------------------------------


def standardization_layer(epsilon=1e-3):
    """A layer giving each channel of each image mean 0 and SD 1 (TP1's `normalizeImage`).

    LayerNormalization over the height and width axes, without the learned scale and
    offset. It divides by sqrt(variance + epsilon): with Keras' default epsilon and 0-255
    pixels this moves a z-score by under 0.05% once a channel's SD exceeds 1 grey level.
    """
    return keras.layers.LayerNormalization(axis=(-3, -2), epsilon=epsilon, center=False, scale=False)


def standardize_per_image(images, epsilon=1e-3):
    """Images (one, or a batch) with each channel of each image z-scored."""
    return standardization_layer(epsilon)(ops.convert_to_tensor(images, "float32"))


# --- getPatches ----------------------------------------------------------------------


def random_patch_corners(image_size, count, size, seed):
    """Top-left corners, int32 (count, 2), uniform over every position where a
    size×size patch fits inside an image of `image_size` (borders included)."""
    seed_generator = keras.random.SeedGenerator(seed)
    rows = keras.random.randint((count,), 0, image_size[0] - size + 1, seed=seed_generator)
    cols = keras.random.randint((count,), 0, image_size[1] - size + 1, seed=seed_generator)
    return ops.stack([rows, cols], axis=1)


def random_patches(images, count, size, seed):
    """TP1's `getPatches`: `count` random size×size patches from each image.

    `images`: (n, rows, cols, channels), all the same size (for one image, pass
    `image[None]`). Returns (n, count, size, size, channels); every patch of every image
    has its own position. Standardise them with `standardize_per_image` (TP1's `norm`).
    """
    images = ops.convert_to_tensor(images, "float32")
    n, rows, cols, channels = images.shape
    if size > min(rows, cols):
        raise ValueError(f"{size}x{size} patches do not fit in {rows}x{cols} images")
    corners = random_patch_corners((rows, cols), n * count, size, seed)
    image_index = ops.repeat(ops.arange(n, dtype="int32"), count)

    def cut(index_and_corner):
        index, corner = index_and_corner
        start = ops.stack([corner[0], corner[1], ops.zeros((), "int32")])
        return ops.slice(ops.take(images, index, axis=0), start, (size, size, channels))

    patches = ops.vectorized_map(cut, (image_index, corners))
    return ops.reshape(patches, (n, count, size, size, channels))


def grid_patches(images, size, stride=None):
    """Every size×size patch on a grid with step `stride` (default `size`: adjacent).

    `images`: (n, rows, cols, channels). `extract_patches` returns each patch as one
    vector of size*size*channels values (row, column, channel order), reshaped here to
    (n, patches per image, size, size, channels).
    """
    images = ops.convert_to_tensor(images, "float32")
    patches = ops.image.extract_patches(images, size, strides=stride or size)
    return ops.reshape(patches, (images.shape[0], -1, size, size, images.shape[-1]))


# --- scaleRange ----------------------------------------------------------------------


def scale_to_unit_range(image):
    """TP1's `scaleRange` for display: (image - min) / (max - min) over all channels.

    `array_to_img(scale=True)` does the min-max scaling into an 8-bit PIL image (what
    you show); here it is read back as floats in [0, 1], multiples of 1/255.
    """
    return keras.utils.img_to_array(keras.utils.array_to_img(image, scale=True)) / 255.0


# --- Experiment: random patches vs the whole image -----------------------------------

ARMS = {
    "whole image": "each image z-scored, then resized to {s}x{s} (anti-aliased)",
    "patches": "{n} random {s}x{s} patches per z-scored training image; a test image scores "
               "the mean over its {g} grid patches",
    "patches, each z-scored": "as 'patches', but each patch z-scored on its own (TP1's getPatches(norm=True))",
    "single patch": "the 'patches' classifier on each of the {g} grid patches of a test image alone",
}


def small_classifier(size, hidden_units, learning_rate):
    """size×size×3 input → Flatten → Dense(hidden_units, relu) → Dense(1, sigmoid)."""
    model = keras.Sequential([
        keras.Input((size, size, 3)),
        keras.layers.Flatten(),
        keras.layers.Dense(hidden_units, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy", steps_per_execution=8)
    model.optimizer.build(model.trainable_variables)
    return model


_built_classifiers = {}


def reusable_classifier(settings):
    """The classifier every arm and seed trains (`reset_to_fresh` before each), kept
    between calls: JAX then traces and compiles its training and prediction steps once
    per process, not once per model (seconds each)."""
    key = (settings["patch_size"], settings["hidden_units"], settings["learning_rate"])
    if key not in _built_classifiers:
        model = small_classifier(settings["patch_size"], settings["hidden_units"], settings["learning_rate"])
        # Build the loss on a blank input now: `fit` would otherwise draw a batch for it.
        model.evaluate(np.zeros((1, *model.input_shape[1:]), "float32"), np.zeros(1, "float32"), verbose=0)
        _built_classifiers.clear()  # one model at a time
        _built_classifiers[key] = model
    return _built_classifiers[key]


def reset_to_fresh(model, settings):
    """Give `model` the initial weights and optimizer state of a new classifier: it then
    trains exactly as a new one would, from the current random seed."""
    fresh = small_classifier(settings["patch_size"], settings["hidden_units"], settings["learning_rate"])
    for target, source in zip(model.variables + model.optimizer.variables,
                              fresh.variables + fresh.optimizer.variables):
        target.assign(source.value)
    return model


def train(model, x, y, seed, settings):
    keras.utils.set_random_seed(seed)
    reset_to_fresh(model, settings)
    model.fit(x, y.astype("float32"), epochs=settings["epochs"], batch_size=settings["batch_size"],
              shuffle=True, verbose=0)
    return model


def scores(model, x):
    """Predicted probability of class 1 for each of x's inputs."""
    return model.predict(x, batch_size=1024, verbose=0)[:, 0]


def as_rows(patches):
    """(n, per image, s, s, 3) → (n * per image, s, s, 3)."""
    return patches.reshape(-1, *patches.shape[2:])


def accuracy(image_scores, labels):
    """Share of images whose score (mean over its columns, if 2-D) is on its label's side of 0.5."""
    image_scores = image_scores.reshape(len(labels), -1).mean(axis=1)
    return float(np.mean((image_scores > 0.5) == (labels == 1)))


def patches_vs_whole_image(images, labels, seed, repeats=3, patch_size=16, patches_per_image=8, epochs=10,
                           hidden_units=32, batch_size=64, learning_rate=1e-3, test_fraction=0.2):
    """Test accuracy of one small classifier fed the whole image downsized to
    patch_size×patch_size, or random patch_size×patch_size patches of it, on `repeats` seeds.

    `images`: (n, rows, cols, 3) in 0-255, all one size (e.g. keras_imageTools' 64×64
    images); `labels`: 0/1. Every image is z-scored first (`standardize_per_image`), so
    the arms differ only in what the classifier's patch_size²×3 inputs cover (ARMS says
    what each arm sees). Seed `seed + r` draws repeat r's stratified train/test split
    (`stratified_split`), the initial weights, the shuffling and the patches. Every arm
    trains the same classifier (`small_classifier`) with the same settings, fixed in
    advance; the test split only gives the reported accuracies. Returns one row per arm:
    mean and SD (n - 1) of the test accuracy over the seeds, and each seed's accuracy.
    """
    labels = np.asarray(labels).astype(int)
    settings = dict(patch_size=patch_size, hidden_units=hidden_units, epochs=epochs,
                    batch_size=batch_size, learning_rate=learning_rate)
    standardized = ops.convert_to_numpy(standardize_per_image(images))
    whole = ops.convert_to_numpy(ops.image.resize(standardized, (patch_size, patch_size), antialias=True))
    model = reusable_classifier(settings)
    accuracies = {arm: [] for arm in ARMS}
    for repeat_seed in range(seed, seed + repeats):
        train_index, test_index = stratified_split(labels, (1.0 - test_fraction, test_fraction), repeat_seed)
        train_labels, test_labels = labels[train_index], labels[test_index]

        train(model, whole[train_index], train_labels, repeat_seed, settings)
        accuracies["whole image"].append(accuracy(scores(model, whole[test_index]), test_labels))

        patches = random_patches(standardized[train_index], patches_per_image, patch_size, repeat_seed)
        patch_labels = np.repeat(train_labels, patches_per_image)
        test_patches = grid_patches(standardized[test_index], patch_size)

        train(model, as_rows(ops.convert_to_numpy(patches)), patch_labels, repeat_seed, settings)
        patch_scores = scores(model, as_rows(ops.convert_to_numpy(test_patches)))
        accuracies["patches"].append(accuracy(patch_scores, test_labels))
        accuracies["single patch"].append(accuracy(patch_scores, np.repeat(test_labels, test_patches.shape[1])))

        patches, test_patches = standardize_per_image(patches), standardize_per_image(test_patches)
        train(model, as_rows(ops.convert_to_numpy(patches)), patch_labels, repeat_seed, settings)
        accuracies["patches, each z-scored"].append(
            accuracy(scores(model, as_rows(ops.convert_to_numpy(test_patches))), test_labels))

    grid = (standardized.shape[1] // patch_size) * (standardized.shape[2] // patch_size)
    return pd.DataFrame([
        {
            "arm": arm,
            "classifier_input": ARMS[arm].format(s=patch_size, n=patches_per_image, g=grid),
            "test_accuracy_mean": float(np.mean(values)),
            "test_accuracy_sd": sample_sd(values) if len(values) > 1 else float("nan"),  # one seed: no spread
            "seeds": f"{seed}-{seed + repeats - 1}",
            "test_accuracies": " ".join(f"{value:.4f}" for value in values),
            "train_images": len(train_index),
            "test_images": len(test_index),
        }
        for arm, values in accuracies.items()
    ])


def write_patches_vs_whole_image(path, images, labels, seed, repeats):
    """patches_vs_whole_image over `repeats` seeds, printed, and written to the CSV `path` (each seed's
    accuracy left out); returns `path`."""
    start = time.perf_counter()
    print(f"TP1's patches vs the whole image: {repeats} seed(s)", flush=True)
    patches = patches_vs_whole_image(images, labels, seed, repeats=repeats)
    print(patches[["arm", "test_accuracy_mean", "test_accuracy_sd"]].to_string(index=False)
          + f"\n({time.perf_counter() - start:.0f} s)", flush=True)
    return write_csv(path, patches.drop(columns="test_accuracies"))
