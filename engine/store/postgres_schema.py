"""The PostgreSQL event store's schema: tables, migrations under an advisory lock, connecting,
and error translation (asyncpg's exceptions never leave `engine/store`).

Everything lives in the PostgreSQL schema `exitflow`, so the database may hold other things; a
database whose `exitflow` schema was not made by us is refused, never modified.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from ..errors import ConflictError, CorruptLogError, StoreError, StoreUnavailableError
from .codec import GENESIS_HASH

#: The schema version this code writes; newer databases are refused.
PG_SCHEMA_VERSION: Final = 2
#: Our mark in `exitflow.meta` (a database whose `exitflow` schema lacks it is not ours).
APPLICATION: Final = "exitflow-event-log"
#: `pg_advisory_xact_lock` key that serialises migrations across controllers ("EXFW").
MIGRATION_LOCK: Final = 0x45584657
#: `pg_try_advisory_lock` key held by the single controller of a database.
CONTROLLER_LOCK: Final = 0x45584658
CONNECT_TIMEOUT_S: Final = 10.0

_MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    1: (
        "CREATE SCHEMA IF NOT EXISTS exitflow",
        """CREATE TABLE exitflow.meta(
            id INTEGER PRIMARY KEY CHECK (id = 1),
            application TEXT NOT NULL,
            version INTEGER NOT NULL
        )""",
        """CREATE TABLE exitflow.workflows(
            id BIGSERIAL PRIMARY KEY,
            uid TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL UNIQUE,
            created_at DOUBLE PRECISION NOT NULL,
            phase TEXT NOT NULL,
            finished BOOLEAN NOT NULL DEFAULT FALSE,
            last_seq BIGINT NOT NULL,
            executor TEXT NOT NULL,
            head_hash TEXT NOT NULL
        )""",
        "CREATE INDEX workflows_unfinished ON exitflow.workflows(finished) WHERE NOT finished",
        """CREATE TABLE exitflow.events(
            gseq BIGINT PRIMARY KEY,
            wf BIGINT NOT NULL,
            seq BIGINT NOT NULL,
            type TEXT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            payload BYTEA NOT NULL,
            hash TEXT NOT NULL,
            ghash TEXT
        )""",
        # The concurrency control: a second writer of (workflow, seq) gets a unique violation.
        "CREATE UNIQUE INDEX events_wf_seq ON exitflow.events(wf, seq)",
        """CREATE TABLE exitflow.logs(
            id BIGSERIAL PRIMARY KEY,
            wf BIGINT NOT NULL,
            node_id TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            stream TEXT NOT NULL,
            data BYTEA NOT NULL
        )""",
        "CREATE INDEX logs_wf_node ON exitflow.logs(wf, node_id)",
        """CREATE TABLE exitflow.commands(
            id BIGSERIAL PRIMARY KEY,
            uid TEXT NOT NULL,
            command TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            taken_by_generation BIGINT
        )""",
        "CREATE INDEX commands_pending ON exitflow.commands(id) WHERE taken_by_generation IS NULL",
        """CREATE TABLE exitflow.controller(
            id INTEGER PRIMARY KEY CHECK (id = 1),
            generation BIGINT NOT NULL,
            holder TEXT,
            acquired_at DOUBLE PRECISION
        )""",
        "INSERT INTO exitflow.controller(id, generation) VALUES (1, 0)",
        """CREATE TABLE exitflow.global_chain(
            id INTEGER PRIMARY KEY CHECK (id = 1),
            last_gseq BIGINT NOT NULL,
            head TEXT NOT NULL
        )""",
        f"INSERT INTO exitflow.global_chain(id, last_gseq, head) VALUES (1, 0, '{GENESIS_HASH}')",
        """CREATE TABLE exitflow.checkpoints(
            id BIGSERIAL PRIMARY KEY,
            created_at DOUBLE PRECISION NOT NULL,
            body TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )""",
    ),
    # Many controllers (docs/scale-out.md): live controllers and the lease of each run.
    2: (
        """CREATE TABLE exitflow.controllers(
            id TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            started_at DOUBLE PRECISION NOT NULL,
            heartbeat DOUBLE PRECISION NOT NULL,
            lease_seconds DOUBLE PRECISION NOT NULL
        )""",
        """CREATE TABLE exitflow.leases(
            uid TEXT PRIMARY KEY,
            owner TEXT,
            token BIGINT NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL
        )""",
    ),
}

_TABLES: Final = frozenset(
    {"meta", "workflows", "events", "logs", "commands", "controller", "global_chain",
     "checkpoints"}
)


def redact(url: str) -> str:
    """The URL without its password (what every message names)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable database URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[2]}"))


def _unavailable(url: str, why: str) -> StoreUnavailableError:
    return StoreUnavailableError(f"{redact(url)}: {why}")


