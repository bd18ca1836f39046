"""PostgreSQL: the append path against the bare drivers, and whole workflows.

The server is `$EXITFLOW_BENCH_PG_URL`, else the test server (`$EXITFLOW_TEST_PG_URL` or the URL
.ci/setup-postgres.sh wrote); every measurement gets a fresh database there. Without a server
the figures carry a note instead of values.

- `pg_append_events_per_s`: `PostgresStore.append`, N appenders each awaiting durability of one
  event before the next (the same workload as `append_events_per_s` on SQLite).
- `pg_raw_asyncpg_events_per_s` / `pg_raw_psycopg_events_per_s`: the ceiling of each driver: a
  plain batched insert on the same schema with the same group commit (one writer task drains
  the queue: one `unnest` insert of the events, one head update, one COMMIT), no hashing, no
  fencing, no index projection. Their ratio is why the store is on asyncpg.
- `pg_wf_per_s_simulate`: whole workflows (simulate executor) on one controller.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from engine.events import NodeStarted, encode
from engine.store.postgres import PostgresStore
from engine.store.postgres_schema import drop_database

from .bench_workflows import run_workflows
from .common import Figure, Sizes, ratio_values, submissions
from .workloads import sequential_yaml

_URL_FILE = os.path.join(os.environ.get("TMPDIR") or "/tmp", "exitflow-pg", "url")


def server_url() -> str | None:
    for var in ("EXITFLOW_BENCH_PG_URL", "EXITFLOW_TEST_PG_URL"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        with open(_URL_FILE, encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


async def _fresh_database(server: str) -> str:
    name = "exitflow_bench_" + uuid.uuid4().hex[:10]
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return urlunsplit(urlsplit(server)._replace(path="/" + name))


async def _drop_database(server: str, url: str) -> None:
    del server
    await drop_database(url)


async def _setup(url: str, n_workflows: int) -> list[str]:
    """Create the schema and the workflows (through the store, so both sides share them)."""
    store = await PostgresStore.open(url)
    try:
        await store.acquire_controller()
        subs = submissions(sequential_yaml(), n_workflows, executor="simulate", prefix="append")
        await asyncio.gather(*(store.create_workflow(s) for s in subs))
    finally:
        await store.aclose()
    return [s.uid for s in subs]


async def ours_append(url: str, n_workflows: int, total: int) -> float:
    uids = await _setup(url, n_workflows)
    store = await PostgresStore.open(url)
    per = max(1, total // n_workflows)
    events = [NodeStarted(ts=time.time(), node_id=f"node-{i}") for i in range(per)]

    async def appender(uid: str) -> None:
        for i, ev in enumerate(events):
            await store.append(uid, i + 2, [ev])

    try:
        await store.acquire_controller()
        t0 = time.perf_counter()
        await asyncio.gather(*(appender(u) for u in uids))
        elapsed = time.perf_counter() - t0
    finally:
        await store.aclose()
    return per * n_workflows / elapsed


_INSERT = (
    "INSERT INTO exitflow.events(gseq, wf, seq, type, ts, payload, hash)"
    " SELECT * FROM unnest({}::bigint[], {}::bigint[], {}::bigint[], {}::text[],"
    " {}::float8[], {}::bytea[], {}::text[])"
)
_HEADS = (
    "UPDATE exitflow.workflows w SET last_seq = u.s, head_hash = u.h"
    " FROM unnest({}::bigint[], {}::bigint[], {}::text[]) AS u(id, s, h) WHERE w.id = u.id"
)
_ASYNCPG_MARKS = [f"${i}" for i in range(1, 8)]
_PSYCOPG_MARKS = ["%s"] * 7

Writer = Callable[[list[tuple[Any, ...]], int], Awaitable[None]]


async def _raw_group_commit(
    url: str, n_workflows: int, total: int, connect: Callable[[], Awaitable[Any]],
    make_writer: Callable[[Any], Writer], close: Callable[[Any], Awaitable[None]],
) -> float:
    await _setup(url, n_workflows)
    meta = await asyncpg.connect(url)
    try:
        ids = [r[0] for r in await meta.fetch("SELECT id FROM exitflow.workflows ORDER BY id")]
        gseq = int(await meta.fetchval("SELECT MAX(gseq) FROM exitflow.events"))
    finally:
        await meta.close()
    per = max(1, total // n_workflows)
    payloads = [encode(NodeStarted(ts=time.time(), node_id=f"node-{i}")) for i in range(per)]
    conn = await connect()
    write = make_writer(conn)
    queue: list[tuple[tuple[Any, ...], asyncio.Future[None]]] = []
    wake = asyncio.Event()
    stop = False

    async def writer() -> None:
        nonlocal gseq
        while True:
            await wake.wait()
            wake.clear()
            batch, queue[:] = list(queue), []
            if not batch:
                if stop:
                    return
                continue
            await write([row for row, _f in batch], gseq)
            gseq += len(batch)
            for _row, f in batch:
                f.set_result(None)

    loop = asyncio.get_running_loop()
    fake_hash = "0" * 64

    async def appender(wf: int) -> None:
        for i, payload in enumerate(payloads):
            future: asyncio.Future[None] = loop.create_future()
            queue.append(((wf, i + 2, "NodeStarted", time.time(), payload, fake_hash), future))
            wake.set()
            await future

    task = loop.create_task(writer())
    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(appender(w) for w in ids))
        elapsed = time.perf_counter() - t0
    finally:
        stop = True
        wake.set()
        await task
        await close(conn)
    return per * n_workflows / elapsed


def _columns(rows: list[tuple[Any, ...]], gseq: int) -> tuple[list[list[Any]], list[list[Any]]]:
    cols: list[list[Any]] = [[] for _ in range(7)]
    heads: dict[int, tuple[int, str]] = {}
    for n, (wf, seq, type_, ts, payload, h) in enumerate(rows, 1):
        for col, value in zip(cols, (gseq + n, wf, seq, type_, ts, payload, h), strict=True):
            col.append(value)
        heads[wf] = (seq, h)
    head_cols = [list(heads), [s for s, _ in heads.values()], [h for _, h in heads.values()]]
    return cols, head_cols


async def raw_asyncpg(url: str, n_workflows: int, total: int) -> float:
    def make(conn: Any) -> Writer:
        async def write(rows: list[tuple[Any, ...]], gseq: int) -> None:
            cols, heads = _columns(rows, gseq)
            async with conn.transaction():
                await conn.execute(_INSERT.format(*_ASYNCPG_MARKS), *cols)
                await conn.execute(_HEADS.format(*_ASYNCPG_MARKS[:3]), *heads)

        return write

    async def close(conn: Any) -> None:
        await conn.close()

    return await _raw_group_commit(url, n_workflows, total, lambda: asyncpg.connect(url),
                                   make, close)


async def raw_psycopg(url: str, n_workflows: int, total: int) -> float:
    import psycopg

    def make(conn: Any) -> Writer:
        async def write(rows: list[tuple[Any, ...]], gseq: int) -> None:
            cols, heads = _columns(rows, gseq)
            async with conn.transaction():
                await conn.execute(_INSERT.format(*_PSYCOPG_MARKS), cols)
                await conn.execute(_HEADS.format(*_PSYCOPG_MARKS[:3]), heads)

        return write

    async def close(conn: Any) -> None:
        await conn.close()

    async def connect() -> Any:
        return await psycopg.AsyncConnection.connect(url, autocommit=True)

    return await _raw_group_commit(url, n_workflows, total, connect, make, close)


async def run(sizes: Sizes, workdir: str) -> list[Figure]:
    del workdir
    appenders = min(sizes.append_workflows, 200)
    events = max(appenders, sizes.append_events // 5)
    ours = Figure("pg_append_events_per_s",
                  f"pg append, {appenders} appenders awaiting durability", "events/s")
    raw = Figure("pg_raw_asyncpg_events_per_s", "  raw asyncpg batched insert (ceiling)",
                 "events/s")
    psy = Figure("pg_raw_psycopg_events_per_s", "  raw psycopg 3 batched insert", "events/s")
    wf = Figure("pg_wf_per_s_simulate",
                f"pg workflows, simulate ({sizes.wf_total:,}, {sizes.wf_inflight} in flight)",
                "wf/s")
    figures = [ours, raw, psy]
    server = server_url()
    if server is None:
        for f in (*figures, wf):
            f.note = "no PostgreSQL server (bash .ci/setup-postgres.sh)"
        return [*figures, wf]
    try:
        import psycopg  # noqa: F401
    except ImportError:
        psy.note = "psycopg not installed (pip install -e '.[bench]')"
    sides: list[tuple[Figure, Callable[[str, int, int], Awaitable[float]]]] = [
        (ours, ours_append), (raw, raw_asyncpg)
    ]
    if not psy.note:
        sides.append((psy, raw_psycopg))
    for i in range(sizes.runs):
        order = sides if i % 2 == 0 else list(reversed(sides))
        for fig, fn in order:
            url = await _fresh_database(server)
            try:
                fig.values.append(await fn(url, appenders, events))
            finally:
                await _drop_database(server, url)
        url = await _fresh_database(server)
        try:
            wf.values.append(
                await run_workflows(url, sizes.wf_total, sizes.wf_inflight, executor="simulate")
            )
        finally:
            await _drop_database(server, url)
    ratio = Figure("pg_append_ratio_vs_driver", "  ratio vs raw asyncpg", "x",
                   ratio_values(ours.values, raw.values))
    ratio.target = 0.7
    out = [ours, raw, ratio, psy]
    if psy.values:
        out.append(Figure("pg_asyncpg_vs_psycopg", "  raw asyncpg / raw psycopg 3", "x",
                          ratio_values(raw.values, psy.values)))
    return [*out, wf]
