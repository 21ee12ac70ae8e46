"""Small statistics shared by the scripts and the report."""

import numpy as np


def sample_sd(values):
    """The sample standard deviation (ddof 1) of `values`; 0.0 for fewer than two values."""
    values = np.asarray(values, dtype=float)
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0
