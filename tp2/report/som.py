"""Table 3, Figure 1 and the hyperparameter importance in words (som_analysis.py's outputs).

Reads `som_facts.json` (the SOM's errors and plane correlations, Table 3 and the ANOVA table
at full precision, group means, counts and the run's settings) and `table3.csv`; writes the
captions, tables and the paragraph comparing what the SOM suggests with what the ANOVA says.
"""

import lazy_loader
import numpy as np

from tp2.report.format import (accuracy, beyond_spread, configuration_cells, figure, listed, markdown_table,
                               missing_note, read_csv, read_json)

pd = lazy_loader.load("pandas")  # imported on first use, so that --help answers at once

FACTS = "som_facts.json"
# Table 3 of the report: best configurations, single runs, ranked on test accuracy.
ORIGINAL_TABLE3 = dict(  # pd.DataFrame(**ORIGINAL_TABLE3) where used
    data=[
        ("no", 128, 128, 0.00, "sigmoid", 0.980),
        ("no", 64, 128, 0.20, "relu", 0.980),
        ("no", 64, 64, 0.10, "sigmoid", 0.980),
        ("no", 32, 32, 0.20, "sigmoid", 0.980),
        ("no", 16, 128, 0.20, "relu", 0.980),
        ("no", 16, 128, 0.10, "sigmoid", 0.980),
    ],
    columns=["augmentation", "n1", "n2", "dropout", "activation", "test_acc"],
)
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
FIGURE1_CAPTION = "Figure 1: SOM component planes of the grid's hyperparameters and accuracy, with the U-matrix."
IMPORTANCE_CAPTION = "Share of variance of each hyperparameter (factorial ANOVA)."


