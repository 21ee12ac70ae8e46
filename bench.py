"""Run every benchmark the project sets a target for and write results/bench.md + bench.csv.

Each row is a ratio (min / median / max over `--repeats` runs) against its target, marked
met or not met on the median:

- PyTensor vs NumPy training time of the Table-1 models (target ≤ 1.0),
- a Keras MNIST epoch vs the float32 GEMM bound measured in the same run (≤ 2.0),
- a cached-array image trial vs the same trial decoding the folder every epoch (≥ 10),
- a trial of the 2016 grid's largest network vs its GEMM bound (≤ 2.0),
- the four scripts with --quick, wall time together / 3 minutes (≤ 1.0),
- the four scripts at full settings, both protocols, wall time / 90 minutes (≤ 1.0), read from
  the run_<script>.json files that the full run wrote to the results folder and its 2016/
  (a --quick run, or a grid that resumed or reused trials, is not a full run: no row),
- the matrix products of that full run's Keras trainings, timed with NumPy at their own shapes,
  / 90 minutes (≤ 1.0): whether the budget is reachable at all here (`benchmarks/full_run_floor.py`).

Each benchmark but the full run's wall time runs in a fresh Python process. With --only, the other rows of an
earlier bench.csv are kept, so one benchmark can be measured again alone.

    python bench.py --results-dir results [--repeats 3] [--only NAME ...]
"""

import concurrent.futures
import importlib
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lazy_loader
import numpy as np

from benchmarks import ratio_row
from tp2.cli import UserError, add_data_dir_option, add_results_dir_option, make_parser, positive_int, run
from tp2.data import resolve_data_dir
from tp2.report.format import markdown_table, read_csv
from tp2.results import read_run_info, results_dir, write_csv, write_text

pd = lazy_loader.load("pandas")  # imported on first use, so that --help answers at once

BENCHMARK_MODULES = ("theano_vs_numpy", "mnist_gemm_bound", "image_cache_vs_decode", "grid_2016_gemm_bound")
SCRIPTS = ("theano_tp2", "keras_mnist", "keras_imageTools", "som_analysis")
QUICK_BUDGET_S = 3 * 60
FULL_BUDGET_S = 90 * 60
ROOT = Path(__file__).resolve().parent


def parse_args():
    parser = make_parser(__doc__.split("\n\n")[0])
    add_data_dir_option(parser)
    add_results_dir_option(parser)
    parser.add_argument("--repeats", type=positive_int, default=3, help="runs per benchmark (default 3)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=[*BENCHMARK_MODULES, "quick_scripts", "full_scripts", "full_run_floor"],
        help="run only these benchmarks",
    )
    return parser.parse_args()


def quick_scripts(repeats, data_dir):
    """Wall time of the four --quick runs together, divided by the 3-minute budget."""
    env = dict(os.environ, TP2_DATA_DIR=str(data_dir))
    totals = []
    for attempt in range(repeats):
        with tempfile.TemporaryDirectory() as scratch:
            start = time.perf_counter()
            for script in SCRIPTS:
                result = subprocess.run(
                    [sys.executable, str(ROOT / f"{script}.py"), "--quick", "--results-dir", scratch],
                    env=env,
                    capture_output=True,
                    text=True,
                )
                if result.returncode != 0:
                    raise UserError(f"{script}.py --quick failed: {result.stderr.strip().splitlines()[-1:]}")
            totals.append(time.perf_counter() - start)
        print(f"  quick scripts, run {attempt + 1}/{repeats}: {totals[-1]:.0f} s", flush=True)
    return ratio_row(
        "quick_scripts",
        "≤ 1.0",
        np.asarray(totals) / QUICK_BUDGET_S,
        f"wall time of the four scripts with --quick, together, / {QUICK_BUDGET_S // 60} min",
    )


