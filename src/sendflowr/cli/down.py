"""``sendflowr down``: stop what ``sendflowr up`` started."""

from __future__ import annotations

import click

from sendflowr.cli.context import console, load_settings
from sendflowr.kafka import LocalKafka
from sendflowr.serve.daemon import ServeProcess

__all__ = ["down"]


@click.command()
def down() -> None:
    """Stop the background serve (it finishes its batch first) and the local Kafka broker.

    Only processes this project started (pid files in SENDFLOWR_HOME) are stopped;
    data stays, so `sendflowr up` resumes where it was.

    \b
    Example:
      sendflowr down
    """
    settings = load_settings()
    serve_stopped = ServeProcess(settings).stop()
    console.print("serve stopped" if serve_stopped else "serve was not running")
    kafka_stopped = LocalKafka(settings).stop()
    console.print("Kafka stopped" if kafka_stopped else "Kafka was not running")
