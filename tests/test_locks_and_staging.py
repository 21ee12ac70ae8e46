"""Nothing lost: one run per results folder (the lock), a run's files all at once or not at all
(staging), files with the umask's mode, --quick into results-quick/, the git commit in
run_*.json, and `make verify` / `python -m tp2.verify` telling whether a rerun reproduced.
"""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import OFFLINE, ROOT, assert_clean_error, run_script, snapshot, write_image

import keras_mnist
import theano_tp2
from tp2.cli import run
from tp2.results import atomic_write, git_state, locked, staged, write_text

@pytest.fixture
def image_dir(tmp_path):
    """A data folder with two classes of 12 small generated images."""
    root = tmp_path / "images" / "101_ObjectCategories"
    for label, name in enumerate(("airplanes", "Motorbikes")):
        (root / name).mkdir(parents=True)
        for i in range(12):
            write_image(root / name / f"image_{i:04d}.jpg", size=(48, 32), seed=100 * label + i)
    return root.parent


@pytest.fixture
def mnist_dir(tmp_path):
    """An mnist.npz of 300 + 50 random images with the layout of keras.datasets.mnist."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    np.savez(folder / "mnist.npz",
             x_train=rng.integers(0, 256, (300, 28, 28), dtype=np.uint8), y_train=(np.arange(300) % 10).astype(np.uint8),
             x_test=rng.integers(0, 256, (50, 28, 28), dtype=np.uint8), y_test=(np.arange(50) % 10).astype(np.uint8))
    return folder


def run_elsewhere(script, *args, cwd, umask=None):
    """Run a script from another working directory (so default folders land there), optionally under a umask."""
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env=dict(os.environ, **OFFLINE), timeout=900,
                          preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)


# --- The lock ------------------------------------------------------------------------


HOLDER = """
import sys, time
from tp2.results import locked
with locked(sys.argv[1], "holder_script"):
    print("locked", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def holder(request):
    """Start a process holding the lock of a folder; it is SIGKILLed at the end."""
    processes = []

    def hold(folder):
        process = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], cwd=ROOT, text=True,
                                   stdout=subprocess.PIPE)
        processes.append(process)
        assert process.stdout.readline().strip() == "locked"
        return process

    yield hold
    for process in processes:
        process.kill()
        process.wait()


def script_args(script, mnist_dir):
    """Options that get `script` to its lock at once: theano_tp2.py locks before it reads any image,
    keras_mnist.py once it has read (and checked) mnist.npz."""
    return {"theano_tp2.py": ["--data-dir", "nowhere"], "keras_mnist.py": ["--data-dir", mnist_dir]}.get(script, [])


@pytest.mark.parametrize("script, args", [
    ("theano_tp2.py", ["--quick"]),
    ("keras_mnist.py", ["--quick"]),
    ("make_report.py", []),
])
def test_second_run_into_a_locked_folder(script, args, results, holder, mnist_dir):
    process = holder(results)
    before = snapshot(results)
    result = run_script(script, *args, *script_args(script, mnist_dir), "--results-dir", results, env=OFFLINE)
    assert_clean_error(result, f"results folder {results} is in use by holder_script", f"pid {process.pid}", "since",
                       "--results-dir")
    assert snapshot(results) == before


@pytest.mark.parametrize("script, args", [
    ("theano_tp2.py", ["--protocol", "2016"]),
    ("keras_mnist.py", ["--protocol", "2016", "--quick"]),
    ("make_report.py", []),
])
def test_the_2016_protocol_locks_its_own_folder(script, args, results, holder, mnist_dir):
    """A 2016 run locks <results>/2016/; make_report.py, which writes in both folders, locks both."""
    holder(results / "2016")
    before = snapshot(results)
    result = run_script(script, *args, *script_args(script, mnist_dir), "--results-dir", results, env=OFFLINE)
    assert_clean_error(result, f"results folder {results / '2016'} is in use by holder_script")
    assert snapshot(results) == before


def test_the_lock_of_a_killed_run_is_taken_over(results, holder):
    process = holder(results)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (results / ".lock").exists()  # a killed run leaves its lock file, but no lock
    result = run_script("make_report.py", "--results-dir", results)
    assert result.returncode == 0, result.stderr
    assert (results / "REPORT.md").exists()
    assert not [p.name for p in results.rglob(".*")]


def test_lock_is_released_and_its_file_removed(tmp_path):
    with locked(tmp_path, "first") as path:
        assert json.loads(path.read_text())["script"] == "first"
    assert not (tmp_path / ".lock").exists()
    with locked(tmp_path, "second"):
        pass


