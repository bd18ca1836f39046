"""The SQLite event store's schema: tables, migrations, file checks, error translation.

Shared by the writer (`sqlite_writer`), the reader (`sqlite_reader`) and the store
(`sqlite`); together they are the only SQL on SQLite in Exitflow.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import time
from collections.abc import Iterator, Sequence
from typing import Any, Final

import aiosqlite
import anyio

from ..errors import ConflictError, CorruptLogError, StoreError
from .codec import GENESIS_RAW

#: The schema version this code writes; newer files are refused.
SCHEMA_VERSION: Final = 2
#: `PRAGMA application_id` of our files ("EXFW").
APPLICATION_ID: Final = 0x45584657

_SQLITE_HEADER: Final = b"SQLite format 3\x00"
_BUSY_TIMEOUT_MS: Final = 10_000
_WAL_AUTOCHECKPOINT: Final = 10_000
_LOCK_POLL_S: Final = 0.2
_CLOSE_FLUSH_S: Final = 60.0
_CATCH_UP_S: Final = 0.005
_MAX_SEQ: Final = 2**62

# sqlite3 primary result codes that mean "this file is damaged or not a database".
_SQLITE_CORRUPT: Final = 11
_SQLITE_NOTADB: Final = 26
_SQLITE_BUSY: Final = 5

#: Schema migrations: version -> statements that bring version-1 to version.
_MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    1: (
        """CREATE TABLE workflows(
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL,
            phase TEXT NOT NULL,
            finished INTEGER NOT NULL DEFAULT 0,
            last_seq INTEGER NOT NULL,
            executor TEXT NOT NULL,
            head_hash TEXT NOT NULL
        )""",
        "CREATE INDEX workflows_unfinished ON workflows(finished) WHERE finished = 0",
        """CREATE TABLE events(
            gseq INTEGER PRIMARY KEY,
            wf INTEGER NOT NULL REFERENCES workflows(id),
            seq INTEGER NOT NULL,
            type TEXT NOT NULL,
            ts REAL NOT NULL,
            payload BLOB NOT NULL,
            hash TEXT NOT NULL
        )""",
        "CREATE UNIQUE INDEX events_wf_seq ON events(wf, seq)",
        """CREATE TABLE logs(
            id INTEGER PRIMARY KEY,
            wf INTEGER NOT NULL REFERENCES workflows(id),
            node_id TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            stream TEXT NOT NULL,
            data BLOB NOT NULL
        )""",
        "CREATE INDEX logs_wf_node ON logs(wf, node_id)",
        """CREATE TABLE commands(
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL,
            command TEXT NOT NULL,
            created_at REAL NOT NULL,
            taken_by_generation INTEGER
        )""",
        "CREATE INDEX commands_pending ON commands(id) WHERE taken_by_generation IS NULL",
        """CREATE TABLE controller(
            id INTEGER PRIMARY KEY CHECK (id = 1),
            generation INTEGER NOT NULL,
            holder TEXT,
            acquired_at REAL
        )""",
        "INSERT INTO controller(id, generation) VALUES (1, 0)",
    ),
    # Version 2: the global chain (every event, in gseq order) and prune checkpoints. The
    # backfill of `ghash` for version-1 events is `_backfill_global_chain` (Python, same
    # transaction).
    2: (
        "ALTER TABLE events ADD COLUMN ghash TEXT",
        """CREATE TABLE global_chain(
            id INTEGER PRIMARY KEY CHECK (id = 1),
            last_gseq INTEGER NOT NULL,
            head TEXT NOT NULL
        )""",
        """CREATE TABLE checkpoints(
            id INTEGER PRIMARY KEY,
            created_at REAL NOT NULL,
            body TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )""",
    ),
}
#: Tables every file of a given schema version has (a file missing one is damaged).
_TABLES: Final = frozenset(
    {"schema_version", "workflows", "events", "logs", "commands", "controller"}
)
_TABLES_V2: Final = frozenset({"global_chain", "checkpoints"})

_INSERT_WORKFLOW: Final = (
    "INSERT INTO workflows(id, uid, name, created_at, phase, finished, last_seq, executor,"
    " head_hash) VALUES (?, ?, ?, ?, ?, 0, 1, ?, ?)"
)
_INSERT_EVENT: Final = (
    "INSERT INTO events(gseq, wf, seq, type, ts, payload, hash, ghash)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
#: The global chain's position: the next gseq is above both the head and any stray row.
_GLOBAL_HEAD: Final = (
    "SELECT MAX(last_gseq, (SELECT COALESCE(MAX(gseq), 0) FROM events)), head"
    " FROM global_chain WHERE id = 1"
)
_UPDATE_GLOBAL: Final = "UPDATE global_chain SET last_gseq = ?, head = ? WHERE id = 1"
_INSERT_LOG: Final = "INSERT INTO logs(wf, node_id, attempt, stream, data) VALUES (?, ?, ?, ?, ?)"
_UPDATE_HEAD: Final = (
    "UPDATE workflows SET last_seq = ?, head_hash = ?, phase = COALESCE(?, phase),"
    " finished = MAX(finished, ?) WHERE id = ? AND last_seq = ?"
)
#: The same for appends that change neither phase nor finished (most of them): not naming the
#: indexed `finished` column spares SQLite the index maintenance (~30% of the update's cost).
_UPDATE_HEAD_ONLY: Final = (
    "UPDATE workflows SET last_seq = ?, head_hash = ? WHERE id = ? AND last_seq = ?"
)
_WORKFLOW_COLUMNS: Final = "uid, name, created_at, phase, finished, last_seq, executor"

# --- error translation -------------------------------------------------------------------------


def _primary_code(e: sqlite3.Error) -> int | None:
    code = getattr(e, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _translate_error(path: str, e: sqlite3.Error) -> StoreError:
    if isinstance(e, sqlite3.IntegrityError):
        return ConflictError(f"{path}: {e}")
    if _primary_code(e) in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return CorruptLogError(f"{path}: damaged or not an Exitflow event log ({e})")
    return StoreError(f"{path}: {e}")


@contextlib.contextmanager
def _translated(path: str) -> Iterator[None]:
    """Map sqlite3/aiosqlite errors to engine.errors at the edge (the original as __cause__)."""
    try:
        yield
    except sqlite3.Error as e:
        raise _translate_error(path, e) from e


def _not_ours(path: str, why: str) -> CorruptLogError:
    return CorruptLogError(f"{path} is not an Exitflow event log ({why}); it was left unchanged")


def _check_header(path: str) -> bool:
    """True if a non-empty file exists at path; CorruptLogError if it is not SQLite at all."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        return False
    except IsADirectoryError as e:
        raise StoreError(f"{path} is a directory, not an event log") from e
    except OSError as e:
        raise StoreError(f"{path}: {e.strerror or e}") from e
    if not head:
        return False
    if head != _SQLITE_HEADER:
        raise _not_ours(path, "not a SQLite database")
    return True


