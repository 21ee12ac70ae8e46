"""
Title: Exercises 2b and 2c: airplanes vs Motorbikes, a grid search and the HDF5 format
Description: Keras' own image primitives on two Caltech101 classes, a full factorial grid
over a small classifier trained with several seeds, and the best model saved as HDF5.

2b reads the class folders with `keras.utils.load_img` at 64×64 RGB, augments them with
Keras preprocessing layers (`RandomFlip`, `RandomRotation`, `RandomZoom`) and trains
`Rescaling → Flatten → Dense(n1) → Dropout → [Dense(n2) → Dropout] → Dense(1, sigmoid)`
for every augmentation × n1 × n2 × dropout × activation (240 configurations). 2c saves
the best configuration's model with `model.save(".h5")`, measures what the format gives
(`h5_facts.json`; make_report.py writes `h5_answer.md`) and draws it (Figure 2).

What changes from the report: the report used `ImageDataGenerator.flow_from_directory`,
which decodes every JPEG again in every epoch, ran each configuration once, used the
test set as validation and fixed no seed. Here the images are decoded once (and cached
across processes), each configuration is trained with several seeds on stratified
70/10/20 train/validation/test splits drawn from the seed, early stopping and the choice
of the best configuration look at the validation split only, and the grid resumes after
an interruption (every trial is in `.grid_search.partial.h5` as soon as it ends).
"""

from tp2.cli import exit_on_ctrl_c_while_importing

exit_on_ctrl_c_while_importing(__name__)  # Ctrl-C while the libraries below load: "interrupted", exit 130

import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from tp2 import data as tp2_data, grid_store, hdf5_model, trial_runner
from tp2.augmentation import AUGMENTATION, AUGMENTATION_2016, augmented_batches, augmented_pool, stream_batches
from tp2.cli import (add_classes_option, add_data_dir_option, add_protocol_option, add_results_dir_option,
                     check_classes, check_seed, chosen_results_dir, make_parser, positive_int, protocol_folder, run)
from tp2.image_folder import read_class_folders
from tp2.keras_setup import load_keras
from tp2.report.format import accuracy as format_accuracy
from tp2.results import atomic_write, locked, results_dir, staged, write_csv, write_json, write_run_info
from tp2.settings import chosen_settings, option_help
from tp2.splits import stratified_holdout, stratified_split
from tp2.stats import sample_sd

# The report's factors and levels (n2 = 0: no second layer), and the --quick sub-grid.
GRID = (("augmentation", (0, 1)), ("n1", (16, 32, 64, 128)), ("n2", (0, 16, 32, 64, 128)),
        ("dropout", (0.0, 0.1, 0.2)), ("activation", ("sigmoid", "relu")))
QUICK_GRID = (("augmentation", (0, 1)), ("n1", (128,)), ("n2", (0, 128)), ("dropout", (0.2,)), ("activation", ("relu",)))
# The author's grid, from his keras_imageTools.py: 6 × 5 × 5 × 2 × 2 = 600 configurations, in his
# loop's order (largest layers first) except that augmentation varies fastest, so that both runs
# of one network share its traced model.
GRID_2016 = (("n1", (512, 256, 128, 64, 32, 16)), ("n2", (256, 128, 64, 32, 0)), ("dropout", (0.7, 0.5, 0.2, 0.1, 0.0)),
             ("activation", ("relu", "sigmoid")), ("augmentation", (0, 1)))
QUICK_GRID_2016 = (("n1", (64,)), ("n2", (0, 32)), ("dropout", (0.2,)), ("activation", ("relu", "sigmoid")), ("augmentation", (0, 1)))


