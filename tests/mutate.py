"""Mutation harness: realistic bugs ("mutants") that the tests must catch.

Each mutant breaks one promise of README.md / results/REPORT.md (the test split only reports,
splits are stratified, writes are atomic, the 2016 grid is the author's, ...) by replacing one
exact piece of text in one file. For every mutant the harness copies the repository (the files
git knows, plus untracked files that are not ignored, as they are in the working tree) into a
temporary folder, applies the replacement there, and runs only the tests listed for it with the
same interpreter. Tests fail: the mutant is CAUGHT. Tests pass: it SURVIVED, and a promise is
unguarded. The old text must occur exactly once in the current code, else the mutant is STALE
(the code moved on: update its anchor). tests/mutations.md lists the mutants.

    python tests/mutate.py                 # every mutant, 2 at a time, one line each and a score
    python tests/mutate.py --list          # the mutants and their tests, nothing run
    python tests/mutate.py --check         # anchors, test ids and tests/mutations.md only, nothing run
    python tests/mutate.py --only ID ...   # some mutants
    python tests/mutate.py --markdown      # the table of tests/mutations.md, from MUTANTS
    python tests/mutate.py --no-baseline   # skip the first run of the selected tests on unmutated code

Before the mutants, the selected tests run once on the unmutated copy (the baseline): a test
that already fails there would make every mutant look caught, so the harness stops instead.
Exit code: 0 when every mutant is caught; 1 when one survived, is stale, timed out or could
not be run; 2 for a bad command line or a failing baseline.
"""

import argparse
import concurrent.futures
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TABLE = REPO / "tests" / "mutations.md"
DEFAULT_TIMEOUT_S = 600


@dataclasses.dataclass(frozen=True)
class Mutant:
    id: str
    file: str  # relative to the repository root
    old: str  # must occur exactly once in `file`
    new: str
    tests: tuple  # pytest node ids (or files), cheapest first: the run stops at the first failure
    claim: str  # the promise the mutant breaks
    k: str | None = None  # an optional pytest -k expression narrowing `tests`
    timeout_s: int = DEFAULT_TIMEOUT_S
    gap: str | None = None  # for a mutant no test catches yet: the test that would


T_CHOICES = "tests/test_no_test_data_in_choices.py"
T_2016 = "tests/test_protocol_2016.py"
T_GRID_2016 = "tests/test_grid_2016.py"
T_GRID_STORE = "tests/test_grid_store.py"
T_KIT = "tests/test_keras_imageTools.py"
T_LOCKS = "tests/test_locks_and_staging.py"
T_COUNTS = "tests/test_split_class_counts.py"

