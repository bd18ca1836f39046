"""The SQLite event store's reader: one aiosqlite connection (WAL readers never block the
writer), decoding through the backend-neutral codec."""

from __future__ import annotations

import asyncio
import operator
from collections.abc import AsyncIterator, Sequence
from typing import Any, Final

import aiosqlite

from ..errors import CorruptLogError, WorkflowNotFoundError
from ..events import AnyEvent
from .base import (
    ChainHead,
    ChainLink,
    Checkpoint,
    GlobalEvent,
    LogRecord,
    RawEvent,
    RecordedEvent,
    WorkflowRecord,
)
from .codec import decode_event, decode_events_fast
from .sqlite_schema import _MAX_SEQ, _WORKFLOW_COLUMNS, _translated

_SECOND: Final = operator.itemgetter(1)


def _ignore_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: no "exception was never retrieved" warning


class SqliteReadSide:
    """The reading half of `SqliteStore` (a mixin: the store's `open` wires the attributes)."""

    path: str
    _reader: aiosqlite.Connection
    _uids: dict[int, str]

    def _check_open(self) -> None:
        raise NotImplementedError

    # -- reading ----------------------------------------------------------------------------

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        self._check_open()
        with _translated(self.path):
            return list(await self._reader.execute_fetchall(sql, params))

    def _decode(self, uid: str, seq: int, payload: bytes) -> AnyEvent:
        return decode_event(self.path, uid, seq, payload)

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
        out = decode_events_fast(self.path, rows)
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