@dataclass(frozen=True)
class Settings:
    """What a run of the grid depends on; FULL is this reproduction's protocol, PROTOCOL_2016 the author's."""

    protocol: str = "revised"
    """Which recipe these settings are: "revised" (this repo's) or "2016" (the author's)."""
    image_size: int = 64
    """Side of the square RGB images, in pixels."""
    split_fractions: tuple = (0.7, 0.1, 0.2)
    """Train / validation / test fractions of the stratified split drawn from each seed."""
    test_per_class: int | None = None
    """Images per class held out as the test split (2016); None: split_fractions."""
    split_seed: int | None = None
    """Seed of one split shared by every trial (2016: his fixed folders); None: each seed draws its own."""
    batch_size: int = 32
    """Images per training batch."""
    optimizer: str = "adam"
    """"adam" or "rmsprop" (the author's, at Keras 1's defaults)."""
    learning_rate: float = 1e-4
    """The optimizer's learning rate."""
    epsilon: float = 1e-7
    """The optimizer's epsilon (Keras 3's default; Keras 1's was 1e-8)."""
    input_scale: tuple = (1 / 127.5, -1.0)
    """Rescaling(scale, offset) applied to the 0-255 pixels inside the model."""
    max_epochs: int = 30
    """Most epochs per trial (with early stopping on validation loss when patience is set)."""
    steps_per_epoch: int | None = None
    """Training batches per epoch; None: one pass over the training split."""
    patience: int | None = 5
    """Epochs without a lower validation loss before a trial stops; None: no early stopping, no validation."""
    label_smoothing: float = 0.1
    """Targets 0.05/0.95 instead of 0/1: higher validation accuracy on two sets of seeds (docs/NOTES.md)."""
    steps_per_execution: int = 5
    """Training steps per round of callbacks: the same weights, ~5% less Python overhead (README, Performance notes)."""
    seeds: int = 3
    """Seeds per configuration."""
    augmented_copies: int | None = 4
    """Augmented versions of every image, made once and cycled over the passes; None: one per pass."""
    augmentation: tuple = AUGMENTATION
    """The augmentation layers and their arguments."""
    grid: tuple = GRID
    """The factors and their levels; the grid is every combination."""
    interpolation: str = "bilinear"
    """How load_img resizes to image_size (2016: Pillow's default then, nearest)."""
    reader: str = "keras.utils.load_img+img_to_array"
    """How the images are decoded: part of the image cache key and of the grid definition."""
    patch_experiment_seeds: int = 3
    """Seeds of the patches-vs-whole-image experiment (tp1_patches_vs_whole.csv); 0: not run."""


SCRIPT = "keras_imageTools"
FULL = Settings()
QUICK = replace(FULL, grid=QUICK_GRID, seeds=2, augmented_copies=2, patch_experiment_seeds=1)
# The author's keras_imageTools.py: flow_from_directory at 64×64 RGB (rescale 1/255), RMSprop at
# its defaults, batch 64, 15 epochs of 20 batches, no early stopping, one run per configuration,
# accuracy on a separate held-out folder (his folders are not recorded: README says what is chosen).
PROTOCOL_2016 = replace(
    FULL, protocol="2016", split_fractions=None, test_per_class=50, split_seed=0, batch_size=64,
    optimizer="rmsprop", learning_rate=1e-3, epsilon=1e-8, input_scale=(1 / 255, 0.0), max_epochs=15,
    steps_per_epoch=20, patience=None, label_smoothing=0.0, steps_per_execution=10, seeds=1,
    augmented_copies=None, augmentation=AUGMENTATION_2016, grid=GRID_2016, interpolation="nearest", patch_experiment_seeds=0,
    reader="keras.utils.load_img(nearest)+img_to_array",
)
QUICK_2016 = replace(PROTOCOL_2016, grid=QUICK_GRID_2016)
PROTOCOLS = {"revised": (FULL, QUICK), "2016": (PROTOCOL_2016, QUICK_2016)}


def parse_args(argv=None):
    parser = make_parser(__doc__.split("\n")[1].removeprefix("Title: "), """outputs (in --results-dir):
  grid_search.h5 / .csv   one row per (configuration, seed); rerunning resumes
  grid_summary.csv        mean and SD per configuration, best first (chosen on validation)
  model_best.h5           the best configuration's model (architecture, weights, optimizer)
  h5_facts.json           what HDF5 gives, measured on this run (make_report.py writes h5_answer.md)
  figure2_model.png       plot_model of the best model (.dot when Graphviz is missing)
""")
    add_data_dir_option(parser)
    add_results_dir_option(parser, quick_default=True)
    add_protocol_option(parser)
    add_classes_option(parser, tp2_data.DEFAULT_CLASSES)
    parser.add_argument("--seeds", type=positive_int, help=option_help(Settings, "seeds", FULL, QUICK)
                        + f"; --protocol 2016: {PROTOCOL_2016.seeds}")
    parser.add_argument("--seed", type=int, default=0, help="first seed; trials use seed, seed+1, ... (default 0)")
    parser.add_argument("--epochs", type=positive_int, help=option_help(Settings, "max_epochs", FULL, QUICK))
    parser.add_argument("--jobs", type=positive_int, default=1,
                        help="trials at a time, in joblib processes; the same numbers (default 1)")
    parser.add_argument("--dask", metavar="ADDRESS", help="run the trials on a running Dask scheduler, e.g. tcp://10.0.0.5:8786")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the finished grid_search.h5 in --results-dir (train no trial) and redo what follows "
                             "from it: the summary, the CSV, model_best.h5, h5_facts.json and Figure 2")
    parser.add_argument("--quick", action="store_true",
                        help=f"a small sub-grid ({len(grid_store.configurations(QUICK.grid))} configurations), same outputs")
    return parser.parse_args(argv)


