"""`make all` runs every step afresh, and goes on from where it stopped when rerun after a failure."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STEPS = [("theano_tp2.py", ""), ("theano_tp2.py", "2016"), ("keras_mnist.py", ""), ("keras_mnist.py", "2016"),
         ("keras_imageTools.py", ""), ("keras_imageTools.py", "2016"), ("som_analysis.py", ""), ("som_analysis.py", "2016")]


@pytest.fixture
def make_all(tmp_path):
    """Run `make all` with a stand-in python that logs each call (and fails on $FAIL_ON); returns
    (exit code, the calls of this run as (script, protocol) pairs, the results folder)."""
    log, results, venv = tmp_path / "calls.log", tmp_path / "results", tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / ".installed").touch()  # newer than requirements.txt: nothing to install
    fake = tmp_path / "python"
    fake.write_text(f'#!{sys.executable}\nimport os, sys\nopen({str(log)!r}, "a").write(" ".join(sys.argv[1:]) + "\\n")\n'
                    'sys.exit(1 if os.environ.get("FAIL_ON") and os.environ["FAIL_ON"] in " ".join(sys.argv[1:]) else 0)\n')
    fake.chmod(0o755)

    def run(fail_on=""):
        log.write_text("")
        env = dict(os.environ, FAIL_ON=fail_on)
        done = subprocess.run(["make", "-s", "-C", str(ROOT), "all", f"PY={fake}", f"VENV={venv}", f"RESULTS={results}"],
                              env=env, capture_output=True, text=True)
        calls = []
        for line in log.read_text().splitlines():
            words = line.split()
            script = words[0] if words[0].endswith(".py") else " ".join(words[:2])
            calls.append((script, "2016" if "2016" in words else ""))
        return done.returncode, calls, results

    return run


def test_make_all_runs_every_step_in_order_then_the_report_and_forgets_them(make_all):
    code, calls, results = make_all()
    assert code == 0
    assert calls == [("-m tp2.data", ""), *STEPS, ("make_report.py", "")]
    assert not (results / ".make-all").exists()
    assert make_all()[1] == calls  # finished: the next make all runs everything again


def test_make_all_after_a_failure_goes_on_from_the_step_that_failed(make_all):
    code, calls, results = make_all(fail_on="keras_mnist.py --results-dir")  # both MNIST steps fail...
    assert code != 0 and calls[-1] == ("keras_mnist.py", "") and ("theano_tp2.py", "2016") in calls
    code, calls, _ = make_all()  # ...then the rerun skips the finished Exercise 1
    assert code == 0
    assert calls == [("-m tp2.data", ""), *STEPS[2:], ("make_report.py", "")]
    assert not (results / ".make-all").exists()
