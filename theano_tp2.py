"""
Title: Exercise 1 — the Theano tutorial's logistic regression on PyTensor (Table 1)
Description: the tutorial's algebra exercise (1a), its logistic regression on random data
(1b, the sanity check: about 50% test error on random labels), and Table 1: the same model
on Caltech101 airplanes vs Motorbikes (grayscale 28x28 = 784 features, as in the tutorial)
with full-batch gradient descent, minibatch SGD, and minibatch SGD with one hidden layer of
100 sigmoid or ReLU units.

What changes from the report: every experiment is repeated (10 times by default) on a fresh
stratified 80/20 split per repetition (the same split for the four models), with seeds, and
reported as mean (SD); the test set is never used for training choices; training time excludes
compilation; learning rates and epochs are set so that every model converges (README).
`--protocol 2016` reruns the author's recipe instead (tp2/theano_recipe_2016.py), with one-change ablations.

Theano -> PyTensor (PyTensor is the maintained continuation of Theano; the API is the same):
    import theano                    -> import pytensor
    import theano.tensor as T        -> import pytensor.tensor as T
    theano.shared(value)             -> pytensor.shared(value)
    theano.function(inputs, outputs, updates=...) -> pytensor.function(inputs, outputs, updates=...)
    T.grad(cost, wrt)                -> T.grad(cost, wrt)
    T.dmatrix / T.dvector            -> T.matrix / T.vector (dtype taken from config.floatX)
    T.nnet.sigmoid, T.nnet.relu      -> T.sigmoid, T.maximum(z, 0)
    theano.config.floatX             -> pytensor.config.floatX
The C backend (g++) compiles each function, as Theano's did.

    python theano_tp2.py                 # 10 repetitions -> results/
    python theano_tp2.py --quick         # a run of ~30 s with the same outputs -> results-quick/
    python theano_tp2.py --protocol 2016 # the author's recipe -> results/2016/ (~4 min)
The outputs are moved into the results folder together when the run ends, or not at all.
"""

from tp2.cli import exit_on_ctrl_c_while_importing

exit_on_ctrl_c_while_importing(__name__)  # Ctrl-C while the libraries below load: "interrupted", exit 130

import time
from dataclasses import asdict, dataclass, field, replace

import lazy_loader
import numpy as np

from tp2.cli import (UserError, add_classes_option, add_data_dir_option, add_protocol_option, add_results_dir_option,
                     check_classes, check_seed, chosen_results_dir, eta_clock, make_parser, positive_int, protocol_folder,
                     run)
from tp2.data import DEFAULT_CLASSES, feature_facts, load_caltech_vectors
from tp2.figures import mean_sd_curves_figure
# The loops that drive a compiled train_step: full batch, shuffled minibatches, the author's 2016 stop rule.
from tp2.pytensor_training import accuracy, set_parameters, train, train_repetitions
from tp2.report.format import accuracy as format_accuracy
from tp2.results import locked, results_dir, save_figure, staged, write_csv, write_json, write_run_info
from tp2.settings import chosen_settings, option_help
from tp2.stats import mean_and_sd, sample_sd
from tp2.theano_recipe_2016 import ABLATIONS_2016, CHANGES, experiments_2016, normal_initial_parameters

pd = lazy_loader.load("pandas")  # imported on first use, so that --help answers at once

SCRIPT = "theano_tp2"
# The four experiments of Table 1, in the report's order. `batch_size=None` is full-batch
# gradient descent, whose "epochs" are single steps; `title` names the model in tables and figures.
EXPERIMENTS = {
    "batch": dict(title="Batch", hidden=None, batch_size=None, learning_rate=0.1, epochs=1000),
    "minibatch": dict(title="Minibatch", hidden=None, batch_size=32, learning_rate=0.01, epochs=50),
    "minibatch_hidden_sigmoid": dict(title="Minibatch + sigmoid hidden layer", hidden="sigmoid",
                                     batch_size=32, learning_rate=0.1, epochs=50),
    "minibatch_hidden_relu": dict(title="Minibatch + ReLU hidden layer", hidden="relu",
                                  batch_size=32, learning_rate=0.02, epochs=50),
}


