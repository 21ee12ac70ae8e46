"""The grid store: `grid_search.h5`, one row per finished (configuration, seed) trial.

Schema: one compound dataset `/trials` with the columns of `TRIAL_DTYPE`, and root
attributes `grid` (the grid definition as JSON: what a row depends on besides its
configuration and seed: `grid_definition`), `versions`, `date` and a few settings for
readers (`grid_attributes`). The whole file is rewritten through a temporary file after
every trial (`save`), so a reader never sees half a row, and `grid_search.csv` is
regenerated from the same rows each time.

Readers: `read_rows` (resuming: refuses another grid definition) and `read_trials`
(analysis: a validated DataFrame). `summarise` and `ranked` turn trials into one row per
configuration, ranked on validation accuracy only.
"""

import datetime
import itertools
import json
from pathlib import Path

import lazy_loader
import numpy as np

from tp2.cli import UserError, warn
from tp2.results import atomic_write, library_versions, write_csv

h5py = lazy_loader.load("h5py")
pd = lazy_loader.load("pandas")  # imported on first use, so that --help answers at once

GRID_FILE = "grid_search.h5"
GRID_CSV = "grid_search.csv"
# A grid in progress: every finished trial is here until the grid is complete, then it becomes
# GRID_FILE (and GRID_CSV) and this file goes. So an interrupted run resumes its own trials,
# while a finished or committed grid_search.h5 is never mistaken for work to resume.
PARTIAL_FILE = ".grid_search.partial.h5"
TRIALS_DATASET = "trials"
FACTORS = ("augmentation", "n1", "n2", "dropout", "activation")
ACTIVATIONS = ("sigmoid", "relu")
TRIAL_DTYPE = np.dtype(
    [
        ("augmentation", "u1"),
        ("n1", "i4"),
        ("n2", "i4"),
        ("dropout", "f8"),
        ("activation", "S7"),
        ("seed", "i4"),
        ("val_acc", "f8"),
        ("test_acc", "f8"),
        ("epochs", "i4"),
        ("train_time_s", "f8"),
    ]
)
FIELDS = TRIAL_DTYPE.names
# Written only when the rows have it: the 2016 protocol's training accuracy (Keras' running
# mean over the last epoch's batches, as the author recorded it).
OPTIONAL_FIELDS = (("train_acc", "f8"),)


def trial_dtype(rows):
    """TRIAL_DTYPE, plus the optional columns that the first row has."""
    extra = [(name, kind) for name, kind in OPTIONAL_FIELDS if rows and name in rows[0]]
    return np.dtype(TRIAL_DTYPE.descr + extra) if extra else TRIAL_DTYPE


def config_key(config):
    """A configuration (or a row) as a hashable tuple of its factor levels."""
    return (
        int(config["augmentation"]), int(config["n1"]), int(config["n2"]),
        round(float(config["dropout"]), 6), str(config["activation"]),
    )


def network_key(config):
    """The configuration without augmentation: what the model's graph depends on."""
    return config_key(config)[1:]


def configurations(grid):
    """Every combination of the factor levels of `grid` ((factor, levels), ...), as dicts, in a fixed order."""
    factors = [factor for factor, _ in grid]
    return [dict(zip(factors, values)) for values in itertools.product(*(levels for _, levels in grid))]


def describe(config):
    """'aug=0 n1=64 n2=- dropout=0.2 relu': a configuration in one short line."""
    n2 = config["n2"] or "-"
    return (f"aug={config['augmentation']} n1={config['n1']} n2={n2} "
            f"dropout={config['dropout']:.1f} {config['activation']}")


# --- The grid definition and the attributes for readers ----------------------------


def grid_definition(settings, classes):
    """What a row depends on besides its (configuration, seed), from keras_imageTools' settings:
    stored as the `grid` attribute, and resuming requires a match."""
    same = ("image_size", "split_fractions", "batch_size", "learning_rate", "max_epochs", "patience",
            "label_smoothing", "reader")
    if settings.protocol != "revised":  # the whole recipe
        same += ("protocol", "test_per_class", "split_seed", "optimizer", "epsilon", "input_scale", "steps_per_epoch",
                 "augmented_copies", "augmentation", "interpolation")
    return {"factors": dict(settings.grid), "classes": list(classes), **{name: getattr(settings, name) for name in same}}


