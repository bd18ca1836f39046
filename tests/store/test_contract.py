"""The event-store contract, one suite for every backend (after eventsourcing's recorder test
cases): what the controller, recovery and the audit commands rely on."""

from __future__ import annotations

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
    EXIT_PHASE,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    NodeStarted,
    WorkflowCompleted,
    WorkflowExiting,
    WorkflowStarted,
    WorkflowSubmitted,
    encode,
)
from engine.state.fold import fold
from engine.store.base import LogRecord
from engine.store.codec import GENESIS_HASH, GENESIS_RAW, chain_hash, link
from engine.store.locate import AnyStore, open_store

from .conftest import Opener

pytestmark = pytest.mark.anyio


def submitted(name: str | None = None) -> WorkflowSubmitted:
    uid = str(uuid.uuid4())
    return WorkflowSubmitted(
        ts=time.time(), uid=uid, name=name or f"wf-{uid[:8]}", spec_yaml="kind: Workflow\n"
    )


def started(i: int) -> NodeStarted:
    return NodeStarted(ts=time.time(), node_id=f"n{i}")


@pytest.fixture
async def store(opener: Opener) -> AsyncIterator[AnyStore]:
    s = await opener()
    await s.acquire_controller()
    try:
        yield s
    finally:
        await s.aclose()


async def test_create_then_read_round_trips_bytes_and_hash(store: AnyStore) -> None:
    s = submitted()
    await store.create_workflow(s)
    raw = await store.read_raw(s.uid)
    assert [(r.seq, r.type) for r in raw] == [(1, "WorkflowSubmitted")]
    assert raw[0].payload == encode(s)
    assert raw[0].hash == chain_hash(GENESIS_HASH, encode(s))
    events = await store.read(s.uid)
    assert events[0].event == s
    record = await store.get_workflow(s.name)
    assert (record.uid, record.phase, record.finished, record.last_seq) == (
        s.uid, PENDING, False, 1,
    )
    assert (await store.get_workflow(s.uid)).name == s.name


async def test_append_chains_hashes_and_reads_ranges(store: AnyStore) -> None:
    s = submitted()
    await store.create_workflow(s)
    await store.append(s.uid, 2, [started(i) for i in range(5)])
    await store.append(s.uid, 7, [started(9)])
    raw = await store.read_raw(s.uid)
    assert [r.seq for r in raw] == list(range(1, 8))
    prev = GENESIS_HASH
    for r in raw:
        assert r.hash == chain_hash(prev, r.payload)
        prev = r.hash
    assert [r.seq for r in await store.read(s.uid, after_seq=2, upto_seq=4)] == [3, 4]
    assert (await store.get_workflow(s.uid)).last_seq == 7


async def test_taken_or_skipped_seq_is_a_conflict(store: AnyStore) -> None:
    s = submitted()
    await store.create_workflow(s)
    await store.append(s.uid, 2, [started(1)])
    with pytest.raises(ConflictError):
        await store.append(s.uid, 2, [started(2)])
    with pytest.raises(ConflictError):
        await store.append(s.uid, 4, [started(3)])
    assert [r.seq for r in await store.read(s.uid)] == [1, 2]


async def test_concurrent_appends_at_one_seq_one_wins(store: AnyStore) -> None:
    s = submitted()
    await store.create_workflow(s)
    outcomes: list[str] = []

    async def attempt(i: int) -> None:
        try:
            await store.append(s.uid, 2, [started(i)])
            outcomes.append("ok")
        except ConflictError:
            outcomes.append("conflict")

    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(attempt, i)
    assert sorted(outcomes) == ["conflict"] * 7 + ["ok"]
    assert [r.seq for r in await store.read(s.uid)] == [1, 2]


async def test_a_second_store_writing_a_taken_seq_conflicts(
    store: AnyStore, opener: Opener
) -> None:
    s = submitted()
    await store.create_workflow(s)
    await store.append(s.uid, 2, [started(1)])
    other = await opener()
    try:
        await other.force_takeover()
        with pytest.raises(ConflictError):
            await other.append(s.uid, 2, [started(2)])
        await other.append(s.uid, 3, [started(3)])
    finally:
        await other.aclose()
    assert [r.seq for r in await store.read(s.uid)] == [1, 2, 3]


async def test_duplicate_uid_or_name_is_a_conflict(store: AnyStore) -> None:
    s = submitted()
    await store.create_workflow(s)
    with pytest.raises(ConflictError):
        await store.create_workflow(s)
    with pytest.raises(ConflictError):
        await store.create_workflow(submitted(name=s.name))
    assert len(await store.list_workflows()) == 1


async def test_unknown_workflow(store: AnyStore) -> None:
    with pytest.raises(WorkflowNotFoundError):
        await store.get_workflow("nope")
    with pytest.raises(WorkflowNotFoundError):
        await store.read("nope")
    with pytest.raises(WorkflowNotFoundError):
        await store.append("nope", 2, [started(1)])
    with pytest.raises(WorkflowNotFoundError):
        await store.add_command("nope", "Stop")


