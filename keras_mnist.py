"""
Title: Exercise 2a: Keras' mnist_mlp example and five changes to it (Table 2)
Description: The classic `mnist_mlp` example in Keras 3, trained as published and with each
of the report's five changes (EXPERIMENTS below, as the author's `keras_mnist.py` defines
them), several seeds each.

The original example: 784 pixels scaled to [0, 1] → Dense 512 ReLU → Dropout 0.2 → Dense
512 ReLU → Dropout 0.2 → Dense 10 softmax, categorical cross-entropy, RMSprop (learning rate
0.001), batch 128, 20 epochs. Its docstring claimed 98.40% test accuracy; the report
measured 0.9820.

What changes from the report: the report ran each configuration once and used the test
set as validation data (so its two accuracy columns are identical). Here every
configuration is trained with several seeds (mean ± SD), validation is a held-out,
stratified 1/6 of the 60,000 training images (9,999 images, the same split for every
run), and the official 10,000 test images are used only for the final score, never for
any choice. `relative_improvement` is the report's "mejora relativa": the original's
test error divided by this experiment's test error (above 1 = better than the original).
`--protocol 2016` reruns the author's recipe instead: all 60,000 training images, the test
set as `validation_data`, a random (not stratified) 25% for variant i, Keras 1's RMSprop
epsilon; its outputs go to <results-dir>/2016/.

    python keras_mnist.py                      # 6 experiments × 5 seeds × 20 epochs
    python keras_mnist.py --quick              # a small check in about a minute, into results-quick/

Outputs, moved into --results-dir together when the run ends: table2.csv, table2_runs.csv (one
row per run and epoch), figure_mnist_curves.png and run_keras_mnist.json.
"""

from tp2.cli import exit_on_ctrl_c_while_importing

exit_on_ctrl_c_while_importing(__name__)  # Ctrl-C while the libraries below load: "interrupted", exit 130

import tempfile
import time
from dataclasses import asdict, dataclass, field, replace

import lazy_loader
import numpy as np

from tp2.cli import (UserError, add_data_dir_option, add_protocol_option, add_results_dir_option, check_seed,
                     chosen_results_dir, eta_clock, interactive, make_parser, positive_int, protocol_folder, run)
from tp2.data import load_mnist_splits
from tp2.figures import curves_and_dots_figure
from tp2.keras_setup import check_backend, load_keras, reuse_compilations
from tp2.report.format import accuracy as format_accuracy, read_csv as read_results_csv
from tp2.results import locked, results_dir, save_figure, staged, write_csv, write_run_info
from tp2.settings import chosen_settings, option_help
from tp2.splits import stratified_subset
from tp2.stats import mean_and_sd

pd = lazy_loader.load("pandas")  # imported on first use, so that --help answers at once

SCRIPT = "keras_mnist"
NUM_CLASSES = 10  # the ten digits
INPUT_SIZE = 28 * 28  # pixels of one image, flattened

# The original and the report's five changes to it.
EXPERIMENTS = {
    "original": dict(label="Original", hidden_layers=2, activation="relu", dropout=0.2, train_fraction=1.0),
    "i_25pct_data": dict(label="i (25% data)", hidden_layers=2, activation="relu", dropout=0.2, train_fraction=0.25),
    "ii_one_layer": dict(label="ii (one hidden layer, no dropout)", hidden_layers=1, activation="relu", dropout=0.0,
                         train_fraction=1.0),
    "iii_sigmoid": dict(label="iii (sigmoid)", hidden_layers=2, activation="sigmoid", dropout=0.2, train_fraction=1.0),
    "iv_more_dropout": dict(label="iv (dropout 0.6)", hidden_layers=2, activation="relu", dropout=0.6, train_fraction=1.0),
    "v_no_dropout": dict(label="v (no dropout)", hidden_layers=2, activation="relu", dropout=0.0, train_fraction=1.0),
}


@dataclass(frozen=True)
class Settings:
    hidden_units: int = 512
    """Units of every hidden Dense layer."""
    batch_size: int = 128
    """Images per training batch."""
    eval_batch_size: int = 1000
    """Images per validation and test batch: 10 equal test batches, one compilation (README, Performance notes)."""
    epochs: int = 20
    """Training epochs per run."""
    learning_rate: float = 0.001
    """RMSprop's learning rate."""
    seeds: int = 5
    """Runs per experiment, one per seed (seed, seed+1, ...)."""
    validation_fraction: float = 1 / 6
    """Share of the 60,000 training images held out for validation (stratified, rounded per class: 9,999)."""
    train_size: int | None = None
    """Training images kept after the validation split (a stratified subset); None keeps them all."""
    experiments: dict = field(default_factory=lambda: dict(EXPERIMENTS))
    """The experiments to run: {name: label, hidden_layers, activation, dropout, train_fraction}."""
    protocol: str = "revised"
    """The protocol's name; a protocol other than the revised one writes to <results>/<name>/."""
    validation: str = "held-out"
    """Validation data: a "held-out" part of the training images, or the "test" set (the report's way)."""
    subset: str = "stratified"
    """How variant i's share of the training images is drawn: "stratified" or "random" (the author's shuffle)."""
    rmsprop_epsilon: float = 1e-7
    """RMSprop's epsilon (Keras 3's default; Keras 1's was 1e-8)."""


