"""
Title: Which hyperparameters matter: a SOM (Figure 1), Table 3 and a factorial ANOVA
Description: Exercise 2c, analysis of the image grid search: a self-organizing map over the
configurations, the five best configurations, and each hyperparameter's share of variance.

The report trained a SOM on the grid's hyperparameters plus test accuracy, drew one component
plane per variable (Figure 1) and read off which hyperparameters go with high accuracy; its
footnote doubted the statistical validity of doing so. This script reads the grid written by
`keras_imageTools.py` (`results/grid_search.h5`, one row per configuration x seed) and never
retrains anything. What changes from the report:

- The SOM is trained on one row per configuration (the mean over its seeds), with a fixed seed,
  a stated map size and its quantization and topographic errors; each component plane is scored
  by its correlation with the accuracy plane instead of by eye.
- Table 3 ranks configurations on mean validation accuracy over seeds (the report ranked one
  run's test accuracy, that is, it chose on the test set); test accuracy is only reported.
- Because the grid is a full factorial with seeds as replicates, a factorial ANOVA (main effects
  and two-way interactions, type II sums of squares) gives each hyperparameter's share of variance
  with an F test; tp2/report/som.py writes the paragraph comparing it with the SOM.

Outputs in --results-dir: table3.csv, figure1_som.png, figure1_som_data.csv,
hparam_importance.csv, figure_hparam_importance.png, som_facts.json, run_som_analysis.json.
"""

from tp2.cli import exit_on_ctrl_c_while_importing

exit_on_ctrl_c_while_importing(__name__)  # Ctrl-C while the libraries below load: "interrupted", exit 130

import math
import time
from dataclasses import asdict, dataclass, replace

import lazy_loader
import numpy as np

from tp2.cli import (UserError, add_protocol_option, add_results_dir_option, check_seed, chosen_results_dir, make_parser,
                     positive_int, protocol_folder, run, warn)
from tp2.figures import eta_squared_figure
from tp2.grid_store import ACTIVATIONS, FACTORS, GRID_FILE, describe, ranked, read_trials, summarise
from tp2.report.format import accuracy
from tp2.report.som import FACTS, PLANE_TITLES, p_phrase
from tp2.results import locked, pyplot, results_dir, save_figure, staged, write_csv, write_json, write_run_info
from tp2.settings import chosen_settings, option_help
from tp2.stats import ANOVA_TYPE, factorial_anova

pd = lazy_loader.load("pandas")  # imported on first use, so that --help answers at once

SCRIPT = "som_analysis"


@dataclass(frozen=True)
class Settings:
    seed: int = 0
    """Seed of the SOM: the order in which it sees the configurations."""
    iterations: int = 20_000
    """SOM training iterations; a second map with half of them checks convergence."""
    learning_rate: float = 0.5
    """SOM learning rate at the start; it decays linearly to 0."""
    som_size: tuple | None = None
    """Map size as (rows, cols); None: a square map with about 5*sqrt(configurations) neurons."""
    top_configurations: int = 5
    """Configurations in Table 3, best mean validation accuracy first."""
    response: str = "test_acc"
    """The accuracy the SOM maps and the ANOVA explains; validation accuracy only chooses."""
    alpha: float = 0.05
    """Significance level of the generated wording and of the importance figure's colours."""
    som_similar: float = 0.3
    """|r| with the accuracy plane from which the SOM 'suggests' that a factor matters."""
    encoding: str = "levels"
    """SOM inputs: "levels" (each factor by level rank, plus a has-second-layer plane) or the
    author's "2016" (numeric factors min-max scaled as one plane each, categorical ones as binary planes)."""


FULL = Settings()
QUICK = replace(FULL, iterations=2_000)
# The report's Figure 1 and Table 3 on the author's 600-configuration grid (results/2016/): his
# encoding; one run per configuration, so Table 3's "validation" accuracy is his held-out test accuracy.
PROTOCOL_2016 = replace(FULL, encoding="2016")
QUICK_2016 = replace(PROTOCOL_2016, iterations=2_000)
PROTOCOLS = {"revised": (FULL, QUICK), "2016": (PROTOCOL_2016, QUICK_2016)}


