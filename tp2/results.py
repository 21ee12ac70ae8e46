"""Writing to results/ safely: a file appears whole or not at all, a run's files all at once.

Every writer goes through a temporary file in the same folder and `os.replace`, so an
interrupted run never leaves a half-written table and never loses the previous one; the
file gets the mode the umask gives (not mkstemp's 0600).

A script holds its results folder for the whole run and stages what it writes:

    with locked(results, "theano_tp2"), staged(results, "theano_tp2") as stage:
        write_csv(stage / "table1.csv", table)
        ...
    # here every staged file has been moved into `results`

`locked` keeps a second run out of the folder (one clear line naming the run that holds
it); `staged` moves the files in only when the block ends without an error, so a run that
fails (full disk, error, Ctrl-C) leaves the folder as it was.
"""

import contextlib
import datetime
import json
import os
import shutil
import tempfile
from pathlib import Path

from tp2.cli import UserError, WriteError, sigint_handled_by, warn

LOCK_FILE = ".lock"
STAGING_PREFIX = ".staging-"
REPO_ROOT = Path(__file__).resolve().parents[1]


def shown(path):
    """A path as text for a message, with bytes that are not UTF-8 written as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def results_dir(path):
    """Create the results folder if needed and check that a file can be written there."""
    path = Path(path)
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"results folder name {shown(path)} is not valid UTF-8; rename it or pass another --results-dir")
    if path.exists() and not path.is_dir():
        raise UserError(f"results folder {path} is a file, not a folder; pass another --results-dir")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise UserError(f"results folder {path} is not writable ({error.strerror}); pass another --results-dir")
    return path


# --- One file: whole or not at all -----------------------------------------------------


def current_umask():
    """The process umask, read without changing it (Linux), else by setting it back at once."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def destination(path):
    """Where a file ends up: a staged file's place in the results folder, else the path itself."""
    path = Path(path)
    return path.parent.parent / path.name if path.parent.name.startswith(STAGING_PREFIX) else path


def atomic_write(path, write):
    """Call write(temp_path) and move the temporary file onto `path` when it succeeds.

    The file gets mode 0o666 minus the umask, as `open` would give it. An OSError while
    writing (disk full, read-only folder) comes out as a `WriteError` naming `path`'s destination.
    """
    path = Path(path)
    temp = None
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
        os.close(fd)
        os.chmod(temp, 0o666 & ~current_umask())
        write(temp)
        os.replace(temp, path)
    except OSError as error:
        remove_quietly(temp)
        raise WriteError(error.errno, error.strerror or str(error), str(destination(path))) from error
    except BaseException:
        remove_quietly(temp)
        raise
    return path


def remove_quietly(path):
    if path is not None:
        with contextlib.suppress(OSError):
            Path(path).unlink(missing_ok=True)


def write_text(path, text):
    def write(temp):
        Path(temp).write_text(text, encoding="utf-8")

    return atomic_write(path, write)


def write_csv(path, frame, float_format="%.6g"):
    return atomic_write(path, lambda temp: frame.to_csv(temp, index=False, float_format=float_format))


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no display), imported on first use so
    that --help answers at once."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(path, figure, dpi=120):
    plt = pyplot()
    atomic_write(path, lambda temp: figure.savefig(temp, dpi=dpi, bbox_inches="tight", format="png"))
    plt.close(figure)
    return path


# --- One run per folder: the lock ------------------------------------------------------


@contextlib.contextmanager
def locked(folder, script):
    """Hold `<folder>/.lock` while the block runs; UserError naming the holder when another run has it.

    The lock is `fcntl.flock`: the kernel releases it when its process ends, however it
    ends, so the lock of a killed run is simply taken over. The file records the holder's
    pid, script and start time for the message the next run prints.
    """
    path = Path(folder) / LOCK_FILE
    stream = take_lock(path, script)
    try:
        yield path
    finally:
        if stream is not None:
            with contextlib.suppress(OSError):
                path.unlink()  # before the lock goes: a run that opens the file later makes a new one
            stream.close()


