"""SqliteStore behaviour on real SQLite files (no :memory:)."""

from __future__ import annotations

import hashlib
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from engine.errors import (
    ConflictError,
    ControllerBusyError,
    FencedError,
    InputError,
    StoreError,
    WorkflowNotFoundError,
)
from engine.events import (
    NodeFinished,
    NodeInitialized,
    NodeLogged,
    NodeOutputs,
    NodeStarted,
    WorkflowCompleted,
    WorkflowExiting,
    WorkflowStarted,
    WorkflowSubmitted,
    encode,
)
from engine.store import (
    CRASH_ENV,
    GENESIS_HASH,
    CrashPoint,
    EventStore,
    LogRecord,
    SqliteStore,
    chain_hash,
    crash_point_from_env,
)

pytestmark = pytest.mark.anyio


def submitted(name: str, uid: str | None = None) -> WorkflowSubmitted:
    return WorkflowSubmitted(
        ts=time.time(), uid=uid or str(uuid.uuid4()), name=name, spec_yaml="kind: Workflow\n"
    )


def node_started(i: int) -> NodeStarted:
    return NodeStarted(ts=time.time(), node_id=f"n{i}")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "log.db"


@pytest.fixture
async def store(db: Path) -> AsyncIterator[SqliteStore]:
    async with await SqliteStore.open(db) as s:
        await s.acquire_controller()
        yield s


def test_sqlite_store_satisfies_the_protocol() -> None:
    def accepts(store: EventStore) -> None: ...

    accepts(SqliteStore.__new__(SqliteStore))


async def test_round_trip(store: SqliteStore, db: Path) -> None:
    sub = submitted("hello")
    await store.create_workflow(sub)
    events = [
        WorkflowStarted(ts=1.0),
        NodeInitialized(ts=2.0, node_id="a", name="hello.a", display_name="a", node_type="Pod"),
        NodeStarted(ts=3.0, node_id="a"),
        NodeFinished(
            ts=4.0, node_id="a", phase="Succeeded", outputs=NodeOutputs(result="hi", exit_code=0)
        ),
        NodeLogged(ts=5.0, node_id="a", attempt=1, stdout_bytes=3),
    ]
    logs = [
        LogRecord(node_id="a", attempt=1, stream="stdout", data=b"hi\n"),
        LogRecord(node_id="a", attempt=1, stream="stderr", data=b"\x00\xff"),
    ]
    await store.append(sub.uid, 2, events[:3])
    await store.append(sub.uid, 5, events[3:], logs)

    recorded = await store.read(sub.uid)
    assert [r.seq for r in recorded] == [1, 2, 3, 4, 5, 6]
    assert [r.event for r in recorded] == [sub, *events]
    assert [r.seq for r in await store.read(sub.uid, after_seq=2, upto_seq=4)] == [3, 4]
    assert await store.read_logs(sub.uid) == logs
    assert await store.read_logs(sub.uid, "a") == logs
    assert await store.read_logs(sub.uid, "b") == []

    wf = await store.get_workflow("hello")
    assert (wf.uid, wf.name, wf.phase, wf.finished, wf.last_seq) == (
        sub.uid,
        "hello",
        "Running",
        False,
        6,
    )
    assert wf.created_at == sub.ts
    assert await store.get_workflow(sub.uid) == wf

    # Everything survives a reopen.
    await store.aclose()
    async with await SqliteStore.open(db) as again:
        assert [r.event for r in await again.read(sub.uid)] == [sub, *events]
        assert await again.read_logs(sub.uid) == logs
        assert await again.get_workflow(sub.uid) == wf


async def test_projection_phases_and_unfinished(store: SqliteStore) -> None:
    a, b = submitted("a"), submitted("b")
    await store.create_workflow(a)
    await store.create_workflow(b)
    assert (await store.get_workflow("a")).phase == "Pending"
    await store.append(a.uid, 2, [WorkflowStarted(ts=1.0)])
    await store.append(a.uid, 3, [WorkflowExiting(ts=2.0, status="Failed")])
    assert (await store.get_workflow("a")).phase == "ExitPhase"
    await store.append(a.uid, 4, [WorkflowCompleted(ts=3.0, phase="Failed")])
    done = await store.get_workflow("a")
    assert (done.phase, done.finished, done.last_seq) == ("Failed", True, 4)
    # A batch whose later events set nothing keeps the phase of the earlier ones.
    await store.append(b.uid, 2, [WorkflowStarted(ts=1.0), node_started(1)])
    assert (await store.get_workflow("b")).phase == "Running"

    assert [w.name for w in await store.list_workflows()] == ["a", "b"]
    assert [w.name for w in await store.list_workflows(unfinished_only=True)] == ["b"]


