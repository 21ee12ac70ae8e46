"""Shared fixtures: the real data folder, small generated image folders, running a script."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# One image cache per test session, so tests never see a user's cache.
os.environ.setdefault("TP2_CACHE_DIR", tempfile.mkdtemp(prefix="tp2-test-cache-"))
os.environ.setdefault("KERAS_BACKEND", "jax")


@pytest.fixture(scope="session")
def real_data_dir():
    """The real data (CI: TP2_DATA_DIR=../shared/data). Tests that need it fail without it."""
    folder = Path(os.environ.get("TP2_DATA_DIR") or ROOT.parent / "shared" / "data")
    if not (folder / "mnist.npz").exists() or not (folder / "101_ObjectCategories").is_dir():
        pytest.fail(f"real data not found in {folder}; set TP2_DATA_DIR (see data/README.md)")
    return folder


def write_image(path, size=(40, 30), mode="RGB", seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path, "JPEG")
    return path


@pytest.fixture
def image_root(tmp_path):
    """101_ObjectCategories/{airplanes,Motorbikes}/ with 6 small generated JPEGs each."""
    root = tmp_path / "data" / "101_ObjectCategories"
    for label, name in enumerate(("airplanes", "Motorbikes")):
        (root / name).mkdir(parents=True)
        for i in range(6):
            write_image(root / name / f"image_{i:04d}.jpg", seed=10 * label + i)
    return root


def run_script(script, *args, env=None, timeout=900):
    """Run a top-level script as a user would; returns the CompletedProcess."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, str(ROOT / script), *map(str, args)],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_quick(script, data_dir, results):
    """`script --quick` on the real data into `results`, offline; fails the test if it fails."""
    result = run_script(script, "--quick", "--results-dir", results,
                        env={"TP2_DATA_DIR": str(data_dir), "TP2_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def assert_clean_error(result, *fragments):
    """Exit code 2, one 'error:' line naming the problem, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


OFFLINE = {"TP2_OFFLINE": "1"}  # a test never downloads


def snapshot(folder):
    """{relative path: bytes} of every file under `folder`, hidden ones included."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def results(tmp_path):
    """A results folder holding a finished run's files, in results/ and results/2016/ (copied from the
    committed results)."""
    folder = tmp_path / "results"
    (folder / "2016").mkdir(parents=True)
    for name in ("table1.csv", "random_check.csv", "run_theano_tp2.json", "table2.csv", "table2_runs.csv",
                 "run_keras_mnist.json", "2016/table1.csv", "2016/run_theano_tp2.json"):
        (folder / name).write_bytes((ROOT / "results" / name).read_bytes())
    return folder