@dataclass(frozen=True)
class Settings:
    """What a run of Exercise 1 does: FULL is this reproduction's protocol, QUICK the --quick run."""

    image_size: int = 28
    """Side of the grayscale images in pixels (28 x 28 = 784 features, as the tutorial)."""
    test_fraction: float = 0.2
    """Share of each class held out as the test split of a repetition."""
    l2_weight: float = 0.01
    """Weight of the tutorial's L2 term, 0.01 * (w ** 2).sum(), on every weight matrix."""
    hidden_units: int = 100
    """Units of the hidden layer of the two hidden-layer experiments."""
    blas_threads: int = 1
    """BLAS threads while training: the matrices are small (README, Performance notes)."""
    repetitions: int = 10
    """Repetitions with different seeds, each on its own split."""
    random_check: dict = field(default_factory=lambda: dict(
        n_train=400, n_test=400, features=784, steps=10_000, learning_rate=0.1))
    """1b: n_train + n_test random samples of `features` features; `steps` full-batch steps at `learning_rate`."""
    experiments: dict = field(default_factory=lambda: dict(EXPERIMENTS))
    """Table 1's experiments (EXPERIMENTS); one with `stop_change` trains as the 2016 recipe (tp2/theano_recipe_2016.py)."""
    protocol: str = "revised"
    """The protocol's name; a protocol other than the revised one writes to <results>/<name>/."""
    classes: tuple = DEFAULT_CLASSES
    """The two Caltech101 classes, in label order (0, 1)."""
    color: str = "L"
    """Pixels read as grayscale ("L", 784 features at 28 x 28) or colour ("RGB", 2,352)."""
    resize: str = "stretch"
    """"stretch" to size x size (Pillow, bilinear) or the author's "rescale-pad" (aspect kept, zero-padded)."""
    storage_dtype: str | None = None
    """NumPy dtype the images are stored in before training (None: floats in [0, 1])."""
    standardise: bool = True
    """Standardise every pixel with the training split's mean and SD."""
    dtype: str = "float32"
    """Float type of the compiled graph and its inputs; float32 as PyTensor's floatX (README, Performance notes)."""
    init: str = "tutorial"
    """Initial weights: "tutorial" (zeros; Glorot uniform for a hidden layer) or "normal" (N(0, 1))."""
    loss_form: str = "logit"
    """Cross-entropy written with the logit ("logit", README Performance notes) or with p = 1/(1+exp(-z))."""
    split: str = "stratified"
    """Train/test split of a repetition: "stratified" from its seed, or the author's "shuffle"."""
    seeds: tuple | None = None
    """The seed of each repetition; None: --seed + repetition."""
    sd_ddof: int = 1
    """Delta degrees of freedom of the SDs in table1.csv (1: sample SD; 0: NumPy's default)."""


def with_epochs(experiments, **epochs):
    """The same experiments with other epoch counts, e.g. with_epochs(experiments, batch=300)."""
    return {name: dict(spec, epochs=epochs.get(name, spec["epochs"])) for name, spec in experiments.items()}


FULL = Settings()
QUICK = replace(FULL, repetitions=2, random_check=dict(FULL.random_check, steps=2_000), experiments=with_epochs(
    FULL.experiments, batch=300, minibatch=10, minibatch_hidden_sigmoid=10, minibatch_hidden_relu=10))

# The author's recipe, on today's stack, and one change each to it (tp2/theano_recipe_2016.py, read from his code).
PROTOCOL_2016 = replace(FULL, **CHANGES, experiments=experiments_2016(EXPERIMENTS))
QUICK_2016 = replace(PROTOCOL_2016, repetitions=2)
PROTOCOLS = {"revised": (FULL, QUICK), "2016": (PROTOCOL_2016, QUICK_2016)}


def parse_args(argv=None):
    parser = make_parser(
        __doc__.split("\n")[1].removeprefix("Title: "),
        epilog="Writes table1.csv, random_check.csv, figure_table1_curves.png and run_theano_tp2.json "
        "to the results folder; make_report.py turns them into Markdown.",
    )
    add_data_dir_option(parser)
    add_results_dir_option(parser, quick_default=True)
    add_protocol_option(parser)
    add_classes_option(parser, FULL.classes, PROTOCOL_2016.classes)
    parser.add_argument("--repetitions", type=positive_int, default=None,
                        help=option_help(Settings, "repetitions", FULL, QUICK))
    parser.add_argument("--seed", type=int, default=0,
                        help="base seed, 0 or more; repetition r uses seed+r (default: 0; the 2016 protocol uses "
                             "the author's seeds)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer repetitions and epochs (about 30 s), into results-quick/ by default")
    return parser.parse_args(argv)