FULL = Settings()
QUICK = replace(FULL, train_size=15_000, epochs=2, seeds=2)
# The author's recipe (original-code/tp2/keras_mnist.py) on Keras 3: train on all 60,000 images, pass
# the test set as validation_data (so both accuracy columns are the test accuracy), variant i keeps a
# random 25% (np.random.shuffle, first quarter), RMSprop() at Keras 1's defaults.
PROTOCOL_2016 = replace(FULL, protocol="2016", validation="test", subset="random", rmsprop_epsilon=1e-8)
QUICK_2016 = replace(PROTOCOL_2016, train_size=15_000, epochs=2, seeds=2)
PROTOCOLS = {"revised": (FULL, QUICK), "2016": (PROTOCOL_2016, QUICK_2016)}


def parse_args(argv=None):
    parser = make_parser(__doc__.split("\n")[1].removeprefix("Title: "),
                         epilog="experiments: " + ", ".join(EXPERIMENTS))
    add_data_dir_option(parser)
    add_results_dir_option(parser, quick_default=True)
    add_protocol_option(parser)
    parser.add_argument("--seeds", type=positive_int, help=option_help(Settings, "seeds", FULL, QUICK))
    parser.add_argument("--seed", type=int, default=0,
                        help="first seed, 0 or more; runs use seed, seed+1, ... and the validation split uses seed "
                             "(default 0)")
    parser.add_argument("--epochs", type=positive_int, help=option_help(Settings, "epochs", FULL, QUICK))
    parser.add_argument("--experiments", nargs="+", metavar="NAME",
                        help="run only these experiments (default: all six)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a quick check: {QUICK.train_size} training images, {QUICK.epochs} epochs, "
                             f"{QUICK.seeds} seeds (about a minute), same outputs, into results-quick/ by default")
    parser.add_argument("--redraw", action="store_true",
                        help="train nothing: redraw figure_mnist_curves.png from the table2_runs.csv in the results folder")
    args = parser.parse_args(argv)
    unknown = [name for name in args.experiments or () if name not in EXPERIMENTS]
    if unknown:
        raise UserError(f"unknown experiment {', '.join(unknown)}; choose from {', '.join(EXPERIMENTS)}")
    return args


def settings_for(args):
    """The protocol's full or quick settings, with --seeds, --epochs and --experiments (in the order given)."""
    settings = chosen_settings(PROTOCOLS, args, seeds=args.seeds, epochs=args.epochs,
                               experiments=args.experiments and {name: EXPERIMENTS[name] for name in args.experiments})
    check_seed(args.seed, settings.seeds)
    return settings


# --- Data: 50,001 training, 9,999 validation and the 10,000 official test images ----
# (tp2.data.load_mnist_splits; the 2016 protocol trains on all 60,000 and validates on the test set)


def training_part(splits, fraction, seed, subset="stratified"):
    """The training images of one run: all of them, or a `fraction` drawn with `seed`, stratified
    or (the author's way) the first `fraction` of a shuffled index."""
    if fraction < 1.0 and subset == "random":
        order = np.arange(len(splits["y_train"]))
        np.random.RandomState(seed).shuffle(order)
        index = order[: round(len(order) * fraction)]
    else:
        index = stratified_subset(splits["y_train"], fraction, seed)
    return splits["x_train"][index], splits["y_train"][index]


# --- Model: mnist_mlp with the changes of one experiment ----------------------------


def build_model(experiment, settings=FULL):
    """The mnist_mlp network with the changes of one experiment, compiled as in the example."""
    keras = load_keras()
    changes = settings.experiments[experiment]
    layers = [keras.Input(shape=(INPUT_SIZE,))]
    for _ in range(changes["hidden_layers"]):
        layers.append(keras.layers.Dense(settings.hidden_units, activation=changes["activation"]))
        if changes["dropout"] > 0:
            layers.append(keras.layers.Dropout(changes["dropout"]))
    layers.append(keras.layers.Dense(NUM_CLASSES, activation="softmax"))
    model = keras.Sequential(layers, name=experiment)
    model.compile(
        loss="categorical_crossentropy",
        optimizer=keras.optimizers.RMSprop(learning_rate=settings.learning_rate, epsilon=settings.rmsprop_epsilon),
        metrics=["accuracy"],
    )
    return model


