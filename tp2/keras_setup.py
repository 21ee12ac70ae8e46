"""The Keras 3 set-up shared by `keras_mnist.py` and `keras_imageTools.py`.

`KERAS_BACKEND` is checked before Keras is imported (JAX unless it names another
installed backend that can train): a bad value is one line and exit code 2, not a
traceback from inside Keras. Keras itself is imported on first use, so `--help` and
bad options answer at once:

    from tp2.keras_setup import keras          # at the top of a module: imports Keras now
    keras = load_keras()                       # inside a function: imports Keras then

`check_backend()` checks the variable without importing anything. The two helpers at
the end are the performance settings both scripts use; README ("Performance notes") says why.
"""

import contextlib
import functools
import gc
import importlib.util
import logging
import os
import sys

from tp2.cli import UserError, exiting_on_ctrl_c, fail

DEFAULT_BACKEND = "jax"
TRAINING_BACKENDS = ("jax", "tensorflow", "torch")  # Keras 3 backends that can train
INFERENCE_BACKENDS = ("numpy", "openvino")  # Keras 3 backends without gradients


@functools.cache
def installed_backends():
    """The training backends whose library is installed, JAX first."""
    return [name for name in TRAINING_BACKENDS if importlib.util.find_spec(name) is not None]


def check_backend():
    """The backend Keras will use (KERAS_BACKEND, else JAX); UserError when it is not installed or cannot train."""
    name = os.environ.get("KERAS_BACKEND") or DEFAULT_BACKEND
    os.environ["KERAS_BACKEND"] = name
    installed = installed_backends()
    choices = (f"unset KERAS_BACKEND (JAX) or set it to {' or '.join(installed)}" if installed else
               "install the requirements (make venv), which bring JAX")
    if name in INFERENCE_BACKENDS:
        raise UserError(f"KERAS_BACKEND={name} cannot train models (Keras' {name} backend has no gradients); {choices}")
    if name in TRAINING_BACKENDS and name not in installed:
        raise UserError(f"KERAS_BACKEND={name} but {name} is not installed; {choices}")
    if name not in installed:
        raise UserError(f"KERAS_BACKEND={name} is not a Keras backend; {choices}")
    return name


def load_keras():
    """Keras, imported after `check_backend()` (UserError for a bad KERAS_BACKEND).

    Ctrl-C during the import exits at once (a KeyboardInterrupt inside JAX's import can
    crash the interpreter): import Keras before locking or staging the results folder.
    """
    check_backend()
    with exiting_on_ctrl_c() if "keras" not in sys.modules else contextlib.nullcontext():
        import keras

    # Keras' note that HDF5 is a legacy format, repeated on every save, is not news to a
    # reader of Exercise 2c, which saves in HDF5 on purpose.
    logging.getLogger("absl").setLevel(logging.ERROR)
    return keras


def __getattr__(name):
    """`from tp2.keras_setup import keras`: Keras, or one 'error:' line and exit 2 for a bad backend
    (a module-level import runs before `run(main)` could turn the UserError into that line)."""
    if name != "keras":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        return load_keras()
    except UserError as error:
        fail(str(error))


def reuse_compilations(folder):
    """Keep XLA's compiled steps in `folder`, so that runs of the same network (other
    seeds, reruns, parallel workers) load them instead of compiling again (~1 s a run)."""
    if load_keras().backend.backend() == "jax":
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