async def test_index_follows_the_fold_and_lists_unfinished(store: AnyStore) -> None:
    a, b = submitted(), submitted()
    await store.create_workflow(a)
    await store.create_workflow(b)
    await store.append(a.uid, 2, [WorkflowStarted(ts=time.time())])
    assert (await store.get_workflow(a.uid)).phase == RUNNING
    await store.append(a.uid, 3, [WorkflowExiting(ts=time.time(), status=FAILED)])
    record = await store.get_workflow(a.uid)
    assert (record.phase, record.finished) == (EXIT_PHASE, False)
    await store.append(b.uid, 2, [WorkflowStarted(ts=time.time())])
    await store.append(
        b.uid, 3, [WorkflowExiting(ts=time.time(), status=SUCCEEDED),
                   WorkflowCompleted(ts=time.time(), phase=SUCCEEDED)]
    )
    assert [r.uid for r in await store.list_workflows(unfinished_only=True)] == [a.uid]
    assert [r.uid for r in await store.list_workflows()] == [a.uid, b.uid]
    for uid in (a.uid, b.uid):  # the index says what a fold of the log says
        view = fold(r.event for r in await store.read(uid))
        record = await store.get_workflow(uid)
        assert (record.phase, record.last_seq) == (view.phase, view.seq)


async def test_logs_are_stored_with_their_events(store: AnyStore) -> None:
    s = submitted()
    await store.create_workflow(s)
    logs = [
        LogRecord(node_id="a", attempt=1, stream="stdout", data=b"hello\n"),
        LogRecord(node_id="b", attempt=1, stream="stderr", data=b"\x00\xffbin"),
        LogRecord(node_id="a", attempt=2, stream="stdout", data=b"again\n"),
    ]
    await store.append(s.uid, 2, [started(1)], logs)
    assert await store.read_logs(s.uid) == logs
    assert await store.read_logs(s.uid, "a") == [logs[0], logs[2]]
    assert await store.read_logs(s.uid, "zzz") == []


async def test_commands_are_taken_once(store: AnyStore, opener: Opener) -> None:
    s = submitted()
    await store.create_workflow(s)
    client = await opener()
    try:
        token = await client.change_token()
        await client.add_command(s.uid, "Stop")
        await client.add_command(s.uid, "Terminate")
        assert await client.change_token() != token
    finally:
        await client.aclose()
    taken = await store.take_commands()
    assert [(uid, c) for _i, uid, c in taken] == [(s.uid, "Stop"), (s.uid, "Terminate")]
    assert await store.take_commands() == []


async def test_fencing_and_the_single_controller(store: AnyStore, opener: Opener) -> None:
    s = submitted()
    await store.create_workflow(s)
    other = await opener()
    try:
        with pytest.raises(ControllerBusyError):
            await other.acquire_controller()
        generation = await other.force_takeover()
        assert generation == (store.generation or 0) + 1
        with pytest.raises(FencedError):
            await store.append(s.uid, 2, [started(1)])
        with pytest.raises(FencedError):
            await store.take_commands()
        await other.append(s.uid, 2, [started(1)])
    finally:
        await other.aclose()
    unfenced = await opener()
    try:
        with pytest.raises(FencedError):
            await unfenced.append(s.uid, 3, [started(2)])
    finally:
        await unfenced.aclose()


async def test_controller_lock_is_released_on_close(opener: Opener) -> None:
    first = await opener()
    await first.acquire_controller()
    await first.aclose()
    second = await opener()
    try:
        assert await second.acquire_controller() >= 2
    finally:
        await second.aclose()


async def test_global_order_and_chain_over_workflows(store: AnyStore) -> None:
    subs = [submitted() for _ in range(4)]
    for s in subs:
        await store.create_workflow(s)

    async def run(s: WorkflowSubmitted) -> None:
        for seq in range(2, 12):
            await store.append(s.uid, seq, [started(seq)])

    async with anyio.create_task_group() as tg:
        for s in subs:
            tg.start_soon(run, s)
    events = await store.events_since(0)
    assert [e.gseq for e in events] == list(range(1, 45))
    per_uid: dict[str, list[int]] = {}
    for e in events:
        per_uid.setdefault(e.uid, []).append(e.seq)
    assert all(seqs == list(range(1, 12)) for seqs in per_uid.values())
    links = await store.read_links()
    prev = GENESIS_RAW
    for chain_link in links:
        prev = link(prev, bytes.fromhex(chain_link.hash))
        assert chain_link.ghash == prev.hex()
    assert await store.global_head() == (44, prev.hex())
    chunks = [c async for c in store.iter_event_chunks(chunk_size=10)]
    assert [len(c) for c in chunks] == [10, 10, 10, 10, 4]
    assert [ev for c in chunks for _u, ev in c] == [e.event for e in events]
    assert [e.gseq async for e in store.iter_events_bulk(chunk_size=7)] == list(range(1, 45))


