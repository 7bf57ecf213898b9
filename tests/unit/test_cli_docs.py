"""Every command has help with an example and is documented in the README."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sendflowr.cli import COMMANDS, main

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _leaves(name: str, command: click.Command) -> list[tuple[str, click.Command]]:
    if isinstance(command, click.Group):
        return [(f"{name} {sub}", c) for sub, c in command.commands.items()]
    return [(name, command)]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_has_help_with_an_example_and_is_in_the_readme(name: str) -> None:
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"`sendflowr {name} --help` shows no example"
    assert f"sendflowr {name}" in README, f"README does not document `sendflowr {name}`"
    command = main.get_command(click.Context(main), name)
    assert command is not None
    for full, _ in _leaves(name, command):
        sub = CliRunner().invoke(main, [*full.split(), "--help"])
        assert sub.exit_code == 0, sub.output
        assert "Example" in sub.output, f"`sendflowr {full} --help` shows no example"
        group, _, leaf = full.partition(" ")
        if leaf:  # a group's row lists its subcommands: `sendflowr kafka start|stop|…`
            listed = re.search(rf"sendflowr {group} [^`\n]*\b{leaf}\b", README)
            assert listed, f"README does not document `sendflowr {full}`"
