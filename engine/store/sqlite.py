"""The SQLite event store: one file, one writer thread, WAL readers.

The SQL lives in the `sqlite_*` modules, one concept each: `sqlite_schema` (tables, migrations,
file checks, error translation), `sqlite_writer` (the writer thread and group commit),
`sqlite_reader` (reads and audit reads). This module is the `SqliteStore` they make up: opening,
closing, the controller lock, and the two exclusive audit writes (prune, import).

Design (see ../shared/notes/event-store.md for the measurements behind it):

- Events reference `workflows.id` (an INTEGER), not the uid text, and live in a rowid table with a
  global `gseq` (commit order) plus a unique `(wf, seq)` index. Measured on interleaved appends
  across 1,000 workflows: ~4.5x the write rate of a `WITHOUT ROWID` table keyed `(wf, seq)`,
  whose random-position inserts dirty a full-row leaf per event; single-workflow reads stay
  ~450k events/s. The unique index is what turns a duplicate `(wf, seq)` into a ConflictError.
- Each event's hash chains the previous one (`codec.chain_hash`); each workflow's head hash and
  last seq are kept in `workflows` (same transaction) and cached by the writer.
- Fencing: a controller holds an exclusive `flock` on `<db>.lock` and a generation number in the
  `controller` row; every fenced transaction re-reads the generation and refuses to write if it
  changed.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Sequence
from types import TracebackType

import aiosqlite
import anyio
import msgspec

from ..errors import (
    ConflictError,
    ControllerBusyError,
    InputError,
    ReadOnlyStoreError,
    StoreError,
    WorkflowNotFoundError,
)
from ..faults import CRASH_ENV, CrashHook, CrashPoint, crash_point_from_env
from .base import GENESIS_HASH, Checkpoint, CommitHook, LogRecord, RawEvent, WorkflowRecord
from .files import PRIVATE_MODE, create_private, read_only_uri, writable
from .sqlite_reader import SqliteReadSide
from .sqlite_schema import (
    _BUSY_TIMEOUT_MS,
    _CLOSE_FLUSH_S,
    _GLOBAL_HEAD,
    _INSERT_LOG,
    _LOCK_POLL_S,
    _UPDATE_GLOBAL,
    SCHEMA_VERSION,
    _check_header,
    _connect_writer,
    _insert_events,
    _inspect,
    _migrate,
    _not_ours,
    _set_wal,
    _translate_error,
    _translated,
)
from .sqlite_writer import SqliteWriteSide, _Acquire, _Exclusive, _Head, _Request

__all__ = ["CRASH_ENV", "SCHEMA_VERSION", "SqliteStore", "crash_point_from_env"]

log = logging.getLogger(__name__)

# --- the store ---------------------------------------------------------------------------------


class SqliteStore(SqliteReadSide, SqliteWriteSide):
    """An `EventStore` in one SQLite file. Open with `await SqliteStore.open(path)`; close with
    `aclose()` or use `async with`."""

    def __init__(
        self,
        path: str,
        reader: aiosqlite.Connection,
        writer: sqlite3.Connection | None,
        hooks: CommitHook | None,
    ) -> None:
        # Use `open()`; this only wires up already-open connections.
        self.path = path
        self._reader = reader
        self._writer = writer
        self._hooks = hooks
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
        hooks: CommitHook | None = None,
        read_only: bool = False,
    ) -> SqliteStore:
        """Open (creating or migrating if needed) the event log at `path`.

        `hooks` is called around every write transaction (fault injection); `crash_at` is a
        shorthand for `hooks=CrashHook(crash_at)`. CorruptLogError for a file that is not ours
        (never modified) or has a newer schema.
        """
        if crash_at is not None and hooks is None:
            hooks = CrashHook(crash_at)
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
            return cls(p, reader, None, hooks)

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
        store = cls(p, rconn, writer, hooks)
        store._start_writer()
        return store

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

    # -- the controller lock ------------------------------------------------------------

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

    # -- audit writes: prune, import -----------------------------------------------------

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