def full_scripts(folder):
    """Total wall time of the full run, both protocols (from run_<script>.json) / the 90-minute budget."""
    walls = {}
    for where, protocol in ((folder, ""), (folder / "2016", " 2016")):
        for script in SCRIPTS:
            info = read_run_info(where, script)
            if info is None or "--quick" in info["command"]:
                return None
            settings = info.get("settings", {})
            if settings.get("trials_trained_in_this_run", settings.get("trials")) != settings.get("trials"):
                return None  # a resumed or reused grid: its wall time leaves trials out
            walls[script + protocol] = info["wall_time_s"]
    total = sum(walls.values())
    parts = ", ".join(f"{k} {v / 60:.1f} min" for k, v in walls.items())
    return ratio_row(
        "full_scripts",
        "≤ 1.0",
        [total / FULL_BUDGET_S],
        f"one full run ({parts}) / {FULL_BUDGET_S // 60} min",
    )


def full_results(folder, scripts):
    """Whether `scripts` have written full-settings results (not --quick) to the folder and its 2016/."""
    infos = [read_run_info(where, script) for where in (folder, folder / "2016") for script in scripts]
    return all(info is not None and "--quick" not in info["command"] for info in infos)


def with_earlier_rows(folder, rows):
    """`rows`, with the rows of the folder's bench.csv for the benchmarks not measured again, in
    bench.csv's order (new benchmarks last)."""
    earlier = read_csv(folder, "bench.csv")
    if earlier is None:
        return rows
    new = {row["benchmark"]: row for row in rows}
    kept = [new.pop(row["benchmark"], row) for row in earlier.to_dict("records")]
    return kept + list(new.values())


def write_outputs(folder, rows):
    frame = pd.DataFrame(rows)
    write_csv(folder / "bench.csv", frame)
    shown = pd.DataFrame(
        {
            "Benchmark": frame["benchmark"],
            "Target": frame["target"],
            "Ratio min / median / max": [
                f"{a:.2f} / {b:.2f} / {c:.2f}" for a, b, c in zip(frame["ratio_min"], frame["ratio_median"], frame["ratio_max"])
            ],
            "Met": ["met" if met else "**not met**" for met in frame["met"]],
            "What the ratio is": frame["details"],
        }
    )
    cpu = os.cpu_count()
    text = (
        "# Benchmarks\n\n"
        f"Measured by `make bench` on a {cpu}-core machine; ratios, judged on the median.\n\n"
        + markdown_table(shown)
    )
    write_text(folder / "bench.md", text)


def in_fresh_process(function, *args):
    """`function(*args)` in a new Python process, so that one benchmark does not run in
    what an earlier one left behind (its models, threads and objects)."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def measure_benchmark(name, data_dir, repeats):
    return importlib.import_module(f"benchmarks.{name}").measure(data_dir, repeats=repeats)


def measure_full_run_floor(data_dir, repeats, folder):
    return importlib.import_module("benchmarks.full_run_floor").measure(data_dir, repeats=repeats, results=folder)


def main():
    args = parse_args()
    folder = results_dir(args.results_dir)
    data_dir = resolve_data_dir(args.data_dir).resolve()
    wanted = args.only or [*BENCHMARK_MODULES, "quick_scripts", "full_scripts", "full_run_floor"]
    rows = []
    for name in BENCHMARK_MODULES:
        if name in wanted:
            print(f"benchmark {name} ...", flush=True)
            rows += in_fresh_process(measure_benchmark, name, data_dir, args.repeats)
    if "quick_scripts" in wanted:
        print("benchmark quick_scripts ...", flush=True)
        rows.append(quick_scripts(args.repeats, data_dir))
    if "full_scripts" in wanted:
        row = full_scripts(folder)
        if row is None:
            print("full_scripts: no full run's run_<script>.json in the results folder (quick, resumed or "
                  "missing); run `make all` first")
        else:
            rows.append(row)
    if "full_run_floor" in wanted:
        if not full_results(folder, ("keras_mnist", "keras_imageTools")):
            print("full_run_floor: needs the full run's Table 2 and grids in the results folder; run `make all` first")
        else:
            print("benchmark full_run_floor ...", flush=True)
            rows += in_fresh_process(measure_full_run_floor, data_dir, args.repeats, folder)
    for row in rows:
        print(f"  {row['benchmark']}: median ratio {row['ratio_median']:.2f} (target {row['target']}) "
              f"{'met' if row['met'] else 'NOT met'}")
    write_outputs(folder, with_earlier_rows(folder, rows) if args.only else rows)
    print(f"wrote {folder / 'bench.md'}")


if __name__ == "__main__":
    run(main)
