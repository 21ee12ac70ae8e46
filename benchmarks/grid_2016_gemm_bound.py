"""How close a trial of the author's grid (--protocol 2016) gets to its matrix-multiply bound.

His recipe trains every configuration for a fixed 15 epochs of 20 batches of 64 (19,200
samples), so a trial of the largest network (64×64×3 inputs → 512 → 256 → 1: 6.4 M
parameters) is nearly all dense products: about 6 × parameters × samples floating-point
operations. Divided by the float32 rate numpy reaches on a large square product on this
machine (measured in the same process before each trial, as in `mnist_gemm_bound.py`),
that is the GEMM bound. The trial is timed as the grid runs it (`run_trial`: training plus
the held-out accuracy), after a first trial of the same network that traces and compiles.
"""

import os
import time

import numpy as np

TARGET_RATIO = 2.0
LARGEST = {"augmentation": 0, "n1": 512, "n2": 256, "dropout": 0.5, "activation": "relu"}


def measure(data_dir, repeats=3):
    import keras_imageTools as kit
    from benchmarks import ratio_row
    from benchmarks.mnist_gemm_bound import SETTLE_SECONDS, SQUARE_SIZE, square_gemm_flops_per_second
    from tp2 import data as tp2_data, trial_runner

    settings = kit.PROTOCOL_2016
    classes = tp2_data.DEFAULT_CLASSES
    images, labels, _ = kit.read_images(tp2_data.ensure_caltech(data_dir, classes), classes, settings)
    samples = settings.max_epochs * settings.steps_per_epoch * settings.batch_size
    trial = lambda seed: trial_runner.prepared_trial(kit.run_trial, LARGEST, seed, images, labels, None, settings)
    first = trial(0)["train_time_s"]  # traces and compiles the network
    parameters = kit.build_model(LARGEST, 0, settings).count_params()
    flops = 6.0 * parameters * samples
    ratios, times, peaks = [], [], []
    for seed in range(1, repeats + 1):
        time.sleep(SETTLE_SECONDS)
        peaks.append(square_gemm_flops_per_second())
        start = time.perf_counter()
        trial(seed)
        times.append(time.perf_counter() - start)
        ratios.append(times[-1] / (flops / peaks[-1]))
    bound = flops / float(np.median(peaks))
    return [ratio_row(
        "grid_2016_trial_vs_gemm_bound",
        f"≤ {TARGET_RATIO:g}",
        ratios,
        f"a trial of the 2016 grid's largest network ({parameters} parameters, {samples} samples: 15 epochs × 20 "
        f"batches of 64, plus its held-out accuracy; median {np.median(times):.1f} s, the first trial's "
        f"{first:.1f} s with compiling not counted) / GEMM bound 6·P·N / numpy float32 {SQUARE_SIZE}³ matmul rate "
        f"({np.median(peaks) / 1e9:.1f} GFLOP/s → {bound:.1f} s)",
    )]


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    for row in measure(os.environ.get("TP2_DATA_DIR"), repeats=int(sys.argv[1]) if len(sys.argv) > 1 else 3):
        print(row)
