"""Settings as data: each script has one frozen dataclass whose fields carry docstrings.

    @dataclass(frozen=True)
    class Settings:
        repetitions: int = 10
        \"\"\"Repetitions, each on its own split.\"\"\"

    FULL = Settings()
    QUICK = replace(FULL, repetitions=2)

`field_docs(Settings)` reads those docstrings, so `--help` is written from the same text;
`option_help` adds the defaults; `chosen_settings` picks a protocol's full or quick settings
and applies the options given; `dataclasses.asdict(settings)` goes into run_<script>.json.
"""

import ast
import dataclasses
import inspect
import textwrap


def field_docs(cls):
    """{field name: its docstring} for a dataclass written with attribute docstrings."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for statement, following in zip(body, body[1:]):
        if (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            docs[statement.target.id] = " ".join(following.value.value.split())
    return docs


def option_help(cls, name, full, quick=None):
    """The --help text of option `name`: the field's docstring and its defaults."""
    text = field_docs(cls)[name].rstrip(".")
    default = getattr(full, name)
    if quick is not None and getattr(quick, name) != default:
        return f"{text} (default {default}; {getattr(quick, name)} with --quick)"
    return f"{text} (default {default})"


def chosen_settings(protocols, args, **given):
    """The settings of `args.protocol` ({protocol: (full, quick)}), quick with `args.quick`,
    with every field in `given` that an option set (None: the option was not given)."""
    full, quick = protocols[args.protocol]
    return dataclasses.replace(quick if args.quick else full,
                               **{name: value for name, value in given.items() if value is not None})
