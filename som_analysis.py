"""Exercise 2c, analysis: a self-organizing map over the grid search (Figure 1), the five best
configurations (Table 3), and a factorial ANOVA of hyperparameter importance.

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
  with an F test, and a paragraph generated from the numbers compares it with the SOM.

Outputs in --results-dir: figure1_som.png (+ figure1_som.md caption, figure1_som_data.csv),
table3.csv/.md, hparam_importance.csv/.md, figure_hparam_importance.png, som_anova_summary.md,
run_som_analysis.json.
"""

import json
import math
import sys
import time
from pathlib import Path

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from minisom import MiniSom
from statsmodels.stats.anova import anova_lm

from tp2.cli import UserError, add_results_dir_option, make_parser, positive_int, run
from tp2.results import (
    markdown_table,
    results_dir,
    save_figure,
    write_csv,
    write_run_info,
    write_text,
)

GRID_FILE = "grid_search.h5"
TRIALS_DATASET = "trials"
FIELDS = (
    "augmentation", "n1", "n2", "dropout", "activation",
    "seed", "val_acc", "test_acc", "epochs", "train_time_s",
)
FACTORS = ("augmentation", "n1", "n2", "dropout", "activation")
ACTIVATIONS = ("sigmoid", "relu")
# Test accuracy is what the report's Figure 1 showed and what the ANOVA explains (reporting);
# validation accuracy is used only for choosing (Table 3).
RESPONSE = "test_acc"
TOP_CONFIGURATIONS = 5
ALPHA = 0.05  # significance level used in the generated wording
SOM_SIMILAR = 0.3  # |r| with the accuracy plane above which the SOM "suggests" a factor matters

DEFAULT_SEED = 0
DEFAULT_ITERATIONS = 20_000
QUICK_ITERATIONS = 2_000
LEARNING_RATE = 0.5

parser = make_parser(
    description=__doc__.split("\n\n")[0],
    epilog="Figure 1: a panel per SOM variable; planes that look like the accuracy plane "
    "(first panel, r printed in each title) mark hyperparameters that go with accuracy.",
)
add_results_dir_option(parser)
parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"SOM seed (default {DEFAULT_SEED})")
parser.add_argument(
    "--som-size", nargs=2, type=positive_int, metavar=("ROWS", "COLS"), default=None,
    help="map size (default: a square map with about 5*sqrt(configurations) neurons)",
)
parser.add_argument(
    "--iterations", type=positive_int, default=None,
    help=f"SOM training iterations (default {DEFAULT_ITERATIONS}; {QUICK_ITERATIONS} with --quick)",
)
parser.add_argument("--quick", action="store_true", help="fewer SOM iterations, for a smoke test")


# ---------------------------------------------------------------------------------------------
# Reading the grid
# ---------------------------------------------------------------------------------------------


