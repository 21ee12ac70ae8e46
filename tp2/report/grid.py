"""Exercises 2b and 2c in prose: the grid summary table and the answer on HDF5, with Figure 2.

Reads what `keras_imageTools.py` wrote: `grid_summary.csv` (one row per configuration,
best first on validation) with the trials of `grid_search.h5` (the exact accuracies: the
CSVs keep 6 significant digits), `h5_facts.json` (measurements of `model_best.h5` and of
the grid as HDF5), `model_best.h5` and `figure2_model.png` (or `.dot`).
"""

import re

import lazy_loader

from tp2.grid_store import GRID_FILE, config_key, read_trials
from tp2.report.format import (accuracy, configuration_cells, configuration_phrase, figure, file_size, markdown_table,
                               missing_note, read_csv, read_json, section_body)
from tp2.stats import sample_sd
from tp2.results import read_run_info

pd = lazy_loader.load("pandas")  # imported on first use, so that --help answers at once

ORIGINAL_H5_SIZE_MB = 150  # the report's model file
SUMMARY_TOP = 10
FIGURE2 = "figure2_model.png"
FIGURE2_CAPTION = "Figure 2: the best image model, drawn by keras.utils.plot_model."


def markdown_files(folder):
    files = {}
    summary = read_csv(folder, "grid_summary.csv")
    if summary is not None and (folder / GRID_FILE).exists():
        settings = (read_run_info(folder, "keras_imageTools") or {}).get("settings", {})
        chosen_on = ("the held-out test split, as the author ranked; val = test"
                     if settings.get("protocol") == "2016" else "validation")
        files["grid_summary.md"] = (f"# Grid search: airplanes vs Motorbikes (best 10 on {chosen_on})\n\n"
                                    + summary_markdown(summary, summarised_trials(folder)))
    facts = read_json(folder, "h5_facts.json")
    if facts is not None:
        files["h5_answer.md"] = h5_answer(facts)
    return files


def patches_section(folder):
    """Exercise 2b's remark on patches, answered by tp1_patches_vs_whole.csv."""
    lines = ["## Exercise 2b — TP1's functions with Keras primitives, and patches vs the whole image\n",
             "README (\"Exercise 2b as asked\") maps each TP1 function to its Keras 3 primitive "
             "(`tp2/tp1_in_keras.py`, each tested against a NumPy version of the TP1 function on real images). "
             "The report said Keras had no way to extract patches and that the whole image gave similar results; "
             "the same small classifier (Flatten → Dense(32, relu) → Dense(1, sigmoid)) on each input, "
             "stratified 80/20 splits, test accuracy:\n"]
    table = read_csv(folder, "tp1_patches_vs_whole.csv")
    if table is None:
        return lines + [missing_note("tp1_patches_vs_whole.csv", "images")]
    shown = pd.DataFrame({
        "input": table["arm"],
        "test accuracy": [accuracy(m, sd if pd.notna(sd) else None)
                          for m, sd in zip(table["test_accuracy_mean"], table["test_accuracy_sd"])],
        "seeds": table["seeds"].astype(str),
    })
    arms = table.set_index("arm")
    gap = arms.loc["whole image", "test_accuracy_mean"] - arms.loc["patches", "test_accuracy_mean"]
    spread = 2 * arms.loc[["whole image", "patches"], "test_accuracy_sd"].max()  # NaN with one seed
    if not spread > 0:
        verdict = "one seed, so no spread to judge it against"
    elif abs(gap) <= spread:
        verdict = f"within twice the larger SD ({spread:.4f}): similar, as the report said"
    else:
        verdict = f"beyond twice the larger SD ({spread:.4f}): not similar, {'the whole image is' if gap > 0 else 'patches are'} better"
    return lines + [markdown_table(shown), f"\nWhole image minus patches: {gap:+.4f}, {verdict}.\n"]


def section(folder):
    lines = patches_section(folder) + ["", "## Exercise 2c — what HDF5 gives\n"]
    facts = read_json(folder, "h5_facts.json")
    if facts is None:
        lines.append(missing_note("h5_answer.md", "images"))
    else:
        size = folder / "model_best.h5"
        if size.exists():
            lines.append(
                f"The 2016 model file was {ORIGINAL_H5_SIZE_MB} MB; this run's best model file is "
                f"{file_size(size.stat().st_size)}.\n"
            )
        lines.append(section_body(h5_answer(facts)))
        lines.append("`model_best.h5` and Figure 2 are the first configuration of `grid_summary.csv`: the best mean "
                     "validation accuracy (2016 protocol: held-out test accuracy, as the author chose), ties broken "
                     "by the smaller SD over seeds, then by grid order; it is trained again with the first seed.\n")
    if not (folder / FIGURE2).exists() and (folder / "figure2_model.dot").exists():
        return lines + ["*Figure 2 was written as `figure2_model.dot` (Graphviz `dot` was missing).*\n"]
    return lines + [figure(folder, FIGURE2, FIGURE2_CAPTION)]


# --- grid_summary.md -----------------------------------------------------------------


def summarised_trials(folder):
    """The trials of grid_search.h5 with the seeds of the run that wrote grid_summary.csv."""
    trials = read_trials(folder / GRID_FILE)
    settings = (read_run_info(folder, "keras_imageTools") or {}).get("settings", {})
    if "seed" in settings and "seeds" in settings:  # the file may hold other seeds of the same grid
        trials = trials[trials["seed"].between(settings["seed"], settings["seed"] + settings["seeds"] - 1)]
    return trials