def take_lock(path, script):
    """An open file holding the flock on `path`, with this run's facts written in it."""
    import fcntl

    for _ in range(10):
        try:
            stream = open(path, "a+", encoding="utf-8")
        except OSError as error:
            raise UserError(f"cannot create the lock file {path} ({error.strerror}); pass another --results-dir")
        try:
            fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            stream.seek(0)
            holder = describe_holder(stream.read())
            stream.close()
            raise UserError(f"results folder {path.parent} is in use by {holder}; "
                            "wait for that run to end, or pass another --results-dir")
        except OSError as error:  # a file system without locks (some network mounts)
            stream.close()
            warn(f"cannot lock {path.parent} ({error.strerror}); a second run into it would not be stopped")
            return None
        if same_file(stream, path):
            stream.seek(0)
            stream.truncate()
            stream.write(json.dumps({"pid": os.getpid(), "script": script,
                                     "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}))
            stream.flush()
            return stream
        stream.close()  # the holder removed the file as we opened it: open the new one
    raise UserError(f"could not take the lock {path}; try again")


def same_file(stream, path):
    try:
        return os.fstat(stream.fileno()).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def describe_holder(text):
    """'keras_mnist (pid 123, since 2026-01-02T03:04:05+00:00)' from a lock file's text."""
    try:
        facts = json.loads(text)
        return f"{facts['script']} (pid {facts['pid']}, since {facts['since']})"
    except (ValueError, KeyError, TypeError):
        return "another run (it has not said which yet)"


# --- A run's files: all or nothing -----------------------------------------------------


@contextlib.contextmanager
def staged(folder, script):
    """Yield `<folder>/.staging-<script>/` for the run's files; move them all into `folder`
    when the block succeeds, remove them when it fails (error, full disk, Ctrl-C).

    Hold `locked(folder, ...)` around it: the staging folder is the script's own. Files
    only, no subfolders; run_<script>.json moves last, so its presence marks a finished run.
    """
    folder = Path(folder)
    stage = folder / f"{STAGING_PREFIX}{script}"
    shutil.rmtree(stage, ignore_errors=True)  # left by a killed run
    stage.mkdir()
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    with ctrl_c_deferred():
        move_staged(stage, folder)


def move_staged(stage, folder):
    names = sorted((p.name for p in stage.iterdir()), key=lambda name: (name.startswith("run_"), name))
    for name in names:
        os.replace(stage / name, folder / name)
    stage.rmdir()


@contextlib.contextmanager
def ctrl_c_deferred():
    """Ctrl-C during the block takes effect right after it (the moves of `staged` are not cut in half)."""
    received = []
    with sigint_handled_by(lambda signum, frame: received.append(signum)):
        yield
    if received:
        raise KeyboardInterrupt


# --- run_<script>.json -----------------------------------------------------------------


LIBRARIES = ("numpy", "pytensor", "keras", "jax", "jaxlib", "h5py", "minisom", "statsmodels", "pandas", "pillow")


def library_versions():
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            pass
    return versions


def git_state(root=REPO_ROOT):
    """{"git_commit": HEAD's hash, "git_dirty": tracked files changed}, each None when `root`
    is not a git checkout or git is missing. The committed results/ folder is left out of
    "dirty" (runs rewrite it), as are untracked files (as `git describe --dirty`)."""
    import subprocess

    def git(*args):
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20,
                                  env=dict(os.environ, GIT_OPTIONAL_LOCKS="0"))
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": None, "git_dirty": None}
    changes = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results")
    return {"git_commit": commit.strip(), "git_dirty": None if changes is None else bool(changes.strip())}


def machine():
    """The CPU model and core count of this machine, e.g. 'AMD EPYC, 2 cores'."""
    import platform

    model = None
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), None)
    except OSError:
        pass
    return f"{model or platform.processor() or 'unknown CPU'}, {os.cpu_count()} cores"


def write_run_info(results, script, wall_time_s, settings):
    """results/run_<script>.json: the command, settings, wall time, machine, versions, git commit and date of a run."""
    import platform
    import sys

    info = {
        "script": script,
        "command": " ".join(["python", *sys.argv]),
        "settings": settings,
        "wall_time_s": round(float(wall_time_s), 2),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "python": platform.python_version(),
        "versions": library_versions(),
        **git_state(),
    }
    return write_text(Path(results) / f"run_{script}.json", json.dumps(info, indent=2, default=str) + "\n")


# Every results file read through `read_text_file`, in order: make_report.py names them when
# a part of the report finds something other than what it needs in them.
FILES_READ = []


def read_text_file(path, what="results file"):
    """A results file's text; UserError naming it when it cannot be read or is not UTF-8."""
    FILES_READ.append(Path(path))
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{what} {shown(path)} is not UTF-8 text; rerun the script that writes it, or delete it")
    except OSError as error:
        raise UserError(f"cannot read {what} {shown(path)} ({error.strerror}); check its permissions")


def read_json_file(path):
    """A results JSON file as a dict; UserError naming it when it is empty, cut short or not an object."""
    text = read_text_file(path)
    if not text.strip():
        raise UserError(f"results file {shown(path)} is empty; rerun the script that writes it, or delete it")
    try:
        facts = json.loads(text)
    except ValueError as error:
        raise UserError(f"results file {shown(path)} is not valid JSON (truncated?: {error}); "
                        "rerun the script that writes it, or delete it")
    if not isinstance(facts, dict):
        raise UserError(f"results file {shown(path)} holds a JSON {type(facts).__name__}, not an object; "
                        "rerun the script that writes it, or delete it")
    return facts


def read_run_info(folder, script):
    """The run_<script>.json in `folder` as a dict, or None when there is none."""
    path = Path(folder) / f"run_{script}.json"
    return read_json_file(path) if path.exists() else None


def write_json(path, facts):
    """`facts` as indented JSON (the small fact files make_report.py turns into prose)."""
    return write_text(path, json.dumps(facts, indent=2, default=str) + "\n")