async def test_hash_chain(store: SqliteStore) -> None:
    sub = submitted("chain")
    await store.create_workflow(sub)
    for seq in range(2, 12, 2):
        await store.append(sub.uid, seq, [node_started(seq), node_started(seq + 1)])
    raw = await store.read_raw(sub.uid)
    assert [r.seq for r in raw] == list(range(1, 12))
    prev = GENESIS_HASH
    for r in raw:
        expected = hashlib.sha256(bytes.fromhex(prev) + r.payload).hexdigest()
        assert r.hash == expected == chain_hash(prev, r.payload)
        prev = r.hash
    assert raw[0].payload == encode(sub)
    assert raw[0].type == "WorkflowSubmitted"
    assert raw[1].type == "NodeStarted"
    assert [r.hash for r in await store.read(sub.uid)] == [r.hash for r in raw]


async def test_hash_chain_continues_after_reopen(db: Path) -> None:
    sub = submitted("reopen")
    async with await SqliteStore.open(db) as s:
        await s.acquire_controller()
        await s.create_workflow(sub)
        await s.append(sub.uid, 2, [node_started(2)])
    async with await SqliteStore.open(db) as s:
        await s.acquire_controller()
        await s.append(sub.uid, 3, [node_started(3)])
        raw = await s.read_raw(sub.uid)
    prev = GENESIS_HASH
    for r in raw:
        assert r.hash == chain_hash(prev, r.payload)
        prev = r.hash


async def test_group_commit_500_concurrent_appenders(db: Path) -> None:
    subs = [submitted(f"wf{i}") for i in range(500)]
    async with await SqliteStore.open(db) as s:
        await s.acquire_controller()
        async with anyio.create_task_group() as tg:
            for sub in subs:
                tg.start_soon(s.create_workflow, sub)

        async def appender(uid: str) -> None:
            for seq in range(2, 6):
                await s.append(uid, seq, [node_started(seq)])

        async with anyio.create_task_group() as tg:
            for sub in subs:
                tg.start_soon(appender, sub.uid)
    async with await SqliteStore.open(db, read_only=True) as s:
        for sub in subs:
            assert [r.seq for r in await s.read(sub.uid)] == [1, 2, 3, 4, 5]
        assert len([e async for e in s.iter_events_bulk(chunk_size=333)]) == 500 * 5


async def test_conflict_on_duplicate_seq_and_gap(store: SqliteStore) -> None:
    sub = submitted("c")
    await store.create_workflow(sub)
    await store.append(sub.uid, 2, [node_started(2)])
    with pytest.raises(ConflictError):
        await store.append(sub.uid, 2, [node_started(99)])  # duplicate
    with pytest.raises(ConflictError):
        await store.append(sub.uid, 1, [node_started(99)])
    with pytest.raises(ConflictError):
        await store.append(sub.uid, 4, [node_started(99)])  # gap
    await store.append(sub.uid, 3, [node_started(3)])
    recorded = await store.read(sub.uid)
    assert [r.seq for r in recorded] == [1, 2, 3]
    assert [getattr(r.event, "node_id", None) for r in recorded] == [None, "n2", "n3"]


async def test_concurrent_appends_at_the_same_seq_one_wins(store: SqliteStore) -> None:
    sub = submitted("race")
    other = submitted("bystander")
    await store.create_workflow(sub)
    await store.create_workflow(other)
    results: list[str] = []

    async def attempt(i: int) -> None:
        try:
            await store.append(sub.uid, 2, [node_started(i)])
            results.append("ok")
        except ConflictError:
            results.append("conflict")

    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(attempt, i)
        tg.start_soon(store.append, other.uid, 2, [node_started(0)])
    assert sorted(results) == ["conflict"] * 4 + ["ok"]
    assert [r.seq for r in await store.read(sub.uid)] == [1, 2]
    assert [r.seq for r in await store.read(other.uid)] == [1, 2]


