"""Did a rerun reproduce? Compare a finished results folder with a reference, file by file.

    python -m tp2.verify --results-dir results-rerun --reference results
    make verify RESULTS=results-rerun      # the reference is results/ as committed (git HEAD)

One line per file of either folder:

    table1.csv                        identical
    table2_runs.csv                   differs (max |difference| = 0.0012, 3 of 240 values)
    figure2_model.png                 missing

What is compared: CSV files field by field (numbers as numbers, text as text), JSON files
value by value, HDF5 files dataset by dataset (a table such as grid_search.h5's trials
column by column), PNG figures pixel by pixel, other files byte by byte. Timings are left
aside (columns and keys named like `time_s`, `epoch_time_s`, `*_seconds_*`, `wall_time_s`,
`save_s`), as are a run JSON's date, command line, machine, git commit and trials trained in this
run (a resumed grid trains fewer), h5_facts.json's sizes of the grid as CSV and gzip (they hold the
trials' times), and the benchmark files;
Markdown is not compared (make_report.py writes it from the files above, timings included).
`missing` is a reference file the run lacks; `extra` a file only the run has.

The exit code is 0 whatever differs (2 only for a folder that is not there).
"""

from tp2.cli import exit_on_ctrl_c_while_importing

exit_on_ctrl_c_while_importing(__name__)  # Ctrl-C while the libraries below load: "interrupted", exit 130

import json
import math
import re
from pathlib import Path

import numpy as np

from tp2.cli import UserError, make_parser, run
from tp2.results import shown

TIMING = re.compile(r"(^|_)(time|seconds|wall)(_|$)|_s$")
# Key paths left aside. A run JSON's machine and trials trained in this run say where and how the
# run went (a resumed grid trains only the trials it lacked), not what it found.
RUN_JSON_ASIDE = {("date",), ("command",), ("machine",), ("git_commit",), ("git_dirty",),
                  ("settings", "trials_trained_in_this_run")}
# h5_facts.json's byte counts of the grid as CSV and gzip-compressed HDF5 hold the trials' train_time_s.
H5_FACTS_ASIDE = {("grid_csv",), ("grid_gzip",)}
NOT_COMPARED = {
    ".md": "not compared (make_report.py writes it from the files above)",
    "bench.csv": "not compared (benchmark timings)",
}


def is_timing(name):
    return bool(TIMING.search(str(name)))


# --- The verdict of one file ----------------------------------------------------------


def verdict(differing, total, largest=None, notes=()):
    """'identical', or 'differs (max |difference| = x, N of M values; notes)'."""
    if differing == 0 and not notes:
        return "identical"
    parts = []
    if differing:
        size = f"max |difference| = {largest:.6g}, " if largest is not None else ""
        parts.append(f"{size}{differing} of {total} values")
    return f"differs ({'; '.join([*parts, *notes])})"


def count_differences(run_values, reference_values, tolerance):
    """(values that differ, values, largest |difference| of the numbers or None) of two equal-length columns."""
    run_values, reference_values = np.asarray(run_values), np.asarray(reference_values)
    if run_values.dtype.kind in "biuf" and reference_values.dtype.kind in "biuf":
        a, b = run_values.astype(float), reference_values.astype(float)
        both_nan = np.isnan(a) & np.isnan(b)
        gap = np.where(both_nan, 0.0, np.abs(a - b))
        gap = np.where(np.isnan(gap), np.inf, gap)  # a number against NaN differs
        differ = gap > tolerance
        finite = gap[differ & np.isfinite(gap)]
        return int(differ.sum()), len(a), float(finite.max()) if finite.size else None
    differ = np.array([x != y for x, y in zip(run_values.tolist(), reference_values.tolist())], dtype=bool)
    return int(differ.sum()), len(run_values), None