MUTANTS = (
    # --- The test split only reports (revised protocol) -------------------------------------
    Mutant(
        "theano-standardise-with-test", "tp2/splits.py",
        "    mean = x[train_idx].mean(axis=0)\n"
        "    sd = x[train_idx].std(axis=0) + np.asarray(1e-3, settings.dtype)\n",
        "    mean = x.mean(axis=0)  # every image, the test split included\n"
        "    sd = x.std(axis=0) + np.asarray(1e-3, settings.dtype)\n",
        (f"{T_CHOICES}::test_the_per_pixel_standardiser_sees_only_the_training_split",),
        "Table 1 standardises each pixel with the training split's mean and SD only, never the test split's"),
    Mutant(
        "mnist-validation-data-is-test", "keras_mnist.py",
        '        validation_data=(splits["x_val"], one_hot(splits["y_val"])),\n',
        '        validation_data=(splits["x_test"], one_hot(splits["y_test"])),\n',
        (f"{T_CHOICES}::test_mnist_validation_data_is_held_out_training_images_never_the_test_set",),
        "revised protocol: keras_mnist's validation_data is the held-out 1/6 of the training images, "
        "never the test set"),
    Mutant(
        "mnist-load-splits-validate-on-test", "tp2/data.py",
        '    x_val, y_val = (x_test, y_test) if settings.validation == "test" else '
        '(x_train[val_index], y_train[val_index])\n',
        "    x_val, y_val = (x_test, y_test)\n",
        ("tests/test_keras_mnist.py::test_validation_is_held_out_from_training_and_disjoint_from_test",),
        "revised protocol: the MNIST validation images are held-out training images, disjoint from the test set"),
    Mutant(
        "grid-early-stopping-on-test", "keras_imageTools.py",
        '    val = (images[split["val"]], labels[split["val"]].astype("float32"))\n',
        '    val = (images[split["test"]], labels[split["test"]].astype("float32"))\n',
        (f"{T_CHOICES}::test_early_stopping_in_the_grid_watches_the_validation_split_only",),
        "the grid's early stopping watches the validation split, never the test split"),
    Mutant(
        "grid-early-stopping-on-training-loss", "keras_imageTools.py",
        'EarlyStopping(monitor="val_loss",',
        'EarlyStopping(monitor="loss",',
        (f"{T_CHOICES}::test_early_stopping_in_the_grid_watches_the_validation_split_only",),
        "early stopping on the validation loss (patience 5, best weights restored)"),
    Mutant(
        "grid-ranked-on-test", "tp2/grid_store.py",
        '    mean = summary["val_acc_mean"].round(12).rename("tied_mean")\n',
        '    mean = summary["test_acc_mean"].round(12).rename("tied_mean")\n',
        (f"{T_GRID_STORE}::test_ranking_uses_validation_only_and_shares_ranks_between_ties",),
        "the best configuration (grid summary, model_best.h5, Table 3) is chosen on validation accuracy; "
        "test accuracy never decides"),
    Mutant(
        "table3-ranked-on-test", "som_analysis.py",
        "    return ranked(configurations)[columns].head(settings.top_configurations)\n",
        '    return ranked(configurations).sort_values("test_acc_mean", ascending=False, kind="stable")'
        "[columns].head(settings.top_configurations)\n",
        ("tests/test_som_analysis.py::test_table3_ties_share_a_rank_and_the_section_places_the_figures",
         "tests/test_som_analysis.py::test_cli_outputs_rank_on_validation_and_repeat_under_a_seed"),
        "Table 3 (revised) ranks configurations on mean validation accuracy; test accuracy is only reported"),
    # --- The 2016 protocol is the author's ---------------------------------------------------
    Mutant(
        "mnist-2016-validates-on-held-out", "keras_mnist.py",
        'PROTOCOL_2016 = replace(FULL, protocol="2016", validation="test",',
        'PROTOCOL_2016 = replace(FULL, protocol="2016", validation="held-out",',
        (f"{T_2016}::test_the_2016_mnist_settings_train_on_everything_and_validate_on_test",),
        "2016 protocol: all 60,000 training images train and the test set IS the validation data, as the author did"),
    Mutant(
        "mnist-variant-i-always-random", "keras_mnist.py",
        '    if fraction < 1.0 and subset == "random":\n',
        "    if fraction < 1.0:\n",
        (f"{T_2016}::test_variant_i_is_a_random_quarter_in_2016_and_a_stratified_one_otherwise",),
        "variant i keeps a stratified 25% (revised); only the 2016 protocol takes the author's random quarter"),
    Mutant(
        "mnist-rmsprop-epsilon-dropped", "keras_mnist.py",
        "        optimizer=keras.optimizers.RMSprop(learning_rate=settings.learning_rate, "
        "epsilon=settings.rmsprop_epsilon),\n",
        "        optimizer=keras.optimizers.RMSprop(learning_rate=settings.learning_rate),\n",
        (f"{T_2016}::test_the_compiled_rmsprop_follows_the_protocol",),
        "2016 protocol: RMSprop with Keras 1's epsilon 1e-8"),
    Mutant(
        "theano-2016-seeds-deduplicated", "tp2/theano_recipe_2016.py",
        "    seeds=(750, 2, 123, 489, 1000, 656, 22, 123, 159, 953),",
        "    seeds=(750, 2, 123, 489, 1000, 656, 22, 124, 159, 953),",
        (f"{T_2016}::test_the_2016_settings_are_the_authors",),
        "2016 Table 1 uses the author's ten seeds as listed, 123 twice"),
    Mutant(
        "theano-2016-train-acc-whole-split", "tp2/pytensor_training.py",
        '        result["train_acc"] = accuracy(predict, train_x[last], train_y[last])',
        '        result["train_acc"] = accuracy(predict, train_x, train_y)',
        (f"{T_2016}::test_the_2016_split_is_dataPartition_and_minibatch_train_accuracy_is_the_last_minibatchs",),
        "2016 Table 1: a minibatch model's reported train accuracy is the last minibatch's, as the author's was"),
    Mutant(
        "theano-2016-train-split-reordered", "tp2/splits.py",
        "    train_idx = np.setdiff1d(np.arange(len(y)), test_idx)\n",
        "    train_idx = order[len(test_idx):]\n",
        (f"{T_2016}::test_the_2016_split_is_dataPartition_and_minibatch_train_accuracy_is_the_last_minibatchs",),
        "2016 split = dataPartition.py: the first round(0.2 N) of a shuffle test, the rest train in their "
        "original order"),
    Mutant(
        "theano-2016-stop-rule-off-by-one", "tp2/pytensor_training.py",
        '    while change > spec["stop_change"] and len(losses) < spec["epochs"]:\n',
        '    while change > spec["stop_change"] and len(losses) <= spec["epochs"]:\n',
        (f"{T_2016}::test_the_stop_rule_compares_each_step_with_the_one_before_and_the_first_with_one",),
        "2016 minibatch models stop when the cross-entropy changes by < 0.1%, or after 500 steps"),
    Mutant(
        "grid-2016-wrong-level", "keras_imageTools.py",
        '("dropout", (0.7, 0.5, 0.2, 0.1, 0.0))',
        '("dropout", (0.75, 0.5, 0.2, 0.1, 0.0))',
        (f"{T_GRID_2016}::test_the_2016_grid_is_the_authors_600_configurations",),
        "the 2016 grid is exactly the author's 600 configurations (his levels)"),
    Mutant(
        "grid-2016-held-out-varies-by-seed", "keras_imageTools.py",
        "    seed = seed if settings.split_seed is None else settings.split_seed\n",
        "",
        (f"{T_GRID_2016}::test_the_held_out_split_is_50_per_class_and_the_same_for_every_seed",),
        "2016 grid: one held-out split (50 images per class, drawn from seed 0) shared by every trial"),
    Mutant(
        "grid-2016-early-stopping", "keras_imageTools.py",
        "patience=None, label_smoothing=0.0,",
        "patience=5, label_smoothing=0.0,",
        (f"{T_GRID_2016}::test_the_2016_recipe_is_the_authors",),
        "2016 grid: a fixed 15 epochs of 20 batches, nothing watched during training (no early stopping)"),
    Mutant(
        "grid-2016-train-acc-not-recorded", "keras_imageTools.py",
        '{"train_acc": float(history["accuracy"][-1])}',
        "{}",
        (f"{T_GRID_2016}::test_a_2016_trial_trains_on_the_training_split_only_with_no_validation_and_records_"
         "train_accuracy",),
        "2016 grid: every trial records its training accuracy (train_acc), as the author recorded it"),
    Mutant(
        "grid-store-drops-train-acc", "tp2/grid_store.py",
        'OPTIONAL_FIELDS = (("train_acc", "f8"),)\n',
        "OPTIONAL_FIELDS = ()\n",
        (f"{T_GRID_2016}::test_the_grid_file_keeps_train_accuracy_when_trials_have_it_and_not_otherwise",),
        "grid_search.h5 and .csv keep train_acc when the trials have it"),
    # --- Splits are stratified and seeded ----------------------------------------------------
    Mutant(
        "splits-not-stratified", "tp2/splits.py",
        "    for label in np.unique(labels):\n        members = rng.permutation(np.flatnonzero(labels == label))\n",
        "    for label in np.unique(labels)[:1]:  # one pool: a plain random split\n"
        "        members = rng.permutation(len(labels))\n",
        ("tests/test_data.py::test_stratified_split_is_disjoint_complete_stratified_and_seeded",),
        "splits are stratified (tp2/splits.py): every class keeps its share in every part"),
    Mutant(
        "theano-split-not-stratified", "tp2/splits.py",
        "    train_idx, test_idx = stratified_split(y.astype(int), fractions, seed)\n",
        "    train_idx, test_idx = stratified_split(np.zeros(len(y), int), fractions, seed)\n",
        (f"{T_COUNTS}::test_table1_train_and_test_parts_keep_the_class_shares",),
        "Table 1: every repetition's 80/20 split is stratified"),
    Mutant(
        "grid-split-not-stratified", "keras_imageTools.py",
        '    return dict(zip(("train", "val", "test"), stratified_split(labels, settings.split_fractions, seed)))\n',
        '    return dict(zip(("train", "val", "test"), stratified_split(np.zeros_like(labels), '
        "settings.split_fractions, seed)))\n",
        (f"{T_COUNTS}::test_the_grid_parts_keep_the_class_shares_in_both_protocols",),
        "the grid's 70/10/20 train/validation/test split is stratified"),
    Mutant(
        "theano-same-seed-every-repetition", "tp2/pytensor_training.py",
        "        return [seed + rep for rep in range(settings.repetitions)]\n",
        "        return [seed for rep in range(settings.repetitions)]\n",
        (f"{T_2016}::test_the_2016_settings_are_the_authors",),
        "repetition k uses seed + k: each repetition on its own split"),
    # --- Statistics: SDs and the ANOVA -------------------------------------------------------
    Mutant(
        "sample-sd-ddof0", "tp2/stats.py",
        "    return float(values.std(ddof=1)) if len(values) > 1 else 0.0\n",
        "    return float(values.std()) if len(values) > 1 else 0.0\n",
        ("tests/test_results.py::test_sample_sd_uses_ddof_1_and_is_zero_for_one_value",),
        "revised protocol: every SD is the sample SD (ddof 1)"),
    Mutant(
        "grid-summary-sd-ddof0", "tp2/grid_store.py",
        '        val_acc_sd=("val_acc", "std"),\n',
        '        val_acc_sd=("val_acc", lambda values: values.std(ddof=0)),\n',
        (f"{T_GRID_STORE}::test_summary_is_one_row_per_configuration_with_sample_sd",),
        "grid summary and Table 3: sample SD over seeds (none for a single seed)"),
    Mutant(
        "mnist-figure-bars-ddof0", "tp2/figures.py",
        "xerr=sample_sd(finals)",
        "xerr=np.std(finals)",
        ("tests/test_figures.py::test_every_seed_is_a_dot_and_the_bar_is_the_mean_and_sample_sd",),
        "MNIST figure: each experiment's test accuracy bar is the mean ± the sample SD over seeds"),
    Mutant(
        "theano-2016-sd-ddof1", "tp2/theano_recipe_2016.py",
        "    sd_ddof=0,  # np.std's default\n",
        "    sd_ddof=1,  # np.std's default\n",
        (f"{T_2016}::test_the_2016_settings_are_the_authors",),
        "2016 Table 1: SDs as the author computed them, NumPy's np.std (ddof 0)"),
    Mutant(
        "theano-table1-ignores-ddof", "tp2/stats.py",
        "    sd = sample_sd if ddof == 1 else (lambda values: float(np.std(values, ddof=ddof)))\n",
        "    sd = sample_sd\n",
        (f"{T_2016}::test_the_2016_split_is_dataPartition_and_minibatch_train_accuracy_is_the_last_minibatchs",),
        "table1.csv uses the protocol's ddof (1 revised, 0 for 2016)"),
    Mutant(
        "anova-type-III", "tp2/stats.py",
        "ANOVA_TYPE = 2  # type II sums of squares",
        "ANOVA_TYPE = 3  # type II sums of squares",
        ("tests/test_som_analysis.py::test_anova_ranks_planted_factors_first",),
        "the factorial ANOVA uses type II sums of squares"),
    Mutant(
        "anova-type-I", "tp2/stats.py",
        "ANOVA_TYPE = 2  # type II sums of squares",
        "ANOVA_TYPE = 1  # type II sums of squares",
        (f"{T_GRID_STORE}::test_the_anova_is_type_ii_on_an_unbalanced_design",),
        "the factorial ANOVA uses type II sums of squares (type I agrees on a balanced grid, not on an unbalanced one)"),
    Mutant(
        "rank-without-ties", "tp2/grid_store.py",
        'rank(method="min", ascending=False)',
        'rank(method="first", ascending=False)',
        (f"{T_GRID_STORE}::test_ranking_uses_validation_only_and_shares_ranks_between_ties",),
        "Table 3 ranks with ties: equal mean validation accuracies share the best rank"),
    Mutant(
        "rank-ties-split-by-the-last-bit", "tp2/grid_store.py",
        '    mean = summary["val_acc_mean"].round(12).rename("tied_mean")\n',
        '    mean = summary["val_acc_mean"].rename("tied_mean")\n',
        (f"{T_GRID_STORE}::test_ranking_uses_validation_only_and_shares_ranks_between_ties",
         f"{T_GRID_STORE}::test_within_a_tie_the_smaller_sd_goes_first_even_when_its_mean_is_lower_in_the_last_bit"),
        "ties are ties even when two means of the same accuracies differ in the last bit, and ordered by SD"),
    # --- Models and recipes as documented -----------------------------------------------------
    Mutant(
        "theano-l2-weight", "theano_tp2.py",
        "    l2_weight: float = 0.01\n",
        "    l2_weight: float = 0.001\n",
        ("tests/test_theano_tp2.py::test_one_train_step_is_the_gradient_step_of_the_tutorial_cost[batch]",),
        "Table 1's cost is the tutorial's cross-entropy + 0.01 L2"),
    Mutant(
        "mnist-relative-improvement-inverted", "keras_mnist.py",
        "    return (1.0 - original_test_acc) / (1.0 - test_acc)\n",
        "    return (1.0 - test_acc) / (1.0 - original_test_acc)\n",
        ("tests/test_keras_mnist.py::test_relative_improvement_is_the_ratio_of_test_errors",),
        "Table 2's 'mejora relativa' = the original's test error / this experiment's test error"),
    # --- The grid: resuming, the partial file, the stored definition ---------------------------
    Mutant(
        "grid-in-progress-is-grid-search-h5", "tp2/grid_store.py",
        "    write(Path(folder) / PARTIAL_FILE, sorted_rows(rows), definition, **attributes)\n",
        "    write(Path(folder) / GRID_FILE, sorted_rows(rows), definition, **attributes)\n",
        (f"{T_KIT}::test_a_killed_grid_resumes_without_losing_or_repeating_a_trial",),
        "a grid in progress lives in .grid_search.partial.h5 and becomes grid_search.h5 only when complete",
        timeout_s=1200),
    Mutant(
        "grid-saved-only-at-the-end", "tp2/trial_runner.py",
        "        rows.append(row)\n        save(rows)\n",
        "        rows.append(row)\n",
        ("tests/test_trial_runner.py::test_a_resumed_grid_runs_the_rest_saves_after_each_trial_and_returns_the_"
         "wanted_rows",),
        "every finished trial is written at once, so killing the grid loses nothing"),
    Mutant(
        "grid-resume-reruns-finished-trials", "tp2/trial_runner.py",
        "    return [(config, seed) for config in configs for seed in seeds if (config_key(config), seed) not in done]\n",
        "    return [(config, seed) for config in configs for seed in seeds]\n",
        ("tests/test_trial_runner.py::test_only_missing_pairs_run_with_the_seeds_of_a_configuration_together",),
        "rerunning resumes: trials already in the grid file are not trained again"),
    Mutant(
        "grid-resume-accepts-another-grid", "tp2/grid_store.py",
        "    if stored != json.loads(json.dumps(definition)):\n",
        "    if False:  # resume whatever the file holds\n",
        (f"{T_KIT}::test_rows_survive_the_h5_file_and_another_grid_is_refused",),
        "a grid file of another definition (settings, --epochs, --classes, --quick) is refused, not resumed"),
    Mutant(
        "grid-definition-drops-max-epochs", "tp2/grid_store.py",
        '"learning_rate", "max_epochs", "patience",',
        '"learning_rate", "patience",',
        (f"{T_KIT}::test_the_grid_definition_is_the_one_stored_in_the_committed_grid_file",),
        "the grid definition stored in grid_search.h5 names everything a row depends on"),
    # --- Results are never half-written; one run per folder -----------------------------------
    Mutant(
        "atomic-write-in-place", "tp2/results.py",
        "        write(temp)\n        os.replace(temp, path)\n",
        "        write(path)  # straight onto the destination\n        remove_quietly(temp)\n",
        ("tests/test_results.py::test_failed_write_keeps_the_previous_file_and_leaves_no_temp",),
        "every file is written through a temporary file and os.replace: a failed write keeps the previous file"),
    Mutant(
        "grid-h5-written-in-place", "tp2/grid_store.py",
        "    return atomic_write(path, write_file)\n",
        "    write_file(path)  # straight into the destination\n    return path\n",
        (f"{T_GRID_STORE}::test_a_grid_write_that_fails_midway_leaves_the_previous_files_intact",),
        "the grid's HDF5 file is rewritten through atomic_write after every trial: a reader never sees half a row"),
    Mutant(
        "staged-outputs-moved-in-on-failure", "tp2/results.py",
        "    except BaseException:\n        shutil.rmtree(stage, ignore_errors=True)\n        raise\n",
        "    except BaseException:\n        move_staged(stage, folder)  # keep what was written\n        raise\n",
        (f"{T_LOCKS}::test_staged_files_move_in_together_or_not_at_all",),
        "a run that fails leaves the results folder exactly as it was (staged outputs, all or nothing)"),
    Mutant(
        "lock-is-a-no-op", "tp2/results.py",
        "            fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)\n",
        "            pass  # no flock: runs share the folder\n",
        (f"{T_LOCKS}::test_second_run_into_a_locked_folder[make_report.py-args2]",),
        "one run per results folder: a second run stops with one line naming the holder"),
    Mutant(
        "augmented-copies-one-short", "tp2/augmentation.py",
        "    return -(-settings.max_epochs * settings.steps_per_epoch * settings.batch_size // n_train)\n",
        "    return settings.max_epochs * settings.steps_per_epoch * settings.batch_size // n_train\n",
        ("tests/test_grid_2016.py::test_the_2016_grid_caches_one_augmented_copy_per_pass_and_no_more",),
        "2016 grid: as many cached augmented copies as passes over the training split (his generator augmented afresh)"),
    Mutant(
        "grid-shares-its-folder", "tp2/results.py",
        "            fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)\n",
        "            pass  # no flock: runs share the folder\n",
        (f"{T_KIT}::test_a_second_grid_run_into_the_same_folder_is_refused_and_no_row_is_lost",),
        "two grid runs into one folder: the second is refused and the first loses no row"),
    Mutant(
        "umask-chmod-removed", "tp2/results.py",
        "        os.chmod(temp, 0o666 & ~current_umask())\n",
        "",
        (f"{T_LOCKS}::test_atomic_write_follows_a_changed_umask",),
        "files get the umask's mode (0644 under 022), not mkstemp's 0600"),
    # --- The image cache ------------------------------------------------------------------------
    Mutant(
        "cache-key-ignores-size-and-mtime", "tp2/data.py",
        "        (str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)\n",
        "        str(p.relative_to(root))\n",
        ("tests/test_data.py::test_an_image_rewritten_with_other_pixels_is_decoded_again",),
        "the image cache is keyed by every file's size and mtime: a changed image is decoded again"),
    # --- --help -----------------------------------------------------------------------------------
    Mutant(
        "help-imports-pandas", "tp2/stats.py",
        'pd = lazy_loader.load("pandas")  # imported on first use, so that --help answers at once\n',
        "import pandas as pd\n",
        ("tests/test_help.py::test_help_loads_no_heavy_library[theano_tp2.py]",),
        "--help answers in about half a second: pandas (and h5py) load only when a run uses them"),
    # --- make all and the benchmarks ------------------------------------------------------------
    Mutant(
        "make-all-marks-no-step", "Makefile",
        "\t@mkdir -p $(DONE) && touch $@\n",
        "\t@true\n",
        ("tests/test_makefile.py::test_make_all_after_a_failure_goes_on_from_the_step_that_failed",),
        "rerunning make all after an interruption skips the steps it had finished"),
    Mutant(
        "make-all-keeps-its-marks", "Makefile",
        "\trm -rf $(DONE)\n",
        "\ttrue\n",
        ("tests/test_makefile.py::test_make_all_runs_every_step_in_order_then_the_report_and_forgets_them",),
        "once make all has finished, the next make all (like one on a fresh clone) runs everything afresh"),
    Mutant(
        "floor-counts-an-input-gradient-for-the-images", "benchmarks/full_run_floor.py",
        "            if layer > 0:  # no gradient is needed for the input images\n",
        "            if True:\n",
        ("tests/test_full_run_floor.py::test_a_training_step_does_the_six_flops_per_weight_and_sample_but_the_input_gradient",),
        "the full run's matrix-product floor counts exactly the products a training step does"),
)


