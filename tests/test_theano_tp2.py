"""theano_tp2.py: the algebra exercise, the random-data check, the four models' gradient
steps, a quick run on the real data, seeds, and the PyTensor vs NumPy benchmark."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import assert_clean_error, run_script, run_quick

import theano_tp2
from benchmarks import theano_vs_numpy

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
    rows = theano_tp2.random_check(repetitions=2, steps=300, seed=0)
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
    params = {"w": rng.normal(0, 0.3, theano_tp2.HIDDEN_UNITS if hidden else n_features), "b": np.array(0.1)}
    if hidden is not None:
        params["w1"] = rng.normal(0, 0.3, (n_features, theano_tp2.HIDDEN_UNITS))
        params["b1"] = rng.normal(0, 0.1, theano_tp2.HIDDEN_UNITS)
    return {name: value.astype(np.float32) for name, value in params.items()}


@pytest.mark.parametrize("name", list(theano_tp2.EXPERIMENTS))
def test_one_train_step_is_the_gradient_step_of_the_tutorial_cost(name):
    spec = theano_tp2.EXPERIMENTS[name]
    n_features, rng = 12, np.random.default_rng(1)
    params, train_step, predict = theano_tp2.build_model(n_features, spec["hidden"], spec["learning_rate"])
    start = known_parameters(n_features, spec["hidden"], rng)
    assert set(params) == set(start)
    theano_tp2.set_parameters(params, start)
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
def quick_run(real_data_dir, tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    run_quick("theano_tp2.py", real_data_dir, results)
    return results


def test_quick_run_writes_table1_with_the_four_experiments(quick_run):
    table = pd.read_csv(quick_run / "table1.csv")
    assert list(table.columns) == TABLE1_COLUMNS
    assert list(table["experiment"]) == list(theano_tp2.EXPERIMENTS)
    assert (table["repetitions"] == theano_tp2.QUICK_REPETITIONS).all()
    assert (table["test_acc_mean"] >= 0.90).all(), table
    assert table[ACCURACY_COLUMNS].apply(lambda c: c.between(0, 1)).all().all()
    assert (table["time_s_mean"] > 0).all()
    markdown = (quick_run / "table1.md").read_text()
    assert markdown.count("(SD:") >= 3 * len(theano_tp2.EXPERIMENTS)
    for name in theano_tp2.REPORT_NAMES.values():
        assert f"| {name} " in markdown


def test_quick_run_writes_the_random_check(quick_run):
    check = pd.read_csv(quick_run / "random_check.csv")
    assert len(check) == 1
    assert 0.35 <= check.loc[0, "test_error_mean"] <= 0.65
    assert check.loc[0, "steps"] == theano_tp2.QUICK_RANDOM_STEPS
    assert check.loc[0, "repetitions"] == theano_tp2.QUICK_REPETITIONS
    assert "(SD:" in (quick_run / "random_check.md").read_text()


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
    assert info["settings"]["repetitions"] == theano_tp2.QUICK_REPETITIONS
    assert info["wall_time_s"] > 0


# --- Seeds ---------------------------------------------------------------------------


def test_same_seed_gives_identical_accuracies_and_another_seed_does_not(real_data_dir):
    x, y = theano_tp2.load_dataset(real_data_dir, theano_tp2.DEFAULT_CLASSES)
    epochs_of = {name: (20 if spec["batch_size"] is None else 2) for name, spec in theano_tp2.EXPERIMENTS.items()}

    def accuracies(seed):
        results, _ = theano_tp2.run_table1(x, y, repetitions=1, seed=seed, epochs_of=epochs_of)
        table, _ = theano_tp2.table1_tables(results, epochs_of)
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


@pytest.mark.parametrize("name", list(theano_tp2.EXPERIMENTS))
def test_numpy_trainer_reaches_the_parameters_pytensor_reaches(name, training_split):
    x, y = training_split
    spec = dict(theano_tp2.EXPERIMENTS[name], name=name)
    initial, orders = theano_vs_numpy.starting_point(spec, x.shape[1], len(y), 5 if spec["batch_size"] is None else 2)
    model = theano_tp2.build_model(x.shape[1], spec["hidden"], spec["learning_rate"])
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
    assert [row["benchmark"] for row in rows] == [f"pytensor_vs_numpy_{name}" for name in theano_tp2.EXPERIMENTS]
    for row in rows:
        assert set(row) == BENCH_KEYS
        assert row["target"] == "≤ 1"
        assert 0 < row["ratio_min"] <= row["ratio_median"] <= row["ratio_max"] < 100
        assert row["met"] == (row["ratio_median"] <= 1.0)
        assert "PyTensor median" in row["details"] and "NumPy median" in row["details"]
