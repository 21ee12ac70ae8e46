"""Command-line plumbing shared by the four scripts.

Bad input ends a script with one line on stderr and exit code 2, never a traceback:
code raises `UserError(message)` and `run(main)` turns it into that line.
"""

import argparse
import os
import sys

EXIT_USAGE = 2


class UserError(Exception):
    """A problem the user can fix: bad option, missing data, unwritable folder."""


def warn(message):
    """One 'warning:' line on stderr; the run goes on."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def make_parser(description, epilog=None):
    """argparse parser whose errors are one line, plus the options every script shares."""
    parser = argparse.ArgumentParser(
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.error = lambda message: fail(f"{message} (see --help)")
    return parser


def add_data_dir_option(parser):
    parser.add_argument(
        "--data-dir",
        default=None,
        help="data folder (default: $TP2_DATA_DIR, else ./data); missing files are downloaded",
    )


def add_results_dir_option(parser):
    parser.add_argument(
        "--results-dir", default="results", help="where tables and figures go (default: results)"
    )


def add_classes_option(parser, default):
    parser.add_argument(
        "--classes", nargs=2, metavar=("A", "B"), default=list(default),
        help=f"the two Caltech101 classes (default: {' '.join(default)})",
    )


def check_classes(classes):
    """The two --classes as a tuple; UserError when they are the same class."""
    if classes[0] == classes[1]:
        raise UserError(f"--classes needs two different classes, got {classes[0]} twice")
    return tuple(classes)


PROTOCOLS = ("revised", "2016")


def add_protocol_option(parser):
    parser.add_argument(
        "--protocol", choices=PROTOCOLS, default="revised",
        help="revised: this repo's methodology (held-out validation, seeds, test only reported; default); "
             "2016: the report author's own recipe, rerun today, written to <results-dir>/2016/",
    )


def protocol_folder(results, protocol):
    """Where a protocol's outputs go: the results folder itself, or <results>/2016/."""
    return results if protocol == "revised" else results / protocol


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run(main):
    """Call main(); a UserError becomes one 'error:' line and exit code 2."""
    try:
        main()
    except UserError as error:
        fail(str(error))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def interactive():
    """True when stdout is a terminal (Keras progress bars), False in logs and CI."""
    return sys.stdout.isatty() and not os.environ.get("CI")
