"""``sendflowr serve``: run every role in one process, or one role with ``--role``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import click
import uvicorn

from sendflowr.auth import issue_token
from sendflowr.cli.context import console, load_settings
from sendflowr.serve.admin import create_admin_app
from sendflowr.serve.compose import ROLE_BUILDERS, build_role
from sendflowr.serve.contract import Resources, RoleHandle

__all__ = ["serve"]

_log = logging.getLogger("sendflowr.serve")


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to ``serve`` (several share a loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _run(handles: list[RoleHandle], host: str) -> None:
    servers = [
        _Server(
            uvicorn.Config(
                h.app,
                host="127.0.0.1" if h.name == "admin" else host,
                port=h.port,
                log_level="warning",
                lifespan="on",
            )
        )
        for h in handles
        if h.app is not None and h.port is not None
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    workers = [h for h in handles if h.start is not None]
    for h in workers:
        assert h.start is not None
        await asyncio.to_thread(h.start)
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    try:
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            # A server ended on its own: it failed to start (e.g. its port is taken) or crashed.
            failed = [s for s, t in zip(servers, tasks, strict=True) if t in done]
            ports = ", ".join(str(s.config.port) for s in failed)
            raise click.ClickException(f"HTTP role on port {ports} stopped unexpectedly")
    finally:
        for s in servers:
            s.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        # HTTP roles first (their servers are down: the inference's live context, schedule
        # firing and explanation writer), then the workers in reverse start order.
        for h in [h for h in handles if h.start is None] + list(reversed(workers)):
            if h.stop is not None:
                await asyncio.to_thread(h.stop)


@click.command()
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(sorted(ROLE_BUILDERS)),
    help="Run only this role (repeatable). Default: every role in one process.",
)
def serve(roles: tuple[str, ...]) -> None:
    """Run SendFlowr's roles: connector (HTTP, port 5215), consumer (Kafka → ClickHouse)
    and inference (HTTP, port 8001).

    \b
    Example:
      sendflowr serve                    # every role, one process (embedded chDB)
      sendflowr serve --role connector   # one role, to scale it on its own
    """
    settings = load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    names = list(roles) or list(ROLE_BUILDERS)
    resources = Resources(settings, roles=tuple(names))
    try:
        handles = [build_role(name, resources) for name in names]
        if {"consumer", "inference"} & set(names):
            token = issue_token(settings.home)
            app = create_admin_app(resources, token)
            handles.append(RoleHandle("admin", app, settings.admin_port))
        for h in handles:
            where = f" on http://{settings.host}:{h.port}" if h.port else ""
            console.print(f"[bold]{h.name}[/bold] starting{where}")
        asyncio.run(_run(handles, settings.host))
    finally:
        resources.close()
    console.print("stopped")
