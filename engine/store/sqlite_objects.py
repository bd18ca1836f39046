"""Stored objects beside the event log: WorkflowTemplates (and ClusterWorkflowTemplates),
CronWorkflows and the ticks of each CronWorkflow. All their SQL lives here.

The tables live in the event log's SQLite file and are created on first use (`CREATE TABLE IF
NOT EXISTS`), so opening an older database needs no migration. This module has its own sqlite3
connection to the store's file (WAL; the event writer is never blocked for long): every method
is one short transaction, run in a worker thread.

A cron tick is a row keyed by `(cron, scheduled)`: the unique key is what makes a tick run at most
once, whoever (which daemon, before or after a crash) gets there first. A tick row is claimed
*before* its workflow is created, with the workflow's uid and name chosen then; `submitted` is set
once the workflow exists. A daemon that dies in between finds the claimed row at its next start
and creates that same workflow (same uid), so a tick is neither lost nor run twice.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, TypeVar

import anyio
import msgspec

from ..errors import InputError, StoreError

__all__ = ["CronRecord", "ObjectStore", "TemplateRecord", "TickRecord"]

T = TypeVar("T")

_BUSY_TIMEOUT_MS: Final = 10_000

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS workflow_templates (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    yaml TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS cron_workflows (
    name TEXT PRIMARY KEY,
    yaml TEXT NOT NULL,
    suspended INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cron_ticks (
    cron TEXT NOT NULL,
    scheduled REAL NOT NULL,
    uid TEXT NOT NULL UNIQUE,
    workflow TEXT NOT NULL,
    claimed REAL NOT NULL,
    submitted INTEGER NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL DEFAULT 'run',
    phase TEXT NOT NULL DEFAULT '',
    pruned INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (cron, scheduled)
);
"""


class TemplateRecord(msgspec.Struct, frozen=True):
    kind: str
    name: str
    yaml: str
    created: float
    updated: float


class CronRecord(msgspec.Struct, frozen=True):
    name: str
    yaml: str
    suspended: bool
    created: float
    updated: float


class TickRecord(msgspec.Struct, frozen=True):
    """One scheduled time of a CronWorkflow. `outcome` is "run" (a workflow `uid`/`workflow` was
    or will be created), "skipped: <why>" (Forbid while running, past the deadline) or
    "error: <why>" (the workflow could not be made). `phase`: the run's final phase once the
    scheduler saw it finish; `pruned`: removed from the log by a history limit."""

    cron: str
    scheduled: float
    uid: str
    workflow: str
    claimed: float
    submitted: bool
    outcome: str
    phase: str = ""
    pruned: bool = False