def compare_columns(run_table, reference_table, tolerance):
    """(differing, total, largest, notes) of two {column: values} tables, timing columns aside."""
    differing, total, largest, notes = 0, 0, None, []
    run_names = [name for name in run_table if not is_timing(name)]
    reference_names = [name for name in reference_table if not is_timing(name)]
    only_run = [name for name in run_names if name not in reference_table]
    only_reference = [name for name in reference_names if name not in run_table]
    if only_run:
        notes.append(f"columns only in the run: {', '.join(map(str, only_run))}")
    if only_reference:
        notes.append(f"columns only in the reference: {', '.join(map(str, only_reference))}")
    for name in (name for name in reference_names if name in run_table):
        run_values, reference_values = np.asarray(run_table[name]), np.asarray(reference_table[name])
        if run_values.shape != reference_values.shape:
            notes.append(f"{name}: shape {run_values.shape} vs {reference_values.shape}")
            continue
        count, size, gap = count_differences(run_values.ravel(), reference_values.ravel(), tolerance)
        differing, total = differing + count, total + size
        if gap is not None:
            largest = gap if largest is None else max(largest, gap)
    return differing, total, largest, notes


# --- Per kind of file -----------------------------------------------------------------


def compare_csv(run_path, reference_path, tolerance):
    import pandas as pd

    run_frame, reference_frame = pd.read_csv(run_path), pd.read_csv(reference_path)
    if len(run_frame) != len(reference_frame):
        return f"differs ({len(run_frame)} rows vs {len(reference_frame)} in the reference)"
    as_table = lambda frame: {name: frame[name].to_numpy() for name in frame.columns}
    return verdict(*compare_columns(as_table(run_frame), as_table(reference_frame), tolerance))


def json_leaves(value, path=()):
    """{path tuple: value} of every number, string, bool or null in a JSON document."""
    if isinstance(value, dict):
        return {leaf: item for key, child in value.items() for leaf, item in json_leaves(child, (*path, key)).items()}
    if isinstance(value, list):
        return {leaf: item for index, child in enumerate(value)
                for leaf, item in json_leaves(child, (*path, str(index))).items()}
    return {path: value}


def compared_leaves(path):
    leaves = json_leaves(json.loads(Path(path).read_text(encoding="utf-8")))
    name = Path(path).name
    aside = RUN_JSON_ASIDE if name.startswith("run_") else H5_FACTS_ASIDE if name == "h5_facts.json" else set()
    return {key: value for key, value in leaves.items()
            if not any(is_timing(part) for part in key) and key not in aside}


def compare_json(run_path, reference_path, tolerance):
    run_leaves, reference_leaves = compared_leaves(run_path), compared_leaves(reference_path)
    differing, largest = 0, None
    for key in reference_leaves.keys() | run_leaves.keys():
        a, b = run_leaves.get(key, KeyError), reference_leaves.get(key, KeyError)
        if is_number(a) and is_number(b):
            gap = 0.0 if (math.isnan(a) and math.isnan(b)) else abs(a - b)
            if not gap <= tolerance:
                differing += 1
                largest = gap if largest is None or gap > largest else largest
        elif a != b:
            differing += 1
    return verdict(differing, len(reference_leaves.keys() | run_leaves.keys()), largest)


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def h5_tables(path):
    """{dataset name: {column: values}}: a compound dataset's fields, or one column 'values'."""
    import h5py

    tables = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            data = item[()]
            if data.dtype.names:
                tables[name] = {field: data[field] for field in data.dtype.names}
            else:
                tables[name] = {"values": np.atleast_1d(data)}

    with h5py.File(path, "r") as handle:
        handle.visititems(visit)
    return tables


