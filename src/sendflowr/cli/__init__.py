"""The ``sendflowr`` command line: a thin layer over the library.

Commands are registered by name in ``COMMANDS`` and imported only when used,
so ``sendflowr --help`` stays fast and each command lives in its own module.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from sendflowr import __version__
from sendflowr.errors import ConfigError, SendFlowrError

__all__ = ["COMMANDS", "main"]

#: command name → "module:attribute" of its click command.
COMMANDS: dict[str, str] = {
    "down": "sendflowr.cli.down:down",
    "experiment": "sendflowr.cli.experiment:experiment",
    "generate": "sendflowr.cli.generate:generate",
    "kafka": "sendflowr.cli.kafka:kafka",
    "report": "sendflowr.cli.report:report",
    "serve": "sendflowr.cli.serve:serve",
    "simulate": "sendflowr.cli.simulate:simulate",
    "sql": "sendflowr.cli.sql:sql",
    "status": "sendflowr.cli.status:status",
    "store": "sendflowr.cli.store:store",
    "train": "sendflowr.cli.train:train",
    "up": "sendflowr.cli.up:up",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise click.UsageError(str(exc), ctx=ctx) from exc
        except SendFlowrError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sendflowr")
def main() -> None:
    """SendFlowr: timing intelligence for marketing messages.

    \b
    Example:
      sendflowr kafka start && sendflowr sql "SELECT count() FROM sendflowr.email_events"
    """
