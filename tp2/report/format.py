"""How numbers look in every table: one format per quantity."""

from tp2.cli import UserError
from tp2.results import read_json_file, read_text_file, shown


def markdown_table(frame):
    """A GitHub Markdown table (pandas + tabulate) of already formatted cells."""
    return frame.to_markdown(index=False, disable_numparse=True) + "\n"


def accuracy(mean, sd=None):
    """An accuracy or error rate, always a fraction with 4 decimals: '0.9556 ± 0.0094' (mean ± SD),
    or '0.9800' for a single number."""
    return f"{mean:.4f}" if sd is None else f"{mean:.4f} ± {sd:.4f}"


def seconds(mean, sd=None):
    """A time in seconds, always 2 decimals: '6.29 ± 0.17' (mean ± SD), or '6.29'."""
    return f"{mean:.2f}" if sd is None else f"{mean:.2f} ± {sd:.2f}"


def configuration_cells(frame):
    """A grid configuration's columns, the same in every table: augmentation yes/no, n1, n2 ('none'
    without a second layer), dropout with 2 decimals, activation."""
    import pandas as pd

    yes_no = {0: "no", 1: "yes", False: "no", True: "yes", "no": "no", "yes": "yes"}
    return pd.DataFrame({
        "augmentation": [yes_no[value] for value in frame["augmentation"]],
        "n1": [str(int(n)) for n in frame["n1"]],
        "n2": [str(int(n)) if n else "none" for n in frame["n2"]],
        "dropout": [f"{d:.2f}" for d in frame["dropout"]],
        "activation": list(frame["activation"]),
    })


def configuration_phrase(config):
    """One configuration in a sentence, spelled as in the tables: 'augmentation no, n1 64, n2 none,
    dropout 0.20, relu'."""
    import pandas as pd

    cells = configuration_cells(pd.DataFrame([config])).iloc[0]
    return (f"augmentation {cells['augmentation']}, n1 {cells['n1']}, n2 {cells['n2']}, "
            f"dropout {cells['dropout']}, {cells['activation']}")


def file_size(size_bytes):
    """A file size, always in the same units: '9.47 MB', '3.7 kB' or '64 B' (decimal units)."""
    if size_bytes >= 1e6:
        return f"{size_bytes / 1e6:.2f} MB"
    return f"{size_bytes / 1e3:.1f} kB" if size_bytes >= 1e3 else f"{size_bytes} B"


def listed(names):
    """Names in a sentence: 'a', 'a and b', 'a, b and c'."""
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def section_body(markdown):
    """A standalone .md file's text without its "# " title, to go under a REPORT.md heading that names it."""
    lines = markdown.strip().splitlines()
    return "\n".join(lines[1:] if lines and lines[0].startswith("# ") else lines).strip() + "\n"


def missing_note(name, target):
    """The line REPORT.md shows where a script's output is not there yet."""
    return f"*`{name}` is not in the results folder yet: run `make {target}`.*\n"


def beyond_spread(mean_a, sd_a, mean_b, sd_b):
    """'Beyond the spread': the means are further apart than the sum of the two SDs.

    A reader's rule of thumb, not a test (a single run's SD counts as 0).
    """
    return abs(mean_a - mean_b) > (sd_a + sd_b)


def distance_in_sd(mean, sd, reported):
    """How far a rerun's mean lies from the report's number, in units of the rerun's SD ('–' without spread)."""
    return "–" if not sd > 0 else f"{(mean - reported) / sd:+.1f}"


def read_csv(folder, name):
    """A results CSV as a DataFrame, or None when the file is not there; UserError naming the
    file when it is empty, cut short (last line incomplete, a row with too few fields) or not UTF-8."""
    path = folder / name
    return parse_csv(path) if path.exists() else None


def parse_csv(path):
    import csv
    import io

    import pandas as pd

    text = read_text_file(path)
    rerun = "rerun the script that writes it, or delete it"
    if not text.strip():
        raise UserError(f"results file {shown(path)} is empty; {rerun}")
    if not text.endswith("\n"):
        raise UserError(f"results file {shown(path)} is truncated (its last line is incomplete); {rerun}")
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        raise UserError(f"results file {shown(path)} has a header and no rows; {rerun}")
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(rows[0]):
            raise UserError(f"results file {shown(path)} line {number} has {len(row)} fields, its header "
                            f"{len(rows[0])} (truncated or damaged); {rerun}")
    return pd.read_csv(io.StringIO(text))


def read_json(folder, name):
    """A results JSON file as a dict, or None when the file is not there; UserError naming the
    file when it is empty, cut short or not UTF-8."""
    path = folder / name
    return read_json_file(path) if path.exists() else None


def figure(folder, name, caption):
    """A figure's Markdown, placed right after its table, or a note that it is missing."""
    if (folder / name).exists():
        return f"![{caption}]({name})\n\n*{caption}*\n"
    return f"*{name} not produced yet.*\n"
