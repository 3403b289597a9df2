"""The digest that pins a hand-bumped version to its code (lastfm/testing/versions.py): blind to
docstrings, comments and the version's own value, not to a change of what the code does."""

import importlib.util

from lastfm.testing.versions import code_digest

CODE = '''"""A module."""

VERSION = 1


def f(x):
    """Doubles."""
    return 2 * x  # twice
'''


def module(tmp_path, name, text):
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def test_only_a_change_of_the_code_changes_the_digest(tmp_path):
    digest = code_digest("VERSION", module(tmp_path, "a", CODE))
    docs = CODE.replace('"""Doubles."""', '"""Twice x,\n    as documented."""').replace("# twice", "# 2x")
    bumped = CODE.replace("VERSION = 1", "VERSION = 2")
    changed = CODE.replace("2 * x", "x + x")
    assert code_digest("VERSION", module(tmp_path, "b", docs)) == digest
    assert code_digest("VERSION", module(tmp_path, "c", bumped)) == digest
    assert code_digest("VERSION", module(tmp_path, "d", changed)) != digest
    assert code_digest("OTHER", module(tmp_path, "e", bumped)) != code_digest("OTHER", module(tmp_path, "f", CODE))
    # a function of a module, on its own: blind to the rest of its module
    grown = CODE + "\n\ndef g(x):\n    return x\n"
    assert code_digest("VERSION", module(tmp_path, "g", grown)) != digest
    alone = code_digest("VERSION", module(tmp_path, "i", CODE).f)
    assert code_digest("VERSION", module(tmp_path, "h", grown).f) == alone
