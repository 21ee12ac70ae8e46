"""Writing to results/ safely: a file appears whole or not at all.

Every writer goes through a temporary file in the same folder and `os.replace`, so an
interrupted run never leaves a half-written table and never loses the previous one.
"""

import os
import tempfile
from pathlib import Path

from tp2.cli import UserError


def results_dir(path):
    """Create the results folder if needed and check that a file can be written there."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"results folder {path} is a file, not a folder; pass another --results-dir")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise UserError(f"results folder {path} is not writable ({error.strerror}); pass another --results-dir")
    return path


def atomic_write(path, write):
    """Call write(temp_path) and move the temporary file onto `path` when it succeeds."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def write_text(path, text):
    def write(temp):
        Path(temp).write_text(text, encoding="utf-8")

    return atomic_write(path, write)


def write_csv(path, frame, float_format="%.6g"):
    return atomic_write(path, lambda temp: frame.to_csv(temp, index=False, float_format=float_format))


def save_figure(path, figure, dpi=120):
    import matplotlib.pyplot as plt

    atomic_write(path, lambda temp: figure.savefig(temp, dpi=dpi, bbox_inches="tight", format="png"))
    plt.close(figure)
    return path


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


def write_run_info(results, script, wall_time_s, settings):
    """results/run_<script>.json: the command, settings, wall time, versions and date of a run."""
    import datetime
    import json
    import platform
    import sys

    info = {
        "script": script,
        "command": " ".join(["python", *sys.argv]),
        "settings": settings,
        "wall_time_s": round(float(wall_time_s), 2),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "versions": library_versions(),
    }
    return write_text(Path(results) / f"run_{script}.json", json.dumps(info, indent=2, default=str) + "\n")


def read_run_info(folder, script):
    """The run_<script>.json in `folder` as a dict, or None when there is none."""
    import json

    path = Path(folder) / f"run_{script}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def write_json(path, facts):
    """`facts` as indented JSON (the small fact files make_report.py turns into prose)."""
    import json

    return write_text(path, json.dumps(facts, indent=2, default=str) + "\n")