# --- Training: one run is one (experiment, seed) ------------------------------------


def epoch_timer(times):
    """A callback that appends the wall time of every epoch (training plus its validation pass) to `times`."""
    keras = load_keras()
    start = {}
    return keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: start.update(time=time.perf_counter()),
        on_epoch_end=lambda epoch, logs: times.append(time.perf_counter() - start["time"]),
    )


def train_run(experiment, splits, seed, settings=FULL, verbose=0):
    """Train one model from `seed`; returns its validation curve, test accuracy and epoch times."""
    keras = load_keras()
    # Same layer names in every run, so XLA's compiled steps are reused (README, Performance notes).
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    x_train, y_train = training_part(splits, settings.experiments[experiment]["train_fraction"], seed, settings.subset)
    one_hot = lambda labels: keras.utils.to_categorical(labels, NUM_CLASSES)
    model = build_model(experiment, settings)
    epoch_times = []
    history = model.fit(
        x_train, one_hot(y_train),
        batch_size=settings.batch_size,
        epochs=settings.epochs,
        validation_data=(splits["x_val"], one_hot(splits["y_val"])),
        validation_batch_size=settings.eval_batch_size,
        callbacks=[epoch_timer(epoch_times)],
        verbose=verbose,
    )
    _, test_acc = model.evaluate(splits["x_test"], one_hot(splits["y_test"]),
                                 batch_size=settings.eval_batch_size, verbose=0)
    return {
        "experiment": experiment,
        "seed": seed,
        "train_size": len(x_train),
        "val_acc": [float(a) for a in history.history["val_accuracy"]],
        "test_acc": float(test_acc),
        "epoch_times": epoch_times,
    }


# --- The table's numbers: Table 2 and every run's curve -----------------------------


def relative_improvement(original_test_acc, test_acc):
    """The report's 'mejora relativa': original's test error / this test error."""
    return (1.0 - original_test_acc) / (1.0 - test_acc)


def runs_frame(runs):
    """table2_runs.csv: one row per run and epoch, validation accuracy and epoch time; test accuracy per run."""
    return pd.DataFrame([{"experiment": r["experiment"], "seed": r["seed"], "epoch": epoch + 1, "train_size": r["train_size"],
                          "val_acc": val_acc, "test_acc": r["test_acc"], "epoch_time_s": r["epoch_times"][epoch]}
                         for r in runs for epoch, val_acc in enumerate(r["val_acc"])])


def summary_table(runs):
    """table2.csv: mean and SD of final validation and test accuracy per experiment."""
    rows = []
    for experiment in dict.fromkeys(r["experiment"] for r in runs):
        finals = [{"val_acc": r["val_acc"][-1], "test_acc": r["test_acc"]} for r in runs if r["experiment"] == experiment]
        rows.append({"experiment": experiment, **mean_and_sd(finals, ("val_acc", "test_acc")), "seeds": len(finals)})
    table = pd.DataFrame(rows)
    original = table.loc[table["experiment"] == "original", "test_acc_mean"]
    table["relative_improvement"] = relative_improvement(original.iloc[0], table["test_acc_mean"]) if len(original) else np.nan
    return table[["experiment", "val_acc_mean", "val_acc_sd", "test_acc_mean", "test_acc_sd",
                  "relative_improvement", "seeds"]]


def mean_epoch_seconds(runs, experiment):
    """Mean epoch time of an experiment's runs, first (compiling) epochs left out when there are others."""
    mine = [r["epoch_times"] for r in runs if r["experiment"] == experiment]
    return round(float(np.mean([t for times in mine for t in times[1:]] or [times[0] for times in mine])), 3)


# --- The figure: validation accuracy per epoch, and the final test accuracies -------


def curves_figure(runs, settings=FULL):
    """Left: validation accuracy per epoch, mean ± 1 SD over seeds. Right: every run's test
    accuracy (dots) and the mean ± SD per experiment, which the overlapping curves hide."""
    experiments = list(dict.fromkeys(r["experiment"] for r in runs))
    groups = [[r for r in runs if r["experiment"] == experiment] for experiment in experiments]
    return curves_and_dots_figure(
        [np.array([r["val_acc"] for r in group]) for group in groups], [np.array([r["test_acc"] for r in group]) for group in groups],
        [settings.experiments[experiment]["label"] for experiment in experiments],
        ("validation accuracy", "Validation accuracy per epoch (mean ± SD)"),
        ("test accuracy", "Test accuracy: each seed (dot), mean ± SD (bar)"),
        f"MNIST MLP, {len(groups[-1])} seeds per experiment")


