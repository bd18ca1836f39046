"""Durability of the SQLite store across real process deaths (SIGKILL, injected crashes) and
concurrent schema creation. The child processes run this same file as a script."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from engine.events import NodeStarted, WorkflowSubmitted
from engine.store import CRASH_ENV, GENESIS_HASH, SCHEMA_VERSION, SqliteStore, chain_hash
from engine.store.sqlite import crash_point_from_env

ROOT = Path(__file__).resolve().parents[2]
CHILD_TIMEOUT = 60


# --- the child side ----------------------------------------------------------------------------


def say(*parts: object) -> None:
    sys.stdout.write(" ".join(map(str, parts)) + "\n")
    sys.stdout.flush()


def new_submission(name: str) -> WorkflowSubmitted:
    return WorkflowSubmitted(ts=time.time(), uid=str(uuid.uuid4()), name=name, spec_yaml="x")


async def child_append_forever(db: str, workflows: str, per_call: str) -> None:
    """Concurrent appenders; print `uid seq` for every event once its append has returned."""
    n_events = int(per_call)
    async with await SqliteStore.open(db, crash_at=crash_point_from_env()) as store:
        await store.acquire_controller()

        async def appender(i: int) -> None:
            sub = new_submission(f"wf-{i}")
            await store.create_workflow(sub)
            say(sub.uid, 1)
            seq = 2
            while True:
                events = [
                    NodeStarted(ts=time.time(), node_id=f"n{seq + k}") for k in range(n_events)
                ]
                await store.append(sub.uid, seq, events)
                for k in range(n_events):
                    say(sub.uid, seq + k)
                seq += n_events

        async with anyio.create_task_group() as tg:
            for i in range(int(workflows)):
                tg.start_soon(appender, i)


async def child_open(db: str, go: str) -> None:
    """Wait for the go file, then open (and so create/migrate) the database."""
    while not os.path.exists(go):
        time.sleep(0.001)
    async with await SqliteStore.open(db):
        pass
    say("ok")


CHILDREN: dict[str, Callable[..., Awaitable[None]]] = {
    "append": child_append_forever,
    "open": child_open,
}


# --- the parent side ---------------------------------------------------------------------------


def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT)}
    full_env.pop(CRASH_ENV, None)
    full_env.update(env or {})
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        cwd=ROOT,
    )


def printed(lines: list[str]) -> dict[str, set[int]]:
    """uid -> seqs the child reported durable (complete lines only)."""
    seen: dict[str, set[int]] = defaultdict(set)
    for line in lines:
        if not line.endswith("\n"):
            continue  # cut off by the kill
        uid, seq = line.split()
        seen[uid].add(int(seq))
    return seen


async def durable(db: Path) -> dict[str, list[int]]:
    """uid -> stored seqs; checks contiguity, the workflows row and the hash chain."""
    out: dict[str, list[int]] = {}
    async with await SqliteStore.open(db, read_only=True) as store:
        for wf in await store.list_workflows():
            raw = await store.read_raw(wf.uid)
            seqs = [r.seq for r in raw]
            assert seqs == list(range(1, len(seqs) + 1)), f"{wf.uid} has a gap: {seqs}"
            assert wf.last_seq == len(seqs)
            prev = GENESIS_HASH
            for r in raw:
                assert r.hash == chain_hash(prev, r.payload)
                prev = r.hash
            out[wf.uid] = seqs
    return out


@pytest.mark.anyio
async def test_every_acknowledged_append_survives_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "kill.db"
    child = spawn("append", str(db), "20", "2")
    lines: list[str] = []
    assert child.stdout is not None
    deadline = time.monotonic() + CHILD_TIMEOUT
    while len(lines) < 600 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        lines.append(line)
    os.kill(child.pid, signal.SIGKILL)
    rest, err = child.communicate(timeout=CHILD_TIMEOUT)
    lines.extend(rest.splitlines(keepends=True))
    assert child.returncode == -signal.SIGKILL, err
    acked = printed(lines)
    assert sum(map(len, acked.values())) >= 600, err

    stored = await durable(db)
    for uid, seqs in acked.items():
        assert seqs <= set(stored[uid]), f"{uid}: acknowledged {sorted(seqs - set(stored[uid]))}"


@pytest.mark.anyio
@pytest.mark.parametrize("when", ["before", "after"])
async def test_crash_injection_single_appender(tmp_path: Path, when: str) -> None:
    """One workflow, one event per append: the 5th event is seq 5 (create_workflow is #1)."""
    db = tmp_path / "crash.db"
    child = spawn("append", str(db), "1", "1", env={CRASH_ENV: f"5:{when}"})
    out, err = child.communicate(timeout=CHILD_TIMEOUT)
    assert child.returncode == 137, err
    [seqs] = printed(out.splitlines(keepends=True)).values()
    assert sorted(seqs) == [1, 2, 3, 4]  # the append holding event 5 never returned
    [stored] = (await durable(db)).values()
    assert stored == ([1, 2, 3, 4] if when == "before" else [1, 2, 3, 4, 5])


@pytest.mark.anyio
@pytest.mark.parametrize("when", ["before", "after"])
async def test_crash_injection_in_a_group_commit(tmp_path: Path, when: str) -> None:
    """Many appenders of 3 events: the batch holding event 200 is lost (before) or kept
    (after), and nothing acknowledged is ever lost."""
    db = tmp_path / "crash.db"
    count = 200
    child = spawn("append", str(db), "10", "3", env={CRASH_ENV: f"{count}:{when}"})
    out, err = child.communicate(timeout=CHILD_TIMEOUT)
    assert child.returncode == 137, err
    acked = printed(out.splitlines(keepends=True))
    stored = await durable(db)
    for uid, seqs in acked.items():
        assert seqs <= set(stored[uid])
    total = sum(map(len, stored.values()))
    assert sum(map(len, acked.values())) < count
    if when == "before":
        assert total < count
    else:
        assert total >= count


def test_migration_race(tmp_path: Path) -> None:
    """Processes opening one fresh file at once all succeed; the schema is created once."""
    for round_ in range(3):
        db = tmp_path / f"race{round_}.db"
        go = tmp_path / f"go{round_}"
        children = [spawn("open", str(db), str(go)) for _ in range(4)]
        time.sleep(0.5)  # let them start and reach the go-file loop
        go.touch()
        for child in children:
            out, err = child.communicate(timeout=CHILD_TIMEOUT)
            assert child.returncode == 0, err
            assert out == "ok\n"
        conn = sqlite3.connect(db)
        try:
            assert conn.execute("SELECT version FROM schema_version").fetchall() == [
                (SCHEMA_VERSION,)
            ]
            assert conn.execute("SELECT id, generation FROM controller").fetchall() == [(1, 0)]
        finally:
            conn.close()


if __name__ == "__main__":
    anyio.run(CHILDREN[sys.argv[1]], *sys.argv[2:])
