"""`server`: the HTTP API, web UI and /metrics of a database (also `daemon --listen`)."""

from __future__ import annotations

import signal
from collections.abc import Callable

import anyio
import click
from click.decorators import FC

from ..api import open_store
from ..controller.controller import unwrap
from ..server import ServerConfig, load_token, parse_listen, serve
from ..server.app import DEFAULT_LISTEN, Server
from ..store import SqliteStore
from ._app import db_option, resolve_db, run_async, terminal


def listen_option(default: str | None) -> Callable[[FC], FC]:
    return click.option(
        "--listen",
        default=default,
        metavar="HOST:PORT",
        help=f"Serve the API, web UI and /metrics here (loopback by default: {DEFAULT_LISTEN}; "
        "any other address needs the bearer token for reads too).",
    )


def server_config(listen: str, db_path: str) -> ServerConfig:
    """Parse --listen and load (or make, print once) the API token."""
    host, port = parse_listen(listen)
    token, created = load_token(db_path)
    if created is not None:
        terminal.note(
            f"exitflow server: API token generated and stored in {created} (mode 0600; shown "
            f"once): {token}"
        )
    return ServerConfig(host=host, port=port, token=token)


def announce(url: str, db_path: str) -> None:
    terminal.note(f"exitflow server: serving {db_path} at {url}")


@click.command("server")
@db_option
@listen_option(DEFAULT_LISTEN)
@run_async
async def server(db: str | None, listen: str) -> None:
    """Serve the HTTP API (Argo server shape), the web UI and /metrics of a database.

    Writes (submit, stop, terminate) need `Authorization: Bearer <token>`: $EXITFLOW_TOKEN, else
    the token generated on first start and stored beside the database (<db>.token, mode 0600).
    Submissions are run by a controller (`exitflow daemon`, or `exitflow daemon --listen` to
    serve from the controller itself)."""
    path = resolve_db(db)
    config = server_config(listen, path)
    store = await open_store(path)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_stop_on_signal, tg.cancel_scope)
            await serve(store, config, ready=lambda url: announce(url, path))
    except BaseException as e:
        raise unwrap(e) from None
    finally:
        with anyio.CancelScope(shield=True):
            await store.aclose()
    terminal.note("exitflow server: stopped")


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    """SIGTERM/SIGINT: stop serving (open streams are closed) and exit 0."""
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            scope.cancel()
            return


COMMANDS = [server]


async def start_server(store: SqliteStore, listen: str, db_path: str) -> Server:
    """`daemon --listen`: bind (a port in use is one line, exit 2) and time the appends."""
    server = Server(store, server_config(listen, db_path), controller=True)
    server.state.metrics.instrument(store)
    announce(await server.start(), db_path)
    return server