def settings_for(args):
    """The protocol's full or quick settings; --repetitions and --classes, when given, replace theirs."""
    settings = chosen_settings(PROTOCOLS, args, repetitions=args.repetitions,
                               classes=args.classes and check_classes(args.classes))
    if settings.seeds is not None and settings.repetitions > len(settings.seeds):
        raise UserError(f"--repetitions {settings.repetitions}: the {settings.protocol} protocol has "
                        f"{len(settings.seeds)} seeds (the author's); pass --repetitions {len(settings.seeds)} or fewer")
    check_seed(args.seed, settings.repetitions)
    return settings


# --- 1a: the algebra exercise ----------------------------------------------------------


def compile_algebra():
    """The tutorial's exercise: f(a, b) = a**2 + b**2 + 2*a*b for two vectors."""
    import pytensor  # imported where the graph is built, so that --help answers without loading PyTensor
    import pytensor.tensor as T

    from tp2.pytensor_setup import COMPILE_MODE  # float32, C backend, g++ flags (README, Performance notes)

    a, b = T.vector("a"), T.vector("b")
    return pytensor.function([a, b], a**2 + b**2 + 2 * a * b, mode=COMPILE_MODE)


def algebra_example():
    """1a: compile the tutorial's exercise and print it on two small vectors."""
    from tp2.pytensor_setup import FLOATX

    a, b = np.array([1, 2, 3], FLOATX), np.array([4, 5, 6], FLOATX)
    print(f"1a: a**2 + b**2 + 2*a*b for a={a.tolist()}, b={b.tolist()}: {compile_algebra()(a, b).tolist()}")


# --- The models: logistic regression, optionally with one hidden layer ------------------


def initial_parameters(settings, n_features, hidden, rng):
    """Zero weights for logistic regression (as the Theano deep learning tutorial); Glorot
    uniform for a hidden layer (4x wider for sigmoid, as the tutorial's MLP)."""
    dtype, units = settings.dtype, settings.hidden_units
    if settings.init == "normal":  # the 2016 recipe: N(0, 1) weights
        return normal_initial_parameters(n_features, hidden, units, rng, dtype)
    if hidden is None:
        return {"w": np.zeros(n_features, dtype), "b": np.zeros((), dtype)}
    bound = np.sqrt(6.0 / (n_features + units)) * (4.0 if hidden == "sigmoid" else 1.0)
    return {"w1": rng.uniform(-bound, bound, (n_features, units)).astype(dtype),
            "b1": np.zeros(units, dtype), "w": np.zeros(units, dtype), "b": np.zeros((), dtype)}


