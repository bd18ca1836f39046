"""The event-store interface. Only implementations of it know SQL (see `sqlite.py`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol, runtime_checkable

import msgspec

from ..events import AnyEvent, Event, WorkflowSubmitted
from ..faults import CrashPoint as CrashPoint
from .codec import GENESIS_HASH as GENESIS_HASH
from .codec import chain_hash as chain_hash


class WorkflowRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A row of the workflow index: a projection kept in the same transaction as the events."""

    uid: str
    name: str
    created_at: float
    #: Last phase seen in the log (Pending, Running, ExitPhase, Succeeded, Failed, Error).
    phase: str
    finished: bool
    last_seq: int
    executor: str = "local"


class RecordedEvent(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    event: AnyEvent
    #: sha256(previous event's hash || this event's canonical bytes), hex.
    hash: str


class RawEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event exactly as stored: the canonical bytes the hash chain covers (for verify/export)."""

    seq: int
    type: str
    ts: float
    payload: bytes
    hash: str


class GlobalEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event with its position in the whole log (`gseq`: commit order over all workflows).

    Within one workflow, gseq order is seq order.
    """

    gseq: int
    uid: str
    seq: int
    event: AnyEvent
    hash: str


class ChainHead(msgspec.Struct, frozen=True, kw_only=True):
    """A workflow's recorded chain head (its row in the workflow index)."""

    record: WorkflowRecord
    head_hash: str
    #: `ts` of the event at `record.last_seq` (None if that event is missing).
    last_ts: float | None = None


class ChainLink(msgspec.Struct, frozen=True, kw_only=True):
    """One event's place in both chains, without its payload."""

    gseq: int
    #: None when the event's workflow row is gone.
    uid: str | None
    seq: int
    type: str
    hash: str
    #: sha256(previous event's ghash || this event's hash), in gseq order; None if unset.
    ghash: str | None


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A seal written by `prune`: the global chain head at `gseq` and the heads of every
    workflow that remained, chained to the previous checkpoint. `body` is canonical JSON:
    {"created_at", "ghash", "gseq", "heads": [[uid, last_seq, hash]], "pruned":
    [[uid, name, last_seq, hash]]}; hash = chain_hash(prev_hash, body as UTF-8)."""

    id: int = 0
    created_at: float
    body: str
    prev_hash: str
    hash: str

    @staticmethod
    def make_body(
        *,
        gseq: int,
        ghash: str,
        created_at: float,
        heads: list[list[Any]],
        pruned: list[list[Any]],
    ) -> str:
        data = {
            "created_at": created_at,
            "ghash": ghash,
            "gseq": gseq,
            "heads": heads,
            "pruned": pruned,
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def seal(cls, *, created_at: float, body: str, prev_hash: str) -> Checkpoint:
        return cls(
            created_at=created_at,
            body=body,
            prev_hash=prev_hash,
            hash=chain_hash(prev_hash, body.encode()),
        )

    def data(self) -> dict[str, Any]:
        out = json.loads(self.body)
        assert isinstance(out, dict)
        return out


class LogRecord(msgspec.Struct, frozen=True, kw_only=True):
    node_id: str
    attempt: int
    stream: str  # "stdout" | "stderr"
    data: bytes


class CommitHook(Protocol):
    """Called by a store around each write transaction (fault injection: `engine.faults`).

    `events` is how many events the transaction appends. A hook may end the process; it must
    not touch the store."""

    def before_commit(self, events: int) -> None: ...

    def after_commit(self, events: int) -> None: ...


class EventStore(Protocol):
    """An append-only log of workflow events with a small workflow index.

    `append` is durable when it returns and is fenced by the controller generation; the
    submission (`create_workflow`) and commands are not fenced: any client may add them.
    """

    path: str

    async def create_workflow(self, submitted: WorkflowSubmitted) -> None:
        """Record a new run; its first event (seq 1). ConflictError if the name or uid exists."""
        ...

    async def append(
        self,
        uid: str,
        first_seq: int,
        events: Sequence[Event],
        logs: Sequence[LogRecord] = (),
    ) -> None:
        """Append events seq first_seq.. durably (group commit). Fenced by the generation."""
        ...

    async def read(
        self, uid: str, *, after_seq: int = 0, upto_seq: int | None = None
    ) -> list[RecordedEvent]: ...

    async def get_workflow(self, name_or_uid: str) -> WorkflowRecord: ...

    async def list_workflows(self, *, unfinished_only: bool = False) -> list[WorkflowRecord]: ...

    async def read_logs(self, uid: str, node_id: str | None = None) -> list[LogRecord]: ...

    async def add_command(self, uid: str, command: str) -> None:
        """A request for the controller (e.g. "Stop", "Terminate"), from any client."""
        ...

    async def take_commands(self) -> list[tuple[int, str, str]]:
        """Pending commands as (id, uid, command); fenced; each returned once."""
        ...

    async def acquire_controller(self, *, wait: bool = False) -> int:
        """Become the only controller of this database; returns the new generation."""
        ...

    async def read_raw(
        self, uid: str, *, after_seq: int = 0, upto_seq: int | None = None
    ) -> list[RawEvent]:
        """Like `read`, without decoding: the stored bytes and hashes (for verify and export)."""
        ...

    def iter_events_bulk(self, *, chunk_size: int = 10_000) -> AsyncIterator[GlobalEvent]:
        """Every event of every workflow in gseq order, fetched in chunks (bulk replay)."""
        ...

    def iter_event_chunks(
        self, *, chunk_size: int = 20_000
    ) -> AsyncIterator[list[tuple[str, AnyEvent]]]:
        """Every event as (uid, event) in gseq order, a chunk at a time (the bulk replay path:
        no per-event await or record object)."""
        ...

    async def events_since(self, gseq: int, *, limit: int = 10_000) -> list[GlobalEvent]:
        """Events with a gseq greater than `gseq`, in gseq order (at most `limit`)."""
        ...

    async def change_token(self) -> int:
        """A cheap value that changes whenever anyone commits to the database (poll it)."""
        ...

    @property
    def generation(self) -> int | None:
        """This store's controller generation, or None before `acquire_controller`."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class LeasedStore(Protocol):
    """A store many controllers share: each run is driven under a lease with a fencing token
    (PostgreSQL; see docs/scale-out.md). `append` to a run not held is a FencedError."""

    @property
    def owner(self) -> str | None:
        """This controller's id once `join_controllers` was called, else None."""
        ...

    @property
    def lease_seconds(self) -> float: ...

    async def join_controllers(self, lease_seconds: float) -> str: ...

    async def claim_runs(self, limit: int = 100) -> list[str]: ...

    async def renew_leases(self) -> set[str]: ...

    async def release_run(self, uid: str) -> None: ...
