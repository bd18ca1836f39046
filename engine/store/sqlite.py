"""The SQLite event store: the only module in Exitflow that knows SQL.

Design (see ../shared/notes/event-store.md for the measurements behind it):

- One *writer thread* owns the write connection (plain `sqlite3`). `append`, `create_workflow`,
  commands and the controller generation all go through its queue: it drains every pending
  request, writes them in ONE `BEGIN IMMEDIATE` transaction (fencing check, `executemany`),
  commits (WAL, `synchronous=FULL`), then resolves every caller's future with one hop back to
  the event loop. An `append` returns only when its events are durable. The whole transaction is
  one synchronous function on that thread: no event-loop round trip per statement, and requests
  queue up while a commit is in progress (measured in docs/performance.md: the per-statement
  aiosqlite round trips cost ~25% of the raw sqlite3 group-commit rate).
- Readers use a second connection through aiosqlite (WAL readers never block the writer).
- Events reference `workflows.id` (an INTEGER), not the uid text, and live in a rowid table with a
  global `gseq` (commit order) plus a unique `(wf, seq)` index. Measured on interleaved appends
  across 1,000 workflows: ~4.5x the write rate of a `WITHOUT ROWID` table keyed `(wf, seq)`,
  whose random-position inserts dirty a full-row leaf per event; single-workflow reads stay
  ~450k events/s. The unique index is what turns a duplicate `(wf, seq)` into a ConflictError.
- Each event's hash chains the previous one (`chain_hash`); each workflow's head hash and last seq
  are kept in `workflows` (same transaction) and cached by the writer.
- Fencing: a controller holds an exclusive `flock` on `<db>.lock` and a generation number in the
  `controller` row; every fenced transaction re-reads the generation and refuses to write if it
  changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import operator
import os
import socket
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, Final

import aiosqlite
import anyio
import msgspec

from ..errors import (
    ConflictError,
    ControllerBusyError,
    CorruptLogError,
    ExitflowError,
    FencedError,
    InputError,
    ReadOnlyStoreError,
    StoreError,
    WorkflowNotFoundError,
)
from ..events import (
    EXIT_PHASE,
    PENDING,
    RUNNING,
    AnyEvent,
    Event,
    WorkflowCompleted,
    WorkflowExiting,
    WorkflowStarted,
    WorkflowSubmitted,
    decode,
    decode_fast,
    encode,
    event_type,
)
from .base import (
    GENESIS_HASH,
    ChainHead,
    ChainLink,
    Checkpoint,
    CrashPoint,
    GlobalEvent,
    LogRecord,
    RawEvent,
    RecordedEvent,
    WorkflowRecord,
)
from .files import PRIVATE_MODE, create_private, read_only_uri, writable

__all__ = ["CRASH_ENV", "SCHEMA_VERSION", "SqliteStore", "crash_point_from_env"]

log = logging.getLogger(__name__)

#: Environment variable read by `crash_point_from_env` (`N[:before|after]`).
CRASH_ENV: Final = "EXITFLOW_CRASH_AT"
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
_GENESIS_RAW: Final = bytes.fromhex(GENESIS_HASH)
_CRASH_EXIT_CODE: Final = 137

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


def crash_point_from_env() -> CrashPoint | None:
    """The crash point in `EXITFLOW_CRASH_AT` (`N[:before|after]`), or None when unset/empty."""
    text = os.environ.get(CRASH_ENV, "").strip()
    if not text:
        return None
    try:
        return CrashPoint.parse(text)
    except ValueError as e:
        raise InputError(str(e)) from e


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
    prev = _GENESIS_RAW
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


# --- the writer's requests -----------------------------------------------------------------------


class _Head:
    """A workflow's chain head as the writer knows it."""

    __slots__ = ("db_last_seq", "finished", "last_seq", "phase", "raw", "wf")

    def __init__(self, wf: int, last_seq: int, raw: bytes) -> None:
        self.wf = wf
        self.last_seq = last_seq
        self.db_last_seq = last_seq
        self.raw = raw
        self.phase: str | None = None
        self.finished = 0

    def fork(self) -> _Head:
        head = _Head(self.wf, self.last_seq, self.raw)
        head.db_last_seq = self.db_last_seq
        return head


class _Request:
    __slots__ = ("future",)
    fenced = False

    def __init__(self) -> None:
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()


class _Append(_Request):
    __slots__ = ("finished", "first_seq", "logs", "phase", "rows", "uid")
    fenced = True

    def __init__(
        self,
        uid: str,
        first_seq: int,
        rows: list[tuple[str, float, bytes]],
        phase: str | None,
        finished: int,
        logs: Sequence[LogRecord],
    ) -> None:
        super().__init__()
        self.uid = uid
        self.first_seq = first_seq
        self.rows = rows
        self.phase = phase
        self.finished = finished
        self.logs = logs


class _Create(_Request):
    __slots__ = ("payload", "submitted")

    def __init__(self, submitted: WorkflowSubmitted, payload: bytes) -> None:
        super().__init__()
        self.submitted = submitted
        self.payload = payload


class _AddCommand(_Request):
    __slots__ = ("command", "created_at", "uid")

    def __init__(self, uid: str, command: str) -> None:
        super().__init__()
        self.uid = uid
        self.command = command
        self.created_at = time.time()