class ObjectStore:
    """Templates, crons and ticks in the SQLite file at `path` (the event log's file)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA synchronous=FULL")
                conn.executescript(_SCHEMA)
            except sqlite3.Error as e:
                raise StoreError(f"{self.path}: {e}") from e
            self._conn = conn
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
                self._conn = None

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self.close)

    @contextlib.contextmanager
    def _tx(self, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction; IMMEDIATE when it writes (serialised with every writer of the
        file), deferred when it only reads (WAL: never waits for a writer)."""
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as e:
                raise StoreError(f"{self.path}: {e}") from e

    async def _run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = True) -> T:
        def work() -> T:
            with self._tx(write) as conn:
                return fn(conn)

        return await anyio.to_thread.run_sync(work)

    # -- workflow templates ----------------------------------------------------------------

    async def put_template(self, kind: str, name: str, yaml: str, *, replace: bool) -> bool:
        """Store a template; True if it replaced one. InputError if it exists and not `replace`."""

        def fn(conn: sqlite3.Connection) -> bool:
            now = time.time()
            row = conn.execute(
                "SELECT 1 FROM workflow_templates WHERE kind = ? AND name = ?", (kind, name)
            ).fetchone()
            if row is not None and not replace:
                raise InputError(f"{kind} {name!r} already exists (use --replace)")
            conn.execute(
                "INSERT INTO workflow_templates (kind, name, yaml, created, updated)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, name) DO UPDATE SET"
                " yaml = excluded.yaml, updated = excluded.updated",
                (kind, name, yaml, now, now),
            )
            return row is not None

        return await self._run(fn)

    async def list_templates(self) -> list[TemplateRecord]:
        def fn(conn: sqlite3.Connection) -> list[TemplateRecord]:
            rows = conn.execute(
                "SELECT kind, name, yaml, created, updated FROM workflow_templates"
                " ORDER BY kind DESC, name"
            ).fetchall()
            return [TemplateRecord(*r) for r in rows]

        return await self._run(fn, write=False)

    async def get_template(self, kind: str, name: str) -> TemplateRecord:
        def fn(conn: sqlite3.Connection) -> TemplateRecord:
            row = conn.execute(
                "SELECT kind, name, yaml, created, updated FROM workflow_templates"
                " WHERE kind = ? AND name = ?",
                (kind, name),
            ).fetchone()
            if row is None:
                raise InputError(f"no {kind} named {name!r}")
            return TemplateRecord(*row)

        return await self._run(fn, write=False)

    async def delete_template(self, kind: str, name: str) -> None:
        def fn(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "DELETE FROM workflow_templates WHERE kind = ? AND name = ?", (kind, name)
            )
            if cur.rowcount == 0:
                raise InputError(f"no {kind} named {name!r}")

        await self._run(fn)

    # -- cron workflows --------------------------------------------------------------------

    async def put_cron(self, name: str, yaml: str, *, suspended: bool, replace: bool) -> bool:
        def fn(conn: sqlite3.Connection) -> bool:
            now = time.time()
            row = conn.execute("SELECT 1 FROM cron_workflows WHERE name = ?", (name,)).fetchone()
            if row is not None and not replace:
                raise InputError(f"CronWorkflow {name!r} already exists (use --replace)")
            conn.execute(
                "INSERT INTO cron_workflows (name, yaml, suspended, created, updated)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET yaml = excluded.yaml,"
                " suspended = excluded.suspended, updated = excluded.updated",
                (name, yaml, int(suspended), now, now),
            )
            return row is not None

        return await self._run(fn)

    async def list_crons(self) -> list[CronRecord]:
        def fn(conn: sqlite3.Connection) -> list[CronRecord]:
            rows = conn.execute(
                "SELECT name, yaml, suspended, created, updated FROM cron_workflows ORDER BY name"
            ).fetchall()
            return [CronRecord(r[0], r[1], bool(r[2]), r[3], r[4]) for r in rows]

        return await self._run(fn, write=False)

    async def get_cron(self, name: str) -> CronRecord:
        def fn(conn: sqlite3.Connection) -> CronRecord:
            r = conn.execute(
                "SELECT name, yaml, suspended, created, updated FROM cron_workflows WHERE name = ?",
                (name,),
            ).fetchone()
            if r is None:
                raise InputError(f"no CronWorkflow named {name!r}")
            return CronRecord(r[0], r[1], bool(r[2]), r[3], r[4])

        return await self._run(fn, write=False)

    async def set_cron_suspended(self, name: str, suspended: bool) -> None:
        """Suspend or resume (`updated`, from which a new schedule counts, stays)."""

        def fn(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE cron_workflows SET suspended = ? WHERE name = ?", (int(suspended), name)
            )
            if cur.rowcount == 0:
                raise InputError(f"no CronWorkflow named {name!r}")

        await self._run(fn)

    async def delete_cron(self, name: str) -> None:
        """Delete the CronWorkflow and its tick rows (its workflows stay in the log)."""

        def fn(conn: sqlite3.Connection) -> None:
            cur = conn.execute("DELETE FROM cron_workflows WHERE name = ?", (name,))
            if cur.rowcount == 0:
                raise InputError(f"no CronWorkflow named {name!r}")
            conn.execute("DELETE FROM cron_ticks WHERE cron = ?", (name,))

        await self._run(fn)

    # -- ticks -----------------------------------------------------------------------------

    async def claim_tick(
        self, cron: str, scheduled: float, uid: str, workflow: str, outcome: str = "run"
    ) -> TickRecord | None:
        """Record the tick `(cron, scheduled)`; None if it was already recorded (by anyone)."""

        def fn(conn: sqlite3.Connection) -> TickRecord | None:
            now = time.time()
            cur = conn.execute(
                "INSERT INTO cron_ticks (cron, scheduled, uid, workflow, claimed, submitted,"
                " outcome) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cron, scheduled) DO NOTHING",
                (cron, scheduled, uid, workflow, now, int(outcome != "run"), outcome),
            )
            if cur.rowcount == 0:
                return None
            return TickRecord(cron, scheduled, uid, workflow, now, outcome != "run", outcome)

        return await self._run(fn)

    async def mark_submitted(self, cron: str, scheduled: float, outcome: str | None = None) -> None:
        """The tick's workflow exists (or, with an `outcome`, will never exist: why)."""

        def fn(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE cron_ticks SET submitted = 1, outcome = COALESCE(?, outcome)"
                " WHERE cron = ? AND scheduled = ?",
                (outcome, cron, scheduled),
            )

        await self._run(fn)

    async def mark_finished(self, cron: str, scheduled: float, phase: str) -> None:
        def fn(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE cron_ticks SET phase = ? WHERE cron = ? AND scheduled = ?",
                (phase, cron, scheduled),
            )

        await self._run(fn)

    async def mark_pruned(self, cron: str, scheduled: float) -> None:
        def fn(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE cron_ticks SET pruned = 1 WHERE cron = ? AND scheduled = ?",
                (cron, scheduled),
            )

        await self._run(fn)

    async def ticks(
        self, cron: str | None = None, *, pending_only: bool = False, unfinished_only: bool = False
    ) -> list[TickRecord]:
        """Ticks in scheduled order (of one cron, or all); `pending_only`: not submitted yet."""

        def fn(conn: sqlite3.Connection) -> list[TickRecord]:
            where: list[str] = []
            params: list[Any] = []
            if cron is not None:
                where.append("cron = ?")
                params.append(cron)
            if pending_only:
                where.append("submitted = 0")
            if unfinished_only:
                where.append("submitted = 1 AND outcome = 'run' AND phase = ''")
            sql = (
                f"SELECT {_TICK_COLUMNS} FROM cron_ticks"
                + (" WHERE " + " AND ".join(where) if where else "")
                + " ORDER BY cron, scheduled"
            )
            return [_tick(r) for r in conn.execute(sql, params).fetchall()]

        return await self._run(fn, write=False)

    async def last_tick(self, cron: str) -> TickRecord | None:
        def fn(conn: sqlite3.Connection) -> TickRecord | None:
            r = conn.execute(
                f"SELECT {_TICK_COLUMNS} FROM cron_ticks"
                " WHERE cron = ? ORDER BY scheduled DESC LIMIT 1",
                (cron,),
            ).fetchone()
            return None if r is None else _tick(r)

        return await self._run(fn, write=False)


_TICK_COLUMNS: Final = "cron, scheduled, uid, workflow, claimed, submitted, outcome, phase, pruned"


def _tick(r: Sequence[Any]) -> TickRecord:
    return TickRecord(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7], bool(r[8]))