# --- The repository copy -----------------------------------------------------------------


def repository_files(repo=REPO):
    """The files git tracks plus untracked files that are not ignored, as relative paths."""
    out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, check=True).stdout
    return sorted({name for name in out.decode().split("\0") if name})


def snapshot_repository(target, repo=REPO):
    """Copy the working-tree version of every repository file into `target` (files deleted in the tree are skipped)."""
    for name in repository_files(repo):
        source = repo / name
        if not os.path.lexists(source) or source.is_dir():
            continue
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination, follow_symlinks=False)
    return target


def anchor_problem(mutant, root):
    """None when the mutant applies to the files under `root`, else why it does not (a STALE mutant)."""
    path = root / mutant.file
    if not path.is_file():
        return f"{mutant.file} does not exist"
    count = path.read_text(encoding="utf-8").count(mutant.old)
    if count != 1:
        return f"its old text occurs {count} times in {mutant.file}, not once"
    if mutant.old == mutant.new:
        return "its new text is its old text"
    return None


def apply(mutant, root):
    """Replace the old text in the copy under `root`; SyntaxError if the mutant does not compile."""
    path = root / mutant.file
    text = path.read_text(encoding="utf-8").replace(mutant.old, mutant.new, 1)
    if path.suffix == ".py":
        compile(text, str(path), "exec")
    path.write_text(text, encoding="utf-8")