def settings_for(args):
    """The protocol's full or quick settings, with --seeds and --epochs when given."""
    return chosen_settings(PROTOCOLS, args, seeds=args.seeds, max_epochs=args.epochs)


# --- 2b. Data: the class folders, read with Keras ------------------------------------


def read_images(root, classes, settings=FULL):
    """(images uint8 (n, size, size, 3), labels int64, paths): every file read with keras.utils.load_img
    and img_to_array, once, then cached across processes, not in every epoch (README, Performance notes)."""
    return read_class_folders(root, classes, settings.image_size, settings.interpolation, settings.reader)


def split_indices(labels, seed, settings=FULL):
    """{'train'|'val'|'test': indices}: a stratified 70/10/20 split drawn from the seed; or, for
    the 2016 protocol, {'train'|'test'}: test_per_class images of each class held out, from split_seed."""
    seed = seed if settings.split_seed is None else settings.split_seed
    if settings.test_per_class is not None:
        return dict(zip(("train", "test"), stratified_holdout(labels, settings.test_per_class, seed)))
    return dict(zip(("train", "val", "test"), stratified_split(labels, settings.split_fractions, seed)))


# --- 2b. Model -----------------------------------------------------------------------


def build_model(config, seed, settings=FULL):
    """Rescaling → Flatten → Dense(n1) → Dropout → [Dense(n2) → Dropout] → Dense(1, sigmoid)."""
    keras = load_keras()
    size, (scale, offset) = settings.image_size, settings.input_scale
    layers = [keras.Input((size, size, 3)), keras.layers.Rescaling(scale, offset=offset), keras.layers.Flatten()]
    for units in [config["n1"]] + ([config["n2"]] if config["n2"] else []):  # n2 = 0: one hidden layer
        layers += [keras.layers.Dense(units, activation=config["activation"]),
                   keras.layers.Dropout(config["dropout"], seed=seed)]
    model = keras.Sequential(layers + [keras.layers.Dense(1, activation="sigmoid")], name="airplanes_vs_motorbikes")
    optimizer = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop}[settings.optimizer]
    model.compile(
        optimizer=optimizer(settings.learning_rate, epsilon=settings.epsilon),
        loss=keras.losses.BinaryCrossentropy(label_smoothing=settings.label_smoothing),
        metrics=["accuracy"],
        steps_per_execution=settings.steps_per_execution,
    )
    return model


# --- 2b. Training: one trial is one (configuration, seed) ----------------------------


