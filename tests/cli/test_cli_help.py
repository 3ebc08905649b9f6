from __future__ import annotations

from typing import Any

import typer
from typer.testing import CliRunner

from medfed.cli.app import app
from tests.utils.processes import medfed_env, run_medfed


def all_command_paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    if hasattr(command, "list_commands"):  # a group; the top groups load when asked for
        context = typer.Context(command)
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            paths.extend(all_command_paths(sub, (*prefix, name)))
    return paths


def test_medfed_help_lists_the_command_groups(tmp_path, database_url) -> None:  # type: ignore[no-untyped-def]
    result = run_medfed(["--help"], medfed_env(tmp_path / "home", database_url))
    assert result.returncode == 0
    for group in ("server", "admin", "node", "config"):
        assert group in result.stdout


def test_every_command_has_help() -> None:
    root = typer.main.get_command(app)
    runner = CliRunner()
    paths = all_command_paths(root)
    assert ("admin", "audit", "verify") in paths and ("node", "enroll") in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output