def parse_args(argv=None):
    parser = make_parser(
        __doc__.split("\n")[1].removeprefix("Title: "),
        epilog="Figure 1: a panel per SOM variable; planes that look like the accuracy plane "
        "(first panel, r printed in each title) mark hyperparameters that go with accuracy.",
    )
    add_results_dir_option(parser, quick_default=True)
    add_protocol_option(parser)
    parser.add_argument("--seed", type=int, help=option_help(Settings, "seed", FULL))
    parser.add_argument("--som-size", nargs=2, type=positive_int, metavar=("ROWS", "COLS"),
                        help=option_help(Settings, "som_size", FULL))
    parser.add_argument("--iterations", type=positive_int, help=option_help(Settings, "iterations", FULL, QUICK))
    parser.add_argument("--quick", action="store_true", help="fewer SOM iterations, for a smoke test")
    return parser.parse_args(argv)


def settings_for(args):
    """The protocol's full or quick settings with the options given on the command line."""
    return chosen_settings(PROTOCOLS, args, seed=args.seed, iterations=args.iterations,
                           som_size=tuple(args.som_size) if args.som_size else None)


# --- Table 3, numbers: the best configurations, chosen on validation accuracy --------------


def best_configurations(configurations, settings):
    """Ranked on mean validation accuracy (ties: smaller SD, then grid order), with tied ranks."""
    columns = [*FACTORS, "val_acc_mean", "val_acc_sd", "test_acc_mean", "test_acc_sd", "seeds", "rank"]
    return ranked(configurations)[columns].head(settings.top_configurations)


# --- Figure 1, model and training: the self-organizing map ----------------------------------


def level_scale(values):
    """Map each value to the rank of its level among the distinct levels, scaled to [0, 1].

    Equal steps between consecutive grid levels: for the doubling neuron counts this is a log2
    scale, n2 = 0 (no second layer) sits one step below 16, and 0/1 columns stay 0/1.
    """
    levels = np.unique(values)
    if len(levels) == 1:
        return np.zeros(len(values)), [(0.0, levels[0])]
    ranks = np.searchsorted(levels, values) / (len(levels) - 1)
    return ranks, [(i / (len(levels) - 1), level) for i, level in enumerate(levels)]


def min_max_scale(values):
    """Map values linearly onto [0, 1] (the author's encoding of a numeric hyperparameter)."""
    levels = np.unique(values)
    low, high = levels[0], levels[-1]
    if high == low:
        return np.zeros(len(values)), [(0.0, low)]
    return (values - low) / (high - low), [((level - low) / (high - low), level) for level in levels]


def som_matrix(configurations, settings):
    """The SOM's input, one row per configuration, every column in [0, 1].

    Returns (matrix DataFrame, ticks) where ticks[column] lists (position, label) pairs for the
    colour bars. Hyperparameters are scaled by level rank (level_scale), or for the 2016
    encoding linearly (min_max_scale) without the has-second-layer plane; the accuracy is
    min-max scaled over the configurations, so its plane can be read back in accuracy units.
    """
    c = configurations
    raw = pd.DataFrame({
        "augmentation": c["augmentation"], "n1": c["n1"], "n2": c["n2"],
        "has_second_layer": (c["n2"] > 0).astype(int), "dropout": c["dropout"],
        "sigmoid": (c["activation"] == "sigmoid").astype(int), "relu": (c["activation"] == "relu").astype(int),
    })
    scale = level_scale
    if settings.encoding == "2016":
        raw, scale = raw.drop(columns="has_second_layer"), min_max_scale
    labels = dict.fromkeys(("augmentation", "has_second_layer", "sigmoid", "relu"), lambda v: "yes" if v else "no")
    labels["n2"] = lambda v: str(v) if v else "none"
    matrix, ticks = pd.DataFrame(index=raw.index), {}
    for column in raw.columns:
        matrix[column], levels = scale(raw[column].to_numpy())
        ticks[column] = [(p, labels.get(column, "{:g}".format)(v)) for p, v in levels]
    accuracy = c[f"{settings.response}_mean"].to_numpy()
    low, high = accuracy.min(), accuracy.max()
    matrix["accuracy"] = (accuracy - low) / (high - low) if high > low else np.zeros(len(accuracy))
    ticks["accuracy"] = (low, high)
    return matrix, ticks


def default_som_size(rows):
    """A square map with about 5*sqrt(rows) neurons (Vesanto's heuristic)."""
    side = max(2, round(math.sqrt(5 * math.sqrt(rows))))
    return side, side


