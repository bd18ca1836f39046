"""Replay: fold every event of a database into per-workflow phases, decoding included.

The database holds copies of one finished run of the benchmark workflow (about 1,000,000 events
in the full run). Three loops over the same rows, in gseq order:

- `replay_events_per_s`: the engine's bulk path, `SqliteStore.iter_event_chunks()` (fetch, the
  next chunk prefetched while this one is folded, + decode) then `engine.state.fold.apply` into
  one `WorkflowView` per workflow; the result is the phase of every workflow.
- `decode_events_per_s`: a plain loop, `sqlite3` fetch of the payloads + `msgspec` decode of each
  (objects discarded), the floor under any replay.
- `replay_ratio_vs_decode`: the first over the second.
"""

from __future__ import annotations

import os
import sqlite3
import time

from engine.events import decode
from engine.state.fold import apply
from engine.state.view import WorkflowView
from engine.store import SqliteStore

from .common import Figure, Sizes, add_finished, no_gc, ratio_values, template_run


async def build(path: str, workdir: str, events: int) -> int:
    template = await template_run(workdir)
    store = await SqliteStore.open(path)
    await store.aclose()
    return add_finished(path, template, max(1, events // len(template)), prefix="replay")


async def replay(path: str) -> tuple[float, int, dict[str, str]]:
    store = await SqliteStore.open(path, read_only=True)
    views: dict[str, WorkflowView] = {}
    n = 0
    try:
        with no_gc():
            t0 = time.perf_counter()
            async for chunk in store.iter_event_chunks(chunk_size=20_000):
                for uid, event in chunk:
                    view = views.get(uid)
                    if view is None:
                        view = views[uid] = WorkflowView()
                    apply(view, event)
                n += len(chunk)
            phases = {uid: v.phase for uid, v in views.items()}
            elapsed = time.perf_counter() - t0
    finally:
        await store.aclose()
    return n / elapsed, n, phases


def decode_loop(path: str) -> tuple[float, int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    n = 0
    try:
        with no_gc():
            t0 = time.perf_counter()
            cursor = conn.execute("SELECT payload FROM events ORDER BY gseq")
            while True:
                rows = cursor.fetchmany(20_000)
                if not rows:
                    break
                for (payload,) in rows:
                    decode(payload)
                n += len(rows)
            elapsed = time.perf_counter() - t0
    finally:
        conn.close()
    return n / elapsed, n


async def run(sizes: Sizes, workdir: str) -> list[Figure]:
    path = os.path.join(workdir, "replay.db")
    total = await build(path, workdir, sizes.replay_events)
    ours = Figure(
        "replay_events_per_s",
        f"replay: fold {total:,} events into phases",
        "events/s",
        target=300_000,
    )
    plain = Figure("decode_events_per_s", "  plain fetch + msgspec decode loop", "events/s")
    for _ in range(sizes.runs):
        rate, n, phases = await replay(path)
        if n != total or set(phases.values()) != {"Succeeded"}:
            raise RuntimeError(f"replay folded {n} of {total} events: {set(phases.values())}")
        ours.values.append(rate)
        rate, n = decode_loop(path)
        plain.values.append(rate)
    ratio = Figure(
        "replay_ratio_vs_decode",
        "  ratio vs decode loop",
        "x",
        ratio_values(ours.values, plain.values),
    )
    return [ours, plain, ratio]
