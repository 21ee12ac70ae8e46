"""Bad input against the real command lines, found before any work: one 'error:' line naming the
problem and what to do, exit code 2, no traceback, and nothing in the results folder changed.
Ctrl-C at any moment: 'interrupted', exit code 130, the results folder as it was.

Each case is a row of README's "What bad input gives".
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import OFFLINE, ROOT, assert_clean_error, run_script, snapshot, write_image

def tiny_mnist(path, **changes):
    """An mnist.npz of 300 + 50 random images with the layout of keras.datasets.mnist, then `changes`."""
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (300, 28, 28), dtype=np.uint8), "y_train": (np.arange(300) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, (50, 28, 28), dtype=np.uint8), "y_test": (np.arange(50) % 10).astype(np.uint8),
    }
    arrays.update(changes)
    np.savez(path, **{key: value for key, value in arrays.items() if value is not None})
    return path


@pytest.fixture
def mnist_dir(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    tiny_mnist(folder / "mnist.npz")
    return folder


@pytest.fixture
def image_dir(tmp_path):
    """A data folder with two classes of 12 small generated images."""
    root = tmp_path / "images" / "101_ObjectCategories"
    for label, name in enumerate(("airplanes", "Motorbikes")):
        (root / name).mkdir(parents=True)
        for i in range(12):
            write_image(root / name / f"image_{i:04d}.jpg", size=(48, 32), seed=100 * label + i)
    return root.parent


# --- Seeds ---------------------------------------------------------------------------


@pytest.mark.parametrize("script", ["theano_tp2.py", "keras_mnist.py"])
@pytest.mark.parametrize("args, fragments", [
    (["--seed", "-1"], ["--seed must be 0 or more, got -1"]),
    (["--seed", "2147483647"], ["--seed 2147483647", "past 2147483647", "at most 2147483646"]),
])
def test_seed_out_of_range(script, args, fragments, results, mnist_dir):
    before = snapshot(results)
    result = run_script(script, "--quick", *args, "--data-dir", mnist_dir, "--results-dir", results, env=OFFLINE)
    assert_clean_error(result, *fragments)
    assert snapshot(results) == before


def test_grid_and_som_seeds_out_of_range(results, image_dir):
    before = snapshot(results)
    data = ["--data-dir", image_dir]
    for args, fragments in ((["keras_imageTools.py", "--seed", "-1", *data], ["--seed must be 0 or more, got -1"]),
                            (["som_analysis.py", "--seed", "-1"], ["--seed must be 0 or more, got -1"]),
                            # 3 seeds + 3 augmentation layers (revised), 1 seed + 5 layers (2016): 6 seeds from --seed
                            (["keras_imageTools.py", "--seed", str(2**31 - 5), *data], [f"at most {2**31 - 6}"]),
                            (["keras_imageTools.py", "--protocol", "2016", "--seed", str(2**31 - 5), *data],
                             [f"at most {2**31 - 6}"])):
        result = run_script(*args, "--results-dir", results, env=OFFLINE)
        assert_clean_error(result, *fragments)
    assert snapshot(results) == before


def test_seed_plus_repetitions_past_the_limit(results):
    before = snapshot(results)
    result = run_script("theano_tp2.py", "--seed", str(2**31 - 3), "--repetitions", "5", "--results-dir", results,
                        env=OFFLINE)
    assert_clean_error(result, f"--seed {2**31 - 3} with 5 run(s)", f"at most {2**31 - 5}")
    assert snapshot(results) == before


def test_bad_pytensor_flags(results):
    before = snapshot(results)
    result = run_script("theano_tp2.py", "--quick", "--results-dir", results,
                        env=dict(OFFLINE, PYTENSOR_FLAGS="floatX=float99"))
    assert_clean_error(result, "PyTensor cannot start", "float99", "PYTENSOR_FLAGS")
    assert snapshot(results) == before


def test_more_repetitions_than_the_2016_seeds(results):
    before = snapshot(results)
    result = run_script("theano_tp2.py", "--protocol", "2016", "--repetitions", "11", "--results-dir", results,
                        env=OFFLINE)
    assert_clean_error(result, "--repetitions 11", "10 seeds", "--repetitions 10 or fewer")
    assert snapshot(results) == before


# --- KERAS_BACKEND and --help ---------------------------------------------------------


@pytest.mark.parametrize("backend, fragments", [
    ("numpy", ["KERAS_BACKEND=numpy cannot train", "set it to jax"]),
    ("torch", ["KERAS_BACKEND=torch but torch is not installed", "set it to jax"]),
    ("pytorch", ["KERAS_BACKEND=pytorch is not a Keras backend", "unset KERAS_BACKEND"]),
])
def test_keras_backend_that_cannot_train(backend, fragments, results, mnist_dir):
    before = snapshot(results)
    result = run_script("keras_mnist.py", "--quick", "--data-dir", mnist_dir, "--results-dir", results,
                        env=dict(OFFLINE, KERAS_BACKEND=backend))
    assert_clean_error(result, *fragments)
    assert snapshot(results) == before


def test_keras_backend_checked_before_keras_is_imported():
    """The check also guards `from tp2.keras_setup import keras` at module level (tp2/tp1_in_keras.py imports it so)."""
    result = subprocess.run([sys.executable, "-c", "from tp2.keras_setup import keras"], cwd=ROOT,
                            capture_output=True, text=True, env=dict(os.environ, KERAS_BACKEND="numpy"))
    assert_clean_error(result, "KERAS_BACKEND=numpy")


def test_help_does_not_import_keras():
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-X", "importtime", str(ROOT / "keras_mnist.py"), "--help"],
                            cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    assert result.returncode == 0 and "--experiments" in result.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert "numpy" in imported  # -X importtime did list the imports
    assert not [name for name in imported if name.split(".")[0] in ("keras", "jax", "jaxlib", "tensorflow", "torch")]
    assert seconds < 10, seconds  # about a second on an idle machine; Keras alone takes several


# --- mnist.npz ----------------------------------------------------------------------


@pytest.mark.parametrize("changes, fragments", [
    (dict(y_test=None), ["lacks y_test", "delete it"]),
    (dict(x_train=np.zeros((300, 784), np.uint8)), ["x_train has shape (300, 784)", "(n, 28, 28)"]),
    (dict(x_test=np.zeros((50, 28, 28), np.float32)), ["x_test has dtype float32", "uint8"]),
    (dict(y_train=np.eye(10, dtype=np.uint8)[np.arange(300) % 10]), ["y_train is one-hot", "digit 0-9"]),
    (dict(y_train=np.arange(300) % 11), ["y_train holds labels from 0 to 10", "digits 0-9"]),
    (dict(y_test=np.arange(40) % 10), ["y_test has shape (40,)", "one label per image"]),
])
def test_mnist_file_with_the_wrong_layout(changes, fragments, tmp_path, results):
    tiny_mnist(tmp_path / "mnist.npz", **changes)
    before = snapshot(results)
    result = run_script("keras_mnist.py", "--quick", "--data-dir", tmp_path, "--results-dir", results, env=OFFLINE)
    assert_clean_error(result, "mnist.npz", *fragments)
    assert snapshot(results) == before


# --- make_report.py's inputs -----------------------------------------------------------


def test_mnist_file_too_small_for_a_validation_split(tmp_path, results):
    tiny_mnist(tmp_path / "mnist.npz", x_train=np.zeros((3, 28, 28), np.uint8), y_train=np.arange(3))
    before = snapshot(results)
    result = run_script("keras_mnist.py", "--quick", "--data-dir", tmp_path, "--results-dir", results, env=OFFLINE)
    assert_clean_error(result, "too few images for a training and a validation split")
    assert snapshot(results) == before


def cut(path, keep):
    path.write_bytes(path.read_bytes()[:keep])


@pytest.mark.parametrize("name, damage, fragments", [
    ("table1.csv", lambda p: cut(p, 0), ["table1.csv is empty"]),
    ("table1.csv", lambda p: cut(p, 150), ["table1.csv is truncated"]),
    ("table2.csv", lambda p: p.write_text(p.read_text().splitlines()[0] + "\n"), ["table2.csv has a header and no rows"]),
    ("table2.csv", lambda p: p.write_text(p.read_text().replace(",5\n", "\n", 1)), ["table2.csv line 2 has 6 fields"]),
    ("2016/table1.csv", lambda p: cut(p, 0), ["2016/table1.csv is empty"]),
    ("run_theano_tp2.json", lambda p: cut(p, 0), ["run_theano_tp2.json is empty"]),
    ("run_keras_mnist.json", lambda p: cut(p, 300), ["run_keras_mnist.json is not valid JSON"]),
    ("run_keras_mnist.json", lambda p: p.write_bytes(b'{"command": "caf\xe9"}'), ["run_keras_mnist.json is not UTF-8"]),
    ("run_keras_mnist.json", lambda p: p.write_text('{"command": "python keras_mnist.py"}'),
     ["the report cannot use", "run_keras_mnist.json", "KeyError"]),
])
def test_report_on_a_damaged_results_file(name, damage, fragments, results):
    damage(results / name)
    before = snapshot(results)
    result = run_script("make_report.py", "--results-dir", results)
    assert_clean_error(result, str(results / name), *fragments)
    assert snapshot(results) == before


def test_report_on_a_folder_name_that_is_not_utf8(tmp_path):
    folder = os.fsdecode(bytes(tmp_path) + b"/r\xe9sultats")
    os.mkdir(folder)
    result = run_script("make_report.py", "--results-dir", folder)
    assert_clean_error(result, "r\\xe9sultats", "not valid UTF-8")
    assert os.listdir(folder) == []


def test_report_on_a_folder_that_does_not_exist(tmp_path):
    result = run_script("make_report.py", "--results-dir", tmp_path / "reuslts")
    assert_clean_error(result, "reuslts does not exist", "--results-dir")
    assert not (tmp_path / "reuslts").exists()


# --- Ctrl-C --------------------------------------------------------------------------


def start(script, *args):
    return subprocess.Popen([sys.executable, str(ROOT / script), *map(str, args)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONUNBUFFERED="1", **OFFLINE))


def wait_for_library(process, name, timeout=120):
    """Wait until `process` has loaded a shared library whose path contains `name` (it is importing it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if name in open(f"/proc/{process.pid}/maps").read():
            return
        time.sleep(0.01)
    raise AssertionError(f"{name} never loaded")


def assert_interrupted(process):
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, (process.returncode, err[-2000:])
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "interrupted", err


@pytest.mark.parametrize("library", [
    "_multiarray_umath",  # NumPy, among the script's first imports (before run(main))
    "jaxlib",  # Keras' backend, imported inside main() once the options are checked
])
def test_ctrl_c_while_keras_mnist_imports(library, mnist_dir, results):
    before = snapshot(results)
    process = start("keras_mnist.py", "--quick", "--data-dir", mnist_dir, "--results-dir", results)
    wait_for_library(process, library)
    assert_interrupted(process)
    assert snapshot(results) == before


def test_ctrl_c_while_keras_mnist_trains(mnist_dir, results):
    before = snapshot(results)
    process = start("keras_mnist.py", "--quick", "--data-dir", mnist_dir, "--results-dir", results)
    for line in process.stdout:
        if line.startswith("revised protocol."):  # the folder is locked and staged; the first model compiles
            break
    time.sleep(1)
    assert_interrupted(process)
    assert snapshot(results) == before


def test_ctrl_c_while_theano_trains(image_dir, results):
    before = snapshot(results)
    process = start("theano_tp2.py", "--quick", "--data-dir", image_dir, "--results-dir", results)
    for line in process.stdout:
        if line.startswith("Table 1:"):  # random_check.csv is already staged; Table 1 trains
            break
    assert_interrupted(process)
    assert snapshot(results) == before
