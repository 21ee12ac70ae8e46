"""Command-line plumbing shared by the four scripts.

Bad input ends a script with one line on stderr and exit code 2, never a traceback:
code raises `UserError(message)` and `run(main)` turns it into that line. Ctrl-C prints
`interrupted` and exits 130, during the imports too (`exit_on_ctrl_c_while_importing`).
A write to the results folder that fails (disk full, read-only) is one line as well.
"""

import argparse
import contextlib
import errno
import os
import signal
import sys
import time

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
# Seeds go to NumPy's RandomState, random.seed and JAX: every one of them takes 0 ... 2**31 - 1.
SEED_LIMIT = 2**31
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class UserError(Exception):
    """A problem the user can fix: bad option, missing data, unwritable folder."""


class WriteError(OSError):
    """Writing a results file failed (disk full, read-only, I/O error); `filename` is the file
    as the user knows it. Still an OSError, so callers that tolerate a failed write can."""


def warn(message):
    """One 'warning:' line on stderr; the run goes on."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def fail(message):
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(EXIT_USAGE)


def exit_on_ctrl_c_while_importing(module_name):
    """Call first in a script, before its heavy imports: until `run(main)` starts, Ctrl-C
    prints 'interrupted' and exits 130 at once (imports hold nothing to clean up).
    Does nothing when the script is imported as a module (tests)."""
    if module_name == "__main__":
        signal.signal(signal.SIGINT, exit_interrupted)


def exit_interrupted(signum=None, frame=None):
    print("interrupted", file=sys.stderr, flush=True)
    os._exit(EXIT_INTERRUPTED)


@contextlib.contextmanager
def sigint_handled_by(handler):
    """Ctrl-C calls `handler(signum, frame)` during the block, then the previous handler is back.
    Outside the main thread (where Python cannot set handlers) the block runs unchanged."""
    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def exiting_on_ctrl_c():
    """Ctrl-C during the block exits at once ('interrupted', 130) instead of raising
    KeyboardInterrupt: for imports of compiled libraries (JAX), which a KeyboardInterrupt
    can leave half-initialised and crash the interpreter as it exits. Use it before the
    results folder is locked: nothing is cleaned up."""
    return sigint_handled_by(exit_interrupted)


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


QUICK_RESULTS = "results-quick"


def add_results_dir_option(parser, quick_default=False):
    """--results-dir. With `quick_default`, its default is None and `chosen_results_dir(args)`
    gives results/, or results-quick/ under --quick (so a check never overwrites real results)."""
    if quick_default:
        parser.add_argument(
            "--results-dir", default=None,
            help=f"where tables and figures go (default: results, or {QUICK_RESULTS} with --quick)")
    else:
        parser.add_argument(
            "--results-dir", default="results", help="where tables and figures go (default: results)"
        )


def chosen_results_dir(args):
    """--results-dir when given, else results-quick/ for a --quick run, else results/."""
    from pathlib import Path

    if args.results_dir is not None:
        return Path(args.results_dir)
    return Path(QUICK_RESULTS if getattr(args, "quick", False) else "results")


def add_classes_option(parser, default, default_2016=None):
    """--classes. With `default_2016` (a script whose 2016 protocol reads the classes in another order)
    its default is None and the protocol's settings give the classes; check them with `check_classes`."""
    note = f"; --protocol 2016: {' '.join(default_2016)}" if default_2016 else ""
    parser.add_argument(
        "--classes", nargs=2, metavar=("A", "B"), default=None if default_2016 else list(default),
        help=f"the two Caltech101 classes (default: {' '.join(default)}{note})",
    )


def check_classes(classes):
    """The two --classes as a tuple; UserError when they are the same class."""
    if classes[0] == classes[1]:
        raise UserError(f"--classes needs two different classes, got {classes[0]} twice")
    return tuple(classes)


def check_seed(seed, count=1, option="--seed"):
    """UserError unless every seed of the run, seed ... seed + count - 1, lies in 0 ... 2**31 - 1."""
    if seed < 0:
        raise UserError(f"{option} must be 0 or more, got {seed}")
    if seed + count > SEED_LIMIT:
        raise UserError(
            f"{option} {seed} with {count} run(s) would use seeds up to {seed + count - 1}, past "
            f"{SEED_LIMIT - 1} (the largest seed NumPy and JAX take); pass a {option} of at most {SEED_LIMIT - count}"
        )
    return seed


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
    """Call main(); a UserError or a failed results write becomes one 'error:' line and exit
    code 2, Ctrl-C 'interrupted' and exit code 130."""
    try:
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # from here Ctrl-C unwinds
    except ValueError:  # not the main thread: leave the handler alone
        previous = None
    try:
        main()
    except UserError as error:
        fail(str(error))
    except KeyboardInterrupt:  # the run's `with` blocks have cleaned up on the way here
        sys.stdout.flush()
        exit_interrupted()  # at once: JAX cut short mid-step can crash the interpreter's own exit
    except OSError as error:
        message = write_failure(error)
        if message is None:
            raise
        fail(message)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def write_failure(error):
    """The one line for a full disk or a failed results write; None for other OSErrors."""
    where = f" writing {error.filename}" if error.filename else ""
    if error.errno in DISK_FULL:
        return f"no space left on device{where}; free space or pass another --results-dir"
    if isinstance(error, WriteError):
        return f"could not write {error.filename} ({error.strerror}); check the folder or pass another --results-dir"
    return None


def interactive():
    """True when stdout is a terminal (Keras progress bars), False in logs and CI."""
    return sys.stdout.isatty() and not os.environ.get("CI")


def format_eta(seconds):
    """'4m05s', or '1h02m' from an hour on: the ETA of a progress line."""
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def eta_clock(total):
    """For a run of `total` similar steps: a function to call as each step ends, which returns
    the time left as format_eta text, from the mean time per step so far."""
    started, done = time.perf_counter(), []

    def step_done():
        done.append(None)
        return format_eta((time.perf_counter() - started) / len(done) * max(total - len(done), 0))

    return step_done
