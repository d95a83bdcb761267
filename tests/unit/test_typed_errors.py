"""Errors are told apart by their type, never by their message text: a reworded message (ours,
or SQLite's in another version) must not change what the code does."""

from __future__ import annotations

import ast
from pathlib import Path

from webapp.settings import ROOT


def _mentions(node: ast.AST, name: str) -> bool:
    """True when node is str(name), name.args or name.args[...] (the message, read)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "str":
        return any(isinstance(a, ast.Name) and a.id == name for a in node.args)
    if isinstance(node, ast.Subscript):
        node = node.value
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "args"
        and isinstance(node.value, ast.Name)
        and node.value.id == name
    )


def message_tests(path: Path) -> list[str]:
    """Comparisons on a caught exception's message text, as "file:line"."""
    found = []
    for handler in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(handler, ast.ExceptHandler) or handler.name is None:
            continue
        for node in ast.walk(ast.Module(body=handler.body, type_ignores=[])):
            tested = []
            if isinstance(node, ast.Compare):
                tested = [node.left, *node.comparators]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("startswith", "endswith", "search", "match", "find")
            ):
                tested = [node.func.value, *node.args]
            if any(_mentions(part, handler.name) for part in tested):
                found.append(f"{path.name}:{node.lineno}")
    return found


def test_no_module_tells_errors_apart_by_their_message():
    found = [hit for path in sorted((ROOT / "webapp").rglob("*.py")) for hit in message_tests(path)]
    assert found == []


def test_the_check_finds_a_message_test(tmp_path):
    sample = tmp_path / "sample.py"
    code = (
        "try:\n    pass\nexcept ValueError as exc:\n    if 'reference' in str(exc):\n        pass\n"
        "try:\n    pass\nexcept OSError as e:\n    if str(e).startswith('x'):\n        pass\n"
        "try:\n    pass\nexcept KeyError as k:\n    if k.args[0] == 'a':\n        pass\n"
    )
    sample.write_text(code)
    assert message_tests(sample) == ["sample.py:4", "sample.py:9", "sample.py:14"]