# --- Running pytest in a copy --------------------------------------------------------------


RUNNING = set()  # pytest processes alive, killed by their process group on Ctrl-C
RUNNING_LOCK = threading.Lock()


def pytest_environment(work):
    env = dict(os.environ)
    if not env.get("TP2_DATA_DIR"):  # as tests/conftest.py finds the data, but from the real checkout
        env["TP2_DATA_DIR"] = str(REPO.parent / "shared" / "data")
    # TMPDIR too: tests/conftest.py makes a temporary folder in every session, even when TP2_CACHE_DIR is set.
    (work / "tmp").mkdir(exist_ok=True)
    env.update(TP2_CACHE_DIR=str(work / "cache"), TMPDIR=str(work / "tmp"), TP2_OFFLINE="1",
               PYTHONDONTWRITEBYTECODE="1", KERAS_BACKEND=env.get("KERAS_BACKEND") or "jax")
    env.pop("PYTEST_ADDOPTS", None)
    return env


def run_pytest(root, work, tests, k=None, timeout_s=DEFAULT_TIMEOUT_S, extra=()):
    """Run `tests` in the copy at `root`; returns (exit code or None on timeout, output, seconds)."""
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", f"--basetemp={work / 'pytest'}",
               *extra, *tests]
    if k:
        command += ["-k", k]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=root, env=pytest_environment(work), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    with RUNNING_LOCK:
        RUNNING.add(process)
    try:
        output, _ = process.communicate(timeout=timeout_s)
        code = process.returncode
    except subprocess.TimeoutExpired:
        kill_group(process)
        output, _ = process.communicate()
        code = None
    finally:
        with RUNNING_LOCK:
            RUNNING.discard(process)
    return code, output, time.perf_counter() - started


