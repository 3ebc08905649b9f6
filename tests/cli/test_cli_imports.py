"""What each command loads: a node's commands never load the server package (the node's own
modules never import it: tests/node/test_boundaries.py), and commands that do not train do not
pay for PyTorch's import (several seconds on the 2-core machine)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
from medfed.cli.app import app
try:
    app({args!r}, standalone_mode=False)
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("medfed", "torch"))))
"""


def _loaded(args: list[str]) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    ("args", "server", "torch"),
    [
        (["--version"], False, False),
        (["node", "enroll", "--help"], False, False),
        (["node", "participate", "--help"], False, False),
        (["admin", "create-hospital", "--help"], True, False),
        (["server", "init", "--help"], True, False),
        # The campaign commands read the API's request schemas, never its routers (which load
        # the model code, and PyTorch with it).
        (["campaigns", "list", "--help"], True, False),
        (["campaigns", "start", "--help"], True, False),
        (["analytics", "ask", "--help"], True, False),
        (["node", "analytics", "list", "--help"], False, False),
    ],
)
def test_a_command_loads_only_what_it_needs(args: list[str], server: bool, torch: bool) -> None:
    loaded = _loaded(args)
    assert ("medfed.server" in loaded) == server, args
    assert ("torch" in loaded) == torch, args
