"""The Keras 3 set-up shared by `keras_mnist.py` and `keras_imageTools.py`.

Importing this module picks the JAX backend unless `KERAS_BACKEND` names another, then
imports Keras: scripts write `from tp2.keras_setup import keras`. The two helpers below
are the performance settings both scripts use; README ("Performance notes") says why.
"""

import gc
import logging
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402  (the backend must be chosen before Keras is imported)

# Keras' note that HDF5 is a legacy format, repeated on every save, is not news to a
# reader of Exercise 2c, which saves in HDF5 on purpose.
logging.getLogger("absl").setLevel(logging.ERROR)


def reuse_compilations(folder):
    """Keep XLA's compiled steps in `folder`, so that runs of the same network (other
    seeds, reruns, parallel workers) load them instead of compiling again (~1 s a run)."""
    if keras.backend.backend() == "jax":
        import jax

        jax.config.update("jax_compilation_cache_dir", str(folder))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def freeze_imported_objects():
    """Exclude what is alive now (mostly jax, keras and pandas: about 250,000 objects) from
    garbage collection, once per process: `keras.backend.clear_session()` runs
    `gc.collect()` after every trial, which would otherwise rescan them (~0.14 s a trial)."""
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()
