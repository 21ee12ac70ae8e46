"""REPORT.md's last part: the libraries, each script's command, wall time and machine, and the
benchmarks."""

import lazy_loader

from tp2.report.format import markdown_table
from tp2.results import read_run_info, read_text_file

pd = lazy_loader.load("pandas")  # imported on first use, so that --help answers at once

SCRIPTS = ("theano_tp2", "keras_mnist", "keras_imageTools", "som_analysis")


def resumed_note(run):
    """'resumed: N of M trials trained in this run' when a grid run found earlier trials on disk."""
    settings = run.get("settings") or {}
    trained, total = settings.get("trials_trained_in_this_run"), settings.get("trials")
    if trained is None or trained == total:
        return ""
    return f"resumed: {trained} of {total} trials trained in this run (its wall time leaves the rest out)"


def markdown_files(folder):
    return {}


def section(folder):
    runs = {f"{script}{suffix}": info for suffix, where in (("", folder), (" (2016)", folder / "2016"))
            for script in SCRIPTS if (info := read_run_info(where, script)) is not None}
    lines = ["## Environment and commands\n"]
    pythons = sorted({run["python"] for run in runs.values() if run.get("python")})
    if pythons:
        lines.append(f"- Python {', '.join(pythons)}; the machine of each run is in the table below\n")
    versions = next((run["versions"] for run in runs.values() if run.get("versions")), {})
    if versions:
        lines.append("- Libraries: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + "\n")
    rows = [
        {
            "Script": script,
            "Command": f"`{run['command']}`",
            "Wall time (min)": f"{run['wall_time_s'] / 60:.1f}",
            "Finished (UTC)": run["date"],
            "Machine": run.get("machine", "not recorded"),
            "Note": resumed_note(run),
        }
        for script, run in runs.items()
    ]
    if rows:
        lines.append("\n" + markdown_table(pd.DataFrame(rows)))
        total = sum(run["wall_time_s"] for run in runs.values()) / 60
        resumed = [script for script, run in runs.items() if resumed_note(run)]
        left_out = f" ({', '.join(resumed)} resumed: the trials trained before are not in it)" if resumed else ""
        lines.append(f"\nTotal wall time of these runs: {total:.1f} min{left_out}.\n")
    bench = folder / "bench.md"
    if bench.exists():
        text = read_text_file(bench).strip()
        lines += ["\n## Benchmarks\n", text.split("\n", 1)[1] if text.startswith("#") else text, "\n"]
    return lines