def kill_group(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def failed_tests(output):
    """The node ids pytest's short summary names as failed or in error."""
    return [line.split()[1] for line in output.splitlines() if line.startswith(("FAILED ", "ERROR ")) and
            len(line.split()) > 1]


def last_line(output):
    lines = [line.strip("= ") for line in output.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


# Exit codes of pytest: 0 all passed, 1 some failed, 2 interrupted (e.g. a collection error),
# 3 internal error, 4 usage error (e.g. a test id not found), 5 no test collected.
def verdict(code):
    if code is None:
        return "TIMEOUT"
    return {0: "SURVIVED", 1: "CAUGHT", 2: "CAUGHT"}.get(code, "ERROR")


def run_mutant(mutant, pristine, keep, timeout_factor):
    """(status, seconds, detail) of one mutant, run in its own copy of `pristine`."""
    problem = anchor_problem(mutant, pristine)
    if problem:
        return "STALE", 0.0, problem
    work = Path(tempfile.mkdtemp(prefix=f"tp2-mutant-{mutant.id}-"))
    try:
        root = work / "repo"
        shutil.copytree(pristine, root, symlinks=True)
        try:
            apply(mutant, root)
        except SyntaxError as error:
            return "ERROR", 0.0, f"the mutated {mutant.file} does not compile: {error}"
        code, output, seconds = run_pytest(root, work, mutant.tests, mutant.k, mutant.timeout_s * timeout_factor)
        status = verdict(code)
        if status == "CAUGHT":
            failed = failed_tests(output)
            detail = ("failed: " + ", ".join(failed)) if failed else last_line(output)
        elif status == "TIMEOUT":
            detail = f"no verdict within {mutant.timeout_s * timeout_factor:.0f} s (raise --timeout-factor)"
        else:
            detail = last_line(output)
            if status == "ERROR":
                detail += "\n" + "\n".join("    " + line for line in output.strip().splitlines()[-15:])
        if mutant.gap and status == "SURVIVED":
            detail += f"; missing test: {mutant.gap}"
        return status, seconds, detail
    finally:
        if keep:
            print(f"  (kept {work})", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)


# --- Checking the anchors, the test ids and the Markdown table ------------------------------


def selected_tests(mutants):
    return list(dict.fromkeys(test for mutant in mutants for test in mutant.tests))


def table_ids(path=TABLE):
    """The mutant ids in the first column of tests/mutations.md's table."""
    if not path.exists():
        return []
    return re.findall(r"^\|\s*`([A-Za-z0-9_.-]+)`\s*\|", path.read_text(encoding="utf-8"), flags=re.M)


def check(mutants, pristine, timeout_factor):
    """Anchors, ids, tests/mutations.md and that every listed test exists; returns the problems."""
    problems = []
    ids = [mutant.id for mutant in MUTANTS]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        problems.append(f"duplicate mutant ids: {', '.join(duplicates)}")
    for mutant in mutants:
        problem = anchor_problem(mutant, pristine)
        if problem:
            problems.append(f"STALE {mutant.id}: {problem}")
        else:
            print(f"anchor ok  {mutant.id:<40} {mutant.file}", flush=True)
    listed = table_ids()
    if sorted(listed) != sorted(ids):
        missing, extra = sorted(set(ids) - set(listed)), sorted(set(listed) - set(ids))
        problems.append(f"{TABLE.relative_to(REPO)} and MUTANTS differ: not in the table {missing or '-'}, "
                        f"not a mutant {extra or '-'}")
    work = Path(tempfile.mkdtemp(prefix="tp2-mutant-check-"))
    try:
        tests = selected_tests(mutants)
        code, output, seconds = run_pytest(pristine, work, tests, timeout_s=300 * timeout_factor,
                                           extra=("--collect-only",))
        collected = {line.strip() for line in output.splitlines() if "::" in line}
        for test in tests:
            if "::" in test and not any(found == test or found.startswith(test + "[") for found in collected):
                problems.append(f"test {test} is not collected")
        if code != 0:
            problems.append(f"collecting the tests failed (pytest exit {code}): {last_line(output)}")
        print(f"collected {len(collected)} test(s) for {len(tests)} id(s) in {seconds:.0f} s", flush=True)
        for mutant in mutants:
            if mutant.k:
                code, output, _ = run_pytest(pristine, work, mutant.tests, mutant.k, 300 * timeout_factor,
                                             extra=("--collect-only",))
                if code != 0:
                    problems.append(f"{mutant.id}: -k {mutant.k!r} selects no test (pytest exit {code})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return problems


# --- Listing --------------------------------------------------------------------------------


def markdown_rows(mutants):
    """The rows of tests/mutations.md's table (`--markdown`)."""
    lines = ["| id | file | claim it breaks | test(s) expected to catch it |", "|---|---|---|---|"]
    for mutant in mutants:
        tests = "<br>".join(f"`{test.removeprefix('tests/')}`" for test in mutant.tests)
        if mutant.k:
            tests += f" `-k {mutant.k}`"
        if mutant.gap:
            tests = f"**none yet** (runs {tests}; would need {mutant.gap})"
        lines.append(f"| `{mutant.id}` | `{mutant.file}` | {mutant.claim} | {tests} |")
    return "\n".join(lines)


def list_mutants(mutants):
    for mutant in mutants:
        print(f"{mutant.id:<40} {mutant.file:<22} {' '.join(mutant.tests)}" + (f" -k {mutant.k!r}" if mutant.k else "")
              + ("   [no test catches it yet]" if mutant.gap else ""))
    print(f"{len(mutants)} mutant(s)")


# --- Main -----------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", metavar="ID", help="run only these mutants")
    parser.add_argument("--list", action="store_true", help="list the mutants and their tests; run nothing")
    parser.add_argument("--check", action="store_true",
                        help="check that every old text occurs once, every test id exists and tests/mutations.md "
                             "lists the mutants; run no test")
    parser.add_argument("--markdown", action="store_true", help="print the table of tests/mutations.md")
    parser.add_argument("--workers", type=int, default=2, help="mutants run in parallel (default 2)")
    parser.add_argument("--timeout-factor", type=float, default=1.0,
                        help="multiply every per-mutant timeout (default 1; e.g. 3 on a busy machine)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the run of the selected tests on the unmutated copy")
    parser.add_argument("--keep", action="store_true", help="keep each mutant's temporary copy (its path is printed)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    known = {mutant.id for mutant in MUTANTS}
    unknown = [name for name in args.only or () if name not in known]
    if unknown:
        parser.error(f"unknown mutant(s) {', '.join(unknown)}; --list shows them")
    return args


def main(argv=None):
    args = parse_args(argv)
    mutants = [mutant for mutant in MUTANTS if not args.only or mutant.id in args.only]
    if args.list:
        list_mutants(mutants)
        return 0
    if args.markdown:
        print(markdown_rows(mutants))
        return 0
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="tp2-mutate-"))
    try:
        # One snapshot of the working tree: every mutant sees the same code, however others edit meanwhile.
        pristine = snapshot_repository(scratch / "repo")
        if args.check:
            problems = check(mutants, pristine, args.timeout_factor)
            for problem in problems:
                print(f"problem: {problem}", flush=True)
            print(f"check: {len(mutants)} mutant(s), {len(problems)} problem(s)")
            return 1 if problems else 0
        if not args.no_baseline:
            tests = selected_tests(mutants)
            print(f"baseline: {len(tests)} test id(s) on the unmutated code ...", flush=True)
            baseline = shutil.copytree(pristine, scratch / "baseline", symlinks=True)  # the tests may write in it
            code, output, seconds = run_pytest(baseline, scratch, tests, timeout_s=1800 * args.timeout_factor)
            if code != 0:
                print(output[-4000:])
                print(f"baseline FAILED (pytest exit {code}) in {seconds:.0f} s: these tests do not pass on the "
                      "unmutated code, so no mutant could be judged", flush=True)
                return 2
            print(f"baseline: {last_line(output)} ({seconds:.0f} s)", flush=True)
        results = run_all(mutants, pristine, args)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    counts = {status: sum(1 for s, _, _ in results.values() if s == status)
              for status in ("CAUGHT", "SURVIVED", "STALE", "TIMEOUT", "ERROR")}
    print(f"\nscore: {counts['CAUGHT']}/{len(mutants)} mutants caught"
          + (f" ({100 * counts['CAUGHT'] / len(mutants):.0f}%)" if mutants else "")
          + "".join(f", {n} {status.lower()}" for status, n in counts.items() if status != "CAUGHT" and n)
          + f"; {time.perf_counter() - started:.0f} s with {args.workers} worker(s)")
    for status in ("SURVIVED", "STALE", "TIMEOUT", "ERROR"):
        names = [mutant.id for mutant in mutants if results[mutant.id][0] == status]
        if names:
            print(f"{status.lower()}: {', '.join(names)}")
    return 0 if counts["CAUGHT"] == len(mutants) else 1


def run_all(mutants, pristine, args):
    """Run the mutants, `args.workers` at a time; prints a line per mutant as it ends."""
    results = {}
    width = max(len(mutant.id) for mutant in mutants)
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.workers) as pool:
        futures = {pool.submit(run_mutant, mutant, pristine, args.keep, args.timeout_factor): mutant
                   for mutant in mutants}
        try:
            for done, future in enumerate(concurrent.futures.as_completed(futures), start=1):
                mutant = futures[future]
                try:
                    status, seconds, detail = future.result()
                except Exception as error:  # a harness bug: report it as this mutant's error
                    status, seconds, detail = "ERROR", 0.0, f"{type(error).__name__}: {error}"
                results[mutant.id] = (status, seconds, detail)
                print(f"[{done}/{len(mutants)}] {status:<8} {mutant.id:<{width}} {seconds:6.1f} s  {detail}",
                      flush=True)
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            with RUNNING_LOCK:
                for process in list(RUNNING):
                    kill_group(process)
            raise
    return results


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
