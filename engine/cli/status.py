"""`status`: the controllers of a PostgreSQL database and the runs each owns (scale-out.md)."""

from __future__ import annotations

import time

import click

from ..api import open_store
from ..store.postgres import PostgresStore
from ._app import db_option, resolve_db, run_async, terminal


@click.command()
@db_option
@run_async
async def status(db: str | None) -> None:
    """List the controllers (id, host, pid, last heartbeat) and the runs each owns."""
    store = await open_store(resolve_db(db))
    try:
        if not isinstance(store, PostgresStore):
            terminal.line(f"{store.path}: one controller at a time (SQLite); no leases")
            return
        rows = await store.controllers()
    finally:
        await store.aclose()
    now = time.time()
    for cid, host, pid, heartbeat, uids in rows:
        terminal.line(f"{cid}  host={host}  pid={pid}  heartbeat={now - heartbeat:.1f}s ago"
                      f"  runs={len(uids)}")
        for uid in uids:
            terminal.line(f"  {uid}")
    if not rows:
        terminal.line("no controllers")


COMMANDS = [status]