def summary_markdown(summary, trials, top=SUMMARY_TOP):
    """The best `top` configurations of grid_summary.csv (already best first), mean ± SD over seeds."""
    groups = {key: group for key, group in trials.groupby(trials.apply(config_key, axis=1))}
    shown = [groups[config_key(row)] for row in summary.head(top).to_dict("records")]
    table = configuration_cells(summary.head(top))
    for name in ("val", "test"):
        table[f"{name} accuracy"] = [accuracy(group[f"{name}_acc"].mean(), sample_sd(group[f"{name}_acc"]))
                                     for group in shown]
    table["seeds"] = summary["seeds"].head(top).astype(str).to_numpy()
    table["epochs"] = summary["epochs_mean"].head(top).map("{:.1f}".format).to_numpy()
    return markdown_table(table)


# --- h5_answer.md --------------------------------------------------------------------


def h5_answer(facts):
    mb = 1e6
    listing = "\n".join(f"    {item}" for item in facts["items"])
    # h5_facts.json lists the .keras members as 'name (N B)': sizes shown as everywhere else.
    members = [re.sub(r"\((\d+) B\)$", lambda m: f"({file_size(int(m[1]))})", item) for item in facts["keras_members"]]
    report_params = ORIGINAL_H5_SIZE_MB * mb / 4
    size = facts["image_size"]
    saved = 1 - facts["grid_gzip"] / facts["grid_plain"]
    optimizer, slots = {"rmsprop": ("RMSprop", "one running mean of squared gradients per weight")}.get(
        facts.get("optimizer"), ("Adam", "two moments per weight"))
    if saved > 0:
        gzip_sentence = f"gzip saves {saved:.0%} of the plain dataset's size."
    else:
        gzip_sentence = (f"At this size gzip makes the file {-saved:.0%} larger: HDF5's fixed overhead (superblock, "
                         "B-tree, chunk index) outweighs what compression saves; it pays off on large arrays.")
    return f"""# What advantages does the HDF5 format provide? (Exercise 2c)

Measured on this run, for the best configuration ({configuration_phrase(facts['config'])}), saved with
`model.save("model_best.h5")` (Keras 3's legacy HDF5 format).

**Size.** `model_best.h5` is {file_size(facts['model_size'])} for {facts['params']:,} parameters:
{file_size(facts['weights_bytes'])} of float32 weights plus {file_size(facts['optimizer_bytes'])} of {optimizer}
state ({slots}) plus the architecture as JSON. Almost all of it is the first
Dense kernel, {facts['input_size']:,} inputs ({size}×{size}×3) × n1. The size grows as inputs × n1 × 4 bytes ×
(1 + optimizer slots), which is why the report's file could reach {ORIGINAL_H5_SIZE_MB} MB: {ORIGINAL_H5_SIZE_MB} MB is about
{report_params / 1e6:.0f} M float32 numbers, e.g. a 256×256×3 input (the default `target_size` of
`flow_from_directory`) into 128 units is {256 * 256 * 3 * 128 / 1e6:.1f} M weights ({256 * 256 * 3 * 128 * 4 / mb:.0f} MB)
before optimizer state. The report does not give enough detail to say which it was.

**What the file holds.** Root attributes: {', '.join(f'`{a}`' for a in facts['attributes'])}
(`model_config` is the architecture as JSON, `training_config` the loss, metrics and
optimizer settings). Groups and datasets:

```
{listing}
```

`optimizer_weights` ({optimizer}'s step count and {slots}) is what lets training
resume where it stopped: the tests check that training N epochs, saving, loading and
training M more gives the same weights as N+M epochs in one go. One catch, measured with
keras {facts['keras_version']}: `keras.models.load_model` reads the weights of this Sequential
model but drops the optimizer state (it builds the optimizer before the layers report
their variables); `load_model_h5` in `tp2/hdf5_model.py` reads the state back from this
group with h5py.

**Reading a part without the model.** `h5py` reads `{facts['kernel_name']}`
{tuple(facts['kernel_shape'])} in {facts['kernel_read_s'] * 1e3:.2f} ms, without Keras and without reading
the rest of the file; it equals the model's own weights: {facts['kernel_matches']}.

**Save and load.** `model.save` {facts['save_s'] * 1e3:.0f} ms, `load_model_h5` (`keras.models.load_model`
plus the optimizer state) {facts['load_s'] * 1e3:.0f} ms (median of 3); the loaded model gives the same predictions on the
test split: {facts['same_predictions']}.

**The grid matrix.** The {facts['grid_rows']} trials as one compound dataset: {file_size(facts['grid_plain'])}
plain, {file_size(facts['grid_gzip'])} with gzip (`compression="gzip"`), {file_size(facts['grid_csv'])} as CSV.
HDF5 keeps the column types (u1, i4, f8, S7), lets a reader take one column or a slice of rows,
and stores the grid definition, library versions and date as attributes next to the data.
{gzip_sentence}

**Keras 3's `.keras` format.** The same model as `.keras` is {file_size(facts['keras_size'])}, a zip
archive holding: {'; '.join(members)}. The weights inside are again HDF5
(`model.weights.h5`), next to the configuration as JSON; `.keras` is Keras 3's default and
`.h5` is kept as a legacy format.
"""
