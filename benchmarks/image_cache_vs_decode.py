"""A grid trial from decoded arrays vs the same trial decoding the image folder every epoch.

The report read its images with `ImageDataGenerator.flow_from_directory`, which opens and
decodes every JPEG again in every epoch, for the training and the validation generator
alike. `keras_imageTools.py` decodes the folder once per process (and caches the arrays
across processes) and trains from arrays. Both arms train the same configuration on
the same split from the same seed for the same epochs:

- cached: as the script trains, one `model.fit` over the arrays decoded once, before
  the clock starts;
- per-epoch decode: every epoch decodes the training and validation files again with
  `keras.utils.load_img` + `img_to_array` (what flow_from_directory does) and trains
  one epoch on them.

Both arms use the grid's `trial_runner.reused_model`, whose training steps are traced once
per configuration, so neither arm's time includes JAX tracing. Decoding is deterministic, so
both arms see identical pixels: their test accuracies are reported side by side, with
whether the final weights are the same. The configurations are two of the report's own
top five (no augmentation, 16-128 and 64-128 relu, dropout 0.2).
"""

import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np

# Two of the report's own top-five configurations (no augmentation, relu, dropout 0.2):
# the cheapest first layer of the grid, and a four times wider one.
CONFIGS = (
    {"augmentation": 0, "n1": 16, "n2": 128, "dropout": 0.2, "activation": "relu"},
    {"augmentation": 0, "n1": 64, "n2": 128, "dropout": 0.2, "activation": "relu"},
)
EPOCHS = 10
SEED = 0
TARGET_RATIO = 10.0
# The cached trial is short (under a second), so a passing hiccup of the machine can
# change it by a third; each repeat times it this many times and uses the median.
CACHED_RUNS = 5


def trial(config, split, labels, epochs, seed, images=None, decode_paths=None):
    """One grid trial (fixed epochs, no early stopping); returns (seconds, model, decoding seconds).

    With `images`: as keras_imageTools.py trains, one `fit` over arrays decoded beforehand.
    With `decode_paths`: every epoch decodes the training and validation files again and
    trains one epoch on them, as flow_from_directory made the report's trials do.
    """
    import keras_imageTools
    from tp2 import grid_store, image_folder, trial_runner
    from tp2.keras_setup import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    # As the grid: the steps are traced once per configuration.
    model = trial_runner.reused_model(grid_store.config_key(config), lambda: keras_imageTools.build_model(config, seed))
    y_train = labels[split["train"]].astype("float32")
    y_val = labels[split["val"]].astype("float32")
    fit = dict(batch_size=keras_imageTools.FULL.batch_size, validation_batch_size=len(y_val), verbose=0)
    decoding = 0.0
    start = time.perf_counter()
    if decode_paths is None:
        model.fit(images[split["train"]], y_train, epochs=epochs,
                  validation_data=(images[split["val"]], y_val), **fit)
    else:
        size = keras_imageTools.FULL.image_size
        decode = lambda files: np.stack([image_folder.decode(p, size) for p in files])  # noqa: E731
        for _ in range(epochs):
            decode_start = time.perf_counter()
            x_train, x_val = decode(decode_paths[split["train"]]), decode(decode_paths[split["val"]])
            decoding += time.perf_counter() - decode_start
            model.fit(x_train, y_train, epochs=1, validation_data=(x_val, y_val), **fit)
    return time.perf_counter() - start, model, decoding


def measure(data_dir, repeats=3, epochs=EPOCHS, configs=CONFIGS):
    import keras_imageTools
    from benchmarks import ratio_row
    from tp2 import data as tp2_data, trial_runner
    from tp2.keras_setup import reuse_compilations

    classes = tuple(tp2_data.DEFAULT_CLASSES)
    root = tp2_data.ensure_caltech(data_dir, classes)
    images, labels, paths = keras_imageTools.read_images(root, classes)
    paths = np.array([str(p) for p in paths])
    split = keras_imageTools.split_indices(labels, SEED)
    x_test, y_test = images[split["test"]], labels[split["test"]]
    reuse_compilations(tp2_data.cache_dir() / "xla")
    rows = []
    for config in configs:
        trial(config, split, labels, 1, SEED, images=images)  # compile the steps, untimed
        ratios, times, accuracy, weights, decoding = [], {"cached": [], "decoded": []}, {}, {}, []
        for _ in range(repeats):
            for arm in ("cached", "decoded"):
                source = {"images": images} if arm == "cached" else {"decode_paths": paths}
                runs = []
                for _ in range(CACHED_RUNS if arm == "cached" else 1):
                    seconds, model, decode_seconds = trial(config, split, labels, epochs, SEED, **source)
                    runs.append(seconds)
                times[arm].append(float(np.median(runs)))
                if arm == "decoded":
                    decoding.append(decode_seconds)
                accuracy[arm] = trial_runner.accuracy(model, x_test, y_test)
                weights[arm] = model.get_weights()
            ratios.append(times["decoded"][-1] / times["cached"][-1])
        same = all(np.allclose(a, b, atol=1e-5) for a, b in zip(weights["cached"], weights["decoded"]))
        rows.append(ratio_row(
            f"image_trial_cached_vs_decode_every_epoch_n1_{config['n1']}",
            f"≥ {TARGET_RATIO:g}",
            ratios,
            (
                f"{epochs}-epoch trial of n1={config['n1']} n2={config['n2']} {config['activation']} "
                f"dropout {config['dropout']} decoding its {len(split['train']) + len(split['val'])} JPEGs "
                f"(train + validation) every epoch / the same trial from arrays decoded once; median "
                f"{np.median(times['decoded']):.2f} s (of which decoding {np.median(decoding):.2f} s) vs "
                f"{np.median(times['cached']):.2f} s (median of {CACHED_RUNS} runs per repeat); test accuracy "
                f"{accuracy['decoded']:.4f} vs {accuracy['cached']:.4f}, same weights: {same}"
            ),
        ))
    return rows


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    for row in measure(os.environ.get("TP2_DATA_DIR"), repeats=int(sys.argv[1]) if len(sys.argv) > 1 else 3):
        print(row)
