"""Run leases on PostgreSQL: many controllers share one database, each run owned by one.

A lease row (uid, owner, token, expires_at) says which controller may append to a run. Times
are the server's clock (`clock_timestamp()`), so controllers' clocks never disagree about
expiry. Claiming a run increments its fencing token; the writer reads the lease `FOR SHARE` in
the same transaction as every append and refuses an append whose token is not the current one
or whose lease has expired (`fenced_uids`). An adopter's claim (`UPDATE`) waits for in-flight
appends of the old owner, then fences it.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Final

import asyncpg

#: The server's clock, in seconds since the epoch.
NOW: Final = "extract(epoch FROM clock_timestamp())"

_REGISTER: Final = (
    "INSERT INTO exitflow.controllers(id, host, pid, started_at, heartbeat, lease_seconds)"
    f" VALUES ($1, $2, $3, {NOW}, {NOW}, $4)"
)
#: Give every unfinished run without a lease row an unowned one (token 0).
_SEED: Final = (
    "INSERT INTO exitflow.leases(uid, owner, token, expires_at)"
    " SELECT uid, NULL, 0, 0 FROM exitflow.workflows WHERE NOT finished"
    " ON CONFLICT (uid) DO NOTHING"
)
#: Claim up to $3 runs that nobody holds (or whose lease expired), skipping rows another
#: controller is claiming right now (FOR UPDATE SKIP LOCKED).
_CLAIM: Final = (
    f"UPDATE exitflow.leases l SET owner = $1, token = l.token + 1, expires_at = {NOW} + $2"
    " WHERE l.uid IN (SELECT c.uid FROM exitflow.leases c"
    " JOIN exitflow.workflows w ON w.uid = c.uid AND NOT w.finished"
    f" WHERE c.owner IS NULL OR c.expires_at < {NOW}"
    " ORDER BY c.uid LIMIT $3 FOR UPDATE OF c SKIP LOCKED)"
    " RETURNING l.uid, l.token"
)
_RENEW: Final = (
    f"UPDATE exitflow.leases SET expires_at = {NOW} + $2"
    f" WHERE owner = $1 AND expires_at >= {NOW} AND uid = ANY($3::text[])"
    " AND token = ANY($4::bigint[]) RETURNING uid, token"
)
_HEARTBEAT: Final = f"UPDATE exitflow.controllers SET heartbeat = {NOW} WHERE id = $1"
_RELEASE: Final = (
    "DELETE FROM exitflow.leases WHERE uid = $1 AND owner = $2 AND token = $3"
)
#: The fencing read, inside the writer's transaction: the leases of the runs appended to.
FENCE_READ: Final = (
    f"SELECT uid, owner, token, expires_at >= {NOW} FROM exitflow.leases"
    " WHERE uid = ANY($1::text[]) FOR SHARE"
)


def new_controller_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def register(conn: asyncpg.Connection, owner: str, lease_seconds: float) -> None:
    await conn.execute(_REGISTER, owner, socket.gethostname(), os.getpid(), lease_seconds)


async def claim(
    conn: asyncpg.Connection, owner: str, lease_seconds: float, limit: int
) -> dict[str, int]:
    """Claim runs for `owner`; uid -> new fencing token."""
    async with conn.transaction():
        await conn.execute(_SEED)
    async with conn.transaction():
        rows = await conn.fetch(_CLAIM, owner, lease_seconds, limit)
    return {r[0]: int(r[1]) for r in rows}


async def renew(
    conn: asyncpg.Connection, owner: str, lease_seconds: float, tokens: dict[str, int]
) -> set[str]:
    """Extend the leases still held with the same token; the uids renewed."""
    async with conn.transaction():
        await conn.execute(_HEARTBEAT, owner)
        rows = await conn.fetch(
            _RENEW, owner, lease_seconds, list(tokens), list(tokens.values())
        )
    return {r[0] for r in rows if tokens.get(r[0]) == int(r[1])}


async def release(conn: asyncpg.Connection, owner: str, uid: str, token: int) -> None:
    await conn.execute(_RELEASE, uid, owner, token)


async def unregister(conn: asyncpg.Connection, owner: str) -> None:
    await conn.execute("DELETE FROM exitflow.controllers WHERE id = $1", owner)
    await conn.execute(
        "UPDATE exitflow.leases SET owner = NULL, expires_at = 0 WHERE owner = $1", owner
    )


def fenced_uids(
    rows: list[asyncpg.Record], owner: str | None, tokens: dict[str, int], uids: set[str]
) -> set[str]:
    """The uids among `uids` this controller may NOT append to (FENCE_READ rows)."""
    held = {r[0] for r in rows if r[1] == owner and r[3] and tokens.get(r[0]) == int(r[2])}
    return uids - held


async def controllers(conn: asyncpg.Connection) -> list[tuple[str, str, int, float, list[str]]]:
    """(id, host, pid, last heartbeat, owned uids) of every registered controller."""
    rows = await conn.fetch(
        "SELECT c.id, c.host, c.pid, c.heartbeat,"
        f" array_remove(array_agg(l.uid ORDER BY l.uid), NULL)"
        f" FROM exitflow.controllers c LEFT JOIN exitflow.leases l ON l.owner = c.id"
        f" AND l.expires_at >= {NOW} GROUP BY c.id ORDER BY c.started_at"
    )
    return [(r[0], r[1], int(r[2]), float(r[3]), list(r[4])) for r in rows]