async def test_duplicate_name_or_uid_conflicts_without_hurting_the_batch(
    store: SqliteStore,
) -> None:
    first = submitted("dup")
    await store.create_workflow(first)
    ok = [submitted(f"ok{i}") for i in range(5)]
    errors: list[BaseException] = []

    async def create(sub: WorkflowSubmitted) -> None:
        try:
            await store.create_workflow(sub)
        except ConflictError as e:
            errors.append(e)

    async with anyio.create_task_group() as tg:
        tg.start_soon(create, submitted("dup"))  # same name
        tg.start_soon(create, submitted("other", uid=first.uid))  # same uid
        for sub in ok:
            tg.start_soon(create, sub)
    assert len(errors) == 2
    names = [w.name for w in await store.list_workflows()]
    assert sorted(names) == sorted(["dup", *(s.name for s in ok)])


async def test_not_found(store: SqliteStore) -> None:
    with pytest.raises(WorkflowNotFoundError):
        await store.get_workflow("nope")
    with pytest.raises(WorkflowNotFoundError):
        await store.read("nope")
    with pytest.raises(WorkflowNotFoundError):
        await store.read_logs("nope")
    with pytest.raises(WorkflowNotFoundError):
        await store.append("nope", 2, [node_started(2)])
    with pytest.raises(WorkflowNotFoundError):
        await store.add_command("nope", "Stop")


async def test_append_requires_controller(db: Path) -> None:
    async with await SqliteStore.open(db) as s:
        sub = submitted("x")
        await s.create_workflow(sub)  # not fenced
        assert s.generation is None
        with pytest.raises(FencedError):
            await s.append(sub.uid, 2, [node_started(2)])
        with pytest.raises(FencedError):
            await s.take_commands()
        assert [r.seq for r in await s.read(sub.uid)] == [1]


async def test_second_controller_is_busy_until_the_first_closes(db: Path) -> None:
    first = await SqliteStore.open(db)
    second = await SqliteStore.open(db)
    try:
        g1 = await first.acquire_controller()
        assert first.generation == g1 == 1
        with pytest.raises(ControllerBusyError, match=r"another controller \(pid \d+\) holds"):
            await second.acquire_controller()
        async with anyio.create_task_group() as tg:
            got: list[int] = []

            async def wait_for_it() -> None:
                got.append(await second.acquire_controller(wait=True))

            tg.start_soon(wait_for_it)
            await anyio.sleep(0.3)
            assert got == []
            await first.aclose()
        assert got == [2]
        assert second.generation == 2
    finally:
        await first.aclose()
        await second.aclose()


async def test_takeover_fences_the_old_controller(db: Path) -> None:
    old = await SqliteStore.open(db)
    new = await SqliteStore.open(db)
    try:
        await old.acquire_controller()
        sub = submitted("fenced")
        await old.create_workflow(sub)
        await old.append(sub.uid, 2, [node_started(2)])
        await old.add_command(sub.uid, "Stop")

        generation = await new.force_takeover()
        assert generation == new.generation == 2
        with pytest.raises(FencedError):
            await old.append(
                sub.uid,
                3,
                [node_started(3)],
                [LogRecord(node_id="n", attempt=1, stream="stdout", data=b"x")],
            )
        with pytest.raises(FencedError):
            await old.take_commands()
        assert [r.seq for r in await new.read(sub.uid)] == [1, 2]
        assert await new.read_logs(sub.uid) == []
        assert (await new.get_workflow(sub.uid)).last_seq == 2
        # The new controller carries on, commands included.
        assert await new.take_commands() == [(1, sub.uid, "Stop")]
        await new.append(sub.uid, 3, [node_started(3)])
        assert [r.seq for r in await new.read(sub.uid)] == [1, 2, 3]
    finally:
        await old.aclose()
        await new.aclose()


async def test_commands_are_taken_once(store: SqliteStore, db: Path) -> None:
    sub = submitted("cmd")
    await store.create_workflow(sub)
    async with await SqliteStore.open(db) as client:  # any client may add commands
        await client.add_command(sub.uid, "Stop")
        await client.add_command(sub.uid, "Terminate")
    assert await store.take_commands() == [(1, sub.uid, "Stop"), (2, sub.uid, "Terminate")]
    assert await store.take_commands() == []
    await store.add_command(sub.uid, "Stop")
    assert await store.take_commands() == [(3, sub.uid, "Stop")]


