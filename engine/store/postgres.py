"""The PostgreSQL event store (asyncpg): the same log, chains and index as `SqliteStore`, on a
database server that many controllers and clients share.

- Group commit: one writer task owns the write connection. Callers queue requests; the writer
  drains everything pending and writes it in ONE transaction (array `unnest` inserts, one round
  trip per table), commits, then resolves every caller's future.
- Concurrency control is the unique `(wf, seq)` index: a second writer of the same position
  gets a unique violation, translated to ConflictError. The writer also locks the workflow rows
  it appends to (`FOR UPDATE`) and the global chain row, so gseq order is commit order.
- Fencing: the controller row's generation is read `FOR SHARE` in every fenced transaction; a
  takeover's `UPDATE` waits for (and then fences) in-flight appends. One controller at a time
  holds a session advisory lock (the PostgreSQL twin of SQLite's `flock`).
- The index (`phase`, `finished`) is written only from `state.fold.index_after` of the events
  in the same transaction.
- Reads use a small connection pool (`read_committed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Final

import anyio
import asyncpg
import msgspec

from ..errors import (
    ConflictError,
    ControllerBusyError,
    ExitflowError,
    FencedError,
    InputError,
    StoreError,
    WorkflowNotFoundError,
)
from ..events import PENDING, Event, WorkflowSubmitted, encode, event_type
from ..state.fold import index_after
from . import postgres_leases as leases
from .base import (
    GENESIS_HASH,
    Checkpoint,
    CommitHook,
    LogRecord,
    RawEvent,
    WorkflowRecord,
)
from .codec import GENESIS_RAW, encode_rows, link
from .postgres_reader import PostgresReadSide
from .postgres_schema import (
    CONTROLLER_LOCK,
    DRIVER_ERRORS,
    connect,
    inspect,
    migrate,
    redact,
    translate_error,
    translated,
)

__all__ = ["PostgresStore"]

log = logging.getLogger(__name__)

_LOCK_POLL_S: Final = 0.2
_CLOSE_FLUSH_S: Final = 60.0

#: The writer's locking read: generation (FOR SHARE: a takeover waits for us, then fences us),
#: global chain head (FOR UPDATE: one writer at a time extends it), and the heads of the
#: workflows named in $1 (FOR UPDATE, in id order: no deadlock between writers).
_LOCK_READ: Final = (
    "WITH h AS (SELECT uid, id, last_seq, head_hash FROM exitflow.workflows"
    " WHERE uid = ANY($1::text[]) ORDER BY id FOR UPDATE)"
    " SELECT c.generation, g.last_gseq, g.head, h.uid, h.id, h.last_seq, h.head_hash"
    " FROM (SELECT last_gseq, head FROM exitflow.global_chain WHERE id = 1 FOR UPDATE) g"
    " CROSS JOIN (SELECT generation FROM exitflow.controller WHERE id = 1 FOR SHARE) c"
    " LEFT JOIN h ON TRUE"
)
_INSERT_WORKFLOWS: Final = (
    "INSERT INTO exitflow.workflows(uid, name, created_at, phase, finished, last_seq,"
    f" executor, head_hash) SELECT u.uid, u.name, u.ts, '{PENDING}', FALSE, 1, u.ex, u.h"
    " FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[], $5::text[])"
    " WITH ORDINALITY AS u(uid, name, ts, ex, h, n) ORDER BY u.n RETURNING uid, id"
)
#: Every row of a batch in one statement (data-modifying CTEs share one snapshot and touch
#: disjoint rows): events, the global chain head ($9 NULL: unchanged), workflow heads and
#: index (phase only from `index_after`), logs, commands.
_WRITE_ALL: Final = (
    "WITH e AS (INSERT INTO exitflow.events(gseq, wf, seq, type, ts, payload, hash, ghash)"
    " SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[],"
    " $5::float8[], $6::bytea[], $7::text[], $8::text[])),"
    " g AS (UPDATE exitflow.global_chain SET last_gseq = $9, head = $10"
    " WHERE id = 1 AND $9::bigint IS NOT NULL),"
    " w AS (UPDATE exitflow.workflows w SET last_seq = u.last_seq, head_hash = u.head,"
    " phase = COALESCE(u.phase, w.phase), finished = w.finished OR u.finished"
    " FROM unnest($11::bigint[], $12::bigint[], $13::text[], $14::text[], $15::bool[])"
    " AS u(id, last_seq, head, phase, finished) WHERE w.id = u.id),"
    " l AS (INSERT INTO exitflow.logs(wf, node_id, attempt, stream, data)"
    " SELECT * FROM unnest($16::bigint[], $17::text[], $18::int[], $19::text[], $20::bytea[])),"
    " c AS (INSERT INTO exitflow.commands(uid, command, created_at)"
    " SELECT * FROM unnest($21::text[], $22::text[], $23::float8[]))"
    " SELECT 1"
)
_TAKE_COMMANDS: Final = (
    "UPDATE exitflow.commands SET taken_by_generation = $1"
    " WHERE taken_by_generation IS NULL RETURNING id, uid, command"
)

#: Lease mode: a controller takes only the commands of the runs it holds (-1: "by a lease").
_TAKE_OWNED: Final = (
    "UPDATE exitflow.commands SET taken_by_generation = -1"
    " WHERE taken_by_generation IS NULL AND uid = ANY($1::text[]) RETURNING id, uid, command"
)


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
        finished: bool,
        logs: Sequence[LogRecord],
    ) -> None:
        super().__init__()
        self.uid, self.first_seq, self.rows = uid, first_seq, rows
        self.phase, self.finished, self.logs = phase, finished, logs


class _Create(_Request):
    __slots__ = ("payload", "submitted")

    def __init__(self, submitted: WorkflowSubmitted) -> None:
        super().__init__()
        self.submitted = submitted
        self.payload = encode(submitted)


class _AddCommand(_Request):
    __slots__ = ("command", "created_at", "uid")

    def __init__(self, uid: str, command: str) -> None:
        super().__init__()
        self.uid, self.command, self.created_at = uid, command, time.time()


class _TakeCommands(_Request):
    __slots__ = ()
    fenced = True


class _Retry(Exception):
    """The batch hit a unique key: redo its requests one by one."""


def _resolve(future: asyncio.Future[Any], outcome: object) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class PostgresStore(PostgresReadSide):
    """An `EventStore` in a PostgreSQL database. Open with `await PostgresStore.open(url)`."""

    def __init__(
        self,
        url: str,
        pool: asyncpg.Pool,
        writer: asyncpg.Connection | None,
        hooks: CommitHook | None,
    ) -> None:
        self.url = url
        #: What messages name: the URL without its password.
        self.path = redact(url)
        self._pool = pool
        self._writer = writer
        self._hooks = hooks
        self._queue: list[_Request] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._generation: int | None = None
        self._lock_conn: asyncpg.Connection | None = None
        #: Lease mode (many controllers): this controller's id, lease length, held tokens.
        self._owner: str | None = None
        self._lease_s = 10.0
        self._tokens: dict[str, int] = {}

    # -- lifecycle --------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        hooks: CommitHook | None = None,
        read_only: bool = False,
    ) -> PostgresStore:
        """Connect, creating or migrating the `exitflow` schema (under an advisory lock).

        StoreUnavailableError (exit 2) when the server is unreachable, refuses us, or has no
        such database; CorruptLogError for a schema that is not ours or is newer."""
        conn = await connect(url)
        try:
            with translated(url):
                if read_only:
                    version = await inspect(conn, url)
                    if version == 0:
                        raise StoreError(f"{redact(url)}: no event log there")
                else:
                    await migrate(conn, url)
                pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
        except BaseException:
            with anyio.CancelScope(shield=True), contextlib.suppress(*DRIVER_ERRORS):
                await conn.close()
            raise
        store = cls(url, pool, None if read_only else conn, hooks)
        if read_only:
            with anyio.CancelScope(shield=True), contextlib.suppress(*DRIVER_ERRORS):
                await conn.close()
        else:
            store._task = asyncio.get_running_loop().create_task(store._writer_main())
        return store

    async def __aenter__(self) -> PostgresStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Flush pending writes, stop the writer task, close every connection."""
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            task = self._task
            if task is not None:
                self._stopping = True
                self._wake.set()
                with anyio.move_on_after(_CLOSE_FLUSH_S):
                    await asyncio.wait([task])
                if not task.done():
                    task.cancel()
                    await asyncio.wait([task])
            for request in self._queue:
                _resolve(request.future, StoreError(f"{self.path}: store closed"))
            self._queue = []
            if self._owner is not None:
                with contextlib.suppress(*DRIVER_ERRORS), anyio.move_on_after(5):
                    async with self._pool.acquire() as c:
                        await leases.unregister(c, self._owner)
            for conn in (self._writer, self._lock_conn):
                if conn is not None:
                    with contextlib.suppress(*DRIVER_ERRORS):
                        await conn.close()
            with contextlib.suppress(*DRIVER_ERRORS):
                await self._pool.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{self.path}: store is closed")

    # -- writing ----------------------------------------------------------------------------

    @property
    def generation(self) -> int | None:
        return self._generation

    async def _submit(self, request: _Request) -> Any:
        self._check_open()
        if self._writer is None:
            raise StoreError(f"{self.path} was opened read-only")
        if self._stopping:
            raise StoreError(f"{self.path}: store closed")
        self._queue.append(request)
        self._wake.set()
        return await request.future

    async def create_workflow(self, submitted: WorkflowSubmitted) -> None:
        await self._submit(_Create(submitted))

    async def append(
        self,
        uid: str,
        first_seq: int,
        events: Sequence[Event],
        logs: Sequence[LogRecord] = (),
    ) -> None:
        self._check_open()
        if self._generation is None and self._owner is None:
            raise FencedError(f"{self.path}: not the controller (acquire_controller first)")
        phase, finished = index_after(events)
        await self._submit(_Append(uid, first_seq, encode_rows(events), phase, finished, logs))

    async def add_command(self, uid: str, command: str) -> None:
        await self._submit(_AddCommand(uid, command))

    async def take_commands(self) -> list[tuple[int, str, str]]:
        self._check_open()
        if self._generation is None and self._owner is None:
            raise FencedError(f"{self.path}: not the controller (acquire_controller first)")
        result: list[tuple[int, str, str]] = await self._submit(_TakeCommands())
        return result

    async def acquire_controller(self, *, wait: bool = False, takeover: bool = False) -> int:
        """Become the only controller: hold the controller advisory lock on a dedicated
        session, then bump the generation (which fences any earlier controller)."""
        self._check_open()
        if self._writer is None:
            raise StoreError(f"{self.path} was opened read-only")
        if not takeover and self._lock_conn is None:
            while (live := await self._live_controller()) is not None:
                if not wait:  # leased daemons serve this database: defer to them
                    raise ControllerBusyError(f"controller {live} serves {self.path}")
                await anyio.sleep(_LOCK_POLL_S)
            conn = await connect(self.url)
            try:
                with translated(self.url):
                    while not await conn.fetchval("SELECT pg_try_advisory_lock($1)",
                                                  CONTROLLER_LOCK):
                        if not wait:
                            holder = await conn.fetchval(
                                "SELECT holder FROM exitflow.controller WHERE id = 1"
                            )
                            raise ControllerBusyError(
                                f"another controller ({holder or '?'}) holds {self.path}"
                            )
                        await anyio.sleep(_LOCK_POLL_S)
            except BaseException:
                with anyio.CancelScope(shield=True), contextlib.suppress(*DRIVER_ERRORS):
                    await conn.close()
                raise
            self._lock_conn = conn
        holder = f"{socket.gethostname()}:{os.getpid()}"
        with translated(self.url):
            async with self._pool.acquire() as conn:
                generation = int(
                    await conn.fetchval(
                        "UPDATE exitflow.controller SET generation = generation + 1,"
                        " holder = $1, acquired_at = $2 WHERE id = 1 RETURNING generation",
                        holder,
                        time.time(),
                    )
                )
        self._generation = generation
        return generation

    # -- leases (many controllers: docs/scale-out.md) ---------------------------------------

    @property
    def owner(self) -> str | None:
        """This controller's id in lease mode (`join_controllers`), else None."""
        return self._owner

    @property
    def lease_seconds(self) -> float:
        return self._lease_s

    async def join_controllers(self, lease_seconds: float) -> str:
        """Become one of many controllers of this database (no advisory lock): every run this
        store appends to must be claimed first (`claim_runs`); returns the controller id."""
        self._check_open()
        if self._writer is None:
            raise StoreError(f"{self.path} was opened read-only")
        owner = leases.new_controller_id()
        with translated(self.url):
            async with self._pool.acquire() as conn:
                await leases.register(conn, owner, lease_seconds)
        self._owner, self._lease_s = owner, lease_seconds
        return owner

    async def claim_runs(self, limit: int = 100) -> list[str]:
        """Claim unowned (or expired) unfinished runs (FOR UPDATE SKIP LOCKED)."""
        assert self._owner is not None
        with translated(self.url):
            async with self._pool.acquire() as conn:
                got = await leases.claim(conn, self._owner, self._lease_s, limit)
        self._tokens.update(got)
        return sorted(got)

    async def renew_leases(self) -> set[str]:
        """Renew every held lease; returns the uids whose lease was lost (then dropped)."""
        assert self._owner is not None
        held = dict(self._tokens)
        with translated(self.url):
            async with self._pool.acquire() as conn:
                kept = await leases.renew(conn, self._owner, self._lease_s, held)
        lost = set(held) - kept
        for uid in lost:
            if self._tokens.get(uid) == held[uid]:
                del self._tokens[uid]
        return lost

    async def release_run(self, uid: str) -> None:
        """Give up a run's lease (it finished, or this controller stops driving it)."""
        token = self._tokens.pop(uid, None)
        if self._owner is None or token is None:
            return
        with translated(self.url):
            async with self._pool.acquire() as conn:
                await leases.release(conn, self._owner, uid, token)

    async def controllers(self) -> list[tuple[str, str, int, float, list[str]]]:
        """Registered controllers: (id, host, pid, last heartbeat, owned runs)."""
        self._check_open()
        with translated(self.url):
            async with self._pool.acquire() as conn:
                return await leases.controllers(conn)

    async def _live_controller(self) -> str | None:
        with translated(self.url):
            async with self._pool.acquire() as conn:
                found = await conn.fetchval(
                    "SELECT id FROM exitflow.controllers WHERE heartbeat + lease_seconds >="
                    f" {leases.NOW} LIMIT 1"
                )
        return None if found is None else str(found)

    async def force_takeover(self) -> int:
        return await self.acquire_controller(takeover=True)

    # -- the writer task --------------------------------------------------------------------

    async def _writer_main(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            if not batch:
                if self._stopping:
                    return
                continue
            await self._write(batch)

    async def _write(self, batch: list[_Request]) -> None:
        try:
            try:
                await self._transaction(batch)
                return
            except _Retry:
                pass
            for request in batch:  # isolate the request that hit a unique key
                try:
                    await self._transaction([request])
                except _Retry as e:
                    error = ConflictError(f"{self.path}: {e}")
                    error.__cause__ = e.__cause__
                    _resolve(request.future, error)
        except DRIVER_ERRORS as e:
            error2 = translate_error(self.url, e)
            error2.__cause__ = e
            for request in batch:
                _resolve(request.future, error2)
        except Exception as e:  # a bug: fail these callers (the writer keeps serving)
            log.exception("the PostgreSQL store writer failed")
            error3 = StoreError(f"{self.path}: the store writer failed: {e!r}")
            for request in batch:
                _resolve(request.future, error3)

    async def _transaction(self, requests: list[_Request]) -> None:
        """Write requests in one transaction: BEGIN, one locking read (generation, global
        chain head, the touched workflows' heads), one insert of new workflows, one statement
        writing every row (events, chain head, workflow heads, logs, commands), COMMIT."""
        conn = self._writer
        assert conn is not None
        outcomes: list[tuple[_Request, object]] = []
        tx = conn.transaction()
        await tx.start()
        try:
            n_events = await self._write_batch(conn, requests, outcomes)
            if self._hooks is not None:
                self._hooks.before_commit(n_events)
        except BaseException as e:
            with anyio.CancelScope(shield=True), contextlib.suppress(*DRIVER_ERRORS):
                await tx.rollback()
            if isinstance(e, asyncpg.UniqueViolationError):
                raise _Retry(str(e)) from e
            raise
        await tx.commit()
        if self._hooks is not None:
            self._hooks.after_commit(n_events)
        for request, outcome in outcomes:
            _resolve(request.future, outcome)

    async def _write_batch(
        self,
        conn: asyncpg.Connection,
        requests: list[_Request],
        outcomes: list[tuple[_Request, object]],
    ) -> int:
        creates = [r for r in requests if isinstance(r, _Create)]
        appends = [r for r in requests if isinstance(r, _Append)]
        commands = [r for r in requests if isinstance(r, _AddCommand)]
        takes = [r for r in requests if isinstance(r, _TakeCommands)]
        uids = sorted({r.uid for r in appends} | {r.uid for r in commands})
        # One locking read: the generation (fencing), the global chain head (gseq order is
        # commit order), and the heads of the workflows appended to.
        rows = await conn.fetch(_LOCK_READ, uids)
        generation, gseq, ghead_hex = rows[0][0], int(rows[0][1]), rows[0][2]
        ghead = bytes.fromhex(ghead_hex)
        heads: dict[str, list[Any]] = {}
        for r in rows:
            if r[3] is not None:
                heads[r[3]] = [r[4], r[5], bytes.fromhex(r[6]), None, False]
        if self._owner is not None:
            if appends:  # lease mode: each append's fencing token, read FOR SHARE here
                fence_rows = await conn.fetch(leases.FENCE_READ, sorted({a.uid for a in appends}))
                bad = leases.fenced_uids(
                    fence_rows, self._owner, self._tokens, {a.uid for a in appends}
                )
                for a in [a for a in appends if a.uid in bad]:
                    outcomes.append((a, FencedError(
                        f"{self.path}: workflow {a.uid}: this controller's lease (fencing token"
                        f" {self._tokens.get(a.uid)}) is no longer current; it may not append"
                    )))
                appends = [a for a in appends if a.uid not in bad]
        elif (appends or takes) and (
            self._generation is None or generation != self._generation
        ):
            fenced = FencedError(
                f"{self.path}: controller generation {self._generation} was replaced by"
                f" {generation}; this controller may not append"
            )
            outcomes.extend((r, fenced) for r in (*appends, *takes))
            appends, takes = [], []
        gseq_before = gseq
        n_events = 0
        ev: list[list[Any]] = [[] for _ in range(8)]

        def add_event(wf: int, seq: int, type_: str, ts: float, payload: bytes, h: bytes) -> None:
            nonlocal gseq, ghead
            gseq += 1
            ghead = link(ghead, h)
            values = (gseq, wf, seq, type_, ts, payload, h.hex(), ghead.hex())
            for col, value in zip(ev, values, strict=True):
                col.append(value)

        if creates:
            digests = [link(GENESIS_RAW, c.payload) for c in creates]
            subs = [c.submitted for c in creates]
            ids = {
                r[0]: int(r[1])
                for r in await conn.fetch(
                    _INSERT_WORKFLOWS,
                    [s.uid for s in subs], [s.name for s in subs], [s.ts for s in subs],
                    [s.executor for s in subs], [d.hex() for d in digests],
                )
            }
            for create, s, digest in zip(creates, subs, digests, strict=True):
                add_event(ids[s.uid], 1, event_type(s), s.ts, create.payload, digest)
                heads[s.uid] = [ids[s.uid], 1, digest, None, False]
                n_events += 1
                outcomes.append((create, None))

        lg: list[list[Any]] = [[] for _ in range(5)]
        touched: dict[str, list[Any]] = {}
        for append in appends:
            head = heads.get(append.uid)
            if head is None:
                outcomes.append((append, WorkflowNotFoundError(f"no workflow {append.uid!r}")))
                continue
            wf, last_seq, prev = head[0], head[1], head[2]
            if append.first_seq != last_seq + 1:
                conflict = ConflictError(
                    f"workflow {append.uid}: append at seq {append.first_seq}, but its last seq"
                    f" is {last_seq}"
                )
                outcomes.append((append, conflict))
                continue
            seq = append.first_seq
            for type_, ts, payload in append.rows:
                prev = link(prev, payload)
                add_event(wf, seq, type_, ts, payload, prev)
                seq += 1
            head[1], head[2] = seq - 1, prev
            if append.phase is not None:
                head[3] = append.phase
            head[4] = head[4] or append.finished
            for rec in append.logs:
                values = (wf, rec.node_id, rec.attempt, rec.stream, rec.data)
                for col, value in zip(lg, values, strict=True):
                    col.append(value)
            n_events += len(append.rows)
            touched[append.uid] = head
            outcomes.append((append, None))

        cmd: list[list[Any]] = [[], [], []]
        for command in commands:
            if command.uid not in heads:
                outcomes.append((command, WorkflowNotFoundError(f"no workflow {command.uid!r}")))
                continue
            cmd[0].append(command.uid)
            cmd[1].append(command.command)
            cmd[2].append(command.created_at)
            outcomes.append((command, None))

        if ev[0] or lg[0] or cmd[0] or touched:
            hs = list(touched.values())
            await conn.execute(
                _WRITE_ALL,
                *ev,
                gseq if gseq != gseq_before else None, ghead.hex(),
                [h[0] for h in hs], [h[1] for h in hs], [h[2].hex() for h in hs],
                [h[3] for h in hs], [h[4] for h in hs],
                *lg,
                *cmd,
            )
        for take in takes:
            if self._owner is not None:
                taken = await conn.fetch(_TAKE_OWNED, list(self._tokens))
                outcomes.append((take, sorted((r[0], r[1], r[2]) for r in taken)))
                continue
            taken = await conn.fetch(_TAKE_COMMANDS, self._generation)
            outcomes.append((take, sorted((r[0], r[1], r[2]) for r in taken)))
        return n_events

    async def _exclusive(self, fn: Any) -> Any:
        """Run `fn(conn)` in its own transaction on a pooled connection, after the global chain
        row is locked (so it is ordered with every append)."""
        self._check_open()
        if self._writer is None:
            raise StoreError(f"{self.path} was opened read-only")
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT 1 FROM exitflow.global_chain WHERE id = 1 FOR UPDATE")
                return await fn(conn)
        except ExitflowError:
            raise
        except DRIVER_ERRORS as e:
            raise translate_error(self.url, e) from e

    async def prune(self, uids: Sequence[str]) -> Checkpoint:
        """Remove finished workflows and record a checkpoint (as `SqliteStore.prune`)."""
        wanted = list(dict.fromkeys(uids))

        async def work(conn: asyncpg.Connection) -> Checkpoint:
            rows = await conn.fetch(
                "SELECT id, uid, name, last_seq, head_hash, finished FROM exitflow.workflows"
                " ORDER BY uid COLLATE \"C\" FOR UPDATE"
            )
            by_uid = {r[1]: r for r in rows}
            for uid in wanted:
                row = by_uid.get(uid)
                if row is None:
                    raise WorkflowNotFoundError(f"no workflow {uid!r}")
                if not row[5]:
                    raise InputError(f"workflow {row[2]} is not finished; it cannot be pruned")
            gone = set(wanted)
            head = await conn.fetchrow("SELECT last_gseq, head FROM exitflow.global_chain")
            gseq, ghash = int(head[0]), str(head[1])
            prev_hash = await conn.fetchval(
                "SELECT hash FROM exitflow.checkpoints ORDER BY id DESC LIMIT 1"
            ) or GENESIS_HASH
            now = time.time()
            body = Checkpoint.make_body(
                gseq=gseq, ghash=ghash, created_at=now,
                heads=[[r[1], r[3], r[4]] for r in rows if r[1] not in gone],
                pruned=[[r[1], r[2], r[3], r[4]] for r in rows if r[1] in gone],
            )
            checkpoint = Checkpoint.seal(created_at=now, body=body, prev_hash=str(prev_hash))
            ids = [by_uid[u][0] for u in wanted]
            await conn.execute("DELETE FROM exitflow.events WHERE wf = ANY($1::bigint[])", ids)
            await conn.execute("DELETE FROM exitflow.logs WHERE wf = ANY($1::bigint[])", ids)
            await conn.execute("DELETE FROM exitflow.commands WHERE uid = ANY($1::text[])", wanted)
            await conn.execute("DELETE FROM exitflow.workflows WHERE id = ANY($1::bigint[])", ids)
            new_id = await conn.fetchval(
                "INSERT INTO exitflow.checkpoints(created_at, body, prev_hash, hash)"
                " VALUES ($1, $2, $3, $4) RETURNING id",
                checkpoint.created_at, checkpoint.body, checkpoint.prev_hash, checkpoint.hash,
            )
            return msgspec.structs.replace(checkpoint, id=int(new_id))

        result: Checkpoint = await self._exclusive(work)
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

        async def work(conn: asyncpg.Connection) -> None:
            if await conn.fetchval(
                "SELECT 1 FROM exitflow.workflows WHERE uid = $1 OR name = $2",
                record.uid, record.name,
            ):
                raise ConflictError(
                    f"{self.path} already has a workflow named {record.name!r} or with uid"
                    f" {record.uid!r}"
                )
            wf = await conn.fetchval(
                "INSERT INTO exitflow.workflows(uid, name, created_at, phase, finished,"
                " last_seq, executor, head_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " RETURNING id",
                record.uid, record.name, record.created_at, record.phase, record.finished,
                record.last_seq, record.executor, head_hash,
            )
            head = await conn.fetchrow("SELECT last_gseq, head FROM exitflow.global_chain")
            gseq, prev = int(head[0]), bytes.fromhex(head[1])
            rows = []
            for e in events:
                gseq += 1
                prev = link(prev, bytes.fromhex(e.hash))
                rows.append((gseq, wf, e.seq, e.type, e.ts, e.payload, e.hash, prev.hex()))
            await conn.executemany(
                "INSERT INTO exitflow.events(gseq, wf, seq, type, ts, payload, hash, ghash)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                rows,
            )
            await conn.execute(
                "UPDATE exitflow.global_chain SET last_gseq = $1, head = $2 WHERE id = 1",
                gseq, prev.hex(),
            )
            await conn.executemany(
                "INSERT INTO exitflow.logs(wf, node_id, attempt, stream, data)"
                " VALUES ($1, $2, $3, $4, $5)",
                [(wf, r.node_id, r.attempt, r.stream, r.data) for r in logs],
            )

        await self._exclusive(work)
