"""How close a training epoch of the original `mnist_mlp` model gets to its matrix-multiply bound.

An epoch costs about 6 × parameters × samples floating-point operations (2 for the forward
pass, 4 for the backward pass). Divided by the float32 matmul throughput numpy reaches on
this machine, that is the time the epoch would take if it were nothing but large, perfectly
efficient matrix products: the GEMM bound. The throughput is measured in the same process,
right before each timed epoch, on a large square product (2048 × 2048 × 2048, best of 5),
which is about the highest rate numpy reaches here and so gives a strict bound. The
products of one training step at the model's own sizes (batch 128: 128×784×512,
128×512×512, ...) are not used: numpy is slower on them, and on 2 cores shared with other
work their rate swung from 4 to 128 GFLOP/s between measurements, while the square product
stays within a few percent. Before each measurement the process pauses for a second so
that XLA's worker threads, which spin for a while after an epoch, do not compete with
numpy's.

The epoch is timed as `keras_mnist.py` runs it (training on the 50,001 training images plus
its validation pass on the 9,999 held-out ones), after a first epoch that compiles the step.
"""

import os
import time

import numpy as np

SQUARE_SIZE = 2048
GEMM_TRIALS = 5
TARGET_RATIO = 2.0
SETTLE_SECONDS = 1.0


def best_seconds(function, trials):
    function()  # warm up threads and caches
    times = []
    for _ in range(trials):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def square_gemm_flops_per_second(size=SQUARE_SIZE, trials=GEMM_TRIALS, seed=0):
    """float32 FLOP/s of numpy's (size × size) @ (size × size), best of `trials`."""
    rng = np.random.default_rng(seed)
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    return 2.0 * size**3 / best_seconds(lambda: a @ b, trials)


def measure(data_dir, repeats=3):
    import keras_mnist
    from benchmarks import ratio_row
    from tp2.data import load_mnist_splits
    from tp2.keras_setup import keras

    settings = keras_mnist.FULL
    splits = load_mnist_splits(data_dir, split_seed=0, settings=settings)
    one_hot = lambda labels: keras.utils.to_categorical(labels, keras_mnist.NUM_CLASSES)
    x_train, y_train = splits["x_train"], one_hot(splits["y_train"])
    validation = (splits["x_val"], one_hot(splits["y_val"]))
    keras.utils.set_random_seed(0)
    model = keras_mnist.build_model("original", settings)
    parameters = model.count_params()
    flops_per_epoch = 6.0 * parameters * len(x_train)

    def epoch_seconds():
        times = []
        model.fit(x_train, y_train, batch_size=settings.batch_size, epochs=1, validation_data=validation,
                  validation_batch_size=settings.eval_batch_size, callbacks=[keras_mnist.epoch_timer(times)], verbose=0)
        return times[0]

    first_epoch = epoch_seconds()  # includes compiling the training and validation steps
    ratios, epochs, peaks = [], [], []
    for _ in range(repeats):
        time.sleep(SETTLE_SECONDS)
        peaks.append(square_gemm_flops_per_second())
        epochs.append(epoch_seconds())
        ratios.append(epochs[-1] / (flops_per_epoch / peaks[-1]))
    bound = flops_per_epoch / float(np.median(peaks))
    return [ratio_row(
        "mnist_epoch_vs_gemm_bound",
        f"≤ {TARGET_RATIO:g}",
        ratios,
        f"epoch time of the original mnist_mlp ({parameters} parameters, {len(x_train)} images, batch "
        f"{settings.batch_size}, with its validation pass; median {np.median(epochs):.2f} s, first epoch "
        f"{first_epoch:.2f} s not counted) / GEMM bound 6·P·N / numpy float32 {SQUARE_SIZE}³ matmul rate "
        f"({np.median(peaks) / 1e9:.1f} GFLOP/s → {bound:.2f} s), measured before each epoch",
    )]


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    for row in measure(os.environ.get("TP2_DATA_DIR"), repeats=int(sys.argv[1]) if len(sys.argv) > 1 else 3):
        print(row)
