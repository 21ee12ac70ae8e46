"""Figures shared by the scripts: mean ± SD curves over repeated runs (one panel per experiment, or
all in one panel beside each seed's final value), and the bars of a factorial ANOVA's eta²."""

import lazy_loader
import numpy as np

from tp2.results import pyplot
from tp2.stats import sample_sd

pd = lazy_loader.load("pandas")  # imported on first use, so that --help answers at once


def mean_sd_curves_figure(panels, titles, xlabels, ylabel, suptitle, log_y=False, ddof=0, panel_size=(4, 3.4)):
    """One panel per entry of `panels`, each a list of runs (one value per step; a run that stopped
    early is shorter): the mean per step (line) ± its SD with `ddof` (band), over the runs that reached
    that step. `titles` and `xlabels` go with the panels, `ylabel` on the first one."""
    plt = pyplot()
    figure, axes = plt.subplots(1, len(panels), figsize=(panel_size[0] * len(panels), panel_size[1]), squeeze=False)
    for axis, runs_of_panel, title, xlabel in zip(axes[0], panels, titles, xlabels):
        runs = np.full((len(runs_of_panel), max(map(len, runs_of_panel))), np.nan)  # shorter runs end in NaN
        for row, values in zip(runs, runs_of_panel):
            row[: len(values)] = values
        steps = np.arange(1, runs.shape[1] + 1)
        mean, sd = np.nanmean(runs, axis=0), np.nanstd(runs, axis=0, ddof=ddof)
        axis.plot(steps, mean, color="C0")
        axis.fill_between(steps, mean - sd, mean + sd, color="C0", alpha=0.25, linewidth=0)
        axis.set_title(title, fontsize=10)
        axis.set_xlabel(xlabel)
        if log_y:
            axis.set_yscale("log")
        axis.grid(True, alpha=0.3)
    axes[0, 0].set_ylabel(ylabel)
    figure.suptitle(suptitle, fontsize=11)
    figure.tight_layout()
    return figure


def curves_and_dots_figure(curves, dots, labels, curve_texts, dot_texts, suptitle):
    """Experiments run with several seeds, one colour each. Left: `curves[k]` (seeds x epochs), the
    mean per epoch ± its sample SD; right: `dots[k]` (one final value per seed) as dots, with their
    mean ± sample SD as a bar, which overlapping curves hide. `curve_texts` and `dot_texts` are each
    panel's (axis label, title)."""
    plt = pyplot()
    figure, (curves_axes, dots_axes) = plt.subplots(1, 2, figsize=(12, 4.8), width_ratios=(3, 2))
    for row, (runs, finals, label) in enumerate(zip(curves, dots, labels)):
        epoch_numbers, color = np.arange(1, runs.shape[1] + 1), f"C{row}"
        mean, sd = runs.mean(axis=0), np.array([sample_sd(epoch) for epoch in runs.T])
        curves_axes.plot(epoch_numbers, mean, marker="o", markersize=3, color=color, label=label)
        curves_axes.fill_between(epoch_numbers, mean - sd, mean + sd, color=color, alpha=0.2)
        dots_axes.scatter(finals, np.full(len(finals), row), color=color, alpha=0.5, s=18)
        dots_axes.errorbar(finals.mean(), row, xerr=sample_sd(finals), color=color, marker="|", markersize=14, capsize=4)
    curves_axes.set(xlabel="epoch", ylabel=curve_texts[0], title=curve_texts[1])
    curves_axes.xaxis.get_major_locator().set_params(integer=True)
    curves_axes.legend(loc="lower right", fontsize=8)
    dots_axes.set_yticks(range(len(labels)), labels, fontsize=8)
    dots_axes.invert_yaxis()
    dots_axes.set(xlabel=dot_texts[0], title=dot_texts[1])
    for axes in (curves_axes, dots_axes):
        axes.grid(alpha=0.3)
    figure.suptitle(suptitle)
    figure.tight_layout()
    return figure


def eta_squared_figure(table, alpha, interactions_shown=10):
    """Horizontal bars of a factorial ANOVA's eta² (`tp2.stats.factorial_anova`) on a log axis: every main
    effect, the largest interactions, the others summed, the residual; coloured by p < `alpha`."""
    interactions = table[table["kind"] == "interaction"]
    rest = interactions.iloc[interactions_shown:]
    rows = pd.concat([table[table["kind"] == "main"], interactions.head(interactions_shown),
                      table[table["kind"] == "residual"]])
    labels, values = list(rows["term"]), list(rows["eta_sq"])
    colours = [
        "grey" if kind == "residual" else ("tab:blue" if p < alpha else "lightsteelblue")
        for kind, p in zip(rows["kind"], rows["p_value"])
    ]
    if len(rest):
        labels.append(f"{len(rest)} other interactions")
        values.append(rest["eta_sq"].sum())
        colours.append("whitesmoke")
    plt = pyplot()
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(7, 0.35 * len(labels) + 1.5))
    positions = np.arange(len(labels))[::-1]
    ax.barh(positions, values, color=colours, edgecolor="black", linewidth=0.5)
    ax.set_yticks(positions, labels=labels)
    for y, value in zip(positions, values):
        ax.text(value, y, f" {value:.2g}", va="center", fontsize=8)
    ax.set_xlabel("eta² (share of the variance of test accuracy, log scale)")
    positive = [v for v in values if v > 0]
    if positive:  # a log axis shows the small effects beside the large ones
        ax.set_xscale("log")
        ax.set_xlim(min(positive) / 2, max(positive) * 3)
    ax.legend(handles=[Patch(facecolor="tab:blue", edgecolor="black", label=f"p < {alpha}"),
                       Patch(facecolor="lightsteelblue", edgecolor="black", label=f"p ≥ {alpha}"),
                       Patch(facecolor="grey", edgecolor="black", label="residual"),
                       Patch(facecolor="whitesmoke", edgecolor="black", label="other interactions, summed")],
              loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.set_title("Hyperparameter importance (factorial ANOVA, type II)")
    fig.tight_layout()
    return fig
