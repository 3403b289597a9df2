"""The code a hand-bumped version covers (parsing.PARSE_VERSION, sessions.RULES_VERSION), as a
digest of what it does: its syntax tree without docstrings and comments, and without the
version's own assignment. A test pins (version, digest); a change to the code fails it, naming the
constant, until the version is bumped (or the change judged not to need it) and the pin updated."""

from __future__ import annotations

import ast
import hashlib
import inspect


def code_digest(constant: str, *parts) -> str:
    """A digest of the source of `parts` (modules, functions) with every docstring and comment
    left out, and the assignment of `constant`: the same before and after a docs-only edit."""
    digest = hashlib.sha256()
    for part in parts:
        tree = ast.parse(inspect.getsource(part))
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list):
                node.body = [child for child in body if not _docstring(child) and not _assigns(child, constant)] \
                    or [ast.Pass()]
        digest.update(ast.unparse(tree).encode("utf-8"))
    return digest.hexdigest()[:16]


def _docstring(node) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _assigns(node, name: str) -> bool:
    return isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
