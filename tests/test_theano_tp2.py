"""theano_tp2.py: the algebra exercise, the random-data check, the four models' gradient
steps, a quick run on the real data, seeds, the PyTensor set-up, the Table-1 report text and
the PyTensor vs NumPy benchmark."""

import dataclasses
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import assert_clean_error, run_script, run_quick

import theano_tp2
from benchmarks import theano_vs_numpy
from theano_tp2 import FULL, QUICK
from tp2 import pytensor_training
from tp2.data import load_caltech_vectors
from tp2.report import table1 as table1_report

TABLE1_COLUMNS = ["experiment", "train_acc_mean", "train_acc_sd", "test_acc_mean", "test_acc_sd",
                  "time_s_mean", "time_s_sd", "repetitions"]
BENCH_KEYS = {"benchmark", "target", "ratio_min", "ratio_median", "ratio_max", "met", "details"}
ACCURACY_COLUMNS = ["train_acc_mean", "train_acc_sd", "test_acc_mean", "test_acc_sd"]


# --- 1a: the algebra exercise --------------------------------------------------------


@pytest.mark.parametrize("size, seed", [(1, 0), (7, 1), (1000, 2)])
def test_algebra_exercise_matches_numpy(size, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((2, size)).astype(np.float32)
    out = theano_tp2.compile_algebra()(a, b)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    assert out.dtype == np.float32 and out.shape == (size,)
    np.testing.assert_allclose(out, a64**2 + b64**2 + 2 * a64 * b64, rtol=1e-5, atol=1e-5)


# --- 1b: random data -----------------------------------------------------------------


def test_random_labels_are_memorised_but_not_predicted():
    settings = replace(QUICK, repetitions=2, random_check=dict(QUICK.random_check, steps=300))
    rows = theano_tp2.random_check(settings, seed=0)
    assert len(rows) == 2
    for row in rows:
        assert 0.35 <= row["test_error"] <= 0.65
        assert row["train_error"] <= 0.1  # it did train: 784 features memorise 400 samples


# --- The four models: one gradient step against a float64 finite-difference gradient ---


def reference_cost(params, x, y, hidden):
    """The tutorial's cost in float64: mean cross-entropy + 0.01 * squared weights."""
    features = x
    if hidden is not None:
        z1 = x @ params["w1"] + params["b1"]
        features = 1 / (1 + np.exp(-z1)) if hidden == "sigmoid" else np.maximum(z1, 0)
    p = 1 / (1 + np.exp(-(features @ params["w"] + params["b"])))
    xent = -y * np.log(p) - (1 - y) * np.log(1 - p)
    l2 = sum((params[name] ** 2).sum() for name in ("w", "w1") if name in params)
    return xent.mean() + 0.01 * l2, p


def finite_difference_gradient(params, x, y, hidden, h=1e-5):
    grads = {}
    for name, value in params.items():
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            shifted = {k: v.copy() for k, v in params.items()}
            shifted[name][index] = value[index] + h
            up, _ = reference_cost(shifted, x, y, hidden)
            shifted[name][index] = value[index] - h
            down, _ = reference_cost(shifted, x, y, hidden)
            grad[index] = (up - down) / (2 * h)
        grads[name] = grad
    return grads


def known_parameters(n_features, hidden, rng):
    params = {"w": rng.normal(0, 0.3, FULL.hidden_units if hidden else n_features), "b": np.array(0.1)}
    if hidden is not None:
        params["w1"] = rng.normal(0, 0.3, (n_features, FULL.hidden_units))
        params["b1"] = rng.normal(0, 0.1, FULL.hidden_units)
    return {name: value.astype(np.float32) for name, value in params.items()}


@pytest.mark.parametrize("name", list(FULL.experiments))
def test_one_train_step_is_the_gradient_step_of_the_tutorial_cost(name):
    spec = FULL.experiments[name]
    n_features, rng = 12, np.random.default_rng(1)
    params, train_step, predict = theano_tp2.build_model(FULL, n_features, spec["hidden"], spec["learning_rate"])
    start = known_parameters(n_features, spec["hidden"], rng)
    assert set(params) == set(start)
    pytensor_training.set_parameters(params, start)
    x = rng.standard_normal((8, n_features)).astype(np.float32)
    y = np.array([0, 1, 1, 0, 1, 0, 0, 1], np.float32)

    cost = train_step(x, y)

    start64 = {k: v.astype(np.float64) for k, v in start.items()}
    expected_cost, _ = reference_cost(start64, x.astype(np.float64), y, spec["hidden"])
    assert float(cost) == pytest.approx(expected_cost, rel=1e-5)
    grads = finite_difference_gradient(start64, x.astype(np.float64), y, spec["hidden"])
    for key, shared in params.items():
        step = shared.get_value().astype(np.float64) - start64[key]
        np.testing.assert_allclose(step, -spec["learning_rate"] * grads[key], rtol=1e-4, atol=1e-6, err_msg=key)
    labels = predict(x)
    assert set(np.unique(labels)) <= {0, 1}
    after = {k: v.get_value().astype(np.float64) for k, v in params.items()}
    _, p = reference_cost(after, x.astype(np.float64), y, spec["hidden"])
    assert np.array_equal(labels.astype(int), (p > 0.5).astype(int))


# --- A quick run on the real data, as a user would start it --------------------------


@pytest.fixture(scope="module")
def quick_run_and_output(real_data_dir, tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    completed = run_quick("theano_tp2.py", real_data_dir, results)
    return results, completed.stdout


@pytest.fixture(scope="module")
def quick_run(quick_run_and_output):
    return quick_run_and_output[0]


def test_quick_run_writes_table1_with_the_four_experiments(quick_run):
    table = pd.read_csv(quick_run / "table1.csv")
    assert list(table.columns) == TABLE1_COLUMNS
    assert list(table["experiment"]) == list(QUICK.experiments)
    assert (table["repetitions"] == QUICK.repetitions).all()
    assert (table["test_acc_mean"] >= 0.90).all(), table
    assert table[ACCURACY_COLUMNS].apply(lambda c: c.between(0, 1)).all().all()
    assert (table["time_s_mean"] > 0).all()
    markdown = table1_report.markdown_files(quick_run)["table1.md"]
    assert markdown.count(" ± ") >= 3 * len(QUICK.experiments)
    for spec in QUICK.experiments.values():
        assert f"| {spec['title']} " in markdown


def test_quick_run_writes_the_random_check(quick_run):
    check = pd.read_csv(quick_run / "random_check.csv")
    assert len(check) == 1
    assert 0.35 <= check.loc[0, "test_error_mean"] <= 0.65
    assert check.loc[0, "steps"] == QUICK.random_check["steps"]
    assert check.loc[0, "repetitions"] == QUICK.repetitions
    assert " ± " in table1_report.markdown_files(quick_run)["random_check.md"]


def test_quick_run_writes_the_figure_and_run_info(quick_run):
    from PIL import Image

    figure = quick_run / "figure_table1_curves.png"
    assert figure.stat().st_size > 10_000
    with Image.open(figure) as image:
        assert image.format == "PNG"
        assert image.width > 800 and image.height > 300
        image.load()
    info = json.loads((quick_run / "run_theano_tp2.json").read_text())
    assert info["settings"]["quick"] is True and info["settings"]["seed"] == 0
    assert info["settings"]["repetitions"] == QUICK.repetitions
    assert info["wall_time_s"] > 0
    recorded = json.loads(json.dumps(dataclasses.asdict(QUICK)))
    assert {key: info["settings"][key] for key in recorded} == recorded
    assert info["settings"]["classes"] == ["airplanes", "Motorbikes"] and info["settings"]["floatX"] == "float32"


def test_quick_run_ends_with_a_summary_of_its_numbers_and_files(quick_run_and_output):
    results, output = quick_run_and_output
    table = pd.read_csv(results / "table1.csv")
    summary = output[output.index("Table 1, test accuracy"):]
    for row in table.itertuples():
        assert f"{row.experiment} " in summary and f"{row.test_acc_mean:.4f} ± {row.test_acc_sd:.4f}" in summary
    assert "random labels: test error" in summary
    for name in ("table1.csv", "random_check.csv", "figure_table1_curves.png", "run_theano_tp2.json"):
        assert name in summary
    assert not list(results.glob("*.md"))  # Markdown is make_report.py's


# --- Settings ------------------------------------------------------------------------


def test_quick_settings_change_only_repetitions_and_lengths():
    assert (FULL.repetitions, QUICK.repetitions) == (10, 2)
    assert (FULL.random_check["steps"], QUICK.random_check["steps"]) == (10_000, 2_000)
    assert {name: spec["epochs"] for name, spec in FULL.experiments.items()} == {
        "batch": 1000, "minibatch": 50, "minibatch_hidden_sigmoid": 50, "minibatch_hidden_relu": 50}
    assert {name: spec["epochs"] for name, spec in QUICK.experiments.items()} == {
        "batch": 300, "minibatch": 10, "minibatch_hidden_sigmoid": 10, "minibatch_hidden_relu": 10}
    for name, spec in QUICK.experiments.items():
        assert dict(spec, epochs=0) == dict(FULL.experiments[name], epochs=0)
    assert replace(QUICK, repetitions=10, random_check=FULL.random_check, experiments=FULL.experiments) == FULL
    with pytest.raises(dataclasses.FrozenInstanceError):
        FULL.repetitions = 3


def test_every_setting_has_a_docstring_and_the_options_come_from_the_settings():
    from tp2.settings import field_docs

    assert set(field_docs(theano_tp2.Settings)) == {f.name for f in dataclasses.fields(theano_tp2.Settings)}
    assert theano_tp2.settings_for(theano_tp2.parse_args([])) == FULL
    assert theano_tp2.settings_for(theano_tp2.parse_args(["--quick"])) == QUICK
    chosen = theano_tp2.settings_for(theano_tp2.parse_args(["--quick", "--repetitions", "3"]))
    assert chosen == replace(QUICK, repetitions=3)


def test_classes_default_to_the_protocols_own_order_and_the_option_replaces_them():
    two_protocols = [theano_tp2.settings_for(theano_tp2.parse_args(argv)).classes for argv in ([], ["--protocol", "2016"])]
    assert two_protocols == [("airplanes", "Motorbikes"), ("Motorbikes", "airplanes")]
    chosen = theano_tp2.settings_for(theano_tp2.parse_args(["--protocol", "2016", "--classes", "airplanes", "Faces"]))
    assert chosen.classes == ("airplanes", "Faces")


# --- The PyTensor set-up -------------------------------------------------------------


def test_pytensor_setup_compiles_float32_c_code_with_vector_math():
    import sys

    import pytensor

    from tp2 import pytensor_setup

    assert pytensor.config.floatX == pytensor_setup.FLOATX == "float32"
    assert pytensor_setup.COMPILE_MODE.linker.__class__.__name__ == "VMLinker"
    assert pytensor_setup.COMPILE_MODE.linker.allow_gc is False  # cvm_nogc: buffers kept between calls
    if not pytensor.config.blas__ldflags:
        assert "BlasOpt" in pytensor_setup.COMPILE_MODE.provided_optimizer.exclude
    if sys.platform.startswith("linux"):
        assert pytensor.config.gcc__cxxflags.split().count("-D__FAST_MATH__") == 1


# --- Seeds ---------------------------------------------------------------------------


def test_same_seed_gives_identical_accuracies_and_another_seed_does_not(real_data_dir):
    x, y = load_caltech_vectors(FULL, real_data_dir)
    experiments = theano_tp2.with_epochs(FULL.experiments, batch=20, minibatch=2, minibatch_hidden_sigmoid=2,
                                         minibatch_hidden_relu=2)
    settings = replace(FULL, repetitions=1, experiments=experiments)

    def accuracies(seed):
        results, _ = theano_tp2.run_table1(settings, x, y, seed=seed)
        table = theano_tp2.table1_frame(results)
        return table[["experiment", *ACCURACY_COLUMNS]]

    first = accuracies(3)
    pd.testing.assert_frame_equal(first, accuracies(3))
    assert not first.equals(accuracies(4))


# --- Command line --------------------------------------------------------------------


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        theano_tp2.parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--data-dir", "--results-dir", "--classes", "--repetitions", "--seed", "--quick"):
        assert option in text


def test_the_same_class_twice_is_a_clear_error(tmp_path):
    results = tmp_path / "results"
    result = run_script("theano_tp2.py", "--classes", "airplanes", "airplanes", "--results-dir", results,
                        env={"TP2_OFFLINE": "1"})
    assert_clean_error(result, "--classes", "airplanes")
    assert not results.exists()


# --- Benchmark: PyTensor vs the same math in NumPy -----------------------------------


@pytest.fixture(scope="module")
def training_split(real_data_dir):
    return theano_vs_numpy.load_split(real_data_dir)


@pytest.mark.parametrize("name", list(FULL.experiments))
def test_numpy_trainer_reaches_the_parameters_pytensor_reaches(name, training_split):
    x, y = training_split
    spec = dict(FULL.experiments[name], name=name)
    initial, orders = theano_vs_numpy.starting_point(spec, x.shape[1], len(y), 5 if spec["batch_size"] is None else 2)
    model = theano_tp2.build_model(FULL, x.shape[1], spec["hidden"], spec["learning_rate"])
    by_pytensor, _ = theano_vs_numpy.run_pytensor(model, initial, x, y, spec, orders)
    by_numpy, _ = theano_vs_numpy.run_numpy(initial, x, y, spec, orders)
    for key, value in by_pytensor.items():
        assert not np.array_equal(value, initial[key]), f"{key} did not move"
        assert by_numpy[key].dtype == np.float32
        np.testing.assert_allclose(by_numpy[key], value, rtol=1e-4, atol=1e-5, err_msg=key)
    theano_vs_numpy.check_same_parameters(spec, by_pytensor, by_numpy)
    by_numpy["w"] = by_numpy["w"] + 1e-2
    with pytest.raises(AssertionError, match="disagree on w"):
        theano_vs_numpy.check_same_parameters(spec, by_pytensor, by_numpy)


def test_benchmark_rows_are_ratios_judged_on_the_median(real_data_dir):
    rows = theano_vs_numpy.measure(real_data_dir, repeats=1, epochs=2)
    assert [row["benchmark"] for row in rows] == [f"pytensor_vs_numpy_{name}" for name in FULL.experiments]
    for row in rows:
        assert set(row) == BENCH_KEYS
        assert row["target"] == "≤ 1"
        assert 0 < row["ratio_min"] <= row["ratio_median"] <= row["ratio_max"]  # bookkeeping; speed is `make bench`
        assert row["met"] == (row["ratio_median"] <= 1.0)
        assert "PyTensor median" in row["details"] and "NumPy median" in row["details"]


# --- The report's text for Table 1 and the random-data check ----------------------------


def test_report_section_puts_the_figure_after_the_table_and_the_random_check_after_it(quick_run):
    text = "\n".join(table1_report.section(quick_run))
    assert text.index("| minibatch_hidden_relu ") < text.index("![Training loss of the four Table-1 models.]")
    assert text.index("(figure_table1_curves.png)") < text.index("### Sanity check on random data")
    assert "random N(400+400) x 784, random labels" in text
    assert text.count("Over 2 repetitions with the same stratified split") == 1


def test_report_markdown_is_built_from_the_csv_and_the_run_settings(quick_run):
    files = table1_report.markdown_files(quick_run)
    assert set(files) == {"table1.md", "random_check.md"}
    table = files["table1.md"]
    assert "Mean ± SD over 2 repetitions, each on its own stratified 80/20 train/test split" in table
    assert "- Batch: full batch, learning rate 0.1, 300 steps" in table
    assert "- Minibatch + ReLU hidden layer: minibatch 32, hidden layer 100 relu, learning rate 0.02, 10 epochs" in table
    check = files["random_check.md"]
    assert "(cross-entropy + 0.01 L2, learning rate 0.1, full-batch gradient descent)" in check
    assert "| random N(400+400) x 784, random labels | 2000 " in check


def test_report_copes_with_a_folder_holding_only_table1_csv(quick_run, tmp_path):
    (tmp_path / "table1.csv").write_bytes((quick_run / "table1.csv").read_bytes())
    (tmp_path / "run_theano_tp2.json").write_text(json.dumps({"command": "python theano_tp2.py"}))
    assert table1_report.markdown_files(tmp_path) == {}
    text = "\n".join(table1_report.section(tmp_path))
    assert "Over 2 repetitions" in text and "0.9556 ± 0.0094" in text
    assert "figure_table1_curves.png not produced yet" in text
    assert "Sanity check" not in text
    (tmp_path / "run_theano_tp2.json").unlink()
    assert table1_report.markdown_files(tmp_path) == {}
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "`table1.csv` is not in the results folder yet: run `make theano`" in "\n".join(table1_report.section(empty))
