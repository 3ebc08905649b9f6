"""The hospital node is deployed inside the hospital without the server: it must never import
the server package, not even lazily inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import medfed.node

NODE = Path(medfed.node.__file__).parent


def test_no_node_module_imports_the_server_package() -> None:
    offending = []
    for path in sorted(NODE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offending += [
                f"{path.name}:{node.lineno} {n}" for n in names if n.startswith("medfed.server")
            ]
    assert offending == []