# --- Umask ---------------------------------------------------------------------------


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_files_get_the_umask_mode(umask, mode, results):
    result = run_elsewhere("make_report.py", "--results-dir", results, cwd=ROOT, umask=umask)
    assert result.returncode == 0, result.stderr
    for name in ("REPORT.md", "table1.md", "2016/table1.md"):
        assert (results / name).stat().st_mode & 0o777 == mode, name


def test_atomic_write_follows_a_changed_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        path = write_text(tmp_path / "t.md", "x\n")
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o640


# --- Staging: a failed run leaves the folder as it was -----------------------------------


def full_disk_at(name, writer):
    """`writer` (write_csv, save_figure, ...) that writes part of `name` and then finds the disk full."""

    def write(path, *args, **kwargs):
        if path.name != name:
            return writer(path, *args, **kwargs)

        def half_then_full(temp):
            with open(temp, "w") as stream:
                stream.write("experiment,half a ro")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        return atomic_write(path, half_then_full)

    return write


def assert_one_line_exit_2(capsys, call, *fragments):
    with pytest.raises(SystemExit) as exit:
        run(call)
    assert exit.value.code == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: "), errors
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def test_theano_disk_full_leaves_the_folder_as_it_was(results, image_dir, monkeypatch, capsys):
    """The training is replaced by fixed numbers: what is tested is the writing."""
    experiments = theano_tp2.QUICK.experiments
    monkeypatch.setattr(theano_tp2, "algebra_example", lambda: None)
    monkeypatch.setattr(theano_tp2, "random_check", lambda settings, seed: [{"train_error": 0.1, "test_error": 0.5}] * 2)
    monkeypatch.setattr(theano_tp2, "run_table1", lambda settings, x, y, seed, step_done=None: (
        {name: [{"train_acc": 0.9, "test_acc": 0.8, "time_s": 0.1}] * 2 for name in experiments},
        {name: [np.ones(3)] * 2 for name in experiments}))
    monkeypatch.setattr(theano_tp2, "write_csv", full_disk_at("table1.csv", theano_tp2.write_csv))
    before = snapshot(results)
    assert_one_line_exit_2(
        capsys, lambda: theano_tp2.main(["--quick", "--data-dir", str(image_dir), "--results-dir", str(results)]),
        f"no space left on device writing {results / 'table1.csv'}; free space or pass another --results-dir")
    assert snapshot(results) == before  # random_check.csv was written, but only to the staging folder


def test_keras_mnist_2016_disk_full_leaves_the_folder_as_it_was(results, mnist_dir, monkeypatch, capsys):
    runs = [{"experiment": "original", "seed": 0, "train_size": 300, "val_acc": [0.5, 0.6], "test_acc": 0.6,
             "epoch_times": [1.0, 0.5]}]
    monkeypatch.setattr(keras_mnist, "train_all", lambda settings, splits, seeds, started: runs)
    monkeypatch.setattr(keras_mnist, "save_figure", full_disk_at("figure_mnist_curves.png", keras_mnist.save_figure))
    (results / "2016" / "table2.csv").write_bytes((results / "table2.csv").read_bytes())
    before = snapshot(results)
    assert_one_line_exit_2(
        capsys, lambda: keras_mnist.main(["--protocol", "2016", "--quick", "--experiments", "original", "--seeds", "1",
                                          "--data-dir", str(mnist_dir), "--results-dir", str(results)]),
        f"no space left on device writing {results / '2016' / 'figure_mnist_curves.png'}")
    assert snapshot(results) == before  # table2.csv and table2_runs.csv were staged, never moved in


def test_a_failed_write_names_the_file_where_it_would_have_gone(tmp_path, capsys):
    def read_only(temp):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    def write_staged():
        with staged(tmp_path, "script") as stage:
            atomic_write(stage / "table.csv", read_only)

    assert_one_line_exit_2(capsys, write_staged,
                           f"could not write {tmp_path / 'table.csv'} (Read-only file system); check the folder")
    assert snapshot(tmp_path) == {}


def test_staged_files_move_in_together_or_not_at_all(tmp_path):
    (tmp_path / "table.csv").write_text("old\n")
    with pytest.raises(RuntimeError):
        with staged(tmp_path, "script") as stage:
            write_text(stage / "table.csv", "new\n")
            raise RuntimeError("the run fails after writing")
    assert snapshot(tmp_path) == {"table.csv": b"old\n"}
    with staged(tmp_path, "script") as stage:
        write_text(stage / "table.csv", "new\n")
        write_text(stage / "figure.png", "png\n")
        assert snapshot(tmp_path)["table.csv"] == b"old\n"
    assert snapshot(tmp_path) == {"table.csv": b"new\n", "figure.png": b"png\n"}


