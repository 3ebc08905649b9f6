"""The README states facts the code can check."""

from __future__ import annotations

import re
from pathlib import Path

from medfed.core.config import settings_reference_markdown

README = Path(__file__).resolve().parents[1] / "README.md"


def test_configuration_table_matches_the_settings_object() -> None:
    text = README.read_text(encoding="utf-8")
    match = re.search(
        r"<!-- settings-table:start -->\n(.*?)\n<!-- settings-table:end -->", text, re.S
    )
    assert match, "README lost its settings table markers"
    assert match.group(1).strip() == settings_reference_markdown().strip(), (
        "README settings table is stale: regenerate it with `medfed config docs`"
    )


def test_readme_gives_the_two_fresh_machine_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "`make demo`" in text and "`make test`" in text
    makefile = (README.parent / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (README.parent / ".ci" / "run").read_text(encoding="utf-8")