async def _inspect(conn: aiosqlite.Connection, path: str) -> int:
    """The schema version of the open file: 0 if it has no tables at all.

    Reads only; raises CorruptLogError for a foreign or newer file.
    """
    rows = await conn.execute_fetchall(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view', 'index', 'trigger')"
    )
    names = {str(r[0]) for r in rows}
    if not names:
        return 0
    if "schema_version" not in names:
        raise _not_ours(path, "a SQLite database with other tables")
    app_rows = list(await conn.execute_fetchall("PRAGMA application_id"))
    if not app_rows or app_rows[0][0] != APPLICATION_ID:
        raise _not_ours(path, "a SQLite database with another application id")
    try:
        versions = list(await conn.execute_fetchall("SELECT version FROM schema_version"))
    except sqlite3.OperationalError as e:
        raise _not_ours(path, "its schema_version table is not ours") from e
    if len(versions) != 1 or not isinstance(versions[0][0], int):
        raise CorruptLogError(f"{path}: damaged event log (bad schema_version table)")
    version: int = versions[0][0]
    if version > SCHEMA_VERSION:
        raise CorruptLogError(
            f"{path}: event log schema version {version} is newer than this Exitflow"
            f" supports ({SCHEMA_VERSION}); upgrade Exitflow"
        )
    missing = (_TABLES | (_TABLES_V2 if version >= 2 else frozenset())) - names
    if missing:
        raise CorruptLogError(f"{path}: damaged event log (missing {', '.join(sorted(missing))})")
    return version


