"""--protocol 2016: the author's recipe for Tables 1 and 2, checked against his code's rules
(original-code/tp2), by hand computations and on quick runs of the real data."""

import json
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import assert_clean_error, run_script

import keras_mnist
from tp2.data import load_mnist_splits
import theano_tp2
from tp2 import data, pytensor_training
from tp2.report import table1 as table1_report
from tp2.splits import shuffled_split

SCRIPTS = ("theano_tp2.py", "keras_mnist.py", "keras_imageTools.py", "som_analysis.py")


# --- Table 1: the loader, the recipe, the stop rule, the last-minibatch accuracy -------


def test_the_2016_loader_rescales_keeping_the_aspect_pads_and_int8_keeps_only_white(tmp_path):
    from PIL import Image

    # A 2 x 4 RGB image: its left 2 x 2 block all white, its right block grey.
    pixels = np.zeros((2, 4, 3), np.uint8)
    pixels[:, :2] = 255
    pixels[:, 2:] = [[[10, 20, 30], [50, 60, 70]], [[90, 100, 110], [130, 140, 150]]]
    Image.fromarray(pixels).save(tmp_path / "tiny.png")
    out = data.rescale_and_pad_2016(tmp_path / "tiny.png", 2, "RGB")
    # scale = min(2/2, 2/4) = 0.5 -> 1 x 2 pixels, each the bilinear mean of one 2 x 2 block
    # (pixel centres at (i + 0.5) * 2 - 0.5 = 0.5), then a zero row below.
    expected = np.zeros((2, 2, 3))
    expected[0, 0] = 1.0
    expected[0, 1] = np.array([(10 + 50 + 90 + 130) / 4, (20 + 60 + 100 + 140) / 4, (30 + 70 + 110 + 150) / 4]) / 255
    np.testing.assert_allclose(out, expected, atol=1e-12)
    stored = np.zeros((1, 2, 2, 3), dtype=np.byte)  # loadImages.py: images = np.zeros(..., dtype=np.byte)
    stored[0] = out
    assert stored.tolist() == [[[[1, 1, 1], [0, 0, 0]], [[0, 0, 0], [0, 0, 0]]]]
    assert np.array_equal(out.astype("int8"), stored[0])  # what load_dataset does: the same truncation
    gray = data.rescale_and_pad_2016(tmp_path / "tiny.png", 2, "L")
    assert gray.shape == (2, 2) and gray[0, 0] == 1.0 and gray[1].tolist() == [0.0, 0.0]


def test_the_2016_settings_are_the_authors():
    s = theano_tp2.PROTOCOL_2016
    assert s.seeds == (750, 2, 123, 489, 1000, 656, 22, 123, 159, 953)  # theano_tp2.py, 123 twice
    assert (s.color, s.resize, s.storage_dtype, s.standardise, s.dtype) == ("RGB", "rescale-pad", "int8", False, "float64")
    assert (s.init, s.split, s.sd_ddof, s.test_fraction, s.classes) == ("normal", "shuffle", 0, 0.2, ("Motorbikes", "airplanes"))
    assert s.experiments["batch"]["learning_rate"] == 0.1 and s.experiments["batch"]["epochs"] == 500
    assert s.experiments["batch"]["batch_size"] is None
    for name in ("minibatch", "minibatch_hidden_sigmoid", "minibatch_hidden_relu"):
        spec = s.experiments[name]
        assert (spec["batch_size"], spec["learning_rate"], spec["epochs"], spec["stop_change"]) == (10, 0.1, 500, 0.001)
    assert [spec["hidden"] for spec in s.experiments.values()] == [None, None, "sigmoid", "relu"]
    assert pytensor_training.repetition_seeds(s, seed=99) == list(s.seeds)
    assert pytensor_training.repetition_seeds(theano_tp2.FULL, seed=7)[:3] == [7, 8, 9]