def build_model(settings, n_features, hidden, learning_rate, with_xent=False):
    """Compile train_step(x, y) -> cost (one gradient step on the shared parameters; with
    `with_xent`, [cost, mean cross-entropy]) and predict(x) -> 0/1 labels.
    Returns (params dict of shared variables, train_step, predict)."""
    import pytensor  # imported where the graph is built, so that --help answers without loading PyTensor
    import pytensor.tensor as T

    from tp2.pytensor_setup import COMPILE_MODE  # float32, C backend, g++ flags (README, Performance notes)

    dtype = settings.dtype
    placeholder = initial_parameters(replace(settings, init="tutorial"), n_features, hidden, np.random.default_rng(0))
    params = {name: pytensor.shared(value.astype(dtype), name=name) for name, value in placeholder.items()}
    x, y = T.matrix("x", dtype=dtype), T.vector("y", dtype=dtype)
    features = x
    if hidden is not None:
        z1 = T.dot(x, params["w1"]) + params["b1"]
        features = T.sigmoid(z1) if hidden == "sigmoid" else T.maximum(z1, 0)
    z = T.dot(features, params["w"]) + params["b"]  # logit
    p_1 = T.sigmoid(z)  # probability of class 1
    prediction = p_1 > 0.5
    if settings.loss_form == "logit":
        # The tutorial's -y log(p_1) - (1 - y) log(1 - p_1) with the logit: one softplus (README, Performance notes).
        xent = T.softplus(z) - y * z
    else:  # as the tutorial and the author wrote it; PyTensor rewrites log(sigmoid) stably, as Theano did
        p_1 = 1 / (1 + T.exp(-z))
        xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    # The tutorial's (w ** 2).sum() as a dot product: one BLAS call (README, Performance notes).
    flat_weights = [params[name].ravel() for name in ("w", "w1") if name in params]
    cost = xent.mean() + settings.l2_weight * sum(T.dot(flat, flat) for flat in flat_weights)
    shared = list(params.values())
    grads = T.grad(cost, shared)
    rate = np.asarray(learning_rate, dtype=dtype)
    updates = [(p, p - rate * g) for p, g in zip(shared, grads)]
    outputs = [cost, xent.mean()] if with_xent else cost
    train_step = pytensor.function(inputs=[x, y], outputs=outputs, updates=updates, mode=COMPILE_MODE)
    predict = pytensor.function(inputs=[x], outputs=prediction, mode=COMPILE_MODE)
    train_step.trust_input = True  # inputs are always arrays of `dtype` built here: skip the checks
    # One call of each now, so that no lazy set-up counts as training time (callers set the parameters).
    warm_x = np.zeros((2, n_features), dtype)
    train_step(warm_x, np.zeros(2, dtype))
    predict(warm_x)
    return params, train_step, predict


# --- 1b: the tutorial's logistic regression on random data -------------------------------


def random_check(settings, seed):
    """Train the tutorial's model on random data; random labels leave ~50% test error."""
    check = settings.random_check
    n_train, features = check["n_train"], check["features"]
    params, train_step, predict = build_model(settings, features, None, check["learning_rate"])
    rows = []
    for rep in range(settings.repetitions):
        rng = np.random.default_rng([seed, rep, 1])
        n = n_train + check["n_test"]
        x = rng.standard_normal((n, features)).astype(settings.dtype)
        y = rng.integers(0, 2, n).astype(settings.dtype)
        train_x, test_x = x[:n_train], x[n_train:]
        train_y, test_y = y[:n_train], y[n_train:]
        # The tutorial starts from w ~ N(0, 1), b = 0.
        set_parameters(params, {"w": rng.standard_normal(features), "b": 0.0})
        train(train_step, train_x, train_y, None, [None] * check["steps"])
        rows.append({"train_error": 1 - accuracy(predict, train_x, train_y),
                     "test_error": 1 - accuracy(predict, test_x, test_y)})
    return rows


def random_check_frame(settings, rows):
    """random_check.csv: one row, the errors' mean and SD over the repetitions."""
    return pd.DataFrame([{"check": "random_labels", **settings.random_check,
                          **mean_and_sd(rows, ("train_error", "test_error")), "repetitions": len(rows)}])


# --- Table 1, data and training ----------------------------------------------------------------
# The data: Caltech101 airplanes vs Motorbikes as float vectors (tp2/data.py, load_caltech_vectors).
# The repetitions (tp2/pytensor_training.py): each its own split, each experiment restarted on it.


def run_table1(settings, x, y, seed, step_done=None):
    """Every experiment on every repetition's split (tp2/pytensor_training.py); returns (results,
    loss curves). `step_done()` (an eta_clock) is called after each model and gives the run's ETA."""
    models = {name: build_model(settings, x.shape[1], spec["hidden"], spec["learning_rate"],
                                with_xent="stop_change" in spec)  # compiled once
              for name, spec in settings.experiments.items()}
    return train_repetitions(settings, x, y, seed, models, initial_parameters, step_done)


# --- Table 1, numbers: table1.csv -----------------------------------------------------------


def table1_frame(results, ddof=1):
    """table1.csv: per experiment, the mean and SD (`ddof`) of train and test accuracy and
    training time; under the 2016 protocol also the whole-split train accuracy and the steps."""
    keys = ("train_acc", "train_acc_split", "test_acc", "time_s", "steps")
    return pd.DataFrame([{"experiment": name, **mean_and_sd(reps, keys, ddof), "repetitions": len(reps)}
                         for name, reps in results.items()])