def grid_frame(path):
    """The grid search as a DataFrame, one row per trial (configuration x seed).

    Columns are FIELDS with activation decoded to str; the file's root attributes `grid`,
    `versions` (parsed JSON) and `date` are in `frame.attrs` when present. Raises UserError
    (one readable sentence) for an absent, unreadable or malformed file.
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

    frame = pd.DataFrame({field: records[field] for field in FIELDS})
    frame["activation"] = [
        value.decode("utf-8").strip("\x00") if isinstance(value, bytes) else str(value)
        for value in frame["activation"]
    ]
    frame = frame.astype(
        {"augmentation": int, "n1": int, "n2": int, "dropout": float, "seed": int,
         "val_acc": float, "test_acc": float, "epochs": int, "train_time_s": float}
    )
    for key, value in attrs.items():
        text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
        try:
            frame.attrs[key] = json.loads(text) if key != "date" else text
        except json.JSONDecodeError:
            frame.attrs[key] = text
    return frame


def warn(message):
    print(f"warning: {message}", file=sys.stderr, flush=True)


def usable_trials(trials, path):
    """Drop trials without finite accuracies (with a warning) and check the activations."""
    unknown = sorted(set(trials["activation"]) - set(ACTIVATIONS))
    if unknown:
        raise UserError(f"{path}: unknown activation(s) {', '.join(unknown)}; expected sigmoid or relu")
    finite = np.isfinite(trials["val_acc"]) & np.isfinite(trials["test_acc"])
    if not finite.all():
        warn(f"{path}: {int((~finite).sum())} trial(s) without a finite accuracy ignored")
    trials = trials[finite].reset_index(drop=True)
    if trials.empty:
        raise UserError(f"{path}: no trial has a finite accuracy")
    return trials


def configuration_means(trials):
    """One row per configuration: mean and SD over its seeds, and how many seeds it has."""
    grouped = trials.groupby(list(FACTORS), sort=True)
    return grouped.agg(
        val_acc_mean=("val_acc", "mean"),
        val_acc_sd=("val_acc", "std"),
        test_acc_mean=("test_acc", "mean"),
        test_acc_sd=("test_acc", "std"),
        seeds=("seed", "size"),
    ).reset_index()


# ---------------------------------------------------------------------------------------------
# Table 3: the five best configurations, chosen on validation accuracy
# ---------------------------------------------------------------------------------------------


def best_configurations(configurations, count=TOP_CONFIGURATIONS):
    """Rank on mean validation accuracy; ties go to the smaller SD, then to grid order."""
    ranked = configurations.sort_values(
        ["val_acc_mean", "val_acc_sd"], ascending=[False, True], kind="stable", na_position="last"
    )
    columns = ["augmentation", "n1", "n2", "dropout", "activation",
               "val_acc_mean", "val_acc_sd", "test_acc_mean", "test_acc_sd", "seeds"]
    return ranked[columns].head(count).reset_index(drop=True)


def table3_markdown(table, seeds_text):
    def number(value):
        return "–" if pd.isna(value) else f"{value:.4f}"

    shown = pd.DataFrame({
        "Rank": [str(i + 1) for i in range(len(table))],
        "Augmented": ["yes" if a else "no" for a in table["augmentation"]],
        "N 1st layer": table["n1"].astype(str),
        "N 2nd layer": [str(n) if n else "none" for n in table["n2"]],
        "Dropout": [f"{d:.2f}" for d in table["dropout"]],
        "Activation": table["activation"],
        "Val. acc. mean": table["val_acc_mean"].map(number),
        "Val. acc. SD": table["val_acc_sd"].map(number),
        "Test acc. mean": table["test_acc_mean"].map(number),
        "Test acc. SD": table["test_acc_sd"].map(number),
        "Seeds": table["seeds"].astype(str),
    })
    caption = (
        f"**Table 3:** the {len(table)} best configurations of airplanes vs motorbikes, ranked on "
        f"mean validation accuracy over {seeds_text} (SD across seeds). Test accuracy is reported "
        "but not used for ranking. The report ranked on a single run's test accuracy, that is, "
        "it chose on the test set, so its top-5 accuracies were optimistically biased.\n\n"
    )
    return caption + markdown_table(shown)


# ---------------------------------------------------------------------------------------------
# The SOM (Figure 1)
# ---------------------------------------------------------------------------------------------


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


def som_matrix(configurations):
    """The SOM's input, one row per configuration, every column in [0, 1].

    Returns (matrix DataFrame, ticks) where ticks[column] lists (position, label) pairs for the
    colour bars. Hyperparameters are scaled by level rank (level_scale); the accuracy is
    min-max scaled over the configurations, so its plane can be read back in accuracy units.
    """
    raw = pd.DataFrame({
        "augmentation": configurations["augmentation"],
        "n1": configurations["n1"],
        "n2": configurations["n2"],
        "has_second_layer": (configurations["n2"] > 0).astype(int),
        "dropout": configurations["dropout"],
        "sigmoid": (configurations["activation"] == "sigmoid").astype(int),
        "relu": (configurations["activation"] == "relu").astype(int),
    })
    matrix, ticks = pd.DataFrame(index=raw.index), {}
    for column in raw.columns:
        matrix[column], levels = level_scale(raw[column].to_numpy())
        if column in ("augmentation", "has_second_layer", "sigmoid", "relu"):
            ticks[column] = [(p, "yes" if v else "no") for p, v in levels]
        elif column == "n2":
            ticks[column] = [(p, str(v) if v else "none") for p, v in levels]
        else:
            ticks[column] = [(p, f"{v:g}") for p, v in levels]
    accuracy = configurations["test_acc_mean"].to_numpy()
    low, high = accuracy.min(), accuracy.max()
    matrix["accuracy"] = (accuracy - low) / (high - low) if high > low else np.zeros(len(accuracy))
    ticks["accuracy"] = (low, high)
    return matrix, ticks


def default_som_size(rows):
    """A square map with about 5*sqrt(rows) neurons (Vesanto's heuristic)."""
    side = max(2, round(math.sqrt(5 * math.sqrt(rows))))
    return side, side


def train_som(data, size, iterations, seed):
    """PCA-initialised SOM; neighbourhood radius shrinks from half the map side to 1 neuron,
    learning rate from LEARNING_RATE to 0, so the last iterations only fine-tune."""
    rows, cols = size
    som = MiniSom(
        rows, cols, data.shape[1],
        sigma=max(1.0, max(rows, cols) / 2),
        learning_rate=LEARNING_RATE,
        decay_function="linear_decay_to_zero",
        sigma_decay_function="linear_decay_to_one",
        neighborhood_function="gaussian",
        random_seed=seed,
    )
    if data.shape[0] > 1 and rows > 1 and cols > 1:
        som.pca_weights_init(data)
    else:
        som.random_weights_init(data)
    som.train(data, iterations, random_order=True)
    return som


def plane_correlations(planes, accuracy_plane):
    """Pearson r between each component plane and the accuracy plane, over the neurons."""
    correlations = {}
    for name, plane in planes.items():
        a, b = plane.ravel(), accuracy_plane.ravel()
        correlations[name] = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")
    return correlations


def fit_som(matrix, size, iterations, seed):
    """Train the map, and a second one with half the iterations as a convergence check."""
    data = matrix.to_numpy(dtype=float)
    som = train_som(data, size, iterations, seed)
    half = train_som(data, size, max(1, iterations // 2), seed)
    weights = som.get_weights()
    planes = {name: weights[:, :, k] for k, name in enumerate(matrix.columns)}
    return {
        "size": size,
        "iterations": iterations,
        "planes": planes,
        "u_matrix": som.distance_map(),
        "quantization_error": float(som.quantization_error(data)),
        "topographic_error": float(som.topographic_error(data)),
        "half_quantization_error": float(half.quantization_error(data)),
        "correlations": plane_correlations(
            {k: v for k, v in planes.items() if k != "accuracy"}, planes["accuracy"]
        ),
    }


PLANE_TITLES = {
    "accuracy": "test accuracy (mean over seeds)",
    "augmentation": "augmentation",
    "n1": "neurons, 1st layer",
    "n2": "neurons, 2nd layer",
    "has_second_layer": "has 2nd layer",
    "dropout": "dropout",
    "sigmoid": "activation = sigmoid",
    "relu": "activation = relu",
}


def figure1(som, ticks):
    """Accuracy plane first, then the others from most to least similar to it, then the U-matrix."""
    correlations = som["correlations"]
    order = sorted(correlations, key=lambda n: -abs(correlations[n]) if np.isfinite(correlations[n]) else 1)
    names = ["accuracy", *order]
    panels = len(names) + 1
    cols = 3
    rows = math.ceil(panels / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows))
    for ax, name in zip(axes.flat, names):
        plane = som["planes"][name]
        if name == "accuracy":
            low, high = ticks["accuracy"]
            image = ax.imshow(low + plane * (high - low), cmap="viridis", origin="lower")
            ax.set_title(PLANE_TITLES[name], fontweight="bold")
            for spine in ax.spines.values():
                spine.set_edgecolor("crimson")
                spine.set_linewidth(2.5)
            fig.colorbar(image, ax=ax, fraction=0.046)
        else:
            image = ax.imshow(plane, cmap="viridis", origin="lower", vmin=0, vmax=1)
            r = correlations[name]
            r_text = f"r = {r:+.2f}" if np.isfinite(r) else "constant"
            ax.set_title(f"{PLANE_TITLES[name]}\n({r_text} with accuracy)")
            bar = fig.colorbar(image, ax=ax, fraction=0.046)
            bar.set_ticks([p for p, _ in ticks[name]])
            bar.set_ticklabels([label for _, label in ticks[name]])
    ax = axes.flat[len(names)]
    image = ax.imshow(som["u_matrix"], cmap="bone_r", origin="lower")
    ax.set_title("U-matrix (distance to neighbours)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    for ax in axes.flat[panels:]:
        ax.axis("off")
    for ax in axes.flat[:panels]:
        ax.set_xticks([])
        ax.set_yticks([])
    rows_, cols_ = som["size"]
    fig.suptitle(
        f"Figure 1: SOM of the grid search ({rows_}x{cols_} map, {som['iterations']} iterations; "
        f"quantization error {som['quantization_error']:.3f}, topographic error "
        f"{som['topographic_error']:.3f})"
    )
    fig.tight_layout()
    return fig


def figure1_data(som):
    """The numbers behind Figure 1: one row per neuron, one column per plane plus the U-matrix."""
    rows, cols = som["size"]
    grid_rows, grid_cols = np.meshgrid(range(rows), range(cols), indexing="ij")
    data = {"row": grid_rows.ravel(), "col": grid_cols.ravel()}
    data.update({name: plane.ravel() for name, plane in som["planes"].items()})
    data["u_matrix"] = som["u_matrix"].ravel()
    return pd.DataFrame(data)


def figure1_markdown(som, configurations):
    rows, cols = som["size"]
    table = pd.DataFrame({
        "Component plane": [PLANE_TITLES[n] for n in som["correlations"]],
        "r with accuracy plane": [
            f"{r:+.3f}" if np.isfinite(r) else "n/a (constant)" for r in som["correlations"].values()
        ],
    })
    return (
        f"**Figure 1:** self-organizing map of the {len(configurations)} configurations (one row "
        f"each, mean over seeds). Inputs: augmentation, neurons in the 1st and 2nd layer, has 2nd "
        "layer, dropout, activation (one-hot) and test accuracy. Hyperparameters are scaled by the "
        "rank of their grid level (equal steps, so log2 for the neuron counts, with n2 = 0 one "
        "step below 16); accuracy is min-max scaled. Map "
        f"{rows}x{cols}, {som['iterations']} iterations, seed {som['seed']}: quantization error "
        f"{som['quantization_error']:.4f} (with half the iterations: "
        f"{som['half_quantization_error']:.4f}), topographic error {som['topographic_error']:.4f}. "
        "How to read it: a plane whose colour pattern looks like the accuracy plane (outlined, "
        "first panel) goes with accuracy; r below is the correlation over neurons.\n\n"
        + markdown_table(table)
    )


# ---------------------------------------------------------------------------------------------
# Factorial ANOVA: hyperparameter importance
# ---------------------------------------------------------------------------------------------


def term_name(term):
    """'C(n1):C(dropout)' -> 'n1 × dropout'."""
    return " × ".join(part[2:-1] if part.startswith("C(") else part for part in term.split(":"))


def factorial_anova(trials, response=RESPONSE):
    """Main effects and two-way interactions of the varied factors, type II sums of squares.

    Returns (table, notes). Type II tests each effect after every other effect that does not
    contain it (marginality): in a complete balanced grid it equals the classical decomposition,
    and it stays meaningful if some trials are missing. Type III would need sum-to-zero contrasts
    and tests main effects averaged over interactions, which is not the question asked here.
    """
    notes = []
    varied = [factor for factor in FACTORS if trials[factor].nunique() > 1]
    for factor in FACTORS:
        if factor not in varied:
            notes.append(f"{factor} has a single level in this grid and is left out of the ANOVA.")
    if not varied:
        notes.append("No hyperparameter varies, so there is nothing to apportion.")
        return None, notes
    terms = " + ".join(f"C({factor})" for factor in varied)
    formula = f"{response} ~ ({terms})**2" if len(varied) > 1 else f"{response} ~ {terms}"
    model = smf.ols(formula, data=trials).fit()
    residual_df = float(model.df_resid)
    total_ss = float(((trials[response] - trials[response].mean()) ** 2).sum())
    if total_ss == 0:
        notes.append(f"{response} is identical in every trial, so there is no variance to apportion.")
        return None, notes
    if residual_df < 1:
        notes.append(
            "The model leaves no residual degrees of freedom (too few trials for main effects and "
            "two-way interactions), so no F test is possible."
        )
        return None, notes
    anova = anova_lm(model, typ=2)
    residual_ss = float(anova.loc["Residual", "sum_sq"])
    table = pd.DataFrame({
        "term": [term_name(t) if t != "Residual" else "residual" for t in anova.index],
        "kind": ["residual" if t == "Residual" else ("interaction" if ":" in t else "main") for t in anova.index],
        "df": anova["df"].to_numpy(),
        "sum_sq": anova["sum_sq"].to_numpy(),
        "eta_sq": anova["sum_sq"].to_numpy() / total_ss,
        "partial_eta_sq": anova["sum_sq"].to_numpy() / (anova["sum_sq"].to_numpy() + residual_ss),
        "F": anova["F"].to_numpy(),
        "p_value": anova["PR(>F)"].to_numpy(),
    })
    table.loc[table["kind"] == "residual", "partial_eta_sq"] = np.nan
    effects = table[table["kind"] != "residual"].sort_values("eta_sq", ascending=False, kind="stable")
    table = pd.concat([effects, table[table["kind"] == "residual"]], ignore_index=True)
    return table, notes


def replicate_note(trials):
    """How many seeds per configuration, and what that means for the ANOVA's error term."""
    seeds = trials.groupby(list(FACTORS)).size()
    if seeds.max() < 2:
        return (
            "One seed per configuration: the ANOVA cannot separate seed-to-seed noise from the "
            "three-way and higher interactions, which together form its residual; its F tests "
            "and p-values hold only if those interactions are negligible."
        )
    if seeds.min() < seeds.max():
        return (
            f"Seeds per configuration vary from {seeds.min()} to {seeds.max()}; the residual is "
            "seed-to-seed noise plus the interactions of three or more factors."
        )
    return (
        f"{seeds.max()} seeds per configuration: the residual is seed-to-seed noise plus the "
        "interactions of three or more factors."
    )


def format_p(p):
    if not np.isfinite(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def p_phrase(p):
    """'p < 0.001' or 'p = 0.123'."""
    text = format_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def importance_markdown(table, notes, trials):
    header = (
        f"**Hyperparameter importance:** factorial ANOVA of test accuracy over "
        f"{len(trials)} trials ({trials.groupby(list(FACTORS)).ngroups} configurations), main "
        "effects and two-way interactions, all factors categorical, type II sums of squares "
        "(each effect tested after every effect that does not contain it; in a complete grid "
        "this is the classical balanced decomposition). eta² = SS / total SS (share of "
        "variance); partial eta² = SS / (SS + residual SS). has_second_layer is not a separate "
        "factor: it is the n2 = 0 level of n2, so its effect is part of n2's.\n\n"
    )
    body = ""
    if table is not None:
        shown = pd.DataFrame({
            "Term": table["term"],
            "df": table["df"].map(lambda v: f"{v:.0f}"),
            "eta²": table["eta_sq"].map(lambda v: f"{v:.4f}"),
            "partial eta²": table["partial_eta_sq"].map(lambda v: "–" if pd.isna(v) else f"{v:.4f}"),
            "F": table["F"].map(lambda v: "–" if pd.isna(v) else f"{v:.2f}"),
            "p": table["p_value"].map(format_p),
        })
        body = markdown_table(shown)
    extra = "".join(f"\n- {note}" for note in [replicate_note(trials), *notes])
    return header + body + "\nNotes:" + extra + "\n"


def importance_figure(table, interactions_shown=10):
    """Horizontal bars of eta²: every main effect, the largest interactions, the residual."""
    main = table[table["kind"] == "main"]
    interactions = table[table["kind"] == "interaction"]
    shown_interactions = interactions.head(interactions_shown)
    rest = interactions.iloc[interactions_shown:]
    rows = pd.concat([main, shown_interactions, table[table["kind"] == "residual"]])
    labels = list(rows["term"])
    values = list(rows["eta_sq"])
    colours = [
        "grey" if kind == "residual" else ("tab:blue" if p < ALPHA else "lightsteelblue")
        for kind, p in zip(rows["kind"], rows["p_value"])
    ]
    if len(rest):
        labels.append(f"{len(rest)} other interactions")
        values.append(rest["eta_sq"].sum())
        colours.append("whitesmoke")
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(labels) + 1.5))
    positions = np.arange(len(labels))[::-1]
    ax.barh(positions, values, color=colours, edgecolor="black", linewidth=0.5)
    ax.set_yticks(positions)
    ax.set_yticklabels(labels)
    for y, value in zip(positions, values):
        ax.text(value, y, f" {value:.3f}", va="center", fontsize=8)
    ax.set_xlabel("eta² (share of the variance of test accuracy)")
    ax.set_xlim(0, max(values) * 1.2 if max(values) > 0 else 1)
    ax.set_title(f"Hyperparameter importance (type II ANOVA; dark blue: p < {ALPHA})")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# The paragraph comparing the SOM with the ANOVA
# ---------------------------------------------------------------------------------------------


def som_factor_similarity(correlations):
    """Per factor, the largest |r| of its planes with the accuracy plane (NaN if all constant)."""
    planes = {
        "augmentation": ["augmentation"],
        "n1": ["n1"],
        "n2": ["n2", "has_second_layer"],
        "dropout": ["dropout"],
        "activation": ["relu", "sigmoid"],
    }
    similarity = {}
    for factor, names in planes.items():
        values = [abs(correlations[n]) for n in names if np.isfinite(correlations[n])]
        similarity[factor] = max(values) if values else float("nan")
    return similarity


def comparison_paragraph(som, table, notes, trials):
    """Generated text: what the SOM suggests, what the ANOVA says, where they agree."""
    similarity = som_factor_similarity(som["correlations"])
    som_order = sorted((f for f in similarity if np.isfinite(similarity[f])), key=lambda f: -similarity[f])
    rows, cols = som["size"]
    r = som["correlations"]
    signed = [
        f"the {title} plane has r = {r[name]:+.2f}"
        for name, title in (("relu", "ReLU"), ("augmentation", "augmentation"))
        if np.isfinite(r[name])
    ]
    parts = [
        f"On the SOM ({rows}x{cols}, quantization error {som['quantization_error']:.3f}, "
        f"topographic error {som['topographic_error']:.3f}), the component planes that look most "
        "like the test-accuracy plane are "
        + ", ".join(f"{f} (|r| = {similarity[f]:.2f})" for f in som_order)
        + ("; " + " and ".join(signed) + " (positive r: the plane is high where accuracy is high)"
           if signed else "")
        + "."
        if som_order else "On the SOM no hyperparameter plane varies."
    ]
    if table is None:
        parts.append("The ANOVA could not be fitted: " + " ".join(notes))
        return " ".join(parts) + "\n"

    main = table[table["kind"] == "main"].set_index("term")
    residual = table[table["kind"] == "residual"].iloc[0]
    anova_order = list(main.sort_values("eta_sq", ascending=False).index)
    parts.append(
        f"The ANOVA on {len(trials)} trials (type II) ranks the main effects "
        + ", ".join(
            f"{f} (eta² = {main.loc[f, 'eta_sq']:.3f}, {p_phrase(main.loc[f, 'p_value'])})"
            for f in anova_order
        )
        + f"; all two-way interactions together explain eta² = "
        f"{table.loc[table['kind'] == 'interaction', 'eta_sq'].sum():.3f} and the residual "
        f"{residual['eta_sq']:.3f}."
    )

    def verdict(factor, description, means):
        if factor not in main.index:
            return f"{description}: not varied in this grid."
        p = main.loc[factor, "p_value"]
        matters = "matters" if p < ALPHA else "does not matter detectably"
        means_text = " vs ".join(f"{label} {value:.4f}" for label, value in means.items())
        return (
            f"{description} {matters} (eta² = {main.loc[factor, 'eta_sq']:.3f}, {p_phrase(p)}; "
            f"mean test accuracy {means_text})."
        )

    parts.append(verdict(
        "augmentation", "Augmentation",
        {"with": trials.loc[trials["augmentation"] == 1, RESPONSE].mean(),
         "without": trials.loc[trials["augmentation"] == 0, RESPONSE].mean()},
    ))
    parts.append(verdict(
        "activation", "Sigmoid vs ReLU",
        {a: trials.loc[trials["activation"] == a, RESPONSE].mean() for a in ACTIVATIONS},
    ))
    if "n2" in main.index:
        parts.append(
            "A second hidden layer (n2 > 0 vs n2 = 0, part of the n2 effect) gives mean test "
            f"accuracy {trials.loc[trials['n2'] > 0, RESPONSE].mean():.4f} vs "
            f"{trials.loc[trials['n2'] == 0, RESPONSE].mean():.4f} without."
        )

    significant = {f for f in main.index if main.loc[f, "p_value"] < ALPHA}
    suggested = {f for f in som_order if similarity[f] >= SOM_SIMILAR}
    agreement = []
    if som_order and anova_order:
        same = som_order[0] == anova_order[0]
        agreement.append(
            f"Both methods put {anova_order[0]} first." if same else
            f"The SOM puts {som_order[0]} first, the ANOVA {anova_order[0]}."
        )
    only_som = sorted(suggested - significant)
    only_anova = sorted(significant - suggested)
    if only_som:
        agreement.append(
            f"The SOM suggests {', '.join(only_som)} (|r| ≥ {SOM_SIMILAR}) but the ANOVA finds no "
            f"significant main effect (p ≥ {ALPHA})."
        )
    if only_anova:
        agreement.append(
            f"The ANOVA finds {', '.join(only_anova)} significant although its SOM plane barely "
            f"resembles the accuracy plane (|r| < {SOM_SIMILAR})."
        )
    if not only_som and not only_anova:
        agreement.append(
            f"The factors the SOM suggests (|r| ≥ {SOM_SIMILAR}) are exactly those with a "
            f"significant main effect (p < {ALPHA})."
        )
    one_seed = trials.groupby(list(FACTORS)).size().max() < 2
    agreement.append(
        "The SOM only shows co-occurrence on a map of configuration means and gives no measure "
        "of noise; the ANOVA tests each effect against "
        + ("its residual." if one_seed else "seed-to-seed variation.")
    )
    parts.extend(agreement)
    if one_seed:
        parts.append(replicate_note(trials))
    return " ".join(parts) + "\n"


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def seeds_text(configurations):
    low, high = int(configurations["seeds"].min()), int(configurations["seeds"].max())
    if low == high:
        return "1 seed" if low == 1 else f"{low} seeds"
    return f"{low}–{high} seeds"


def main():
    args = parser.parse_args()
    start = time.perf_counter()
    iterations = args.iterations or (QUICK_ITERATIONS if args.quick else DEFAULT_ITERATIONS)
    results = Path(args.results_dir)
    grid_path = results / GRID_FILE
    trials = usable_trials(grid_frame(grid_path), grid_path)
    configurations = configuration_means(trials)
    if len(configurations) < 2:
        raise UserError(f"{grid_path} holds a single configuration; a SOM and an ANOVA need at least two")
    results = results_dir(results)
    print(f"read {len(trials)} trials, {len(configurations)} configurations ({seeds_text(configurations)}) from {grid_path}")

    table3 = best_configurations(configurations)
    write_csv(results / "table3.csv", table3)
    write_text(results / "table3.md", table3_markdown(table3, seeds_text(configurations)))
    print(f"table 3: best mean validation accuracy {table3['val_acc_mean'].iloc[0]:.4f}")

    matrix, ticks = som_matrix(configurations)
    size = tuple(args.som_size) if args.som_size else default_som_size(len(matrix))
    print(f"training a {size[0]}x{size[1]} SOM on {matrix.shape[0]}x{matrix.shape[1]} inputs, {iterations} iterations")
    som = fit_som(matrix, size, iterations, args.seed)
    som["seed"] = args.seed
    print(
        f"SOM quantization error {som['quantization_error']:.4f} (half the iterations: "
        f"{som['half_quantization_error']:.4f}), topographic error {som['topographic_error']:.4f}"
    )
    save_figure(results / "figure1_som.png", figure1(som, ticks))
    write_csv(results / "figure1_som_data.csv", figure1_data(som))
    write_text(results / "figure1_som.md", figure1_markdown(som, configurations))

    table, notes = factorial_anova(trials)
    if trials.groupby(list(FACTORS)).size().max() < 2:
        warn("one seed per configuration; the ANOVA cannot separate noise from higher-order interactions")
    for note in notes:
        print(f"note: {note}")
    if table is not None:
        write_csv(results / "hparam_importance.csv", table)
        save_figure(results / "figure_hparam_importance.png", importance_figure(table))
        top = table.iloc[0]
        print(f"ANOVA: largest effect {top['term']} (eta² {top['eta_sq']:.3f}, {p_phrase(top['p_value'])})")
    write_text(results / "hparam_importance.md", importance_markdown(table, notes, trials))
    write_text(results / "som_anova_summary.md", comparison_paragraph(som, table, notes, trials))

    wall = time.perf_counter() - start
    write_run_info(results, "som_analysis", wall, {
        "seed": args.seed, "som_size": list(size), "iterations": iterations, "quick": args.quick,
        "trials": len(trials), "configurations": len(configurations), "response": RESPONSE,
        "anova_type": 2,
    })
    print(f"wrote Figure 1, Table 3 and the ANOVA to {results}/ in {wall:.1f} s")


if __name__ == "__main__":
    run(main)
