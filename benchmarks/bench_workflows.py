"""Whole workflows through the public API in-process: submit durably, run to the final phase.

Workload: `workloads.sequential_yaml` (10 sequential steps + an onExit cleanup), `inflight`
workflows at a time. Each workflow is `store.create_workflow` (its durable first event) then
`Controller.run_workflow`; the spec is parsed and validated once for all (see `submissions`).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import anyio

from engine.controller.controller import Controller
from engine.controller.pool import ExecutorPool
from engine.store import SqliteStore
from engine.store.locate import open_store

from .common import ROOT, Figure, Sizes, add_finished, ratio_values, submissions, template_run
from .workloads import sequential_yaml


async def run_workflows(
    path: str,
    total: int,
    inflight: int,
    *,
    executor: str,
    command: str = "true",
    text: str | None = None,
) -> float:
    """Workflows per second, from the first submission to the last final phase (the workflow
    is `text`, else `sequential_yaml(command)`)."""
    spec = text if text is not None else sequential_yaml(command)
    subs = submissions(spec, total, executor=executor, prefix=executor)
    store = await open_store(path)  # a SQLite file or a postgresql:// URL
    pool = ExecutorPool(executor)
    try:
        await store.acquire_controller()
        await pool.get(executor)
        controller = Controller(store, pool)
        limit = anyio.Semaphore(inflight)
        bad: list[str] = []

        async def one(i: int) -> None:
            async with limit:
                await store.create_workflow(subs[i])
                view = await controller.run_workflow(subs[i].uid)
                if view.phase != "Succeeded":
                    bad.append(f"{view.name}: {view.phase} {view.message}")

        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for i in range(total):
                tg.start_soon(one, i)
        elapsed = time.perf_counter() - t0
        if bad:
            raise RuntimeError(f"{len(bad)} workflow(s) did not succeed: {bad[:3]}")
    finally:
        await pool.aclose()
        await store.aclose()
    return total / elapsed


async def spawn_true(total: int, inflight: int) -> float:
    """Processes/s of spawning `true` alone (asyncio subprocess), `inflight` at a time."""
    limit = asyncio.Semaphore(inflight)

    async def one() -> None:
        async with limit:
            proc = await asyncio.create_subprocess_exec(
                "true",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            await proc.wait()

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(total)))
    return total / (time.perf_counter() - t0)


async def simulate(sizes: Sizes, workdir: str) -> list[Figure]:
    fig = Figure(
        "wf_per_s_simulate",
        f"workflows, simulate ({sizes.wf_total:,}, {sizes.wf_inflight} in flight)",
        "wf/s",
        target=1000,
    )
    for i in range(sizes.runs):
        path = os.path.join(workdir, f"simulate-{i}.db")
        fig.values.append(
            await run_workflows(path, sizes.wf_total, sizes.wf_inflight, executor="simulate")
        )
    return [fig]


def dbos(sizes: Sizes, workdir: str, ours: Figure) -> list[Figure]:
    """DBOS Transact on SQLite, in child processes; its best mode is the peer figure."""
    best = Figure("dbos_wf_per_s", f"  DBOS Transact, SQLite ({sizes.dbos_total:,})", "wf/s")
    every = {
        "async": Figure("dbos_wf_per_s_async", f"    async, {sizes.wf_inflight} in flight", "wf/s"),
        "sync": Figure("dbos_wf_per_s_sync", "    sync, 8 threads", "wf/s"),
    }
    modes = {m: every[m] for m in sizes.dbos_modes}
    version = ""
    for i in range(sizes.runs):
        for mode, fig in modes.items():
            inflight = sizes.wf_inflight if mode == "async" else 8
            directory = os.path.join(workdir, f"dbos-{mode}-{i}")
            os.makedirs(directory, exist_ok=True)
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.dbos_peer",
                    mode,
                    str(sizes.dbos_total),
                    str(inflight),
                    directory,
                ],
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=600,
            )
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            out = json.loads(lines[-1]) if lines else {"error": proc.stderr.strip()[-300:]}
            if "error" in out:
                note = str(out["error"])
                for f in (best, *modes.values()):
                    f.note = note
                ratio = Figure("ratio_vs_dbos", "  ratio vs DBOS", "x", note=note, target=25)
                return [best, ratio]
            fig.values.append(float(out["wf_per_s"]))
            version = str(out.get("version", ""))
        best.values.append(max(f.values[-1] for f in modes.values()))
    best.label += f" {version}" + (", best mode" if len(modes) > 1 else f", {next(iter(modes))}")
    ratio = Figure(
        "ratio_vs_dbos", "  ratio vs DBOS", "x", ratio_values(ours.values, best.values), target=25
    )
    return [best, *(modes.values() if len(modes) > 1 else ()), ratio]


async def local(sizes: Sizes, workdir: str) -> list[Figure]:
    fig = Figure(
        "wf_per_s_local",
        f"workflows, local executor running `true` ({sizes.local_total:,})",
        "wf/s",
    )
    spawn = Figure("spawn_true_per_s", "  spawning `true` alone", "processes/s")
    bound = Figure(
        "wf_per_s_local_spawn_bound", "  spawn-only bound (11 processes a workflow)", "wf/s"
    )
    for i in range(sizes.runs):
        path = os.path.join(workdir, f"local-{i}.db")
        fig.values.append(
            await run_workflows(path, sizes.local_total, sizes.wf_inflight, executor="local")
        )
        rate = await spawn_true(sizes.spawn_total, sizes.wf_inflight)
        spawn.values.append(rate)
        bound.values.append(rate / 11)
    share = Figure(
        "local_vs_spawn_bound",
        "  ratio vs spawn-only bound",
        "x",
        ratio_values(fig.values, bound.values),
    )
    return [fig, spawn, bound, share]


async def growth(sizes: Sizes, workdir: str) -> list[Figure]:
    """wf/s (simulate) with N finished workflows already in the database."""
    template = await template_run(workdir)
    figures = []
    for n in sizes.growth:
        fig = Figure(
            f"wf_per_s_simulate_{_short(n)}",
            f"  with {n:,} workflows already in the DB ({sizes.growth_total:,} more)",
            "wf/s",
        )
        path = os.path.join(workdir, f"growth-{n}.db")
        store = await SqliteStore.open(path)
        await store.aclose()
        add_finished(path, template, n, prefix="old")
        for _ in range(sizes.runs):
            fig.values.append(
                await run_workflows(
                    path, sizes.growth_total, sizes.wf_inflight, executor="simulate"
                )
            )
        figures.append(fig)
    return figures


def _short(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)