def test_the_stop_rule_compares_each_step_with_the_one_before_and_the_first_with_one():
    xents = iter([0.5, 0.4, 0.399, 0.3992, 0.1])  # changes: 0.5, 0.2, 0.0025, 0.0005 < 0.001 -> stop at 4
    steps = []

    def train_step(x, y):
        steps.append(len(y))
        return 0.0, next(xents)

    spec = dict(batch_size=10, epochs=500, stop_change=0.001)
    x, y = np.zeros((30, 2)), np.zeros(30)
    losses, _, last = pytensor_training.train_until_stable(train_step, x, y, spec, np.random.RandomState(0))
    assert losses.tolist() == [0.5, 0.4, 0.399, 0.3992] and steps == [10] * 4 and len(last) == 10
    first = iter([0.9995])  # |0.9995 - 1| / 1 < 0.001: the author's err_old = 1 stops it at once
    losses, _, _ = pytensor_training.train_until_stable(lambda x, y: (0.0, next(first)), x, y, spec, np.random.RandomState(0))
    assert losses.tolist() == [0.9995]
    doubling = iter(2.0 ** np.arange(1, 20))  # always changing by 100%
    endless = pytensor_training.train_until_stable(lambda x, y: (0.0, next(doubling)), x, y, dict(spec, epochs=7),
                                            np.random.RandomState(0))[0]
    assert len(endless) == 7  # the step limit
    # Minibatches are drawn with replacement by RandomState.randint, as logRegression.py does.
    rng, replay = np.random.RandomState(5), np.random.RandomState(5)
    losses, _, last = pytensor_training.train_until_stable(lambda x, y: (0.0, 0.0005), x, y, spec, rng)
    assert len(losses) == 2  # step 1 changes by ~100% from 1.0, step 2 by 0%
    replay.randint(0, 30, 10)
    assert last.tolist() == replay.randint(0, 30, 10).tolist()


def test_the_2016_split_is_dataPartition_and_minibatch_train_accuracy_is_the_last_minibatchs():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((37, 12))
    y = (x[:, 0] + 0.8 * rng.standard_normal(37) > 0).astype("float64")
    settings = replace(theano_tp2.PROTOCOL_2016, repetitions=1, random_check={}, experiments={
        "minibatch": theano_tp2.PROTOCOL_2016.experiments["minibatch"]})
    # dataPartition.py by hand: shuffle 0..36 with the seed, the first round(37 * 0.2) = 7 are the test split.
    order = np.arange(37)
    np.random.RandomState(750).shuffle(order)
    train_x, train_y, test_x, test_y = shuffled_split(settings, x, y, np.random.RandomState(750))
    assert np.array_equal(test_x, x[order[:7]]) and np.array_equal(train_x, x[np.sort(order[7:])])
    results, _ = theano_tp2.run_table1(settings, x, y, seed=0)
    (result,) = results["minibatch"]
    assert round(result["train_acc"] * 10, 9) == round(result["train_acc"] * 10)  # k / 10: one minibatch of 10
    assert round(result["train_acc_split"] * 30, 9) == round(result["train_acc_split"] * 30)  # k / 30: the split
    assert result["train_acc"] != result["train_acc_split"]  # for this data and seed they differ
    assert 1 <= result["steps"] <= 500
    table = theano_tp2.table1_frame({"m": [dict(result, test_acc=0.5), dict(result, test_acc=0.7)]}, ddof=0)
    assert table.loc[0, "test_acc_sd"] == pytest.approx(0.1)  # NumPy's default SD, as the author's


