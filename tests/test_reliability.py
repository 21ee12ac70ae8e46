"""Bad input against the real command lines: one clear line, the documented exit code,
no traceback, and nothing already in the results folder lost or half-written.

Each case is listed in README ("What bad input gives").
"""

import http.server
import threading
from functools import partial

import pytest
from conftest import OFFLINE, assert_clean_error, run_script, write_image

IMAGE_SCRIPTS = ("theano_tp2.py", "keras_imageTools.py")
SENTINEL = "experiment,test_acc_mean\nkept,0.5\n"


@pytest.fixture
def data_dir(tmp_path):
    """A data folder with two small classes of 24 generated images each."""
    root = tmp_path / "data" / "101_ObjectCategories"
    for label, name in enumerate(("airplanes", "Motorbikes")):
        (root / name).mkdir(parents=True)
        for i in range(24):
            write_image(root / name / f"image_{i:04d}.jpg", size=(48, 32), seed=100 * label + i)
    return tmp_path / "data"


@pytest.fixture
def results(tmp_path):
    """A results folder that already holds a table, which no failing run may touch."""
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "table1.csv").write_text(SENTINEL)
    return folder


def assert_results_untouched(results):
    assert (results / "table1.csv").read_text() == SENTINEL
    assert not [p.name for p in results.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("script", IMAGE_SCRIPTS)
def test_unreadable_images_are_skipped_by_path_and_grayscale_is_used(script, data_dir, tmp_path):
    bikes = data_dir / "101_ObjectCategories" / "Motorbikes"
    good = (bikes / "image_0000.jpg").read_bytes()
    (bikes / "corrupt.jpg").write_bytes(good[: len(good) // 3])
    (bikes / "zero.jpg").write_bytes(b"")
    (bikes / "text.jpg").write_text("not an image at all")
    write_image(bikes / "gray.jpg", mode="L", seed=5)
    result = run_script(script, "--quick", "--data-dir", data_dir, "--results-dir", tmp_path / "out", "--seed", 1, env=OFFLINE)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    for name in ("corrupt.jpg", "zero.jpg", "text.jpg"):
        assert sum(str(bikes / name) in line for line in warnings) >= 1, (name, warnings)
    assert not any("gray.jpg" in line for line in warnings)


@pytest.mark.parametrize("script", IMAGE_SCRIPTS)
def test_empty_class_folder(script, data_dir, results):
    (data_dir / "101_ObjectCategories" / "Helicopters").mkdir()
    result = run_script(script, "--quick", "--data-dir", data_dir, "--results-dir", results, "--classes", "airplanes", "Helicopters", env=OFFLINE)
    assert_clean_error(result, "empty", "Helicopters")
    assert_results_untouched(results)


@pytest.mark.parametrize("script", IMAGE_SCRIPTS)
def test_missing_class(script, data_dir, results):
    result = run_script(script, "--quick", "--data-dir", data_dir, "--results-dir", results, "--classes", "airplanes", "Zeppelins", env=OFFLINE)
    assert_clean_error(result, "Zeppelins")
    assert_results_untouched(results)


@pytest.mark.parametrize("script", [*IMAGE_SCRIPTS, "keras_mnist.py"])
def test_missing_data_folder(script, tmp_path, results):
    result = run_script(script, "--quick", "--data-dir", tmp_path / "nowhere", "--results-dir", results, env=OFFLINE)
    assert_clean_error(result, "nowhere")
    assert_results_untouched(results)


@pytest.mark.parametrize("script", ["theano_tp2.py", "keras_mnist.py", "keras_imageTools.py", "som_analysis.py"])
def test_unwritable_results_folder(script, real_data_dir):
    result = run_script(script, "--quick", "--results-dir", "/proc/self/tp2-results", env=dict(OFFLINE, TP2_DATA_DIR=str(real_data_dir)))
    assert_clean_error(result, "/proc/self/tp2-results")


@pytest.mark.parametrize(
    "script, args, fragment",
    [
        ("theano_tp2.py", ["--repetitions", "0"], "--repetitions"),
        ("keras_mnist.py", ["--seeds", "many"], "--seeds"),
        ("keras_mnist.py", ["--experiments", "vi_bigger"], "vi_bigger"),
        ("keras_imageTools.py", ["--jobs", "0"], "--jobs"),
        ("som_analysis.py", ["--som-size", "0", "4"], "--som-size"),
    ],
)
def test_bad_option_value(script, args, fragment, results):
    result = run_script(script, *args, "--results-dir", results, env=OFFLINE)
    assert_clean_error(result, fragment)
    assert_results_untouched(results)


def test_corrupt_mnist_file(tmp_path, results):
    (tmp_path / "mnist.npz").write_bytes(b"\x00" * 1000)
    result = run_script("keras_mnist.py", "--quick", "--data-dir", tmp_path, "--results-dir", results, env=OFFLINE)
    assert_clean_error(result, "mnist.npz")
    assert_results_untouched(results)


def test_downloaded_file_with_a_wrong_checksum(tmp_path, results):
    served = tmp_path / "served"
    served.mkdir()
    (served / "mnist.npz").write_bytes(b"an impostor of the right name")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/mnist.npz"
        result = run_script("keras_mnist.py", "--quick", "--data-dir", tmp_path / "fresh", "--results-dir", results, env={"TP2_MNIST_URL": url, "TP2_OFFLINE": ""})
    finally:
        server.shutdown()
    assert_clean_error(result, "checksum")
    assert not (tmp_path / "fresh" / "mnist.npz").exists()
    assert_results_untouched(results)