async def test_bulk_iteration_and_change_detection(store: SqliteStore, db: Path) -> None:
    subs = [submitted(f"b{i}") for i in range(3)]
    for sub in subs:
        await store.create_workflow(sub)
    for seq in range(2, 5):
        for sub in subs:
            await store.append(sub.uid, seq, [node_started(seq)])
    everything = [e async for e in store.iter_events_bulk(chunk_size=4)]
    assert len(everything) == 12
    assert [e.gseq for e in everything] == sorted(e.gseq for e in everything)
    for sub in subs:
        assert [e.seq for e in everything if e.uid == sub.uid] == [1, 2, 3, 4]
    last = await store.last_gseq()
    assert last == everything[-1].gseq
    assert await store.events_since(last) == []

    token = await store.change_token()
    assert await store.change_token() == token  # nothing committed in between
    async with await SqliteStore.open(db) as client:
        await client.create_workflow(submitted("new"))
    assert await store.change_token() != token
    [new] = await store.events_since(last)
    assert (new.seq, new.event.name) == (1, "new")  # type: ignore[union-attr]


async def test_read_only(store: SqliteStore, db: Path) -> None:
    sub = submitted("ro")
    await store.create_workflow(sub)
    async with await SqliteStore.open(db, read_only=True) as ro:
        assert [r.seq for r in await ro.read(sub.uid)] == [1]
        with pytest.raises(StoreError, match="read-only"):
            await ro.create_workflow(submitted("nope"))
        with pytest.raises(StoreError, match="read-only"):
            await ro.acquire_controller()
    with pytest.raises(StoreError):
        await SqliteStore.open(db.with_name("missing.db"), read_only=True)
    assert not db.with_name("missing.db").exists()


async def test_closed_store_raises_and_pending_appends_flush(db: Path) -> None:
    s = await SqliteStore.open(db)
    await s.acquire_controller()
    sub = submitted("flush")
    await s.create_workflow(sub)
    async with anyio.create_task_group() as tg:
        for seq in range(2, 7):
            tg.start_soon(s.append, sub.uid, seq, [node_started(seq)])
            await anyio.sleep(0)  # queue them in seq order
        await s.aclose()  # flushes what is queued before it closes
    with pytest.raises(StoreError, match="closed"):
        await s.read(sub.uid)
    await s.aclose()  # idempotent
    async with await SqliteStore.open(db) as again:
        assert [r.seq for r in await again.read(sub.uid)] == [1, 2, 3, 4, 5, 6]


def test_crash_point_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CRASH_ENV, raising=False)
    assert crash_point_from_env() is None
    monkeypatch.setenv(CRASH_ENV, "7")
    assert crash_point_from_env() == CrashPoint(7, "after")
    monkeypatch.setenv(CRASH_ENV, "3:before")
    assert crash_point_from_env() == CrashPoint(3, "before")
    monkeypatch.setenv(CRASH_ENV, "0:sideways")
    with pytest.raises(InputError):
        crash_point_from_env()


async def test_unique_key_catches_a_write_behind_the_writers_back(
    store: SqliteStore, db: Path
) -> None:
    """If the cached head is stale (someone wrote seq 3 with raw SQL), the (wf, seq) key turns
    the append into a ConflictError and the writer reloads the head from the file."""
    sub = submitted("stale")
    await store.create_workflow(sub)
    await store.append(sub.uid, 2, [node_started(2)])
    [*_, head] = await store.read_raw(sub.uid)
    intruder = node_started(3)
    payload = encode(intruder)
    hash3 = chain_hash(head.hash, payload)
    conn = sqlite3.connect(db)
    try:
        conn.execute(
            "INSERT INTO events(wf, seq, type, ts, payload, hash)"
            " SELECT id, 3, 'NodeStarted', 0, ?, ? FROM workflows WHERE uid = ?",
            (payload, hash3, sub.uid),
        )
        conn.execute(
            "UPDATE workflows SET last_seq = 3, head_hash = ? WHERE uid = ?", (hash3, sub.uid)
        )
        conn.commit()
    finally:
        conn.close()
    with pytest.raises(ConflictError):
        await store.append(sub.uid, 3, [node_started(33)])
    await store.append(sub.uid, 4, [node_started(4)])
    raw = await store.read_raw(sub.uid)
    assert [r.seq for r in raw] == [1, 2, 3, 4]
    assert raw[3].hash == chain_hash(hash3, raw[3].payload)