def ablation_frame(settings, data_dir, seed, main_table, step_done=None):
    """table1_ablations.csv: the 2016 recipe with one thing changed at a time (ABLATIONS_2016)."""
    frames = [main_table.assign(ablation="none (the 2016 recipe)")]
    for ablation, change in ABLATIONS_2016.items():
        print(f"ablation: {ablation}", flush=True)
        changed = replace(settings, **change)
        x, y = load_caltech_vectors(changed, data_dir)
        results, _ = run_table1(changed, x, y, seed, step_done)
        frames.append(table1_frame(results, changed.sd_ddof).assign(ablation=ablation))
    frame = pd.concat(frames, ignore_index=True)
    return frame[["ablation", *[c for c in frame.columns if c != "ablation"]]]


# --- Table 1, figure: the training loss curves ----------------------------------------------


def curves_figure(settings, curves):
    """figure_table1_curves.png: every model's training loss per epoch or step, mean ± SD."""
    specs = [settings.experiments[name] for name in curves]
    return mean_sd_curves_figure(
        list(curves.values()), titles=[spec["title"] for spec in specs],
        xlabels=["gradient step (full batch)" if spec["batch_size"] is None else
                 f"step ({spec['batch_size']} samples)" if "stop_change" in spec else "epoch" for spec in specs],
        ylabel="training loss (cross-entropy + L2)", log_y=True,
        suptitle=f"Training loss, mean ± SD over {settings.repetitions} repetitions")


# --- Main ----------------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(argv)
    settings = settings_for(args)
    from tp2.pytensor_setup import FLOATX  # loads PyTensor before the folder is locked (a bad PYTENSOR_FLAGS: one line)

    started = time.perf_counter()
    results = results_dir(protocol_folder(chosen_results_dir(args), settings.protocol))
    with locked(results, SCRIPT), staged(results, SCRIPT) as stage:
        x, y = load_caltech_vectors(settings, args.data_dir)
        print(f"{settings.protocol} protocol; data: {len(y)} images, {x.shape[1]} features "
              f"({', '.join(f'{int((y == i).sum())} {c}' for i, c in enumerate(settings.classes))})")
        algebra_example()
        print(f"1b: logistic regression on random data, {settings.random_check['steps']} steps x "
              f"{settings.repetitions} repetitions")
        rows = random_check(settings, args.seed)
        written = [write_csv(stage / "random_check.csv", random_check_frame(settings, rows))]

        ablations = ABLATIONS_2016 if settings.protocol == "2016" else {}
        print(f"Table 1: {len(settings.experiments)} experiments x {settings.repetitions} repetitions"
              + (f", then {len(ablations)} ablations of it" if ablations else ""))
        step_done = eta_clock((1 + len(ablations)) * len(settings.experiments) * settings.repetitions)  # ETA of every model left
        table_results, curves = run_table1(settings, x, y, args.seed, step_done)
        table = table1_frame(table_results, settings.sd_ddof)
        written.append(write_csv(stage / "table1.csv", table))
        written.append(save_figure(stage / "figure_table1_curves.png", curves_figure(settings, curves)))
        if ablations:
            written.append(write_csv(stage / "table1_ablations.csv",
                                     ablation_frame(settings, args.data_dir, args.seed, table, step_done)))
            written.append(write_json(stage / "features.json",
                                      feature_facts(x, y, settings.classes, settings.storage_dtype)))
        run_settings = dict(asdict(settings), seed=args.seed, quick=args.quick, floatX=FLOATX)
        written.append(write_run_info(stage, SCRIPT, time.perf_counter() - started, run_settings))

    print(f"\nTable 1, test accuracy, mean ± SD over {settings.repetitions} repetitions:")
    for row in table.itertuples():
        print(f"  {row.experiment:<25} {format_accuracy(row.test_acc_mean, row.test_acc_sd)}")
    errors = [r["test_error"] for r in rows]
    print(f"1b, random labels: test error {format_accuracy(np.mean(errors), sample_sd(errors))} (expected about 0.5)")
    print(f"wrote {', '.join(path.name for path in written)} to {results}/ in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    run(main)