def translate_error(url: str, e: BaseException) -> StoreError:
    """An asyncpg / socket error as one of ours (the caller keeps the original as __cause__)."""
    if isinstance(e, asyncpg.UniqueViolationError):
        return ConflictError(f"{redact(url)}: {e}")
    if isinstance(
        e,
        (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError),
    ):
        return _unavailable(url, f"authentication failed ({e})")
    if isinstance(e, asyncpg.InvalidCatalogNameError):
        return _unavailable(url, f"no such database ({e})")
    if isinstance(e, asyncpg.InsufficientPrivilegeError):
        return _unavailable(url, f"permission denied ({e})")
    if isinstance(e, (OSError, socket.gaierror, TimeoutError, asyncpg.CannotConnectNowError)):
        reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
        return _unavailable(url, f"cannot reach the database server ({reason})")
    if isinstance(e, (asyncpg.InterfaceError, asyncpg.PostgresConnectionError)):
        return _unavailable(url, f"connection failed ({e})")
    return StoreError(f"{redact(url)}: {e}")


#: What `translated` catches: every error the driver or the network may raise.
DRIVER_ERRORS: Final = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


@contextlib.contextmanager
def translated(url: str) -> Iterator[None]:
    try:
        yield
    except DRIVER_ERRORS as e:
        raise translate_error(url, e) from e


def check_url(url: str) -> None:
    """Refuse a URL asyncpg would misread (a typo): StoreUnavailableError naming it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise _unavailable(url, f"malformed database URL ({e})") from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise _unavailable(url, "the URL scheme must be postgresql://")
    if not parts.path.strip("/") or "/" in parts.path.strip("/"):
        raise _unavailable(url, "the URL must name one database: postgresql://user@host:port/db")
    del port


async def connect(url: str) -> asyncpg.Connection:
    check_url(url)
    try:
        conn: asyncpg.Connection = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_S)
    except (*DRIVER_ERRORS, ValueError) as e:
        if isinstance(e, ValueError):
            raise _unavailable(url, f"malformed database URL ({e})") from e
        raise translate_error(url, e) from e
    return conn


async def inspect(conn: asyncpg.Connection, url: str) -> int:
    """The schema version of the database: 0 if it has no `exitflow` schema. Reads only;
    CorruptLogError for a schema that is not ours or is newer."""
    tables = {
        str(r[0])
        for r in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'exitflow'"
        )
    }
    schema = await conn.fetchval(
        "SELECT 1 FROM information_schema.schemata WHERE schema_name = 'exitflow'"
    )
    if schema is None:
        return 0
    if "meta" not in tables:
        if not tables:
            return 0
        raise CorruptLogError(
            f"{redact(url)} is not an Exitflow event log (its exitflow schema has other"
            " tables); it was left unchanged"
        )
    row = await conn.fetchrow("SELECT application, version FROM exitflow.meta WHERE id = 1")
    if row is None or row["application"] != APPLICATION:
        raise CorruptLogError(
            f"{redact(url)} is not an Exitflow event log (exitflow.meta is not ours);"
            " it was left unchanged"
        )
    version = int(row["version"])
    if version > PG_SCHEMA_VERSION:
        raise CorruptLogError(
            f"{redact(url)}: event log schema version {version} is newer than this Exitflow"
            f" supports ({PG_SCHEMA_VERSION}); upgrade Exitflow"
        )
    missing = _TABLES - tables
    if missing:
        raise CorruptLogError(
            f"{redact(url)}: damaged event log (missing {', '.join(sorted(missing))})"
        )
    return version


async def migrate(conn: asyncpg.Connection, url: str) -> None:
    """Bring the database to PG_SCHEMA_VERSION. Several controllers starting at once take the
    migration advisory lock in turn; each re-reads the version under it, so every migration is
    applied exactly once."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        version = await inspect(conn, url)
        if version >= PG_SCHEMA_VERSION:
            return
        for target in range(version + 1, PG_SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[target]:
                await conn.execute(statement)
        await conn.execute(
            "INSERT INTO exitflow.meta(id, application, version) VALUES (1, $1, $2)"
            " ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version",
            APPLICATION,
            PG_SCHEMA_VERSION,
        )


def with_database(url: str, name: str) -> str:
    """`url` naming another database on the same server."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


async def create_database(url: str, name: str) -> str:
    """Create an empty database `name` on `url`'s server (needs CREATEDB); its URL."""
    if not name.replace("_", "").isalnum():
        raise StoreError(f"{name!r}: not a plain database name")
    conn = await connect(url)
    try:
        with translated(url):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        with contextlib.suppress(*DRIVER_ERRORS):
            await conn.close()
    return with_database(url, name)


async def drop_database(url: str) -> None:
    """Drop the database `url` names (connecting to the server's `postgres` database)."""
    name = urlsplit(url).path.strip("/")
    if not name.replace("_", "").isalnum():
        raise StoreError(f"{name!r}: not a plain database name")
    conn = await connect(with_database(url, "postgres"))
    try:
        with translated(url):
            # Without FORCE first: our sessions are closed, and FORCE would also need the right
            # to end sessions of other roles (an autovacuum worker, for one).
            for _ in range(50):
                try:
                    await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                    return
                except asyncpg.ObjectInUseError:
                    await asyncio.sleep(0.1)
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        with contextlib.suppress(*DRIVER_ERRORS):
            await conn.close()