def compare_h5(run_path, reference_path, tolerance):
    run_tables, reference_tables = h5_tables(run_path), h5_tables(reference_path)
    differing, total, largest, notes = 0, 0, None, []
    missing = sorted(reference_tables.keys() - run_tables.keys())
    extra = sorted(run_tables.keys() - reference_tables.keys())
    if missing:
        notes.append(f"datasets missing: {', '.join(missing)}")
    if extra:
        notes.append(f"datasets only in the run: {', '.join(extra)}")
    for name in sorted(reference_tables.keys() & run_tables.keys()):
        count, size, gap, more = compare_columns(run_tables[name], reference_tables[name], tolerance)
        differing, total, notes = differing + count, total + size, notes + [f"{name}: {note}" for note in more]
        if gap is not None:
            largest = gap if largest is None else max(largest, gap)
    return verdict(differing, total, largest, notes)


def compare_png(run_path, reference_path, tolerance):
    from PIL import Image

    with Image.open(run_path) as run_image, Image.open(reference_path) as reference_image:
        if run_image.size != reference_image.size:
            return f"differs (image {run_image.size[0]}x{run_image.size[1]} vs {reference_image.size[0]}x{reference_image.size[1]})"
        a = np.asarray(run_image.convert("RGBA"), dtype=np.int16).ravel()
        b = np.asarray(reference_image.convert("RGBA"), dtype=np.int16).ravel()
    differing, total, largest = count_differences(a, b, tolerance)
    return verdict(differing, total, largest)


def compare_bytes(run_path, reference_path, tolerance):
    return "identical" if Path(run_path).read_bytes() == Path(reference_path).read_bytes() else "differs (bytes)"


COMPARERS = {".csv": compare_csv, ".json": compare_json, ".h5": compare_h5, ".hdf5": compare_h5, ".png": compare_png}


def compare_file(run_path, reference_path, tolerance=0.0):
    """The verdict of one file present in both folders."""
    skipped = NOT_COMPARED.get(run_path.name) or NOT_COMPARED.get(run_path.suffix)
    if skipped:
        return skipped
    compare = COMPARERS.get(run_path.suffix.lower(), compare_bytes)
    try:
        return compare(run_path, reference_path, tolerance)
    except Exception as error:  # a damaged file is a finding, not a crash
        return f"differs (cannot compare: {type(error).__name__}: {error})"


# --- Folders --------------------------------------------------------------------------


def listed_files(folder):
    """Relative paths of the files under `folder`, hidden ones (locks, staging, temporaries) aside."""
    return {path.relative_to(folder) for path in folder.rglob("*")
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts)}


def compare_folders(run_folder, reference_folder, tolerance=0.0):
    """[(relative path, verdict)] for every file of either folder, sorted (subfolders after the files)."""
    run_files, reference_files = listed_files(run_folder), listed_files(reference_folder)
    rows = []
    for name in sorted(run_files | reference_files, key=lambda path: (len(path.parts), str(path))):
        if name not in run_files:
            rows.append((name, "missing"))
        elif name not in reference_files:
            rows.append((name, "extra (not in the reference)"))
        else:
            rows.append((name, compare_file(run_folder / name, reference_folder / name, tolerance)))
    return rows


def existing_folder(path, option):
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{option} {shown(path)} is not a folder; pass the results folder of a finished run")
    return path


def parse_args(argv=None):
    parser = make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--results-dir", required=True, help="the results folder of the run to check")
    parser.add_argument("--reference", default="results", help="the folder to compare with (default: results)")
    parser.add_argument("--tolerance", type=float, default=0.0,
                        help="numbers closer than this count as identical (default 0: exactly equal)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    run_folder = existing_folder(args.results_dir, "--results-dir")
    reference = existing_folder(args.reference, "--reference")
    rows = compare_folders(run_folder, reference, args.tolerance)
    width = max((len(shown(name)) for name, _ in rows), default=0)
    for name, result in rows:
        print(f"{shown(name):<{width}}  {result}")
    counts = {word: sum(result.startswith(word) for _, result in rows) for word in ("identical", "differs", "missing")}
    print(f"{counts['identical']} identical, {counts['differs']} differ, {counts['missing']} missing "
          f"({shown(run_folder)} against {shown(reference)})")


if __name__ == "__main__":
    run(main)
