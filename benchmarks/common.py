"""Shared pieces of the benchmarks: sizes, timing statistics, databases built quickly."""

from __future__ import annotations

import gc
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import msgspec

from engine.api import prepare
from engine.events import WorkflowSubmitted, decode, encode
from engine.store import SqliteStore
from engine.store.base import GENESIS_HASH, RawEvent, chain_hash

from .workloads import sequential_yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark is. `full` is the documented run; `quick` < 60 s; `tiny` for tests."""

    name: str
    runs: int
    append_workflows: int  # concurrent appenders
    append_events: int  # events in all
    wf_total: int
    wf_inflight: int
    dbos_total: int
    #: DBOS modes to run ("async": 100 in flight; "sync": 8 threads, its faster mode here).
    dbos_modes: tuple[str, ...]
    local_total: int
    spawn_total: int
    replay_events: int
    recovery_finished: int
    recovery_unfinished: int
    recovery_step_s: float
    latency_total: int
    rss_running: int
    growth: tuple[int, ...]
    growth_total: int
    #: workflow sizes (nodes) of the node-cost benchmark; the ratio is largest ÷ smallest.
    nodes: tuple[int, ...] = (200, 2_000, 10_000)


FULL = Sizes(
    name="full",
    runs=3,
    append_workflows=1000,
    append_events=100_000,
    wf_total=2000,
    wf_inflight=100,
    dbos_total=200,
    dbos_modes=("async", "sync"),
    local_total=200,
    spawn_total=1100,
    replay_events=1_000_000,
    recovery_finished=10_000,
    recovery_unfinished=100,
    recovery_step_s=0.2,
    latency_total=300,
    rss_running=1000,
    growth=(1_000, 10_000, 100_000),
    growth_total=1000,
)
QUICK = Sizes(
    name="quick",
    runs=3,
    append_workflows=1000,
    append_events=10_000,
    wf_total=200,
    wf_inflight=100,
    dbos_total=40,
    dbos_modes=("sync",),
    local_total=30,
    spawn_total=110,
    replay_events=100_000,
    recovery_finished=1000,
    recovery_unfinished=10,
    recovery_step_s=0.1,
    latency_total=50,
    rss_running=50,
    growth=(1_000, 5_000),
    growth_total=100,
    nodes=(200, 1_000),
)
TINY = Sizes(
    name="tiny",
    runs=1,
    append_workflows=50,
    append_events=500,
    wf_total=20,
    wf_inflight=10,
    dbos_total=5,
    dbos_modes=("sync",),
    local_total=3,
    spawn_total=11,
    replay_events=5_000,
    recovery_finished=50,
    recovery_unfinished=3,
    recovery_step_s=0.2,
    latency_total=3,
    rss_running=5,
    growth=(100,),
    growth_total=10,
    nodes=(20, 50),
)
SIZES = {s.name: s for s in (FULL, QUICK, TINY)}


@dataclass
class Figure:
    """One measured quantity over several runs (or a note saying why there is none)."""

    key: str
    label: str
    unit: str
    values: list[float] = field(default_factory=list)
    note: str = ""
    #: "higher" or "lower": which direction is better (for the target check).
    better: str = "higher"
    target: float | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    def met(self) -> bool | None:
        m = self.median
        if m is None or self.target is None:
            return None
        return m >= self.target if self.better == "higher" else m < self.target


def ratio_values(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """Per-run ratios a[i]/b[i] (runs are paired: measured back to back in the same run)."""
    return [x / y for x, y in zip(a, b, strict=False) if y]


@contextmanager
def no_gc() -> Iterator[None]:
    """Bulk work without the cyclic GC walking a heap of live objects."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def submissions(text: str, n: int, *, executor: str, prefix: str) -> list[WorkflowSubmitted]:
    """`n` submissions of one spec: parsed and validated once, then a fresh uid and name each
    (what `prepare` would give for each, without re-validating the same text n times)."""
    _, first = prepare(text, source="bench.yaml", executor=executor)
    token = uuid.uuid4().hex[:6]
    return [
        msgspec.structs.replace(first, uid=str(uuid.uuid4()), name=f"{prefix}-{token}-{i}")
        for i in range(n)
    ]


async def template_run(directory: str, text: str | None = None) -> list[RawEvent]:
    """The stored events of one finished run of the benchmark workflow (simulate executor)."""
    from engine.controller.controller import Controller
    from engine.controller.pool import ExecutorPool

    path = os.path.join(directory, "template.db")
    store = await SqliteStore.open(path)
    pool = ExecutorPool("simulate")
    try:
        await store.acquire_controller()
        (sub,) = submissions(text or sequential_yaml(), 1, executor="simulate", prefix="tpl")
        await store.create_workflow(sub)
        view = await Controller(store, pool).run_workflow(sub.uid)
        assert view.phase == "Succeeded", view.phase
        return await store.read_raw(sub.uid)
    finally:
        await pool.aclose()
        await store.aclose()


def add_finished(path: str, template: Sequence[RawEvent], n: int, *, prefix: str) -> int:
    """Add `n` finished copies of a run to the database at `path` (schema must exist), with
    fresh uids/names and a correct hash chain, written with plain sqlite3 in large transactions
    (fast setup; not a measured path). Returns the number of events added."""
    first = decode(template[0].payload)
    assert isinstance(first, WorkflowSubmitted)
    rest = [(r.type, r.ts, r.payload) for r in template[1:]]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    token = uuid.uuid4().hex[:6]
    added = 0
    try:
        (next_id,) = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM workflows").fetchone()
        for start in range(0, n, 2000):
            conn.execute("BEGIN")
            wf_rows = []
            ev_rows = []
            for i in range(start, min(n, start + 2000)):
                sub = msgspec.structs.replace(
                    first, uid=str(uuid.uuid4()), name=f"{prefix}-{token}-{i}"
                )
                payload = encode(sub)
                h = chain_hash(GENESIS_HASH, payload)
                ev_rows.append((next_id, 1, "WorkflowSubmitted", sub.ts, payload, h))
                seq = 1
                for type_, ts, body in rest:
                    seq += 1
                    h = chain_hash(h, body)
                    ev_rows.append((next_id, seq, type_, ts, body, h))
                wf_rows.append(
                    (next_id, sub.uid, sub.name, sub.ts, "Succeeded", seq, sub.executor, h)
                )
                next_id += 1
            conn.executemany(
                "INSERT INTO workflows(id, uid, name, created_at, phase, finished, last_seq,"
                " executor, head_hash) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?)",
                wf_rows,
            )
            conn.executemany(
                "INSERT INTO events(wf, seq, type, ts, payload, hash) VALUES (?, ?, ?, ?, ?, ?)",
                ev_rows,
            )
            conn.execute("COMMIT")
            added += len(ev_rows)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return added


#: Where child processes keep the engine's bytecode (outside the checkout).
PYCACHE = os.path.join(tempfile.gettempdir(), "exitflow-bench-pycache")


def python_env(*, bytecode_cache: bool = True) -> dict[str, str]:
    """Environment for child processes: this checkout importable, no crash injection.

    With `bytecode_cache` (the default) the engine's modules are compiled once into `PYCACHE`
    and loaded from there, as from any installed package (pip writes .pyc files); without it, a
    `PYTHONDONTWRITEBYTECODE=1` environment (this project's CI and dev containers set it)
    compiles ~60 modules from source on every process start, ~100 ms on 2 cores.
    """
    env = dict(os.environ)
    env.pop("EXITFLOW_CRASH_AT", None)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = PYCACHE
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    return env


def exitflow_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine", *args]