class _TakeCommands(_Request):
    __slots__ = ()
    fenced = True


class _Acquire(_Request):
    __slots__ = ("holder",)

    def __init__(self, holder: str) -> None:
        super().__init__()
        self.holder = holder


class _Exclusive(_Request):
    """Run `fn(conn)` (on the writer thread) alone inside one write transaction (prune,
    import). Not fenced."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[sqlite3.Connection], Any]) -> None:
        super().__init__()
        self.fn = fn


class _Retry(Exception):
    """The batch hit a unique key or a stale cached head: redo its requests one by one."""


def _projection(events: Sequence[Event]) -> tuple[str | None, int]:
    """The (phase, finished) the workflows row takes after these events (None: unchanged)."""
    phase: str | None = None
    finished = 0
    for ev in events:
        cls = type(ev)  # event classes are final: exact types, cheaper than isinstance
        if cls is WorkflowStarted:
            phase = RUNNING
        elif cls is WorkflowExiting:
            phase = EXIT_PHASE
        elif cls is WorkflowCompleted:
            assert isinstance(ev, WorkflowCompleted)
            phase = ev.phase
            finished = 1
    return phase, finished


#: Event class -> stored tag (`event_type`), filled on first use.
_TAGS: dict[type, str] = {}


def _rows(events: Sequence[Event]) -> list[tuple[str, float, bytes]]:
    """(type, ts, canonical bytes) of each event."""
    tags = _TAGS
    rows = []
    for ev in events:
        tag = tags.get(type(ev))
        if tag is None:
            tag = tags[type(ev)] = event_type(ev)
        rows.append((tag, ev.ts, encode(ev)))
    return rows


def _resolve(future: asyncio.Future[Any], outcome: object) -> None:
    if future.done():  # the caller was cancelled; the outcome stands regardless
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


_SECOND: Final = operator.itemgetter(1)


def _ignore_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: no "exception was never retrieved" warning


def _resolve_all(outcomes: list[tuple[_Request, object]]) -> None:
    for request, outcome in outcomes:
        _resolve(request.future, outcome)


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


# --- the store ---------------------------------------------------------------------------------


class SqliteStore:
    """An `EventStore` in one SQLite file. Open with `await SqliteStore.open(path)`; close with
    `aclose()` or use `async with`."""

    def __init__(
        self,
        path: str,
        reader: aiosqlite.Connection,
        writer: sqlite3.Connection | None,
        crash_at: CrashPoint | None,
    ) -> None:
        # Use `open()`; this only wires up already-open connections.
        self.path = path
        self._reader = reader
        self._writer = writer
        self._crash_at = crash_at
        # The writer thread's queue (guarded by _lock) and its wake-up.
        self._queue: list[_Request] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        #: Set once the event loop has run the tasks woken by the last transaction's results.
        self._caught_up = threading.Event()
        self._caught_up.set()
        self._stopping = False
        self._closed = False
        self._broken: BaseException | None = None
        self._writer_thread: threading.Thread | None = None
        self._writer_done: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Owned by the writer thread once it runs:
        self._heads: dict[str, _Head] = {}
        self._appended = 0  # events committed by this object (crash injection counts these)
        self._generation: int | None = None
        self._lock_fd: int | None = None
        self._uids: dict[int, str] = {}  # workflows.id -> uid, for bulk reads

    # -- lifecycle --------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        crash_at: CrashPoint | None = None,
        read_only: bool = False,
    ) -> SqliteStore:
        """Open (creating or migrating if needed) the event log at `path`.

        CorruptLogError for a file that is not ours (never modified) or has a newer schema.
        """
        p = os.fspath(path)
        exists = _check_header(p)
        if read_only:
            if not exists:
                raise StoreError(f"{p}: no event log there")
            reader = await cls._connect(p, read_only=True)
            try:
                with _translated(p):
                    version = await _inspect(reader, p)
                if version == 0:
                    raise _not_ours(p, "an empty SQLite database")
                if version < SCHEMA_VERSION:
                    raise ReadOnlyStoreError(
                        f"{p}: schema version {version} needs a migration; open it read-write once"
                    )
            except BaseException:
                await cls._close_quietly(reader)
                raise
            return cls(p, reader, None, crash_at)

        if exists and not writable(p):
            raise ReadOnlyStoreError(
                f"{p} is read-only here and this command writes (list, get, logs, history,"
                " replay, verify and export can read it)"
            )
        if not exists:
            create_private(p)
        # The reader connection inspects, switches to WAL and migrates (before anything could
        # write), then becomes read-only; the writer thread gets its own sqlite3 connection.
        rconn = await cls._connect(p, read_only=False)
        writer: sqlite3.Connection | None = None
        try:
            with _translated(p):
                version = await _inspect(rconn, p)
                await _set_wal(rconn)
                if version < SCHEMA_VERSION:
                    await rconn.execute("PRAGMA synchronous=FULL")
                    await _migrate(rconn, p)
                await rconn.execute("PRAGMA query_only=ON")
                writer = await anyio.to_thread.run_sync(_connect_writer, p)
        except BaseException:
            await cls._close_quietly(rconn)
            raise
        store = cls(p, rconn, writer, crash_at)
        store._start_writer()
        return store

    def _start_writer(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._writer_done = loop.create_future()
        self._writer_thread = threading.Thread(
            target=self._writer_main, name=f"exitflow-store-writer:{self.path}", daemon=True
        )
        self._writer_thread.start()

    @staticmethod
    async def _connect(path: str, *, read_only: bool) -> aiosqlite.Connection:
        try:
            if read_only:
                conn = await aiosqlite.connect(read_only_uri(path), uri=True,
                                               isolation_level=None)
            else:
                conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as e:
            raise _translate_error(path, e) from e
        try:
            await conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        except sqlite3.Error as e:
            await SqliteStore._close_quietly(conn)
            raise _translate_error(path, e) from e
        return conn

    @staticmethod
    async def _close_quietly(conn: aiosqlite.Connection) -> None:
        with anyio.CancelScope(shield=True):
            try:
                await conn.close()
            except Exception:  # closing must not mask the error being raised
                log.exception("closing an SQLite connection failed")

    async def __aenter__(self) -> SqliteStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Flush pending appends, stop the writer, close both connections, release the lock."""
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            done = self._writer_done
            stopped = True
            if done is not None:
                with self._lock:
                    self._stopping = True
                    self._wake.set()
                with anyio.move_on_after(_CLOSE_FLUSH_S):
                    await asyncio.wait([done])
                stopped = done.done()
                if not stopped:
                    log.error("the store writer did not finish within %ss", _CLOSE_FLUSH_S)
                elif self._broken is not None:
                    log.error("the store writer failed", exc_info=self._broken)
                self._fail_pending(StoreError(f"{self.path}: store closed"))
            if self._writer is not None and stopped:
                try:
                    self._writer.close()
                except sqlite3.Error:  # closing must not mask the error being raised
                    log.exception("closing an SQLite connection failed")
            await self._close_quietly(self._reader)
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{self.path}: store is closed")

    # -- writing ----------------------------------------------------------------------------

    @property
    def generation(self) -> int | None:
        """Our controller generation, or None if this store is not a controller."""
        return self._generation

    async def _submit(self, request: _Request) -> Any:
        self._check_open()
        if self._writer is None:
            raise StoreError(f"{self.path} was opened read-only")
        with self._lock:
            if self._broken is not None:
                raise StoreError(f"{self.path}: the store writer failed") from self._broken
            if self._stopping:
                raise StoreError(f"{self.path}: store closed")
            self._queue.append(request)
            if not self._wake.is_set():  # set() takes the Event's own lock and notifies
                self._wake.set()
        return await request.future

    async def create_workflow(self, submitted: WorkflowSubmitted) -> None:
        """Record a new run and its first event (seq 1, phase Pending). Not fenced.

        ConflictError if the name or uid exists.
        """
        await self._submit(_Create(submitted, encode(submitted)))

    async def append(
        self,
        uid: str,
        first_seq: int,
        events: Sequence[Event],
        logs: Sequence[LogRecord] = (),
    ) -> None:
        """Append events seq first_seq.. (and logs) durably, in one transaction with whatever
        else is pending. ConflictError unless first_seq == last_seq + 1; FencedError unless
        this store holds the current controller generation."""
        self._check_open()
        if self._generation is None:
            raise FencedError(f"{self.path}: not the controller (acquire_controller first)")
        phase, finished = _projection(events)
        await self._submit(_Append(uid, first_seq, _rows(events), phase, finished, logs))

    async def add_command(self, uid: str, command: str) -> None:
        """Queue a command (e.g. "Stop") for the controller. WorkflowNotFoundError if no such
        uid. Not fenced: any client may add commands."""
        await self._submit(_AddCommand(uid, command))

    async def take_commands(self) -> list[tuple[int, str, str]]:
        """Pending commands as (id, uid, command), each returned once. Fenced."""
        self._check_open()
        if self._generation is None:
            raise FencedError(f"{self.path}: not the controller (acquire_controller first)")
        result: list[tuple[int, str, str]] = await self._submit(_TakeCommands())
        return result

    async def acquire_controller(self, *, wait: bool = False, takeover: bool = False) -> int:
        """Become the only controller: take the flock on `<path>.lock`, then bump the generation.

        wait=False: ControllerBusyError if another process holds the lock; wait=True: poll until
        it is free. takeover=True skips the lock and just bumps the generation, which fences
        whoever held it before.
        """
        self._check_open()
        if self._writer is None:
            raise StoreError(f"{self.path} was opened read-only")
        took_lock = not takeover and self._lock_fd is None
        if took_lock:
            self._lock_fd = await self._take_lock(wait=wait)
        holder = f"{socket.gethostname()}:{os.getpid()}"
        try:
            generation: int = await self._submit(_Acquire(holder))
        except BaseException:
            if took_lock and self._lock_fd is not None and self._generation is None:
                os.close(self._lock_fd)
                self._lock_fd = None
            raise
        return generation

    async def force_takeover(self) -> int:
        """Bump the generation without the lock (fences the current controller)."""
        return await self.acquire_controller(takeover=True)

    async def _take_lock(self, *, wait: bool) -> int:
        lock_path = self.path + ".lock"
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_MODE)
        except OSError as e:
            raise StoreError(f"{lock_path}: {e.strerror or e}") from e
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not wait:
                        raise ControllerBusyError(
                            f"another controller (pid {self._lock_holder(fd)}) holds {self.path}"
                        ) from None
                    await anyio.sleep(_LOCK_POLL_S)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        return fd

    @staticmethod
    def _lock_holder(fd: int) -> str:
        try:
            text = os.pread(fd, 200, 0).decode(errors="replace").split()
        except OSError:
            return "?"
        return text[0] if text else "?"

    def _fail_pending(self, error: BaseException) -> None:
        with self._lock:
            pending, self._queue = self._queue, []
        for request in pending:
            _resolve(request.future, error)

    # -- the writer thread ----------------------------------------------------------------------

    def _post(self, outcomes: list[tuple[_Request, object]]) -> None:
        """Resolve callers' futures on the event loop (one hop for a whole transaction)."""
        if outcomes:
            assert self._loop is not None
            self._caught_up.clear()
            self._loop.call_soon_threadsafe(self._resolve_on_loop, outcomes)

    def _resolve_on_loop(self, outcomes: list[tuple[_Request, object]]) -> None:
        try:
            _resolve_all(outcomes)
        finally:
            # Runs after the steps of every task these results woke (FIFO): by then their next
            # appends are queued, and the writer takes them all in its next transaction.
            assert self._loop is not None
            self._loop.call_soon(self._caught_up.set)

    def _writer_main(self) -> None:
        loop = self._loop
        done = self._writer_done
        assert loop is not None and done is not None
        try:
            while True:
                self._wake.wait()
                # Let the event loop act on the last results first (bigger group commits); a
                # busy or stopped loop delays the next transaction by at most _CATCH_UP_S.
                self._caught_up.wait(_CATCH_UP_S)
                with self._lock:
                    batch, self._queue = self._queue, []
                    if not self._stopping:
                        self._wake.clear()
                    if not batch:
                        if self._stopping:
                            return
                        continue
                for group in self._split(batch):
                    self._write(group)
        except BaseException as e:
            with self._lock:
                self._broken = e
            error = StoreError(f"{self.path}: the store writer stopped")
            with contextlib.suppress(RuntimeError):  # the loop is closed already
                loop.call_soon_threadsafe(self._fail_pending, error)
        finally:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, done, None)

    @staticmethod
    def _split(batch: list[_Request]) -> Iterator[list[_Request]]:
        """Consecutive requests share a transaction; a generation change gets its own."""
        group: list[_Request] = []
        for request in batch:
            if isinstance(request, (_Acquire, _Exclusive)):
                if group:
                    yield group
                    group = []
                yield [request]
            else:
                group.append(request)
        if group:
            yield group

    def _write(self, group: list[_Request]) -> None:
        try:
            if len(group) == 1 and isinstance(group[0], _Exclusive):
                self._run_exclusive(group[0])
                return
            try:
                self._transaction(group)
                return
            except _Retry:
                self._heads.clear()
            # Isolate the request that hit the unique key; the others still commit.
            for request in group:
                try:
                    self._transaction([request])
                except _Retry as e:
                    self._heads.clear()
                    self._post([(request, self._conflict(request, e))])
        except sqlite3.Error as e:
            error = _translate_error(self.path, e)
            error.__cause__ = e
            self._post([(request, error) for request in group])
        except Exception as e:  # a bug: fail these callers, then stop the writer
            error = StoreError(f"{self.path}: the store writer failed: {e!r}")
            error.__cause__ = e
            self._post([(request, error) for request in group])
            raise

    def _run_exclusive(self, request: _Exclusive) -> None:
        conn = self._writer
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = request.fn(conn)
            conn.execute("COMMIT")
        except BaseException as e:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            self._heads.clear()
            if isinstance(e, ExitflowError):
                self._post([(request, e)])
                return
            raise
        self._heads.clear()
        self._post([(request, result)])

    def _conflict(self, request: _Request, e: _Retry) -> ConflictError:
        if isinstance(request, _Create):
            s = request.submitted
            error = ConflictError(f"a workflow named {s.name!r} or with uid {s.uid!r} exists")
        elif isinstance(request, _Append):
            error = ConflictError(f"workflow {request.uid}: seq {request.first_seq} is taken")
        else:
            error = ConflictError(f"{self.path}: conflicting write")
        error.__cause__ = e.__cause__ or e
        return error

    def _transaction(self, requests: list[_Request]) -> None:
        """Write requests in one transaction (on the writer thread), then resolve their
        futures. Crash injection (`os._exit`) happens right before or after the COMMIT of the
        transaction holding the N-th event this process appends, before any caller hears of it."""
        conn = self._writer
        assert conn is not None
        outcomes: list[tuple[_Request, object]] = []
        overlay: dict[str, _Head] = {}
        new_generation: int | None = None
        conn.execute("BEGIN IMMEDIATE")
        try:
            if any(r.fenced for r in requests):
                row = conn.execute("SELECT generation FROM controller WHERE id = 1").fetchone()
                current = row[0] if row else None
                if self._generation is None or current != self._generation:
                    fenced = FencedError(
                        f"{self.path}: controller generation {self._generation} was replaced by"
                        f" {current}; this controller may not append"
                    )
                    outcomes.extend((r, fenced) for r in requests if r.fenced)
                    requests = [r for r in requests if not r.fenced]
            n_events = self._write_rows(conn, requests, outcomes, overlay)
            for request in requests:
                if isinstance(request, _TakeCommands):
                    taken = conn.execute(
                        "UPDATE commands SET taken_by_generation = ?"
                        " WHERE taken_by_generation IS NULL RETURNING id, uid, command",
                        (self._generation,),
                    ).fetchall()
                    outcomes.append((request, sorted((r[0], r[1], r[2]) for r in taken)))
                elif isinstance(request, _Acquire):
                    gen_row = conn.execute(
                        "UPDATE controller SET generation = generation + 1, holder = ?,"
                        " acquired_at = ? WHERE id = 1 RETURNING generation",
                        (request.holder, time.time()),
                    ).fetchone()
                    new_generation = int(gen_row[0])
                    outcomes.append((request, new_generation))
            crash = self._crash_at
            crash_now = crash is not None and self._appended < crash.count <= (
                self._appended + n_events
            )
            if crash_now and crash is not None and crash.when == "before":
                os._exit(_CRASH_EXIT_CODE)
            conn.execute("COMMIT")
        except BaseException as e:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            if isinstance(e, sqlite3.IntegrityError):
                raise _Retry(str(e)) from e
            raise
        self._appended += n_events
        if crash_now:
            os._exit(_CRASH_EXIT_CODE)
        if new_generation is not None:
            self._generation = new_generation
            self._heads.clear()
        for uid, head in overlay.items():
            if head.finished:
                self._heads.pop(uid, None)  # finished runs take no more appends
            else:
                head.db_last_seq = head.last_seq
                head.phase = None
                self._heads[uid] = head
        self._post(outcomes)

    def _write_rows(
        self,
        conn: sqlite3.Connection,
        requests: list[_Request],
        outcomes: list[tuple[_Request, object]],
        overlay: dict[str, _Head],
    ) -> int:
        """Insert the rows of creates, appends and commands; returns the events written."""
        creates: list[_Create] = []
        appends: list[_Append] = []
        commands: list[_AddCommand] = []
        for r in requests:
            if type(r) is _Append:
                appends.append(r)
            elif isinstance(r, _Create):
                creates.append(r)
            elif isinstance(r, _AddCommand):
                commands.append(r)
        heads = self._heads
        workflow_rows: list[tuple[Any, ...]] = []
        event_rows: list[tuple[Any, ...]] = []
        log_rows: list[tuple[Any, ...]] = []
        n_events = 0
        sha256 = hashlib.sha256
        # Both chains in one pass: each row gets its run's hash and the global chain's.
        gseq, ghead = 0, b""
        if creates or appends:
            gseq, ghead_hex = conn.execute(_GLOBAL_HEAD).fetchone()
            gseq, ghead = int(gseq), bytes.fromhex(ghead_hex)
        gseq_before = gseq

        if creates:
            next_id = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM workflows").fetchone()[0])
            next_id += 1
            for create in creates:
                s = create.submitted
                if s.uid in overlay or s.uid in heads:
                    outcomes.append((create, ConflictError(f"workflow uid {s.uid!r} exists")))
                    continue
                digest = sha256(_GENESIS_RAW + create.payload)
                hex_hash = digest.hexdigest()
                workflow_rows.append((next_id, s.uid, s.name, s.ts, PENDING, s.executor, hex_hash))
                gseq += 1
                ghead = sha256(ghead + digest.digest()).digest()
                event_rows.append(
                    (gseq, next_id, 1, event_type(s), s.ts, create.payload, hex_hash, ghead.hex())
                )
                head = overlay[s.uid] = _Head(next_id, 1, digest.digest())
                head.db_last_seq = 1
                next_id += 1
                n_events += 1
                outcomes.append((create, None))

        update_rows: list[tuple[Any, ...]] = []
        head_rows: list[tuple[Any, ...]] = []
        if appends:
            missing = {a.uid for a in appends} - heads.keys() - overlay.keys()
            if missing:
                self._load_heads(conn, missing)
            updated: dict[str, _Head] = {}
            for append in appends:
                uid = append.uid
                found = overlay.get(uid)
                if found is None:
                    cached = heads.get(uid)
                    if cached is None:
                        outcomes.append((append, WorkflowNotFoundError(f"no workflow {uid!r}")))
                        continue
                    found = overlay[uid] = cached.fork()
                head = found
                if append.first_seq != head.last_seq + 1:
                    conflict = ConflictError(
                        f"workflow {uid}: append at seq {append.first_seq}, but its last seq"
                        f" is {head.last_seq}"
                    )
                    outcomes.append((append, conflict))
                    continue
                wf = head.wf
                prev = head.raw
                seq = append.first_seq
                for type_, ts, payload in append.rows:
                    prev = sha256(prev + payload).digest()
                    gseq += 1
                    ghead = sha256(ghead + prev).digest()
                    event_rows.append((gseq, wf, seq, type_, ts, payload, prev.hex(), ghead.hex()))
                    seq += 1
                head.raw = prev
                head.last_seq = seq - 1
                if append.phase is not None:
                    head.phase = append.phase
                head.finished |= append.finished
                for rec in append.logs:
                    log_rows.append((wf, rec.node_id, rec.attempt, rec.stream, rec.data))
                n_events += len(append.rows)
                updated[uid] = head
                outcomes.append((append, None))
            for h in updated.values():
                if h.phase is None and not h.finished:
                    head_rows.append((h.last_seq, h.raw.hex(), h.wf, h.db_last_seq))
                else:
                    update_rows.append(
                        (h.last_seq, h.raw.hex(), h.phase, h.finished, h.wf, h.db_last_seq)
                    )

        if workflow_rows:
            conn.executemany(_INSERT_WORKFLOW, workflow_rows)
        if event_rows:
            conn.executemany(_INSERT_EVENT, event_rows)
        if gseq != gseq_before:
            conn.execute(_UPDATE_GLOBAL, (gseq, ghead.hex()))
        if log_rows:
            conn.executemany(_INSERT_LOG, log_rows)
        for sql, params in ((_UPDATE_HEAD_ONLY, head_rows), (_UPDATE_HEAD, update_rows)):
            if params and conn.executemany(sql, params).rowcount != len(params):
                # Another writer moved a head we had cached: start over from the database.
                raise sqlite3.IntegrityError("a cached workflow head is stale")
        if commands:
            command_rows = []
            for command in commands:
                exists = (
                    command.uid in overlay
                    or command.uid in heads
                    or conn.execute(
                        "SELECT 1 FROM workflows WHERE uid = ?", (command.uid,)
                    ).fetchone()
                    is not None
                )
                if not exists:
                    outcomes.append(
                        (command, WorkflowNotFoundError(f"no workflow {command.uid!r}"))
                    )
                    continue
                command_rows.append((command.uid, command.command, command.created_at))
                outcomes.append((command, None))
            if command_rows:
                conn.executemany(
                    "INSERT INTO commands(uid, command, created_at) VALUES (?, ?, ?)",
                    command_rows,
                )
        return n_events

    def _load_heads(self, conn: sqlite3.Connection, uids: Iterable[str]) -> None:
        wanted = list(uids)
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT uid, id, last_seq, head_hash FROM workflows WHERE uid IN ({marks})",
                chunk,
            ).fetchall()
            for uid, wf, last_seq, head_hash in rows:
                self._heads[uid] = _Head(wf, last_seq, bytes.fromhex(head_hash))

    # -- reading ----------------------------------------------------------------------------

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        self._check_open()
        with _translated(self.path):
            return list(await self._reader.execute_fetchall(sql, params))

    def _decode(self, uid: str, seq: int, payload: bytes) -> AnyEvent:
        try:
            return decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            raise CorruptLogError(
                f"{self.path}: workflow {uid} seq {seq} does not decode: {e}"
            ) from e

    async def _require_workflow(self, uid: str) -> None:
        if not await self._fetch("SELECT 1 FROM workflows WHERE uid = ?", (uid,)):
            raise WorkflowNotFoundError(f"no workflow {uid!r}")

    async def read_raw(
        self, uid: str, *, after_seq: int = 0, upto_seq: int | None = None
    ) -> list[RawEvent]:
        """Stored events seq in (after_seq, upto_seq], undecoded, in seq order."""
        rows = await self._fetch(
            # CAST: a payload rewritten as TEXT must still come back as its bytes (verify).
            "SELECT seq, type, ts, CAST(payload AS BLOB), hash FROM events"
            " WHERE wf = (SELECT id FROM workflows WHERE uid = ?) AND seq > ? AND seq <= ?"
            " ORDER BY seq",
            (uid, after_seq, _MAX_SEQ if upto_seq is None else upto_seq),
        )
        if not rows:
            await self._require_workflow(uid)
        return [RawEvent(seq=r[0], type=r[1], ts=r[2], payload=r[3], hash=r[4]) for r in rows]

    async def read(
        self, uid: str, *, after_seq: int = 0, upto_seq: int | None = None
    ) -> list[RecordedEvent]:
        """Events seq in (after_seq, upto_seq], decoded, in seq order."""
        rows = await self._fetch(
            "SELECT seq, payload, hash FROM events"
            " WHERE wf = (SELECT id FROM workflows WHERE uid = ?) AND seq > ? AND seq <= ?"
            " ORDER BY seq",
            (uid, after_seq, _MAX_SEQ if upto_seq is None else upto_seq),
        )
        if not rows:
            await self._require_workflow(uid)
        return [
            RecordedEvent(seq=seq, event=self._decode(uid, seq, payload), hash=hash_)
            for seq, payload, hash_ in rows
        ]

    @staticmethod
    def _record(row: Sequence[Any]) -> WorkflowRecord:
        return WorkflowRecord(
            uid=row[0],
            name=row[1],
            created_at=row[2],
            phase=row[3],
            finished=bool(row[4]),
            last_seq=row[5],
            executor=row[6],
        )

    async def get_workflow(self, name_or_uid: str) -> WorkflowRecord:
        """The workflow with this uid (preferred) or name; WorkflowNotFoundError otherwise."""
        rows = await self._fetch(
            f"SELECT {_WORKFLOW_COLUMNS} FROM workflows WHERE uid = ?1 OR name = ?1"
            " ORDER BY uid = ?1 DESC LIMIT 1",
            (name_or_uid,),
        )
        if not rows:
            raise WorkflowNotFoundError(f"no workflow named {name_or_uid!r}")
        return self._record(rows[0])

    async def list_workflows(self, *, unfinished_only: bool = False) -> list[WorkflowRecord]:
        """Workflows in creation order."""
        where = " WHERE finished = 0" if unfinished_only else ""
        rows = await self._fetch(f"SELECT {_WORKFLOW_COLUMNS} FROM workflows{where} ORDER BY id")
        return [self._record(r) for r in rows]

    async def read_logs(self, uid: str, node_id: str | None = None) -> list[LogRecord]:
        """Stored stdout/stderr chunks of a workflow (optionally one node), in insertion order."""
        sql = (
            "SELECT node_id, attempt, stream, data FROM logs"
            " WHERE wf = (SELECT id FROM workflows WHERE uid = ?)"
        )
        params: list[Any] = [uid]
        if node_id is not None:
            sql += " AND node_id = ?"
            params.append(node_id)
        rows = await self._fetch(sql + " ORDER BY id", params)
        if not rows:
            await self._require_workflow(uid)
        return [LogRecord(node_id=r[0], attempt=r[1], stream=r[2], data=r[3]) for r in rows]

    async def events_since(self, gseq: int, *, limit: int = 10_000) -> list[GlobalEvent]:
        """Events committed after global position `gseq`, in commit (gseq) order."""
        rows = await self._fetch(
            "SELECT gseq, wf, seq, payload, hash FROM events WHERE gseq > ? ORDER BY gseq LIMIT ?",
            (gseq, limit),
        )
        uids = self._uids
        missing = {r[1] for r in rows if r[1] not in uids}
        if missing:
            ids = sorted(missing)
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for wf, uid in await self._fetch(
                    f"SELECT id, uid FROM workflows WHERE id IN ({marks})", chunk
                ):
                    uids[wf] = uid
        out = []
        for g, wf, seq, payload, hash_ in rows:
            uid = uids[wf]
            out.append(
                GlobalEvent(
                    gseq=g, uid=uid, seq=seq, event=self._decode(uid, seq, payload), hash=hash_
                )
            )
        return out

    async def iter_events_bulk(self, *, chunk_size: int = 10_000) -> AsyncIterator[GlobalEvent]:
        """Every event of every workflow in gseq order (per workflow: seq order), fetched
        `chunk_size` at a time. Not a snapshot: events committed meanwhile may be included."""
        after = 0
        while True:
            chunk = await self.events_since(after, limit=chunk_size)
            for event in chunk:
                yield event
            if len(chunk) < chunk_size:
                return
            after = chunk[-1].gseq

    async def iter_event_chunks(
        self, *, chunk_size: int = 20_000
    ) -> AsyncIterator[list[tuple[str, AnyEvent]]]:
        """Every event of every workflow as (uid, event), in gseq order (per workflow: seq
        order), a chunk at a time: the bulk replay path. The next chunk is fetched (reader
        thread) while the caller works on the current one. Not a snapshot: events committed
        meanwhile may be included."""
        self._check_open()
        sql = (
            "SELECT e.gseq, w.uid, e.seq, e.payload FROM events e"
            " LEFT JOIN workflows w ON w.id = e.wf WHERE e.gseq > ? ORDER BY e.gseq LIMIT ?"
        )
        pending: asyncio.Future[list[Any]] | None = asyncio.ensure_future(
            self._fetch(sql, (0, chunk_size))
        )
        try:
            while pending is not None:
                rows = await pending
                pending = None
                if len(rows) == chunk_size:
                    pending = asyncio.ensure_future(self._fetch(sql, (rows[-1][0], chunk_size)))
                yield self._decode_chunk(rows)
        finally:
            if pending is not None:  # the caller stopped early
                pending.cancel()
                pending.add_done_callback(_ignore_outcome)

    def _decode_chunk(self, rows: list[Any]) -> list[tuple[str, AnyEvent]]:
        try:
            out = [(uid, decode_fast(payload)) for _g, uid, _seq, payload in rows]
        except (msgspec.DecodeError, msgspec.ValidationError):
            out = [(uid, self._decode(uid, seq, payload)) for _g, uid, seq, payload in rows]
        if None in map(_SECOND, rows):
            gseq = next(r[0] for r in rows if r[1] is None)
            raise CorruptLogError(f"{self.path}: event gseq {gseq} has no workflow row")
        return out

    async def last_gseq(self) -> int:
        """The global position of the newest committed event (0 if none)."""
        rows = await self._fetch("SELECT COALESCE(MAX(gseq), 0) FROM events")
        return int(rows[0][0])

    async def change_token(self) -> int:
        """`PRAGMA data_version` of our reader: changes whenever any connection (another
        process, or our own writer) commits. Compare tokens from the same store only."""
        rows = await self._fetch("PRAGMA data_version")
        return int(rows[0][0])

    # -- audit: chains, checkpoints, prune, import ---------------------------------------------

    async def global_head(self) -> tuple[int, str]:
        """The global chain's (last gseq, head hash) as recorded in the database."""
        rows = await self._fetch("SELECT last_gseq, head FROM global_chain WHERE id = 1")
        if not rows:
            raise CorruptLogError(f"{self.path}: damaged event log (no global chain head)")
        return int(rows[0][0]), str(rows[0][1])

    async def workflow_heads(self) -> list[ChainHead]:
        """Every workflow's recorded chain head, in creation order."""
        rows = await self._fetch(
            f"SELECT {_WORKFLOW_COLUMNS}, head_hash,"
            " (SELECT ts FROM events e WHERE e.wf = w.id AND e.seq = w.last_seq)"
            " FROM workflows w ORDER BY id"
        )
        return [ChainHead(record=self._record(r), head_hash=r[7], last_ts=r[8]) for r in rows]

    async def read_links(self, *, after_gseq: int = 0, limit: int = 10_000) -> list[ChainLink]:
        """Every event's chain fields in gseq order (uid None: its workflow row is gone)."""
        rows = await self._fetch(
            "SELECT e.gseq, w.uid, e.seq, e.type, e.hash, e.ghash FROM events e"
            " LEFT JOIN workflows w ON w.id = e.wf WHERE e.gseq > ? ORDER BY e.gseq LIMIT ?",
            (after_gseq, limit),
        )
        return [
            ChainLink(gseq=r[0], uid=r[1], seq=r[2], type=r[3], hash=r[4], ghash=r[5]) for r in rows
        ]

    async def checkpoints(self) -> list[Checkpoint]:
        """The prune checkpoints, oldest first."""
        rows = await self._fetch(
            "SELECT id, created_at, body, prev_hash, hash FROM checkpoints ORDER BY id"
        )
        return [
            Checkpoint(id=r[0], created_at=r[1], body=r[2], prev_hash=r[3], hash=r[4]) for r in rows
        ]

    async def prune(self, uids: Sequence[str]) -> Checkpoint:
        """Remove finished workflows (events, logs, commands) and record a checkpoint that seals
        the global chain head and the heads of the workflows that remain."""
        wanted = list(dict.fromkeys(uids))

        def work(conn: sqlite3.Connection) -> Checkpoint:
            rows = list(
                conn.execute(
                    "SELECT id, uid, name, last_seq, head_hash, finished FROM workflows"
                    " ORDER BY uid"
                )
            )
            by_uid = {r[1]: r for r in rows}
            for uid in wanted:
                row = by_uid.get(uid)
                if row is None:
                    raise WorkflowNotFoundError(f"no workflow {uid!r}")
                if not row[5]:
                    raise InputError(f"workflow {row[2]} is not finished; it cannot be pruned")
            gone = set(wanted)
            head_rows = list(conn.execute(_GLOBAL_HEAD))
            gseq, ghash = int(head_rows[0][0]), str(head_rows[0][1])
            prev_rows = list(conn.execute("SELECT hash FROM checkpoints ORDER BY id DESC LIMIT 1"))
            prev_hash = str(prev_rows[0][0]) if prev_rows else GENESIS_HASH
            now = time.time()
            body = Checkpoint.make_body(
                gseq=gseq,
                ghash=ghash,
                created_at=now,
                heads=[[r[1], r[3], r[4]] for r in rows if r[1] not in gone],
                pruned=[[r[1], r[2], r[3], r[4]] for r in rows if r[1] in gone],
            )
            checkpoint = Checkpoint.seal(created_at=now, body=body, prev_hash=prev_hash)
            ids = [(by_uid[u][0],) for u in wanted]
            conn.executemany("DELETE FROM events WHERE wf = ?", ids)
            conn.executemany("DELETE FROM logs WHERE wf = ?", ids)
            conn.executemany("DELETE FROM commands WHERE uid = ?", [(u,) for u in wanted])
            conn.executemany("DELETE FROM workflows WHERE id = ?", ids)
            # Keep the global position even when the newest events were pruned.
            conn.execute(_UPDATE_GLOBAL, (gseq, ghash))
            cursor = conn.execute(
                "INSERT INTO checkpoints(created_at, body, prev_hash, hash) VALUES (?, ?, ?, ?)",
                (checkpoint.created_at, checkpoint.body, checkpoint.prev_hash, checkpoint.hash),
            )
            return msgspec.structs.replace(checkpoint, id=int(cursor.lastrowid or 0))

        result: Checkpoint = await self._submit(_Exclusive(work))
        return result

    async def import_workflow(
        self,
        record: WorkflowRecord,
        head_hash: str,
        events: Sequence[RawEvent],
        logs: Sequence[LogRecord],
    ) -> None:
        """Insert a verified run exactly as recorded elsewhere (its own chain unchanged; its
        events join this database's global chain). ConflictError if the uid or name exists."""

        def work(conn: sqlite3.Connection) -> None:
            taken = list(
                conn.execute(
                    "SELECT name FROM workflows WHERE uid = ? OR name = ?",
                    (record.uid, record.name),
                )
            )
            if taken:
                raise ConflictError(
                    f"{self.path} already has a workflow named {record.name!r} or with uid"
                    f" {record.uid!r}"
                )
            cursor = conn.execute(
                "INSERT INTO workflows(uid, name, created_at, phase, finished, last_seq,"
                " executor, head_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.uid,
                    record.name,
                    record.created_at,
                    record.phase,
                    int(record.finished),
                    record.last_seq,
                    record.executor,
                    head_hash,
                ),
            )
            wf = cursor.lastrowid
            _insert_events(conn, [(wf, e.seq, e.type, e.ts, e.payload, e.hash) for e in events])
            conn.executemany(
                _INSERT_LOG, [(wf, r.node_id, r.attempt, r.stream, r.data) for r in logs]
            )

        await self._submit(_Exclusive(work))
