"""The imports stay layered: the scripts sit on top of tp2/, and nothing in tp2/ imports a script."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {path.stem for path in ROOT.glob("*.py")}  # theano_tp2, keras_mnist, ..., make_report, bench


def imported_modules(path):
    """The top-level names of every module `path` imports, at any depth of its code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_nothing_in_tp2_imports_a_script():
    assert {"theano_tp2", "keras_mnist", "keras_imageTools", "som_analysis", "make_report"} <= SCRIPTS
    offenders = {str(path.relative_to(ROOT)): sorted(imported_modules(path) & SCRIPTS)
                 for path in sorted((ROOT / "tp2").rglob("*.py"))}
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_import_reader_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from keras_mnist import FULL\n    import theano_tp2.x as t\n")
    assert imported_modules(module) == {"os", "keras_mnist", "theano_tp2"}
