"""The PostgreSQL event store's reads (a small connection pool), decoding through the
backend-neutral codec."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Final

import asyncpg

from ..errors import CorruptLogError, StoreError, WorkflowNotFoundError
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
from .postgres_schema import translated

_MAX_SEQ: Final = 2**62
_WORKFLOW_COLUMNS: Final = "uid, name, created_at, phase, finished, last_seq, executor"


class PostgresReadSide:
    """The reading half of `PostgresStore` (a mixin: the store's `open` wires the attributes)."""

    url: str
    path: str
    _pool: asyncpg.Pool
    _closed: bool

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{self.path}: store is closed")

    # -- reading ----------------------------------------------------------------------------

    async def _fetch(self, sql: str, *params: Any) -> list[Any]:
        self._check_open()
        with translated(self.url):
            async with self._pool.acquire() as conn:
                return list(await conn.fetch(sql, *params))

    async def _require_workflow(self, uid: str) -> None:
        if not await self._fetch("SELECT 1 FROM exitflow.workflows WHERE uid = $1", uid):
            raise WorkflowNotFoundError(f"no workflow {uid!r}")

    async def read_raw(
        self, uid: str, *, after_seq: int = 0, upto_seq: int | None = None
    ) -> list[RawEvent]:
        rows = await self._fetch(
            "SELECT seq, type, ts, payload, hash FROM exitflow.events WHERE wf ="
            " (SELECT id FROM exitflow.workflows WHERE uid = $1) AND seq > $2 AND seq <= $3"
            " ORDER BY seq",
            uid, after_seq, _MAX_SEQ if upto_seq is None else upto_seq,
        )
        if not rows:
            await self._require_workflow(uid)
        return [RawEvent(seq=r[0], type=r[1], ts=r[2], payload=r[3], hash=r[4]) for r in rows]

    async def read(
        self, uid: str, *, after_seq: int = 0, upto_seq: int | None = None
    ) -> list[RecordedEvent]:
        return [
            RecordedEvent(
                seq=r.seq, event=decode_event(self.path, uid, r.seq, r.payload), hash=r.hash
            )
            for r in await self.read_raw(uid, after_seq=after_seq, upto_seq=upto_seq)
        ]

    @staticmethod
    def _record(row: Sequence[Any]) -> WorkflowRecord:
        return WorkflowRecord(
            uid=row[0], name=row[1], created_at=row[2], phase=row[3], finished=bool(row[4]),
            last_seq=row[5], executor=row[6],
        )

    async def get_workflow(self, name_or_uid: str) -> WorkflowRecord:
        rows = await self._fetch(
            f"SELECT {_WORKFLOW_COLUMNS} FROM exitflow.workflows WHERE uid = $1 OR name = $1"
            " ORDER BY uid = $1 DESC LIMIT 1",
            name_or_uid,
        )
        if not rows:
            raise WorkflowNotFoundError(f"no workflow named {name_or_uid!r}")
        return self._record(rows[0])

    async def list_workflows(self, *, unfinished_only: bool = False) -> list[WorkflowRecord]:
        where = " WHERE NOT finished" if unfinished_only else ""
        rows = await self._fetch(
            f"SELECT {_WORKFLOW_COLUMNS} FROM exitflow.workflows{where} ORDER BY id"
        )
        return [self._record(r) for r in rows]

    async def read_logs(self, uid: str, node_id: str | None = None) -> list[LogRecord]:
        sql = (
            "SELECT node_id, attempt, stream, data FROM exitflow.logs"
            " WHERE wf = (SELECT id FROM exitflow.workflows WHERE uid = $1)"
        )
        params: list[Any] = [uid]
        if node_id is not None:
            sql += " AND node_id = $2"
            params.append(node_id)
        rows = await self._fetch(sql + " ORDER BY id", *params)
        if not rows:
            await self._require_workflow(uid)
        return [LogRecord(node_id=r[0], attempt=r[1], stream=r[2], data=r[3]) for r in rows]

    async def events_since(self, gseq: int, *, limit: int = 10_000) -> list[GlobalEvent]:
        rows = await self._fetch(
            "SELECT e.gseq, w.uid, e.seq, e.payload, e.hash FROM exitflow.events e"
            " LEFT JOIN exitflow.workflows w ON w.id = e.wf WHERE e.gseq > $1"
            " ORDER BY e.gseq LIMIT $2",
            gseq, limit,
        )
        out = []
        for g, uid, seq, payload, hash_ in rows:
            if uid is None:
                raise CorruptLogError(f"{self.path}: event gseq {g} has no workflow row")
            out.append(GlobalEvent(
                gseq=g, uid=uid, seq=seq, event=decode_event(self.path, uid, seq, payload),
                hash=hash_,
            ))
        return out

    async def iter_events_bulk(self, *, chunk_size: int = 10_000) -> AsyncIterator[GlobalEvent]:
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
        after = 0
        while True:
            rows = await self._fetch(
                "SELECT e.gseq, w.uid, e.seq, e.payload FROM exitflow.events e"
                " LEFT JOIN exitflow.workflows w ON w.id = e.wf WHERE e.gseq > $1"
                " ORDER BY e.gseq LIMIT $2",
                after, chunk_size,
            )
            out = decode_events_fast(self.path, rows)
            missing = [r[0] for r in rows if r[1] is None]
            if missing:
                raise CorruptLogError(f"{self.path}: event gseq {missing[0]} has no workflow row")
            yield out
            if len(rows) < chunk_size:
                return
            after = rows[-1][0]

    async def last_gseq(self) -> int:
        rows = await self._fetch("SELECT COALESCE(MAX(gseq), 0) FROM exitflow.events")
        return int(rows[0][0])

    async def change_token(self) -> int:
        """Grows whenever anyone commits events or a command (both only ever grow)."""
        rows = await self._fetch(
            "SELECT (SELECT last_gseq FROM exitflow.global_chain WHERE id = 1)"
            " + (SELECT COALESCE(MAX(id), 0) FROM exitflow.commands)"
            " + (SELECT COUNT(*) FROM exitflow.commands WHERE taken_by_generation IS NULL)"
        )
        return int(rows[0][0])

    # -- audit --------------------------------------------------------------------------------

    async def global_head(self) -> tuple[int, str]:
        rows = await self._fetch("SELECT last_gseq, head FROM exitflow.global_chain WHERE id = 1")
        if not rows:
            raise CorruptLogError(f"{self.path}: damaged event log (no global chain head)")
        return int(rows[0][0]), str(rows[0][1])

    async def workflow_heads(self) -> list[ChainHead]:
        rows = await self._fetch(
            f"SELECT {_WORKFLOW_COLUMNS}, head_hash,"
            " (SELECT ts FROM exitflow.events e WHERE e.wf = w.id AND e.seq = w.last_seq)"
            " FROM exitflow.workflows w ORDER BY id"
        )
        return [ChainHead(record=self._record(r), head_hash=r[7], last_ts=r[8]) for r in rows]

    async def read_links(self, *, after_gseq: int = 0, limit: int = 10_000) -> list[ChainLink]:
        rows = await self._fetch(
            "SELECT e.gseq, w.uid, e.seq, e.type, e.hash, e.ghash FROM exitflow.events e"
            " LEFT JOIN exitflow.workflows w ON w.id = e.wf WHERE e.gseq > $1"
            " ORDER BY e.gseq LIMIT $2",
            after_gseq, limit,
        )
        return [
            ChainLink(gseq=r[0], uid=r[1], seq=r[2], type=r[3], hash=r[4], ghash=r[5]) for r in rows
        ]

    async def checkpoints(self) -> list[Checkpoint]:
        rows = await self._fetch(
            "SELECT id, created_at, body, prev_hash, hash FROM exitflow.checkpoints ORDER BY id"
        )
        return [
            Checkpoint(id=r[0], created_at=r[1], body=r[2], prev_hash=r[3], hash=r[4]) for r in rows
        ]

