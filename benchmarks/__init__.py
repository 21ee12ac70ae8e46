"""Benchmarks named in the project targets; `bench.py` runs them all and writes results/bench.md.

Every benchmark returns rows made by `ratio_row`: a ratio against its target, judged on
the median.
"""

import numpy as np


def ratio_row(benchmark, target, ratios, details):
    """One row of bench.csv: min / median / max of `ratios`, met or not on the median.

    `target` reads '≤ 1.0' or '≥ 10': the direction and the limit.
    """
    ratios = np.asarray(ratios, dtype=float)
    median = float(np.median(ratios))
    limit = float(target.split()[-1])
    return {
        "benchmark": benchmark,
        "target": target,
        "ratio_min": float(ratios.min()),
        "ratio_median": median,
        "ratio_max": float(ratios.max()),
        "met": median <= limit if target.startswith("≤") else median >= limit,
        "details": details,
    }
