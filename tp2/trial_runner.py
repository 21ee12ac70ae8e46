"""Running a grid of trials: in this process, in parallel with joblib, or on a Dask cluster.

A trial is a function `trial(config, seed, *shared) -> row` (a dict with the grid store's
columns); `shared` holds what every trial reads (images, labels, settings). `run_grid`
trains the (configuration, seed) pairs not yet in the grid file, hands every finished row
to `save`, prints one progress line per trial with an ETA, and returns the rows the grid
asked for; `earlier_trials` reads the rows a rerun resumes from (or keeps, with --reuse).
Trials of one configuration run one after another so that they can share a traced model
(`reused_model`); `split_accuracies` scores a trial's binary classifier on its validation
and test splits with one `predict`. The script passes its own functions in; with joblib or
Dask they are pickled (by value when the script runs as `__main__`, by cloudpickle).
"""

import time

import numpy as np

from tp2.cli import UserError, format_eta
from tp2.data import cache_dir
from tp2.grid_store import GRID_FILE, PARTIAL_FILE, config_key, describe, read_rows
from tp2.keras_setup import freeze_imported_objects, load_keras, reuse_compilations

DASK_CONNECT_TIMEOUT_S = 5

_last_model = {}  # this process's last trained model, by configuration key


# --- The model of a trial ------------------------------------------------------------


def reused_model(key, build_fresh):
    """`build_fresh()`, as a model whose training steps JAX has already traced.

    Every new Keras model makes JAX trace and lower its train, test and predict steps
    again, even when XLA's compiled code then comes from the disk cache. Instead, the
    previous model of the same `key` takes over the fresh model's initial state: weights,
    dropout seed states and optimizer variables. It then trains exactly as the fresh model
    would (tested). Only the last key is kept, so memory stays flat (README, Performance notes).
    """
    fresh = build_fresh()
    fresh.optimizer.build(fresh.trainable_variables)
    model = _last_model.get(key)
    if model is None or model.train_function is None:
        # Build loss and metrics on a blank image: `fit` would draw an extra training batch for it, a reused model none.
        fresh.evaluate(np.zeros((1, *fresh.input_shape[1:]), "float32"), np.zeros(1, "float32"), verbose=0)
        _last_model.clear()
        _last_model[key] = fresh
        return fresh
    for target, source in zip(model.variables + model.optimizer.variables, fresh.variables + fresh.optimizer.variables):
        target.assign(source.value)
    return model


def forget_models():
    """Drop the kept model (after `keras.backend.clear_session()`, a new one is built)."""
    _last_model.clear()


def correct_predictions(model, x, y):
    """Whether each image's predicted class (a binary classifier's score > 0.5) is its label, from one batch."""
    return (model.predict(x, batch_size=len(y), verbose=0)[:, 0] > 0.5) == (y > 0.5)


def accuracy(model, x, y):
    return float(np.mean(correct_predictions(model, x, y)))


def split_accuracies(model, images, labels, split, names=("val", "test")):
    """{name: accuracy} for several splits from one `predict` call (README, Performance notes)."""
    index = np.concatenate([split[name] for name in names])
    correct = correct_predictions(model, images[index], labels[index])
    ends = np.cumsum([len(split[name]) for name in names])
    return {name: float(np.mean(part)) for name, part in zip(names, np.split(correct, ends[:-1]))}


def prepared_trial(trial, config, seed, *shared):
    """`trial(config, seed, *shared)` in a process set up for many trials (also in workers).

    Compiled steps are reused across processes and garbage collection skips the imported
    modules; `clear_session` afterwards frees the trial's models (README, Performance notes).
    """
    reuse_compilations(cache_dir() / "xla")
    freeze_imported_objects()
    row = trial(config, seed, *shared)
    load_keras().backend.clear_session()
    return row


# --- Where the trials run ------------------------------------------------------------


def connect_dask(address):
    """A Dask client for `address`, or a one-line UserError after a short timeout."""
    from distributed import Client

    try:
        return Client(address, timeout=DASK_CONNECT_TIMEOUT_S)
    except Exception as error:
        raise UserError(f"cannot reach the Dask scheduler at {address} ({type(error).__name__}); is it running?")