async def _set_wal(conn: aiosqlite.Connection) -> None:
    """Switch to WAL (stored in the file); retried while another process holds a lock."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            rows = list(await conn.execute_fetchall("PRAGMA journal_mode=WAL"))
        except sqlite3.OperationalError as e:
            if _primary_code(e) != _SQLITE_BUSY or time.monotonic() > deadline:
                raise
            await anyio.sleep(0.01)
            continue
        if rows and str(rows[0][0]).lower() == "wal":
            return
        raise StoreError(
            f"cannot switch to WAL mode (journal_mode is {rows[0][0] if rows else '?'})"
        )


async def _migrate(conn: aiosqlite.Connection, path: str) -> None:
    """Bring the file to SCHEMA_VERSION. The version is re-read inside BEGIN IMMEDIATE, so two
    processes opening a fresh file at once apply each migration exactly once."""
    await conn.execute("BEGIN IMMEDIATE")
    try:
        version = await _inspect(conn, path)
        if version < SCHEMA_VERSION:
            if version == 0:
                await conn.execute("CREATE TABLE schema_version(version INTEGER NOT NULL)")
                await conn.execute("INSERT INTO schema_version(version) VALUES (0)")
                await conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[target]:
                    await conn.execute(statement)
                if target == 2:
                    await _backfill_global_chain(conn)
            await conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
        await conn.execute("COMMIT")
    except BaseException:
        with anyio.CancelScope(shield=True), contextlib.suppress(sqlite3.Error):
            await conn.execute("ROLLBACK")
        raise


async def _backfill_global_chain(conn: aiosqlite.Connection) -> None:
    """Migration 2: chain every existing event in gseq order and record the global head."""
    prev = GENESIS_RAW
    last = 0
    updates: list[tuple[str, int]] = []
    async with conn.execute("SELECT gseq, hash FROM events ORDER BY gseq") as cursor:
        async for gseq, hash_ in cursor:
            prev = hashlib.sha256(prev + bytes.fromhex(hash_)).digest()
            updates.append((prev.hex(), gseq))
            last = gseq
    if updates:
        await conn.executemany("UPDATE events SET ghash = ? WHERE gseq = ?", updates)
    await conn.execute(
        "INSERT INTO global_chain(id, last_gseq, head) VALUES (1, ?, ?)", (last, prev.hex())
    )


def _insert_events(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert (wf, seq, type, ts, payload, hash) rows at the end of the global chain (import;
    the writer's batches chain in `_write_rows`)."""
    gseq, head = conn.execute(_GLOBAL_HEAD).fetchone()
    gseq = int(gseq)
    prev = bytes.fromhex(head)
    sha256 = hashlib.sha256
    out = []
    for row in rows:
        gseq += 1
        prev = sha256(prev + bytes.fromhex(row[5])).digest()
        out.append((gseq, *row, prev.hex()))
    conn.executemany(_INSERT_EVENT, out)
    conn.execute(_UPDATE_GLOBAL, (gseq, prev.hex()))


def _connect_writer(path: str) -> sqlite3.Connection:
    """The writer's own connection (used only by the writer thread once that starts)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA wal_autocheckpoint={_WAL_AUTOCHECKPOINT}")
        conn.execute("PRAGMA cache_size=-16000")
    except BaseException:
        conn.close()
        raise
    return conn