def train_model(config, seed, images, labels, pool=None, settings=FULL, verbose=0):
    """Train one (configuration, seed); returns (model, split indices, Keras' history dict).

    Augmented configurations train on `pool` (augmented copies of `images`), the others
    on `images`; validation and test always use the plain images.
    """
    keras = load_keras()
    keras.utils.set_random_seed(seed)
    split = split_indices(labels, seed, settings)
    if config["augmentation"] and pool is None:
        raise ValueError("an augmented configuration needs the augmented copies (pool)")
    # This network's model from an earlier trial (same settings), reset: no tracing again (README, Performance notes).
    model = trial_runner.reused_model((grid_store.network_key(config), repr(settings)), lambda: build_model(config, seed, settings))
    if settings.patience is None:
        return train_model_2016(model, config, seed, images, labels, pool, split, settings, verbose)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=settings.patience, restore_best_weights=True)
    val = (images[split["val"]], labels[split["val"]].astype("float32"))
    # The whole validation split in one batch: one call per epoch (README, Performance notes).
    common = dict(epochs=settings.max_epochs, validation_data=val, validation_batch_size=len(val[1]),
                  callbacks=[stop], verbose=verbose)
    if config["augmentation"]:
        batches = augmented_batches(pool, split["train"], labels, seed, settings.batch_size)
        steps = -(-len(split["train"]) // settings.batch_size)
        history = model.fit(batches, steps_per_epoch=steps, shuffle=False, **common)  # batches come shuffled
    else:
        x, y = images[split["train"]], labels[split["train"]].astype("float32")
        history = model.fit(x, y, batch_size=settings.batch_size, **common)
    return model, split, history.history


def train_model_2016(model, config, seed, images, labels, pool, split, settings, verbose=0):
    """The author's fit_generator: shuffled batches from his generator (augmented or not), a fixed
    number of epochs of steps_per_epoch batches, nothing watched during training."""
    source = pool if config["augmentation"] else images[None]  # one plain copy, reshuffled every pass
    batches = stream_batches(source, split["train"], labels, seed, settings.batch_size)
    history = model.fit(batches, steps_per_epoch=settings.steps_per_epoch, epochs=settings.max_epochs,
                        shuffle=False, verbose=verbose)
    return model, split, history.history


def run_trial(config, seed, images, labels, pool, settings):
    """One trial of the grid: train, then validation and test accuracy (runs in workers too)."""
    start = time.perf_counter()
    model, split, history = train_model(config, seed, images, labels, pool, settings)
    if settings.patience is None:  # 2016: his only held-out folder both chose and reported, so val_acc is test_acc
        test = trial_runner.split_accuracies(model, images, labels, split, names=("test",))["test"]
        accuracies, last_train_acc = {"val": test, "test": test}, {"train_acc": float(history["accuracy"][-1])}
    else:
        accuracies, last_train_acc = trial_runner.split_accuracies(model, images, labels, split), {}
    return dict(config, seed=seed, val_acc=accuracies["val"], test_acc=accuracies["test"], epochs=len(history["loss"]),
                train_time_s=time.perf_counter() - start, **last_train_acc)


# --- 2b. The table's numbers: mean and SD per configuration, best first ---------------


def grid_summary(rows):
    """grid_summary.csv: one row per configuration, ranked on validation accuracy only."""
    return grid_store.ranked(grid_store.summarise(rows)).drop(columns="rank").rename(columns={
        "val_acc_mean": "val_mean", "val_acc_sd": "val_sd", "test_acc_mean": "test_mean",
        "test_acc_sd": "test_sd", "train_time_mean_s": "time_mean_s"})


# --- 2c. The best model in HDF5, what the format gives, and Figure 2 -------------------


def retrain_best(config, seed, images, labels, pool, settings=FULL):
    """train_model in a fresh Keras session: the saved layer names (dense, dense_1, ...) do not
    depend on what this process built before (the patches, trials when --jobs is 1)."""
    load_keras().backend.clear_session()
    trial_runner.forget_models()
    return train_model(config, seed, images, labels, pool, settings)


def save_model_h5(model, path):
    """`model.save(path)` in Keras' HDF5 format (the .h5 suffix), through a temporary file."""
    return atomic_write(path, lambda temp: model.save(temp))


# --- Main ----------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(argv)
    settings, classes = settings_for(args), check_classes(args.classes)
    check_seed(args.seed, settings.seeds + len(settings.augmentation))  # augmentation layer k uses seed + k
    load_keras()  # a bad KERAS_BACKEND is one line; Ctrl-C here exits at once, the results folder untouched
    started = time.perf_counter()
    if args.dask is not None:
        trial_runner.connect_dask(args.dask).close()  # fail fast, before reading any image
    results = results_dir(protocol_folder(chosen_results_dir(args), args.protocol))
    # The grid in progress goes straight into `results` (so that it resumes); the other outputs are
    # staged and move in together when the run has finished.
    with locked(results, SCRIPT), staged(results, SCRIPT) as stage:
        rows, best, written = run_exercise(args, settings, classes, results, stage, started)
    (results / grid_store.PARTIAL_FILE).unlink(missing_ok=True)

    best_rows = [row for row in rows if grid_store.config_key(row) == grid_store.config_key(best)]
    val, test = ([row[name] for row in best_rows] for name in ("val_acc", "test_acc"))
    chosen_on = "validation" if settings.patience is not None else "the held-out test split, as the author chose"
    spread = lambda values: format_accuracy(np.mean(values), sample_sd(values) if len(values) > 1 else None)  # one run: no SD
    runs = ", one run" if len(best_rows) == 1 else f" over {len(best_rows)} seeds"
    print(f"best on {chosen_on}: {grid_store.describe(best)}: val {spread(val)}, test {spread(test)}{runs}")
    print(f"wrote {', '.join(path.name for path in written)} in {results}/ ({time.perf_counter() - started:.0f} s)")


def run_exercise(args, settings, classes, results, stage, started):
    """The grid (resumed from `results`), then its outputs into `stage`; returns (rows, best, files written)."""
    if args.protocol == "2016":
        print(f"2016 protocol: the author's grid, {len(grid_store.configurations(settings.grid))} configurations × "
              f"{settings.seeds} seed(s), {settings.max_epochs} epochs of {settings.steps_per_epoch} batches of "
              f"{settings.batch_size}, {settings.test_per_class} held-out images per class", flush=True)
    definition, attributes = grid_store.grid_definition(settings, classes), grid_store.grid_attributes(settings)
    configs, seeds = grid_store.configurations(settings.grid), [args.seed + i for i in range(settings.seeds)]
    earlier, source = trial_runner.earlier_trials(results, definition, configs, seeds, args.reuse)  # before long work

    # 2b. Data, TP1's patches, and the augmented copies (made once, not in every epoch: README, Performance notes)
    start, size = time.perf_counter(), settings.image_size
    images, labels, _ = read_images(tp2_data.ensure_caltech(args.data_dir, classes), classes, settings)
    print(f"read {len(labels)} images ({size}×{size} RGB, {np.bincount(labels).tolist()} per class) "
          f"in {time.perf_counter() - start:.1f} s", flush=True)
    # 2b. TP1's loadImages, normalizeImage, getPatches and scaleRange with public Keras 3 API (tp2/tp1_in_keras.py).
    # The report found "no way to extract patches" in Keras and said the whole image did as well: measured here.
    written = []
    if settings.patch_experiment_seeds:
        from tp2 import tp1_in_keras  # imports Keras: not before the options are checked

        written.append(tp1_in_keras.write_patches_vs_whole_image(
            stage / "tp1_patches_vs_whole.csv", images, labels, args.seed, settings.patch_experiment_seeds))
    pool = augmented_pool(images, settings, args.seed, len(split_indices(labels, args.seed, settings)["train"]))

    # 2b. Training: every (configuration, seed), saved as it ends; then the table's numbers
    rows = trial_runner.run_grid(
        run_trial, configs, seeds, earlier, lambda rows: grid_store.save_partial(results, rows, definition, **attributes),
        images, labels, pool, settings, jobs=args.jobs, dask=args.dask, source=source)
    grid_store.save(stage, rows, definition, **attributes)  # the CSV always from these rows
    summary = grid_summary(rows)
    written += [stage / grid_store.GRID_FILE, stage / grid_store.GRID_CSV, write_csv(stage / "grid_summary.csv", summary)]

    # 2c. The best configuration retrained, saved with model.save(".h5"), measured and drawn (Figure 2)
    best = summary[list(grid_store.FACTORS)].head(1).to_dict("records")[0]  # plain Python values
    model, split, _ = retrain_best(best, args.seed, images, labels, pool, settings)
    written.append(save_model_h5(model, stage / "model_best.h5"))
    facts = hdf5_model.measure(model, written[-1], rows, definition, images[split["test"]], attributes)
    facts.update(config=best, image_size=size, input_size=size * size * 3, keras_version=load_keras().__version__,
                 optimizer=settings.optimizer)
    title = f"Figure 2: the best model ({grid_store.describe(best)}, {args.protocol} protocol)"
    written += [write_json(stage / "h5_facts.json", facts), hdf5_model.write_figure2(model, stage, results, title)]
    # A rerun resumes: say how many trials this run trained, so its wall time is read for what it is.
    trained = len(rows) - len(trial_runner.wanted_rows(earlier, configs, seeds))
    run_choices = dict(seed=args.seed, quick=args.quick, classes=list(classes), jobs=args.jobs, dask=args.dask,
                       trials=len(rows), trials_trained_in_this_run=trained)
    written.append(write_run_info(stage, SCRIPT, time.perf_counter() - started,
                                  dict(asdict(settings), **run_choices)))
    return rows, best, written


if __name__ == "__main__":
    run(main)
