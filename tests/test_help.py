"""`--help` answers at once: no script loads a deep-learning library, PyTensor, matplotlib, pandas or h5py for it
(pandas and h5py are lazy modules: in sys.modules, but not run until first used)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("keras", "jax", "tensorflow", "torch", "pytensor", "matplotlib", "minisom", "statsmodels",
         "pandas.core.frame", "h5py._hl.files")  # a lazy module's submodules load only when it is used
PROBE = """
import runpy, sys
sys.argv = [{script!r}, "--help"]
code = "none"
try:
    runpy.run_path({script!r}, run_name="__main__")
except SystemExit as exit:
    code = exit.code
print("exit", code)
print("loaded", *sorted(name for name in {heavy!r} if name in sys.modules))
"""


@pytest.mark.parametrize("script", ["theano_tp2.py", "keras_mnist.py", "keras_imageTools.py", "som_analysis.py",
                                    "make_report.py"])
def test_help_loads_no_heavy_library(script):
    result = subprocess.run([sys.executable, "-c", PROBE.format(script=script, heavy=HEAVY)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    lines = result.stdout.splitlines()
    assert "usage:" in result.stdout and "exit 0" in lines, result.stdout + result.stderr
    assert lines[-1] == "loaded", f"{script} --help imports {lines[-1].removeprefix('loaded ')}"
