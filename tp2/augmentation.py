"""Augmented copies of the images, made once per run, and the training batches drawn from them.

A recipe is a tuple of (Keras preprocessing layer name, its arguments), e.g.
`(("RandomFlip", {"mode": "horizontal"}), ...)`; layer k gets seed + k. Augmenting every
image in every epoch of every augmented trial costs ~5 ms an image on a CPU, so the run
makes a few augmented copies of every image once (`augmented_copies`, cached on disk) and
augmented trials cycle over them, one copy per pass (README, Performance notes):
`augmented_batches` for Keras 3's epochs, `stream_batches` for Keras 1's fit_generator.
`augmented_pool` makes the copies a run's settings ask for. AUGMENTATION and AUGMENTATION_2016
are the two recipes of keras_imageTools.py (this reproduction's and the author's).
"""

import hashlib
import time

import numpy as np

from tp2.cli import format_eta, warn
from tp2.data import cache_dir
from tp2.keras_setup import load_keras
from tp2.results import atomic_write

# keras_imageTools.py's recipe: a flip, a small rotation and a small zoom.
AUGMENTATION = (("RandomFlip", {"mode": "horizontal"}),
                ("RandomRotation", {"factor": 0.05, "fill_mode": "nearest"}),
                ("RandomZoom", {"height_factor": 0.1, "fill_mode": "nearest"}))
# The author's ImageDataGenerator(rotation_range=40, width_shift_range=0.2, height_shift_range=0.2,
# shear_range=0.2, zoom_range=0.2, horizontal_flip=True): one affine map per image, pixels
# taken by nearest neighbour (scipy order 0) with fill_mode "nearest"; here as a chain of layers.
# Keras 1's shear_range was an angle in radians; tan(0.2) ≈ 0.2 of the width is RandomShear's unit.
NEAREST = {"interpolation": "nearest", "fill_mode": "nearest"}
AUGMENTATION_2016 = (("RandomRotation", {"factor": 40 / 360, **NEAREST}),
                     ("RandomTranslation", {"height_factor": 0.2, "width_factor": 0.2, **NEAREST}),
                     ("RandomShear", {"x_factor": 0.2, **NEAREST}),
                     ("RandomZoom", {"height_factor": 0.2, "width_factor": 0.2, **NEAREST}),
                     ("RandomFlip", {"mode": "horizontal"}))


def augmentation_layers(seed, recipe):
    """The recipe as one Sequential of preprocessing layers (active only in training); layer k gets seed + k."""
    keras = load_keras()
    return keras.Sequential([getattr(keras.layers, name)(**arguments, seed=seed + k)
                             for k, (name, arguments) in enumerate(recipe)], name="augmentation")


def images_key(images, recipe):
    """A short fingerprint of the decoded images and the recipe, naming their augmentation cache."""
    return hashlib.sha1(images.tobytes() + repr(recipe).encode()).hexdigest()[:16]


def copies_needed(settings, n_train):
    """Augmented copies per image: settings.augmented_copies, or one per pass over the training split."""
    if settings.augmented_copies is not None:
        return settings.augmented_copies
    return -(-settings.max_epochs * settings.steps_per_epoch * settings.batch_size // n_train)


def augmented_copies(images, copies, seed, key, recipe, batch_size=256):
    """`copies` augmented versions of every image, shape (copies, n, size, size, 3) uint8,
    cached on disk under `key` (see `images_key`)."""
    cached = cache_dir() / f"augmented-{key}-{copies}-{seed}.npy"
    if cached.exists():
        try:
            return np.load(cached, allow_pickle=False)
        except Exception:
            warn(f"ignoring damaged cache file {cached}")
    keras = load_keras()
    keras.utils.set_random_seed(seed)
    augment = augmentation_layers(seed, recipe)
    pool = np.empty((copies, *images.shape), dtype=np.uint8)
    start_time = time.perf_counter()
    for copy in range(copies):
        if copy:
            eta = (time.perf_counter() - start_time) / copy * (copies - copy)
            print(f"augmenting: copy {copy + 1}/{copies}, ETA {format_eta(eta)}", flush=True)
        for start in range(0, len(images), batch_size):
            out = keras.ops.convert_to_numpy(augment(images[start : start + batch_size].astype("float32"), training=True))
            pool[copy, start : start + batch_size] = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(cached, lambda temp: np.save(temp, pool))
    except OSError as error:
        warn(f"could not write augmentation cache {cached}: {error}")
    return pool


def augmented_pool(images, settings, seed, n_train):
    """The augmented copies the augmented trials of a grid train on (`copies_needed`), with
    what it took on stdout; None when the grid (`settings.grid`) has no augmented configuration."""
    if not any(dict(settings.grid)["augmentation"]):
        return None
    start = time.perf_counter()
    copies = copies_needed(settings, n_train)
    print(f"augmenting: {copies} copies of every image", flush=True)
    pool = augmented_copies(images, copies, seed, images_key(images, settings.augmentation), settings.augmentation)
    print(f"augmented copies: {copies} per image in {time.perf_counter() - start:.1f} s", flush=True)
    return pool


def augmented_batches(pool, index, labels, seed, batch_size):
    """Endless training batches: epoch e uses augmented copy e mod len(pool), reshuffled."""
    rng = np.random.default_rng(seed)
    epoch = 0
    while True:
        copy, order = pool[epoch % len(pool)], rng.permutation(index)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            yield copy[batch], labels[batch].astype("float32")
        epoch += 1


def stream_batches(pool, index, labels, seed, batch_size):
    """Endless full training batches from a stream of passes over `index`: pass p uses copy
    p mod len(pool), reshuffled. Keras 1's generator ended every pass with a smaller batch; here
    that batch is completed from the next pass, so one compiled step serves every batch."""
    rng = np.random.default_rng(seed)
    copies, members, passes = np.empty(0, int), np.empty(0, int), 0
    while True:
        while len(members) < batch_size:
            copies = np.concatenate([copies, np.full(len(index), passes % len(pool))])
            members = np.concatenate([members, rng.permutation(index)])
            passes += 1
        copy, batch = copies[:batch_size], members[:batch_size]
        copies, members = copies[batch_size:], members[batch_size:]
        yield pool[copy, batch], labels[batch].astype("float32")