def run_trials(trial, todo, *shared, jobs=1, dask=None):
    """Yield `trial(config, seed, *shared)` for every (config, seed) of `todo`, as they finish.

    In this process when jobs is 1, else in `jobs` joblib processes, or on the Dask
    scheduler at address `dask` (the arrays of `shared` are sent to the workers once).
    """
    if dask is None and jobs == 1:
        for config, seed in todo:
            yield prepared_trial(trial, config, seed, *shared)
        return
    import joblib

    calls = (joblib.delayed(prepared_trial)(trial, config, seed, *shared) for config, seed in todo)
    if dask is None:
        yield from joblib.Parallel(n_jobs=jobs, return_as="generator_unordered")(calls)
        return
    client = connect_dask(dask)
    try:
        scatter = [value for value in shared if isinstance(value, np.ndarray)]
        with joblib.parallel_config(backend="dask", scatter=scatter):
            yield from joblib.Parallel(return_as="generator_unordered")(calls)
    finally:
        client.close()


# --- Resuming and progress -----------------------------------------------------------


def pairs_to_run(configs, seeds, rows):
    """The (config, seed) pairs without a row yet; all seeds of a configuration in a row."""
    done = {(config_key(row), row["seed"]) for row in rows}
    return [(config, seed) for config in configs for seed in seeds if (config_key(config), seed) not in done]


def earlier_trials(results, definition, configs, seeds, reuse=False):
    """(rows to keep, the file they come from): a grid in progress is resumed; a finished
    grid_search.h5 (an earlier or the committed run) is kept only with `reuse` (--reuse), else retrained."""
    grid_file, partial = results / GRID_FILE, results / PARTIAL_FILE
    if reuse:
        rows = read_rows(grid_file, definition)
        missing = len(pairs_to_run(configs, seeds, rows))
        if not rows or missing:
            raise UserError(f"--reuse needs a finished {grid_file}; it has {missing or 'no'} trials missing. "
                            "Run without --reuse to train them")
        return rows, grid_file
    rows = read_rows(partial, definition)
    if not rows and grid_file.exists():
        print(f"a fresh grid: {grid_file} (an earlier or the committed run) is replaced when this grid is complete; "
              "--reuse keeps it instead", flush=True)
    return rows, partial


def wanted_rows(rows, configs, seeds):
    """The rows of `configs` × `seeds` (a grid file may hold other seeds too)."""
    wanted = {(config_key(config), seed) for config in configs for seed in seeds}
    return [row for row in rows if (config_key(row), row["seed"]) in wanted]


def progress_line(row, finished, total, eta_s):
    return (f"trial {finished}/{total} {describe(row)} seed={row['seed']}: "
            f"val {row['val_acc']:.3f} test {row['test_acc']:.3f} "
            f"({row['epochs']} epochs, {row['train_time_s']:.1f} s)  ETA {format_eta(eta_s)}")


def run_grid(trial, configs, seeds, rows, save, *shared, jobs=1, dask=None, source="the grid file"):
    """Run every (config, seed) not in `rows` (read from `source`); returns the wanted rows.

    `save(rows)` is called after every finished trial with all rows so far, so an
    interrupted grid resumes where it stopped.
    """
    rows = list(rows)
    todo = pairs_to_run(configs, seeds, rows)
    total = len(configs) * len(seeds)
    if rows:
        print(f"resuming: {len(rows)} trials already in {source}, {len(todo)} to go", flush=True)
    where = f"Dask at {dask}" if dask else f"{jobs} job(s)"
    print(f"grid: {len(configs)} configurations × {len(seeds)} seeds = {total} trials on {where}", flush=True)
    start = time.perf_counter()
    for finished, row in enumerate(run_trials(trial, todo, *shared, jobs=jobs, dask=dask), start=1):
        rows.append(row)
        save(rows)
        eta = (time.perf_counter() - start) / finished * (len(todo) - finished)
        print(progress_line(row, len(rows), total, eta), flush=True)
    return wanted_rows(rows, configs, seeds)