def grid_attributes(settings):
    """Root attributes of grid_search.h5 for readers, beside the grid definition."""
    if settings.protocol != "revised":
        return dict(protocol=settings.protocol, image_size=settings.image_size, test_per_class=settings.test_per_class,
                    max_epochs=settings.max_epochs)
    return dict(image_size=settings.image_size, split_fractions=settings.split_fractions, max_epochs=settings.max_epochs)


# --- Rows <-> the compound dataset ---------------------------------------------------


def rows_to_array(rows):
    array = np.zeros(len(rows), dtype=trial_dtype(rows))
    for name in array.dtype.names:
        values = [row[name] for row in rows]
        array[name] = [v.encode() if isinstance(v, str) else v for v in values] if name == "activation" else values
    return array


def array_to_rows(array):
    rows = []
    for record in array:
        row = {name: record[name].item() for name in array.dtype.names}
        row["activation"] = row["activation"].decode()
        rows.append(row)
    return rows


# --- Writing -------------------------------------------------------------------------


def write(path, rows, definition, compression=None, **attributes):
    """Rewrite an HDF5 grid file through a temporary file: a reader never sees a half row.

    `attributes` are extra root attributes (plain values) written beside the definition.
    """
    array = rows_to_array(rows)

    def write_file(temp):
        with h5py.File(temp, "w") as h5:
            h5.create_dataset(TRIALS_DATASET, data=array, compression=compression)
            h5.attrs["grid"] = json.dumps(definition)
            h5.attrs["versions"] = json.dumps(library_versions())
            h5.attrs["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
            for key, value in attributes.items():
                h5.attrs[key] = value
            h5.attrs["columns"] = json.dumps(list(array.dtype.names))

    return atomic_write(path, write_file)


def sorted_rows(rows):
    return sorted(rows, key=lambda row: (config_key(row), row["seed"]))


def save_partial(folder, rows, definition, **attributes):
    """The grid in progress (PARTIAL_FILE), rewritten after every trial."""
    write(Path(folder) / PARTIAL_FILE, sorted_rows(rows), definition, **attributes)


def save(folder, rows, definition, **attributes):
    """grid_search.h5 and grid_search.csv from `rows`, sorted by configuration and seed; the
    grid in progress, if any, is then removed."""
    folder = Path(folder)
    rows = sorted_rows(rows)
    write(folder / GRID_FILE, rows, definition, **attributes)
    write_csv(folder / GRID_CSV, pd.DataFrame(rows, columns=list(trial_dtype(rows).names)))
    (folder / PARTIAL_FILE).unlink(missing_ok=True)


# --- Reading -------------------------------------------------------------------------


def read_rows(path, definition):
    """Rows already in a grid file (none when absent); UserError if it is another grid."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        with h5py.File(path, "r") as h5:
            stored = json.loads(h5.attrs["grid"])
            array = h5[TRIALS_DATASET][()]
    except Exception as error:
        raise UserError(f"{path} is not a readable grid file ({type(error).__name__}); delete it or pass another --results-dir")
    if stored != json.loads(json.dumps(definition)):
        raise UserError(
            f"{path} holds a different grid (other settings, --epochs, --classes or --quick); "
            f"pass another --results-dir or delete it"
        )
    return array_to_rows(array)


def read_trials(path):
    """The grid as a DataFrame, one row per trial with a finite accuracy.

    Columns are FIELDS with activation as str; the root attributes `grid`, `versions`
    (parsed JSON) and `date` are in `frame.attrs` when present. Trials without a finite
    accuracy are dropped with a warning. Raises UserError (one readable sentence) for an
    absent, unreadable or malformed file.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found; run keras_imageTools.py first or pass --results-dir")
    try:
        with h5py.File(path, "r") as handle:
            if TRIALS_DATASET not in handle or not isinstance(handle[TRIALS_DATASET], h5py.Dataset):
                raise UserError(f"{path} has no /{TRIALS_DATASET} dataset; is it a grid-search file?")
            dataset = handle[TRIALS_DATASET]
            names = dataset.dtype.names or ()
            missing = [field for field in FIELDS if field not in names]
            if missing:
                raise UserError(f"{path}: /{TRIALS_DATASET} lacks columns {', '.join(missing)}")
            if dataset.ndim != 1:
                raise UserError(f"{path}: /{TRIALS_DATASET} should be 1-D, has shape {dataset.shape}")
            records = dataset[()]
            attrs = {key: handle.attrs[key] for key in ("grid", "versions", "date") if key in handle.attrs}
    except OSError as error:
        raise UserError(f"cannot read {path} as HDF5 ({error}); rerun keras_imageTools.py")
    if len(records) == 0:
        raise UserError(f"{path}: /{TRIALS_DATASET} has zero rows; the grid search saved no trials")

    optional = [name for name, _ in OPTIONAL_FIELDS if name in names]
    frame = pd.DataFrame({field: records[field] for field in (*FIELDS, *optional)})
    frame["activation"] = [
        value.decode("utf-8").strip("\x00") if isinstance(value, bytes) else str(value)
        for value in frame["activation"]
    ]
    frame = frame.astype(
        {"augmentation": int, "n1": int, "n2": int, "dropout": float, "seed": int,
         "val_acc": float, "test_acc": float, "epochs": int, "train_time_s": float, **dict.fromkeys(optional, float)}
    )
    for key, value in attrs.items():
        text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
        try:
            frame.attrs[key] = json.loads(text) if key != "date" else text
        except json.JSONDecodeError:
            frame.attrs[key] = text
    return usable_trials(frame, path)


def usable_trials(trials, path):
    """Drop trials without finite accuracies (with a warning) and check the activations."""
    unknown = sorted(set(trials["activation"]) - set(ACTIVATIONS))
    if unknown:
        raise UserError(f"{path}: unknown activation(s) {', '.join(unknown)}; expected sigmoid or relu")
    finite = np.isfinite(trials["val_acc"]) & np.isfinite(trials["test_acc"])
    if not finite.all():
        warn(f"{path}: {int((~finite).sum())} trial(s) without a finite accuracy ignored")
    attrs = dict(trials.attrs)
    trials = trials[finite].reset_index(drop=True)
    trials.attrs.update(attrs)
    if trials.empty:
        raise UserError(f"{path}: no trial has a finite accuracy")
    return trials


# --- One row per configuration, and the ranking ---------------------------------------


def summarise(trials):
    """One row per configuration (in factor order): seeds, mean and sample SD over them.

    The trials are put in seed order first: a float sum depends on its order, and parallel
    trials finish in any order, so the means would differ in the last bit from run to run."""
    frame = pd.DataFrame(trials).sort_values([*FACTORS, "seed"], kind="stable")
    optional = {f"{name}_mean": (name, "mean") for name, _ in OPTIONAL_FIELDS if name in frame}
    return frame.groupby(list(FACTORS), as_index=False).agg(
        seeds=("seed", "count"),
        **optional,
        val_acc_mean=("val_acc", "mean"),
        val_acc_sd=("val_acc", "std"),
        test_acc_mean=("test_acc", "mean"),
        test_acc_sd=("test_acc", "std"),
        epochs_mean=("epochs", "mean"),
        train_time_mean_s=("train_time_s", "mean"),
    )


def ranked(summary):
    """Configurations best first on mean validation accuracy, with tied ranks.

    The order within a tie goes to the smaller validation SD, then to grid order; the
    test accuracy never decides. `rank` is the rank of the mean validation accuracy with
    ties sharing the best rank (as scikit-learn's `rank_test_score`): configurations with
    the same `rank` are equally good on validation.
    """
    # Equal means can differ in the last bit (other accuracies with the same sum): compare them rounded.
    mean = summary["val_acc_mean"].round(12).rename("tied_mean")
    order = pd.concat([summary, mean], axis=1).sort_values(
        ["tied_mean", "val_acc_sd"], ascending=[False, True], kind="stable", na_position="last"
    ).reset_index(drop=True)
    order["rank"] = order.pop("tied_mean").rank(method="min", ascending=False).astype(int)
    return order
