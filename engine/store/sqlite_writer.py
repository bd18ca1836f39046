"""The SQLite event store's writer: one thread, one connection, group commit.

One *writer thread* owns the write connection (plain `sqlite3`). `append`, `create_workflow`,
commands and the controller generation all go through its queue: it drains every pending
request, writes them in ONE `BEGIN IMMEDIATE` transaction (fencing check, `executemany`),
commits (WAL, `synchronous=FULL`), then resolves every caller's future with one hop back to
the event loop. An `append` returns only when its events are durable. The whole transaction is
one synchronous function on that thread: no event-loop round trip per statement, and requests
queue up while a commit is in progress (measured in docs/performance.md: the per-statement
aiosqlite round trips cost ~25% of the raw sqlite3 group-commit rate).

The workflow index (`workflows.phase`, `finished`) is written only here, only from
`state.fold.index_after` of the events in the same transaction: it never runs ahead of the log.
A caller-supplied `CommitHook` (fault injection, `engine.faults`) is called right before and
right after each COMMIT, before any caller hears of the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ..errors import (
    ConflictError,
    ExitflowError,
    FencedError,
    StoreError,
    WorkflowNotFoundError,
)
from ..events import PENDING, Event, WorkflowSubmitted, encode, event_type
from ..state.fold import index_after
from .base import CommitHook, LogRecord
from .codec import GENESIS_RAW, encode_rows
from .sqlite_schema import (
    _CATCH_UP_S,
    _GLOBAL_HEAD,
    _INSERT_EVENT,
    _INSERT_LOG,
    _INSERT_WORKFLOW,
    _UPDATE_GLOBAL,
    _UPDATE_HEAD,
    _UPDATE_HEAD_ONLY,
    _translate_error,
)

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



def _resolve(future: asyncio.Future[Any], outcome: object) -> None:
    if future.done():  # the caller was cancelled; the outcome stands regardless
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _resolve_all(outcomes: list[tuple[_Request, object]]) -> None:
    for request, outcome in outcomes:
        _resolve(request.future, outcome)


# --- the writer ----------------------------------------------------------------------------------


class SqliteWriteSide:
    """The writing half of `SqliteStore` (a mixin: the store's `open` wires the attributes)."""

    path: str
    _writer: sqlite3.Connection | None
    _hooks: CommitHook | None
    _queue: list[_Request]
    _lock: threading.Lock
    _wake: threading.Event
    _caught_up: threading.Event
    _stopping: bool
    _broken: BaseException | None
    _writer_thread: threading.Thread | None
    _writer_done: asyncio.Future[None] | None
    _loop: asyncio.AbstractEventLoop | None
    _heads: dict[str, _Head]
    _generation: int | None

    def _check_open(self) -> None:
        raise NotImplementedError

    def _start_writer(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._writer_done = loop.create_future()
        self._writer_thread = threading.Thread(
            target=self._writer_main, name=f"exitflow-store-writer:{self.path}", daemon=True
        )
        self._writer_thread.start()

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
        phase, finished = index_after(events)
        await self._submit(
            _Append(uid, first_seq, encode_rows(events), phase, int(finished), logs)
        )

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
        futures. The commit hook runs right before and right after the COMMIT, before any caller
        hears of the outcome."""
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
            hooks = self._hooks
            if hooks is not None:
                hooks.before_commit(n_events)
            conn.execute("COMMIT")
        except BaseException as e:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            if isinstance(e, sqlite3.IntegrityError):
                raise _Retry(str(e)) from e
            raise
        if hooks is not None:
            hooks.after_commit(n_events)
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
                digest = sha256(GENESIS_RAW + create.payload)
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