@pytest.fixture(scope="module")
def quick_2016_run(real_data_dir, tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    return results / "2016", run_quick_protocol("theano_tp2.py", real_data_dir, results).stdout


@pytest.fixture(scope="module")
def quick_2016(quick_2016_run):
    return quick_2016_run[0]


def run_quick_protocol(script, data_dir, results):
    result = run_script(script, "--quick", "--protocol", "2016", "--results-dir", results,
                        env={"TP2_DATA_DIR": str(data_dir), "TP2_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_quick_2016_run_writes_table1_both_train_accuracies_and_the_ablations(quick_2016):
    table = pd.read_csv(quick_2016 / "table1.csv")
    assert list(table["experiment"]) == list(theano_tp2.EXPERIMENTS)
    for column in ("train_acc_mean", "train_acc_split_mean", "test_acc_mean", "steps_mean"):
        assert column in table.columns
    assert (table["test_acc_mean"] >= 0.80).all(), table  # the report: 94-96 %
    assert (table["repetitions"] == 2).all()
    ablations = pd.read_csv(quick_2016 / "table1_ablations.csv")
    assert list(dict.fromkeys(ablations["ablation"])) == ["none (the 2016 recipe)", *theano_tp2.ABLATIONS_2016]
    facts = json.loads((quick_2016 / "features.json").read_text())
    assert facts["features"] == 28 * 28 * 3 and 0.02 < facts["nonzero_share"] < 0.3
    assert facts["nonzero_share_by_class"]["Motorbikes"] > facts["nonzero_share_by_class"]["airplanes"]
    info = json.loads((quick_2016 / "run_theano_tp2.json").read_text())
    assert info["settings"]["protocol"] == "2016" and info["settings"]["seeds"][:2] == [750, 2]
    assert not (quick_2016.parent / "table1.csv").exists()  # the revised table is not touched


def test_the_2016_run_gives_the_eta_of_every_model_left_its_ablations_included(quick_2016_run):
    lines = [line for line in quick_2016_run[1].splitlines() if line.lstrip().startswith("repetition ")]
    assert len(lines) == (1 + 4) * 4 * 2  # the recipe and its four ablations x four models x two repetitions
    etas = [re.fullmatch(r".* ETA (\d+)m(\d\d)s", line) for line in lines]
    assert all(etas), lines
    seconds = [60 * int(eta[1]) + int(eta[2]) for eta in etas]
    assert seconds[7] > 0  # the recipe's last model: the ablations are still to come
    assert seconds[-1] == 0


def test_report_puts_report_rerun_and_revised_side_by_side(quick_2016, tmp_path):
    folder = tmp_path / "results"
    (folder / "2016").mkdir(parents=True)
    for name in ("table1.csv", "table1_ablations.csv", "features.json", "run_theano_tp2.json"):
        (folder / "2016" / name).write_bytes((quick_2016 / name).read_bytes())
    revised = pd.read_csv(quick_2016 / "table1.csv")[["experiment", "train_acc_mean", "train_acc_sd", "test_acc_mean",
                                                       "test_acc_sd", "time_s_mean", "time_s_sd", "repetitions"]]
    revised.assign(test_acc_mean=0.9, test_acc_sd=0.01).to_csv(folder / "table1.csv", index=False)
    text = "\n".join(table1_report.section(folder))
    rerun = pd.read_csv(quick_2016 / "table1.csv").set_index("experiment")
    batch = rerun.loc["batch"]
    # the rerun's distance from the report's 95.56, in units of the rerun's SD, computed here by hand
    distance = (100 * batch["test_acc_mean"] - 95.56) / (100 * batch["test_acc_sd"])
    row = next(line for line in text.splitlines() if line.startswith("| batch ") and "0.9556 ± 0.0094" in line)
    assert f"{batch['test_acc_mean']:.4f} ± {batch['test_acc_sd']:.4f}" in row
    assert f"{distance:+.1f}" in row and "0.9000 ± 0.0100" in row
    differences = "\n".join(table1_report.differences(folder))
    for ablation in theano_tp2.ABLATIONS_2016:
        assert f"| {ablation} " in differences
    assert "np.byte" in differences and "Motorbikes" in differences


# --- Table 2: the author's variants and data -----------------------------------------


def test_the_2016_mnist_settings_train_on_everything_and_validate_on_test(real_data_dir):
    s = keras_mnist.PROTOCOL_2016
    assert (s.validation, s.subset, s.rmsprop_epsilon, s.epochs, s.batch_size) == ("test", "random", 1e-8, 20, 128)
    assert s.experiments == keras_mnist.FULL.experiments  # the same variants in both protocols
    splits = load_mnist_splits(real_data_dir, 0, s)
    assert len(splits["y_train"]) == 60_000 and len(splits["val_index"]) == 0
    assert np.array_equal(splits["x_val"], splits["x_test"]) and np.array_equal(splits["y_val"], splits["y_test"])


def test_variant_i_is_a_random_quarter_in_2016_and_a_stratified_one_otherwise():
    labels = np.repeat(np.arange(10), [300, 100, 100, 100, 100, 100, 100, 100, 100, 100])
    splits = {"x_train": np.arange(len(labels))[:, None], "y_train": labels}
    x, _ = keras_mnist.training_part(splits, 0.25, seed=4, subset="random")
    order = np.arange(len(labels))
    np.random.RandomState(4).shuffle(order)  # the author's np.random.shuffle(ind); ind[:round(N * 0.25)]
    assert x[:, 0].tolist() == order[: round(len(labels) * 0.25)].tolist()
    _, y = keras_mnist.training_part(splits, 0.25, seed=4, subset="stratified")
    assert np.bincount(y).tolist() == [75] + [25] * 9


def test_the_compiled_rmsprop_follows_the_protocol():
    revised = keras_mnist.build_model("original", keras_mnist.FULL)
    rerun = keras_mnist.build_model("original", keras_mnist.PROTOCOL_2016)
    assert revised.optimizer.epsilon == pytest.approx(1e-7) and rerun.optimizer.epsilon == pytest.approx(1e-8)


# --- Every script: the option ------------------------------------------------------------


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_bad_protocol_name_is_one_line_and_exit_2(script, tmp_path):
    result = run_script(script, "--protocol", "2017", "--results-dir", tmp_path / "r")
    assert_clean_error(result, "--protocol", "2017", "revised", "2016")
    assert not (tmp_path / "r").exists()