async def test_group_commit_many_writers(store: AnyStore) -> None:
    subs = [submitted() for _ in range(50)]
    async with anyio.create_task_group() as tg:
        for s in subs:
            tg.start_soon(store.create_workflow, s)

    async def run(s: WorkflowSubmitted) -> None:
        for seq in range(2, 6):
            await store.append(s.uid, seq, [started(seq)])

    async with anyio.create_task_group() as tg:
        for s in subs:
            tg.start_soon(run, s)
    records = await store.list_workflows()
    assert len(records) == 50 and {r.last_seq for r in records} == {5}
    assert (await store.global_head())[0] == 250


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def before_commit(self, events: int) -> None:
        self.calls.append(("before", events))

    def after_commit(self, events: int) -> None:
        self.calls.append(("after", events))


async def test_commit_hook_sees_every_transaction(opener: Opener) -> None:
    hook = _Recorder()
    store = await opener(hooks=hook)
    try:
        await store.acquire_controller()
        s = submitted()
        await store.create_workflow(s)
        await store.append(s.uid, 2, [started(1), started(2)])
    finally:
        await store.aclose()
    events = [n for when, n in hook.calls if when == "after"]
    assert sum(events) == 3
    assert [w for w, _ in hook.calls] == ["before", "after"] * (len(hook.calls) // 2)


async def test_read_only_store_refuses_writes_and_survives_reopen(
    store: AnyStore, opener: Opener
) -> None:
    s = submitted()
    await store.create_workflow(s)
    await store.append(s.uid, 2, [started(1)])
    reader = await opener(read_only=True)
    try:
        assert [r.seq for r in await reader.read(s.uid)] == [1, 2]
        with pytest.raises(StoreError):
            await reader.create_workflow(submitted())
    finally:
        await reader.aclose()


async def test_concurrent_opens_migrate_once(backend: str) -> None:
    stores: list[AnyStore] = []

    async def open_one() -> None:
        stores.append(await open_store(backend))

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(open_one)
    try:
        s = submitted()
        await stores[0].create_workflow(s)
        for other in stores[1:]:
            assert (await other.get_workflow(s.uid)).uid == s.uid
    finally:
        for st in stores:
            await st.aclose()


async def test_prune_seals_a_checkpoint(store: AnyStore) -> None:
    done, live = submitted(), submitted()
    for s in (done, live):
        await store.create_workflow(s)
    await store.append(done.uid, 2, [WorkflowStarted(ts=time.time()),
                                     WorkflowCompleted(ts=time.time(), phase=SUCCEEDED)])
    with pytest.raises(InputError):  # not finished
        await store.prune([live.uid])
    checkpoint = await store.prune([done.uid])
    assert checkpoint.data()["pruned"][0][0] == done.uid
    assert checkpoint.data()["heads"][0][0] == live.uid
    assert [c.hash for c in await store.checkpoints()] == [checkpoint.hash]
    assert [r.uid for r in await store.list_workflows()] == [live.uid]
    assert (await store.global_head())[0] == 4
    with pytest.raises(WorkflowNotFoundError):
        await store.read(done.uid)


async def test_import_keeps_the_run_chain_byte_for_byte(store: AnyStore, tmp_path: Path) -> None:
    source = await open_store(str(tmp_path / "source.db"))
    try:
        await source.acquire_controller()
        s = submitted()
        await source.create_workflow(s)
        logs = [LogRecord(node_id="n1", attempt=1, stream="stdout", data=b"x\n")]
        await source.append(s.uid, 2, [WorkflowStarted(ts=time.time()), started(1)], logs)
        heads = await source.workflow_heads()
        raw = await source.read_raw(s.uid)
    finally:
        await source.aclose()
    await store.import_workflow(heads[0].record, heads[0].head_hash, raw, logs)
    assert await store.read_raw(s.uid) == raw
    assert await store.read_logs(s.uid) == logs
    assert (await store.get_workflow(s.uid)) == heads[0].record
    with pytest.raises(ConflictError):
        await store.import_workflow(heads[0].record, heads[0].head_hash, raw, logs)


async def test_create_append_and_command_in_one_batch(store: AnyStore) -> None:
    """Requests queued together (one group commit) see each other's effects in order."""
    s = submitted()
    async with anyio.create_task_group() as tg:
        tg.start_soon(store.create_workflow, s)
        await anyio.sleep(0)
        tg.start_soon(store.append, s.uid, 2, [started(1)])
        tg.start_soon(store.add_command, s.uid, "Stop")
    assert [r.seq for r in await store.read(s.uid)] == [1, 2]
    assert [c for _i, _u, c in await store.take_commands()] == ["Stop"]