# --- Main ----------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(argv)
    settings = settings_for(args)
    started = time.perf_counter()
    results = results_dir(protocol_folder(chosen_results_dir(args), settings.protocol))
    if args.redraw:
        return redraw_figure(results, settings)
    check_backend()
    splits = load_mnist_splits(args.data_dir, args.seed, settings)
    load_keras()  # before the results folder is locked: Ctrl-C during this import exits at once
    with locked(results, SCRIPT), staged(results, SCRIPT) as stage:
        seeds = [args.seed + i for i in range(settings.seeds)]
        validation = "the test set as" if settings.validation == "test" else f"{len(splits['y_val'])}"
        print(f"{settings.protocol} protocol. MNIST: {len(splits['y_train'])} training, {validation} validation, "
              f"{len(splits['y_test'])} test images; {len(settings.experiments)} experiments × {len(seeds)} seeds "
              f"× {settings.epochs} epochs", flush=True)
        runs = train_all(settings, splits, seeds, started)
        table = summary_table(runs)
        written = write_outputs(stage, table, runs, settings, dict(
            seed=args.seed, quick=args.quick, train_images=len(splits["y_train"]),
            validation_images=len(splits["y_val"]), test_images=len(splits["y_test"])), started)
    print(f"Table 2: test accuracy, mean ± SD over {len(seeds)} seeds; relative improvement over the original")
    for row in table.itertuples():
        improvement = "–" if np.isnan(row.relative_improvement) else f"{row.relative_improvement:.3f}"
        print(f"  {row.experiment:<16} {format_accuracy(row.test_acc_mean, row.test_acc_sd)}   {improvement}")
    print(f"wrote {', '.join(path.name for path in written)} in {results}/ ({time.perf_counter() - started:.0f} s)")


def redraw_figure(results, settings):
    """The figure again from table2_runs.csv (its 6 significant digits), without training."""
    frame = read_results_csv(results, "table2_runs.csv")
    if frame is None:
        raise UserError(f"{results / 'table2_runs.csv'} is not there; run keras_mnist.py first (without --redraw)")
    runs = [{"experiment": experiment, "seed": seed, "val_acc": list(run["val_acc"]), "test_acc": run["test_acc"].iloc[0]}
            for (experiment, seed), run in frame.sort_values("epoch", kind="stable").groupby(
                ["experiment", "seed"], sort=False)]
    settings = replace(settings, experiments={name: EXPERIMENTS[name] for name in dict.fromkeys(frame["experiment"])})
    with locked(results, SCRIPT), staged(results, SCRIPT) as stage:
        path = save_figure(stage / "figure_mnist_curves.png", curves_figure(runs, settings))
    print(f"redrew {path.name} in {results}/ from table2_runs.csv")


def train_all(settings, splits, seeds, started):
    """Every experiment with every seed, in order; prints a line per run with the run's ETA."""
    total, runs = len(settings.experiments) * len(seeds), []
    step_done = eta_clock(total)
    # Other seeds of a network load its compiled steps instead of compiling again (README, Performance notes).
    with tempfile.TemporaryDirectory(prefix="keras-mnist-xla-") as compile_cache:
        reuse_compilations(compile_cache)
        for experiment in settings.experiments:
            for seed in seeds:
                if interactive():
                    print(f"[{len(runs) + 1}/{total}] {experiment}, seed {seed}", flush=True)
                result = train_run(experiment, splits, seed, settings, verbose=1 if interactive() else 0)
                runs.append(result)
                print(f"[{len(runs)}/{total}] {experiment} seed {seed}: val_acc {result['val_acc'][-1]:.4f} "
                      f"test_acc {result['test_acc']:.4f} epoch {np.mean(result['epoch_times'][1:] or result['epoch_times']):.2f} s "
                      f"(first {result['epoch_times'][0]:.2f} s) elapsed {time.perf_counter() - started:.0f} s  "
                      f"ETA {step_done()}", flush=True)
    return runs


def write_outputs(folder, table, runs, settings, facts, started):
    """table2.csv, table2_runs.csv, the figure and run_keras_mnist.json in `folder`; returns their paths."""
    written = [write_csv(folder / "table2.csv", table), write_csv(folder / "table2_runs.csv", runs_frame(runs)),
               save_figure(folder / "figure_mnist_curves.png", curves_figure(runs, settings))]
    written.append(write_run_info(folder, SCRIPT, time.perf_counter() - started, dict(
        asdict(settings), **facts,
        mean_epoch_seconds_after_first={name: mean_epoch_seconds(runs, name) for name in settings.experiments},
    )))
    return written


if __name__ == "__main__":
    run(main)
