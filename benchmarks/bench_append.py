"""Append throughput: 1,000 concurrent appenders, each awaiting durability before its next event.

Exitflow's `SqliteStore.append` against the storage ceiling: a raw `sqlite3` group-commit writer
thread on the same schema and pragmas (WAL, synchronous=FULL, wal_autocheckpoint=10000), fed by
the same number of asyncio appenders awaiting a future per event. The raw writer does only what
storage needs: one `executemany` of event rows and of workflow head updates per transaction.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from typing import Any

from engine.events import NodeStarted, encode
from engine.store import SqliteStore

from .common import Figure, Sizes, ratio_values, submissions
from .workloads import sequential_yaml


async def _setup(path: str, n_workflows: int) -> tuple[SqliteStore, list[str]]:
    store = await SqliteStore.open(path)
    await store.acquire_controller()
    subs = submissions(sequential_yaml(), n_workflows, executor="simulate", prefix="append")
    await asyncio.gather(*(store.create_workflow(s) for s in subs))
    return store, [s.uid for s in subs]


async def exitflow_append(path: str, n_workflows: int, total: int) -> float:
    """events/s of `SqliteStore.append`, one event per call, all appenders at once."""
    store, uids = await _setup(path, n_workflows)
    per = max(1, total // n_workflows)
    events = [NodeStarted(ts=time.time(), node_id=f"node-{i}") for i in range(per)]

    async def appender(uid: str) -> None:
        for i, ev in enumerate(events):
            await store.append(uid, i + 2, [ev])

    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(appender(u) for u in uids))
        elapsed = time.perf_counter() - t0
    finally:
        await store.aclose()
    return per * n_workflows / elapsed


class _RawWriter(threading.Thread):
    """Group commit on a plain sqlite3 connection: drain the queue, one transaction, resolve."""

    def __init__(self, path: str, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(daemon=True)
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA wal_autocheckpoint=10000")
        self.conn.execute("PRAGMA cache_size=-16000")
        self.loop = loop
        self.queue: list[tuple[Any, ...]] = []
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stop = False

    def submit(self, row: tuple[Any, ...], future: asyncio.Future[None]) -> None:
        with self.lock:
            self.queue.append((row, future))
        self.wake.set()

    def run(self) -> None:
        conn = self.conn
        while True:
            self.wake.wait()
            with self.lock:
                batch, self.queue = self.queue, []
                self.wake.clear()
            if not batch:
                if self.stop:
                    break
                continue
            rows = [item[0] for item in batch]
            heads = {}
            for wf, seq, _t, _ts, _p, h in rows:
                heads[wf] = (seq, h, wf)
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO events(wf, seq, type, ts, payload, hash) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.executemany(
                "UPDATE workflows SET last_seq = ?, head_hash = ? WHERE id = ?",
                list(heads.values()),
            )
            conn.execute("COMMIT")
            futures = [item[1] for item in batch]
            self.loop.call_soon_threadsafe(_resolve_all, futures)
        conn.close()


def _resolve_all(futures: list[asyncio.Future[None]]) -> None:
    for f in futures:
        if not f.done():
            f.set_result(None)


async def raw_append(path: str, n_workflows: int, total: int) -> float:
    """events/s of the raw sqlite3 group-commit ceiling on the same schema and workload."""
    store, _ = await _setup(path, n_workflows)  # same schema, same submitted rows
    await store.aclose()
    conn = sqlite3.connect(path)
    ids = [r[0] for r in conn.execute("SELECT id FROM workflows ORDER BY id")]
    conn.close()
    per = max(1, total // n_workflows)
    payloads = [encode(NodeStarted(ts=time.time(), node_id=f"node-{i}")) for i in range(per)]
    loop = asyncio.get_running_loop()
    writer = _RawWriter(path, loop)
    writer.start()
    fake_hash = "0" * 64

    async def appender(wf: int) -> None:
        for i, payload in enumerate(payloads):
            future: asyncio.Future[None] = loop.create_future()
            writer.submit((wf, i + 2, "NodeStarted", time.time(), payload, fake_hash), future)
            await future

    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(appender(w) for w in ids))
        elapsed = time.perf_counter() - t0
    finally:
        writer.stop = True
        writer.wake.set()
        await asyncio.to_thread(writer.join)
    return per * n_workflows / elapsed


async def run(sizes: Sizes, workdir: str) -> list[Figure]:
    ours = Figure("append_events_per_s", "append, 1,000 appenders awaiting durability", "events/s")
    ours.label = f"append, {sizes.append_workflows:,} appenders awaiting durability"
    raw = Figure(
        "sqlite_group_commit_events_per_s", "  raw sqlite3 group commit (ceiling)", "events/s"
    )
    for i in range(sizes.runs):
        # Alternate the order so neither side always gets the warmer page cache.
        order = [("ours", exitflow_append), ("raw", raw_append)]
        if i % 2:
            order.reverse()
        for name, fn in order:
            path = os.path.join(workdir, f"append-{name}-{i}.db")
            value = await fn(path, sizes.append_workflows, sizes.append_events)
            (ours if name == "ours" else raw).values.append(value)
    ratio = Figure(
        "append_ratio_vs_sqlite",
        "  ratio vs raw sqlite3",
        "x",
        ratio_values(ours.values, raw.values),
    )
    ratio.target = 0.7
    return [ours, raw, ratio]