def format_p(p):
    if not np.isfinite(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def p_phrase(p):
    """'p < 0.001' or 'p = 0.123'."""
    text = format_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def author_encoding(facts):
    """True for the 2016 protocol's analysis (som_analysis.py --protocol 2016)."""
    return facts["settings"].get("encoding") == "2016"


def seeds_text(facts):
    low, high = facts["seeds_per_configuration"]
    if low == high:
        return "1 seed" if low == 1 else f"{low} seeds"
    return f"{low}–{high} seeds"


def replicate_note(facts):
    """How many seeds per configuration, and what that means for the ANOVA's error term."""
    low, high = facts["seeds_per_configuration"]
    if high < 2:
        return (
            "One seed per configuration: the ANOVA cannot separate seed-to-seed noise from the "
            "three-way and higher interactions, which together form its residual; its F tests "
            "and p-values hold only if those interactions are negligible."
        )
    if low < high:
        return (
            f"Seeds per configuration vary from {low} to {high}; the residual is "
            "seed-to-seed noise plus the interactions of three or more factors."
        )
    return (
        f"{high} seeds per configuration: the residual is seed-to-seed noise plus the "
        "interactions of three or more factors."
    )


# --- The per-table Markdown files ---------------------------------------------------


def table3_markdown(facts):
    table = pd.DataFrame(facts["table3"])

    def cell(mean, sd):
        return "–" if pd.isna(mean) else accuracy(mean, None if pd.isna(sd) else sd)

    shown = pd.concat([pd.DataFrame({"rank": table["rank"].astype(str)}), configuration_cells(table)], axis=1)
    shown["val accuracy"] = [cell(m, s) for m, s in zip(table["val_acc_mean"], table["val_acc_sd"])]
    shown["test accuracy"] = [cell(m, s) for m, s in zip(table["test_acc_mean"], table["test_acc_sd"])]
    shown["seeds"] = table["seeds"].astype(str)
    if author_encoding(facts):
        shown = shown.drop(columns=["val accuracy", "seeds"])
        shown["test accuracy"] = [accuracy(m) for m in table["test_acc_mean"]]
        tied = int((pd.DataFrame(facts["table3"])["rank"] == 1).sum())
        caption = (
            f"**Table 3, the 2016 protocol rerun today:** the {len(table)} best configurations of the "
            f"author's grid ({facts['configurations']} configurations, {seeds_text(facts)} each), ranked "
            "on held-out test accuracy as he ranked them (his only held-out folder both chose and "
            f"reported; rank 1 is shared by {tied} {'configuration' if tied == 1 else 'configurations, listed in grid order'}).\n\n"
        )
        return caption + markdown_table(shown)
    caption = (
        f"**Table 3:** the {len(table)} best configurations of airplanes vs motorbikes, ranked on "
        f"mean validation accuracy over {seeds_text(facts)} (SD across seeds); configurations "
        "whose mean validation accuracies tie share a rank. Test accuracy is reported "
        "but not used for ranking. The report ranked on a single run's test accuracy, that is, "
        "it chose on the test set, so its top-5 accuracies were optimistically biased.\n\n"
    )
    return caption + markdown_table(shown)


def figure1_markdown(facts):
    som = facts["som"]
    rows, cols = som["size"]
    correlations = som["correlations"]
    table = pd.DataFrame({
        "Component plane": [PLANE_TITLES[n] for n in correlations],
        "r with accuracy plane": [
            f"{r:+.3f}" if np.isfinite(r) else "n/a (constant)" for r in correlations.values()
        ],
    })
    inputs = (
        "Inputs: augmentation, neurons in the 1st and 2nd layer, has 2nd layer, dropout, activation "
        "(one-hot) and test accuracy. Hyperparameters are scaled by the rank of their grid level (equal "
        "steps, so log2 for the neuron counts, with n2 = 0 one step below 16); accuracy is min-max scaled."
    )
    if author_encoding(facts):
        inputs = (
            "The author's encoding: each numeric hyperparameter (augmentation 0/1, neurons in the 1st "
            "and 2nd layer, dropout) is one plane, scaled linearly from its smallest to its largest "
            "level; the categorical activation is two binary planes; test accuracy is min-max scaled."
        )
    return (
        f"**Figure 1:** self-organizing map of the {facts['configurations']} configurations (one row "
        f"each, mean over {seeds_text(facts)}). {inputs} Map "
        f"{rows}x{cols}, {som['iterations']} iterations, seed {som['seed']}: quantization error "
        f"{som['quantization_error']:.4f} (with half the iterations: "
        f"{som['half_quantization_error']:.4f}), topographic error {som['topographic_error']:.4f}. "
        "How to read it: a plane whose colour pattern looks like the accuracy plane (outlined, "
        "first panel) goes with accuracy; r below is the correlation over neurons.\n\n"
        + markdown_table(table)
    )


def anova_table(facts):
    """The ANOVA table (effects by decreasing eta², then the residual), or None if not fitted."""
    table = facts["anova"]["table"]
    return None if table is None else pd.DataFrame(table)


def importance_markdown(facts):
    header = (
        f"**Hyperparameter importance:** factorial ANOVA of test accuracy over "
        f"{facts['trials']} trials ({facts['configurations']} configurations), main "
        "effects and two-way interactions, all factors categorical, type II sums of squares "
        "(each effect tested after every effect that does not contain it; in a complete grid "
        "this is the classical balanced decomposition). eta² = SS / total SS (share of "
        "variance); partial eta² = SS / (SS + residual SS). has_second_layer is not a separate "
        "factor: it is the n2 = 0 level of n2, so its effect is part of n2's.\n\n"
    )
    body = ""
    table = anova_table(facts)
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
    extra = "".join(f"\n- {note}" for note in [replicate_note(facts), *facts["anova"]["notes"]])
    return header + body + "\nNotes:" + extra + "\n"


def som_factor_similarity(correlations):
    """Per factor, the largest |r| of its planes with the accuracy plane (NaN if all constant)."""
    planes = {"augmentation": ["augmentation"], "n1": ["n1"], "n2": ["n2", "has_second_layer"],
              "dropout": ["dropout"], "activation": ["relu", "sigmoid"]}
    similarity = {}
    for factor, names in planes.items():
        values = [abs(correlations[n]) for n in names if n in correlations and np.isfinite(correlations[n])]
        similarity[factor] = max(values) if values else float("nan")
    return similarity


def som_sentence(facts):
    """What the SOM suggests: the factors whose planes look most like the accuracy plane."""
    som = facts["som"]
    similarity = som_factor_similarity(som["correlations"])
    som_order = sorted((f for f in similarity if np.isfinite(similarity[f])), key=lambda f: -similarity[f])
    rows, cols = som["size"]
    r = som["correlations"]
    signed = [
        f"the {title} plane has r = {r[name]:+.2f}"
        for name, title in (("relu", "ReLU"), ("augmentation", "augmentation"))
        if np.isfinite(r[name])
    ]
    if not som_order:
        return "On the SOM no hyperparameter plane varies.", som_order
    return (
        f"On the SOM ({rows}x{cols}, quantization error {som['quantization_error']:.3f}, "
        f"topographic error {som['topographic_error']:.3f}), the component planes that look most "
        "like the test-accuracy plane are "
        + ", ".join(f"{f} (|r| = {similarity[f]:.2f})" for f in som_order)
        + ("; " + " and ".join(signed) + " (positive r: the plane is high where accuracy is high)"
           if signed else "")
        + "."
    ), som_order


def comparison_paragraph(facts):
    """Generated text: what the SOM suggests, what the ANOVA says, where they agree."""
    alpha, som_similar = facts["settings"]["alpha"], facts["settings"]["som_similar"]
    similarity = som_factor_similarity(facts["som"]["correlations"])
    sentence, som_order = som_sentence(facts)
    parts = [sentence]
    table = anova_table(facts)
    if table is None:
        parts.append("The ANOVA could not be fitted: " + " ".join(facts["anova"]["notes"]))
        return " ".join(parts) + "\n"

    main = table[table["kind"] == "main"].set_index("term")
    residual = table[table["kind"] == "residual"].iloc[0]
    anova_order = list(main.sort_values("eta_sq", ascending=False).index)
    parts.append(
        f"The ANOVA on {facts['trials']} trials (type II) ranks the main effects "
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
        matters = "matters" if p < alpha else "does not matter detectably"
        means_text = " vs ".join(f"{label} {value:.4f}" for label, value in means.items())
        return (
            f"{description} {matters} (eta² = {main.loc[factor, 'eta_sq']:.3f}, {p_phrase(p)}; "
            f"mean test accuracy {means_text})."
        )

    means = facts["group_means"]
    parts.append(verdict("augmentation", "Augmentation", means["augmentation"]))
    parts.append(verdict("activation", "Sigmoid vs ReLU", means["activation"]))
    if "n2" in main.index:
        parts.append(
            "A second hidden layer (n2 > 0 vs n2 = 0, part of the n2 effect) gives mean test "
            f"accuracy {means['second_layer']['with']:.4f} vs "
            f"{means['second_layer']['without']:.4f} without."
        )

    significant = {f for f in main.index if main.loc[f, "p_value"] < alpha}
    suggested = {f for f in som_order if similarity[f] >= som_similar}
    if som_order and anova_order:
        parts.append(
            f"Both methods put {anova_order[0]} first." if som_order[0] == anova_order[0] else
            f"The SOM puts {som_order[0]} first, the ANOVA {anova_order[0]}."
        )
    only_som = sorted(suggested - significant)
    only_anova = sorted(significant - suggested)
    if only_som:
        parts.append(
            f"The SOM suggests {listed(only_som)} (|r| ≥ {som_similar}) but the ANOVA finds no "
            f"significant main effect (p ≥ {alpha})."
        )
    if only_anova:
        planes = "its SOM plane barely resembles" if len(only_anova) == 1 else "their SOM planes barely resemble"
        parts.append(f"The ANOVA finds {listed(only_anova)} significant although {planes} the accuracy plane "
                     f"(|r| < {som_similar}).")
    if not only_som and not only_anova:
        parts.append(
            f"The factors the SOM suggests (|r| ≥ {som_similar}) are exactly those with a "
            f"significant main effect (p < {alpha})."
        )
    one_seed = facts["seeds_per_configuration"][1] < 2
    parts.append(
        "The SOM only shows co-occurrence on a map of configuration means and gives no measure "
        "of noise; the ANOVA tests each effect against "
        + ("its residual." if one_seed else "seed-to-seed variation.")
    )
    if one_seed:
        parts.append(replicate_note(facts))
    return " ".join(parts) + "\n"


def markdown_files(folder):
    facts = read_json(folder, FACTS)
    if facts is None:
        return {}
    return {
        "table3.md": table3_markdown(facts),
        "figure1_som.md": figure1_markdown(facts),
        "hparam_importance.md": importance_markdown(facts),
        "som_anova_summary.md": comparison_paragraph(facts),
    }


# --- REPORT.md ------------------------------------------------------------------------


def rerun_table3(folder):
    """The 2016 protocol's Table 3 rerun today (results/2016/), beside the report's, in lines."""
    rerun, facts = read_csv(folder / "2016", "table3.csv"), read_json(folder / "2016", FACTS)
    if rerun is None or facts is None:
        return ["\n" + missing_note("2016/table3.csv", "som") + " (the 2016 protocol: `make images som`)"]
    shown = configuration_cells(rerun).assign(**{"test accuracy": [accuracy(m) for m in rerun["test_acc_mean"]]})
    insert_ranks(shown, facts)
    grid = pd.DataFrame(facts["table3"])
    tied = int((grid["rank"] == 1).sum())
    best = float(rerun["test_acc_mean"].iloc[0])
    sentence = (
        f"The author's {facts['configurations']}-configuration grid rerun today (one run each, ranked on the "
        f"held-out test accuracy as he did; [2016/table3.md](2016/table3.md)): the best reaches {accuracy(best)} "
        f"against his {accuracy(0.98)}; {tied} {'configuration shares' if tied == 1 else 'configurations share'} rank 1 "
        f"(his table: six tied at {accuracy(0.98)}). "
        f"{sum(a == 'yes' for a in shown['augmentation'])} of these {len(shown)} use augmentation "
        "(his: none of six)."
    )
    return ["\nThe 2016 protocol rerun today (single runs, ranked on held-out test accuracy):\n",
            markdown_table(shown.astype(str)), "\n" + sentence + "\n"]


def insert_ranks(shown, facts):
    """Table 3's ranks (tied configurations share one) from som_facts.json, as a first column."""
    table = pd.DataFrame((facts or {}).get("table3", {}))
    ranks = [str(rank) for rank in table["rank"]] if "rank" in table else []
    if len(ranks) == len(shown):
        shown.insert(0, "rank", ranks)


def table3_section(folder):
    ours = read_csv(folder, "table3.csv")
    lines = ["## Table 3 — the five best image configurations (grid search, Exercise 2b)\n", "2016 (single runs, ranked on test accuracy):\n"]
    original = pd.DataFrame(**ORIGINAL_TABLE3)
    lines.append(markdown_table(configuration_cells(original).assign(
        **{"test accuracy": [accuracy(m) for m in original["test_acc"]]})))
    lines += rerun_table3(folder)
    if ours is None:
        return lines + [missing_note("table3.csv", "som")]
    shown = configuration_cells(ours)
    insert_ranks(shown, read_json(folder, FACTS))
    for name in ("val", "test"):
        shown[f"{name} accuracy"] = [accuracy(m, s) for m, s in zip(ours[f"{name}_acc_mean"], ours[f"{name}_acc_sd"])]
    shown["seeds"] = ours["seeds"].astype(str)
    lines += ["\nNow (mean ± SD over seeds, ranked on validation accuracy; tied means share a rank):\n",
              markdown_table(shown)]
    best = ours.iloc[0]
    aug_share = (ours["augmentation"].astype(str).isin(["1", "yes", "True"])).mean()
    sentence = (
        f"The best configuration by validation accuracy reaches a test accuracy of "
        f"{accuracy(best.test_acc_mean, best.test_acc_sd)} over {int(best.seeds)} seeds, against {accuracy(0.98)} in one "
        "2016 run; "
        f"{'a difference beyond the spread' if beyond_spread(best.test_acc_mean, best.test_acc_sd, 0.980, 0.0) else 'within the spread'}. "
        f"{int(round(aug_share * len(ours)))} of the top {len(ours)} use augmentation (2016: none of the top six). "
        f"The 2016 ranking was on single-run test accuracy, which ties many configurations at {accuracy(0.98)} and "
        "chooses on the reported set; ranking on validation keeps the test set for reporting."
    )
    return lines + ["\n" + sentence + "\n"]


def anova_section(folder, files):
    lines = ["## Which hyperparameters matter: SOM (Figure 1) and factorial ANOVA\n"]
    table = files.get("hparam_importance.md")
    summary = files.get("som_anova_summary.md")
    if table is None:
        return lines + [missing_note("hparam_importance.md", "som")]
    lines += [figure(folder, "figure1_som.png", FIGURE1_CAPTION)]
    lines += [table.strip() + "\n", figure(folder, "figure_hparam_importance.png", IMPORTANCE_CAPTION)]
    if summary.strip():
        lines += [summary.strip() + "\n"]
    return lines


def rerun_anova_section(folder):
    """Figure 1 and the ANOVA of the author's grid rerun today (results/2016/)."""
    where = folder / "2016"
    files = markdown_files(where)
    if not files:
        return []
    return [
        "### The 2016 protocol rerun today: Figure 1 and the ANOVA on the author's grid\n",
        figure(folder, "2016/figure1_som.png", FIGURE1_CAPTION.replace("Figure 1:", "Figure 1 (2016 protocol):")),
        files["figure1_som.md"].strip() + "\n",
        files["som_anova_summary.md"].strip() + "\n",
        "The full ANOVA table: [2016/hparam_importance.md](2016/hparam_importance.md).\n",
    ]


def section(folder):
    rerun = rerun_anova_section(folder)
    return table3_section(folder) + [""] + anova_section(folder, markdown_files(folder)) + ([""] + rerun if rerun else [])


# --- REPORT.md, "What explains the differences": the grids -------------------------------

CHANCE = 0.55  # a trial at or below this test accuracy learned nothing (two balanced classes)


def grid_facts(trials):
    """What a grid's trials say, per activation: share at chance, mean test accuracy, augmentation's effect."""
    facts = {}
    for activation, group in trials.groupby("activation"):
        augmented = group[group["augmentation"] == 1]["test_acc"].mean()
        plain = group[group["augmentation"] == 0]["test_acc"].mean()
        facts[activation] = {"at chance": (group["test_acc"] <= CHANCE).mean(), "mean": group["test_acc"].mean(),
                             "augmentation": augmented - plain, "best": group["test_acc"].max()}
    return facts


def differences(folder):
    """The author's grid rerun against the revised grid: what each shows, per activation."""
    from tp2.grid_store import GRID_FILE, read_trials

    lines = ["### Table 3 and Figure 1\n"]
    paths = {"2016 rerun": folder / "2016" / GRID_FILE, "revised": folder / GRID_FILE}
    missing = [name for name, path in paths.items() if not path.exists()]
    if missing:
        return lines + [missing_note(f"{' and '.join(missing)} grid_search.h5", "images")]
    facts = {name: grid_facts(read_trials(path)) for name, path in paths.items()}
    rows = [{"Grid": name, "Activation": activation,
             f"Trials at chance (test ≤ {CHANCE})": f"{values['at chance']:.0%}",
             "Mean test acc.": f"{values['mean']:.3f}", "Best test acc.": f"{values['best']:.3f}",
             "Augmented − not (points)": f"{100 * values['augmentation']:+.1f}"}
            for name, per_activation in facts.items() for activation, values in per_activation.items()]

    def at_chance(name):
        return " and ".join(f"{values['at chance']:.0%} of its {activation} trials" for activation, values in facts[name].items())

    def augmentation(name):
        effects = [values["augmentation"] for values in facts[name].values()]
        return "lowers" if all(e < 0 for e in effects) else "raises" if all(e > 0 for e in effects) else "changes, in opposite directions by activation,"

    lines += [
        "The two grids differ in more than one thing at once, so this compares what each shows rather than "
        "measuring each difference alone: the author's recipe (RMSprop at learning rate 1e-3 on pixels in "
        "[0, 1], batch 64, a fixed 300 batches, no early stopping, strong augmentation, one run, 100 held-out "
        "images) against the revised one (Adam at 1e-4 on pixels in [-1, 1], batch 32, early stopping on "
        "validation, label smoothing 0.1, mild augmentation, 3 seeds, a 70/10/20 split), on different levels "
        "(n1 up to 512 and dropout up to 0.7 in his grid).\n",
        markdown_table(pd.DataFrame(rows)),
        f"\nIn the 2016 rerun {at_chance('2016 rerun')} end at chance (revised: {at_chance('revised')}); the "
        "author's own earlier 36-run grid (`aux.py` in his code) has 12 of its 18 ReLU runs at exactly 0.5, and his Table 3 lists "
        f"only configurations that learned. Augmentation {augmentation('2016 rerun')} mean test accuracy in the "
        + ("2016 rerun and in the revised grid.\n" if augmentation("2016 rerun") == augmentation("revised") else
           f"2016 rerun and {augmentation('revised')} it in the revised grid.\n"),
    ]
    return lines