def train_som(data, iterations, settings):
    """PCA-initialised SOM; neighbourhood radius shrinks from half the map side to 1 neuron,
    learning rate from settings.learning_rate to 0, so the last iterations only fine-tune."""
    from minisom import MiniSom

    rows, cols = settings.som_size
    som = MiniSom(
        rows, cols, data.shape[1], sigma=max(1.0, max(rows, cols) / 2),
        learning_rate=settings.learning_rate, decay_function="linear_decay_to_zero",
        sigma_decay_function="linear_decay_to_one", neighborhood_function="gaussian",
        random_seed=settings.seed,
    )
    if data.shape[0] > 1 and rows > 1 and cols > 1:
        som.pca_weights_init(data)
    else:
        som.random_weights_init(data)
    som.train(data, iterations, random_order=True)
    return som


def plane_correlations(planes, accuracy_plane):
    """Pearson r between each component plane and the accuracy plane, over the neurons."""
    b = accuracy_plane.ravel()
    return {name: float(np.corrcoef(plane.ravel(), b)[0, 1]) if plane.std() > 0 and b.std() > 0 else float("nan")
            for name, plane in planes.items()}


def fit_som(matrix, settings):
    """Train the map, and a second one with half the iterations as a convergence check."""
    data = matrix.to_numpy(dtype=float)
    som = train_som(data, settings.iterations, settings)
    half = train_som(data, max(1, settings.iterations // 2), settings)
    planes = {name: som.get_weights()[:, :, k] for k, name in enumerate(matrix.columns)}
    return {
        "size": settings.som_size, "iterations": settings.iterations, "seed": settings.seed, "planes": planes,
        "u_matrix": som.distance_map(),
        "quantization_error": float(som.quantization_error(data)),
        "topographic_error": float(som.topographic_error(data)),
        "half_quantization_error": float(half.quantization_error(data)),
        "correlations": plane_correlations({k: v for k, v in planes.items() if k != "accuracy"}, planes["accuracy"]),
    }


# --- Figure 1, figure: the component planes and the U-matrix --------------------------------


def figure1(som, ticks):
    """Accuracy plane first, then the others from most to least similar to it, then the U-matrix."""
    r = som["correlations"]
    names = ["accuracy", *sorted(r, key=lambda n: -abs(r[n]) if np.isfinite(r[n]) else 1)]
    rows = math.ceil((len(names) + 1) / 3)
    plt = pyplot()
    fig, axes = plt.subplots(rows, 3, figsize=(4.2 * 3, 3.6 * rows))
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([]), ax.set_yticks([])
        if k > len(names):
            ax.axis("off")
    for ax, name in zip(axes.flat, names):
        if name == "accuracy":
            low, high = ticks["accuracy"]
            image = ax.imshow(low + som["planes"][name] * (high - low), cmap="viridis", origin="lower")
            ax.set_title(PLANE_TITLES[name], fontweight="bold")
            for spine in ax.spines.values():
                spine.set(edgecolor="crimson", linewidth=2.5)
            fig.colorbar(image, ax=ax, fraction=0.046)
            continue
        image = ax.imshow(som["planes"][name], cmap="viridis", origin="lower", vmin=0, vmax=1)
        ax.set_title(f"{PLANE_TITLES[name]}\n({f'r = {r[name]:+.2f}' if np.isfinite(r[name]) else 'constant'} with accuracy)")
        bar = fig.colorbar(image, ax=ax, fraction=0.046)
        bar.set_ticks([p for p, _ in ticks[name]], labels=[label for _, label in ticks[name]])
    ax = axes.flat[len(names)]
    fig.colorbar(ax.imshow(som["u_matrix"], cmap="bone_r", origin="lower"), ax=ax, fraction=0.046)
    ax.set_title("U-matrix (distance to neighbours)")
    fig.suptitle(
        f"Figure 1: SOM of the grid search ({som['size'][0]}x{som['size'][1]} map, {som['iterations']} "
        f"iterations; quantization error {som['quantization_error']:.3f}, topographic error "
        f"{som['topographic_error']:.3f})"
    )
    fig.tight_layout()
    return fig


def figure1_data(som):
    """The numbers behind Figure 1: one row per neuron, one column per plane plus the U-matrix."""
    rows, cols = np.meshgrid(range(som["size"][0]), range(som["size"][1]), indexing="ij")
    planes = {name: plane.ravel() for name, plane in som["planes"].items()}
    return pd.DataFrame({"row": rows.ravel(), "col": cols.ravel(), **planes, "u_matrix": som["u_matrix"].ravel()})


# --- Hyperparameter importance: factorial ANOVA, its numbers and figure ---------------------


def group_means(trials, settings):
    """Mean response with and without augmentation, per activation, with and without a 2nd layer."""
    response = trials[settings.response]
    return {
        "augmentation": {"with": response[trials["augmentation"] == 1].mean(),
                         "without": response[trials["augmentation"] == 0].mean()},
        "activation": {a: response[trials["activation"] == a].mean() for a in ACTIVATIONS},
        "second_layer": {"with": response[trials["n2"] > 0].mean(), "without": response[trials["n2"] == 0].mean()},
    }


# --- Main ----------------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(argv)
    settings = settings_for(args)
    check_seed(settings.seed)
    start = time.perf_counter()
    folder = protocol_folder(chosen_results_dir(args), args.protocol)
    grid_path = folder / GRID_FILE
    read_trials(grid_path)  # a missing or damaged grid is one line before the folder is touched
    results = results_dir(folder)
    with locked(results, SCRIPT), staged(results, SCRIPT) as stage:  # no grid is being written meanwhile
        analyse(args, settings, grid_path, stage, results, start)


def analyse(args, settings, grid_path, stage, results, start):
    """Table 3, Figure 1 and the ANOVA of the grid at `grid_path`, written into `stage`."""
    trials = read_trials(grid_path)
    configurations = summarise(trials)  # one row per configuration, in factor order (the SOM depends on the order)
    if len(configurations) < 2:
        raise UserError(f"{grid_path} holds a single configuration; a SOM and an ANOVA need at least two")
    seeds = [int(configurations["seeds"].min()), int(configurations["seeds"].max())]
    seeds_text = "–".join(map(str, sorted(set(seeds)))) + " seed(s)"
    print(f"read {len(trials)} trials, {len(configurations)} configurations ({seeds_text} each) from {grid_path}")

    table3 = best_configurations(configurations, settings)
    written = [write_csv(stage / "table3.csv", table3.drop(columns="rank"))]

    if settings.som_size is None:
        settings = replace(settings, som_size=default_som_size(len(configurations)))
    matrix, ticks = som_matrix(configurations, settings)
    print(f"training a {settings.som_size[0]}x{settings.som_size[1]} SOM on {matrix.shape[0]}x{matrix.shape[1]} "
          f"inputs, {settings.iterations} iterations")
    som = fit_som(matrix, settings)
    written += [save_figure(stage / "figure1_som.png", figure1(som, ticks)),
                write_csv(stage / "figure1_som_data.csv", figure1_data(som))]

    table, notes = factorial_anova(trials, FACTORS, settings.response)
    if seeds[1] < 2:
        warn("one seed per configuration; the ANOVA cannot separate noise from higher-order interactions")
    if table is not None:
        written += [write_csv(stage / "hparam_importance.csv", table),
                    save_figure(stage / "figure_hparam_importance.png", eta_squared_figure(table, settings.alpha))]

    # Full precision for the prose (the CSVs keep 6 significant digits).
    written.append(write_json(stage / FACTS, {
        "settings": asdict(settings), "trials": len(trials), "configurations": len(configurations),
        "seeds_per_configuration": seeds, "table3": table3.to_dict(orient="list"),
        "som": {key: value for key, value in som.items() if key not in ("planes", "u_matrix")},
        "anova": {"type": ANOVA_TYPE, "notes": notes, "table": None if table is None else table.to_dict(orient="list")},
        "group_means": group_means(trials, settings),
    }))
    wall = time.perf_counter() - start
    written.append(write_run_info(stage, SCRIPT, wall, asdict(settings) | {
        "quick": args.quick, "trials": len(trials), "configurations": len(configurations), "anova_type": ANOVA_TYPE,
    }))

    best = table3[table3["rank"] == 1]
    chosen_on = "validation" if settings.encoding != "2016" else "held-out test (the author's only held-out split)"
    print(f"\nTable 3: {len(best)} configuration(s) share the best mean {chosen_on} accuracy over {seeds_text}:")
    for _, config in best.iterrows():
        val, test = (accuracy(config[f"{name}_mean"], config[f"{name}_sd"] if config["seeds"] > 1 else None)
                     for name in ("val_acc", "test_acc"))
        print(f"  {describe(config)}: validation {val}, test {test}")
    print(f"SOM: quantization error {som['quantization_error']:.4f} (half the iterations: "
          f"{som['half_quantization_error']:.4f}), topographic error {som['topographic_error']:.4f}")
    for note in notes:
        print(f"note: {note}")
    if table is not None:
        top = table.iloc[0]
        print(f"ANOVA: largest effect {top['term']} (eta² {top['eta_sq']:.3f}, {p_phrase(top['p_value'])})")
    print(f"wrote {', '.join(path.name for path in written)} to {results}/ in {wall:.1f} s")


if __name__ == "__main__":
    run(main)