# --- A whole run: results-quick/, modes, run JSON, nothing left behind ---------------------


def test_theano_quick_run_into_results_quick(image_dir, tmp_path):
    work = tmp_path / "work"
    (work / "results-quick").mkdir(parents=True)
    (work / "results-quick" / "table1.csv").write_text("an older quick run\n")
    (work / "results-quick" / "notes.txt").write_text("kept\n")
    result = run_elsewhere("theano_tp2.py", "--quick", "--data-dir", image_dir, cwd=work, umask=0o002)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not (work / "results").exists()
    quick = work / "results-quick"
    assert sorted(p.name for p in quick.iterdir()) == [
        "figure_table1_curves.png", "notes.txt", "random_check.csv", "run_theano_tp2.json", "table1.csv"]
    assert (quick / "notes.txt").read_text() == "kept\n"
    assert pd.read_csv(quick / "table1.csv")["repetitions"].tolist() == [2] * 4
    assert all((p.stat().st_mode & 0o777) == 0o664 for p in quick.iterdir() if p.name != "notes.txt")
    info = json.loads((quick / "run_theano_tp2.json").read_text())
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert info["git_commit"] == head and isinstance(info["git_dirty"], bool)


def test_keras_mnist_quick_run_into_results_quick(mnist_dir, tmp_path):
    result = run_elsewhere("keras_mnist.py", "--quick", "--experiments", "original", "--seeds", "1", "--epochs", "1",
                           "--data-dir", mnist_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "in results-quick/" in result.stdout
    assert sorted(p.name for p in (tmp_path / "results-quick").iterdir()) == [
        "figure_mnist_curves.png", "run_keras_mnist.json", "table2.csv", "table2_runs.csv"]
    assert not (tmp_path / "results").exists()


def test_git_state_without_a_checkout_or_without_git(tmp_path, monkeypatch):
    assert git_state(tmp_path) == {"git_commit": None, "git_dirty": None}
    monkeypatch.setenv("PATH", str(tmp_path))
    assert git_state() == {"git_commit": None, "git_dirty": None}


# --- verify ----------------------------------------------------------------------------


def write_h5(path, val_acc, train_time_s):
    trials = np.zeros(3, dtype=[("n1", "i4"), ("activation", "S7"), ("val_acc", "f8"), ("train_time_s", "f8")])
    trials["n1"], trials["activation"] = [16, 32, 64], [b"relu", b"sigmoid", b"relu"]
    trials["val_acc"], trials["train_time_s"] = val_acc, train_time_s
    with h5py.File(path, "w") as handle:
        handle.create_dataset("trials", data=trials)
        handle.attrs["date"] = str(train_time_s)


@pytest.fixture
def reference(tmp_path):
    """A small finished run: tables, a run JSON, a grid file, a figure."""
    folder = tmp_path / "reference"
    (folder / "2016").mkdir(parents=True)
    table = pd.DataFrame({"experiment": ["a", "b"], "test_acc_mean": [0.9, 0.95], "time_s_mean": [1.5, 2.5]})
    for name in ("table1.csv", "table2.csv", "2016/table1.csv"):
        table.to_csv(folder / name, index=False)
    (folder / "run_x.json").write_text(json.dumps({"date": "2026-01-01", "wall_time_s": 10, "settings": {
        "seed": 0, "trials_trained_in_this_run": 720}}))
    (folder / "h5_facts.json").write_text(json.dumps({"grid_csv": 626, "grid_gzip": 9000, "grid_plain": 20000}))
    write_h5(folder / "grid_search.h5", [0.8, 0.9, 0.7], [1.0, 2.0, 3.0])
    write_h5(folder / "other.h5", [0.8, 0.9, 0.7], [1.0, 2.0, 3.0])
    write_image(folder / "figure.png", size=(20, 10))
    return folder


def verify(run_folder, reference):
    result = subprocess.run([sys.executable, "-m", "tp2.verify", "--results-dir", str(run_folder),
                             "--reference", str(reference)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return dict(line.split(None, 1) for line in result.stdout.splitlines()[:-1])


def test_verify_an_identical_rerun(reference, tmp_path):
    rerun = tmp_path / "rerun"
    shutil.copytree(reference, rerun)
    assert set(verify(rerun, reference).values()) == {"identical"}


def test_verify_names_what_differs_and_leaves_timings_aside(reference, tmp_path):
    rerun = tmp_path / "rerun"
    shutil.copytree(reference, rerun)
    table = pd.read_csv(reference / "table1.csv")
    table.assign(test_acc_mean=[0.9, 0.96]).to_csv(rerun / "table1.csv", index=False)  # one number
    table.assign(time_s_mean=[9.0, 9.0]).to_csv(rerun / "table2.csv", index=False)  # timings only
    (rerun / "run_x.json").write_text(json.dumps({"date": "2027-02-02", "wall_time_s": 99, "settings": {
        "seed": 0, "trials_trained_in_this_run": 314}}))  # a resumed run trained fewer trials itself
    write_h5(rerun / "grid_search.h5", [0.8, 0.9, 0.7], [7.0, 8.0, 9.0])  # timings and the date attribute
    write_h5(rerun / "other.h5", [0.8, 0.95, 0.7], [1.0, 2.0, 3.0])  # one trial's accuracy
    (rerun / "2016" / "table1.csv").unlink()
    verdicts = verify(rerun, reference)
    (rerun / "h5_facts.json").write_text(json.dumps({"grid_csv": 627, "grid_gzip": 9044, "grid_plain": 20000}))
    assert verify(rerun, reference)["h5_facts.json"] == "identical"  # those two sizes hold the trials' times
    (rerun / "h5_facts.json").write_text(json.dumps({"grid_csv": 626, "grid_gzip": 9000, "grid_plain": 20008}))
    assert verify(rerun, reference)["h5_facts.json"].startswith("differs (max |difference| = 8, 1 of 1 values)")
    (rerun / "run_y.json").write_text(json.dumps({"settings": {"seed": 1, "trials_trained_in_this_run": 720}}))
    (reference / "run_y.json").write_text(json.dumps({"settings": {"seed": 0, "trials_trained_in_this_run": 720}}))
    assert verify(rerun, reference)["run_y.json"].startswith("differs (max |difference| = 1, 1 of 1 values)")
    assert verdicts["table1.csv"].startswith("differs (max |difference| = 0.01, 1 of 4 values)")
    assert verdicts["other.h5"].startswith("differs (max |difference| = 0.05, 1 of 9 values)")
    assert verdicts["2016/table1.csv"] == "missing"
    for name in ("table2.csv", "run_x.json", "grid_search.h5", "figure.png"):
        assert verdicts[name] == "identical", (name, verdicts[name])


def test_verify_leaves_the_machine_of_a_run_aside(reference, tmp_path):
    rerun = tmp_path / "rerun"
    shutil.copytree(reference, rerun)
    info = json.loads((reference / "run_x.json").read_text())
    (rerun / "run_x.json").write_text(json.dumps(dict(info, machine="Another CPU, 64 cores")))  # the reference has none
    assert verify(rerun, reference)["run_x.json"] == "identical"
    (rerun / "run_x.json").write_text(json.dumps(dict(info, machine="Another CPU, 64 cores", settings={"seed": 1})))
    assert verify(rerun, reference)["run_x.json"].startswith("differs")


def test_verify_refuses_a_folder_that_is_not_there(reference, tmp_path):
    result = subprocess.run([sys.executable, "-m", "tp2.verify", "--results-dir", str(tmp_path / "nope"),
                             "--reference", str(reference)], cwd=ROOT, capture_output=True, text=True)
    assert_clean_error(result, "--results-dir", "nope", "is not a folder")


def test_make_verify_compares_with_the_committed_results(tmp_path):
    rerun = tmp_path / "rerun"
    archive = subprocess.run(["git", "archive", "HEAD", "results"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive, check=True)
    (tmp_path / "results").rename(rerun)
    table = (rerun / "table2.csv").read_text().splitlines()
    table[1] = table[1].replace("0.98348", "0.98448")
    (rerun / "table2.csv").write_text("\n".join(table) + "\n")
    (rerun / "2016" / "table1_ablations.csv").unlink()
    result = subprocess.run(["make", "--no-print-directory", "-o", ".venv/.installed", "verify", f"RESULTS={rerun}"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    verdicts = dict(line.split(None, 1) for line in result.stdout.splitlines()[:-1])
    assert verdicts["table2.csv"] == "differs (max |difference| = 0.001, 1 of 42 values)"
    assert verdicts["2016/table1_ablations.csv"] == "missing"
    assert verdicts["table1.csv"] == verdicts["grid_search.h5"] == verdicts["model_best.h5"] == "identical"
