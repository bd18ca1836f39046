"""Benchmarks that need real `exitflow` processes: recovery after kill -9, daemon memory,
exit-handler latency (in-process, local executor) and `exitflow crashtest`."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import time

import anyio

from engine.controller.controller import Controller
from engine.controller.pool import ExecutorPool
from engine.events import EXIT_PHASE, NodeFinished, NodeInitialized, WorkflowSubmitted, decode
from engine.state.view import WorkflowView
from engine.store import SqliteStore

from .common import (
    ROOT,
    Figure,
    Sizes,
    add_finished,
    exitflow_argv,
    python_env,
    submissions,
    template_run,
)
from .workloads import STEPS, sequential_yaml


def _count(path: str, sql: str, params: tuple[object, ...] = ()) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute(sql, params).fetchone()[0])
    finally:
        conn.close()


async def _submit(path: str, text: str, n: int, *, executor: str, prefix: str) -> list[str]:
    """Submit n runs as any client would (no controller lease)."""
    subs = submissions(text, n, executor=executor, prefix=prefix)
    store = await SqliteStore.open(path)
    try:
        await asyncio.gather(*(store.create_workflow(s) for s in subs))
    finally:
        await store.aclose()
    return [s.uid for s in subs]


def _wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        exitflow_argv(*args),
        cwd=ROOT,
        env=python_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


# --- recovery ----------------------------------------------------------------------------------


async def _recovery_base(workdir: str, sizes: Sizes) -> str:
    """A database with `recovery_finished` finished runs (built once, copied for each run)."""
    base = os.path.join(workdir, "recovery-base.db")
    template = await template_run(workdir)
    store = await SqliteStore.open(base)
    await store.aclose()
    add_finished(base, template, sizes.recovery_finished, prefix="done")
    return base


def _work_left(path: str, uids: list[str], step_s: float) -> float:
    """Seconds of step work still owed on the critical path: every Pod node (10 steps + the
    exit handler) without a NodeFinished yet re-runs in full; runs proceed in parallel."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    worst = 0
    try:
        for uid in uids:
            pods: set[str] = set()
            done: set[str] = set()
            for (payload,) in conn.execute(
                "SELECT payload FROM events WHERE wf = (SELECT id FROM workflows WHERE uid = ?)"
                " ORDER BY seq",
                (uid,),
            ):
                ev = decode(payload)
                if isinstance(ev, NodeInitialized) and ev.node_type == "Pod":
                    pods.add(ev.node_id)
                elif isinstance(ev, NodeFinished):
                    done.add(ev.node_id)
            worst = max(worst, STEPS + 1 - len(pods & done))
    finally:
        conn.close()
    return worst * step_s


async def recovery(sizes: Sizes, workdir: str) -> list[Figure]:
    total = Figure(
        "recovery_s",
        f"recovery: {sizes.recovery_unfinished} killed runs among "
        f"{sizes.recovery_finished:,} finished, minus work left",
        "s",
        better="lower",
    )
    first = Figure(
        "recovery_first_step_ms",
        "  `exitflow recover` start → first resumed step",
        "ms",
        better="lower",
        target=300,
    )
    noop = Figure(
        "recovery_noop_ms",
        f"  `exitflow recover` with {sizes.recovery_finished:,} finished, none unfinished",
        "ms",
        better="lower",
    )
    startup = Figure(
        "cli_startup_ms", "  `exitflow --version` (process start alone)", "ms", better="lower"
    )
    startup_src = Figure(
        "cli_startup_no_pycache_ms",
        "  `exitflow --version`, no bytecode cache (compiled from source)",
        "ms",
        better="lower",
    )
    # Compile the engine's bytecode once (as an install would), before anything is timed.
    subprocess.run(
        exitflow_argv("--version"), cwd=ROOT, env=python_env(), capture_output=True, check=True
    )
    base = await _recovery_base(workdir, sizes)
    text = sequential_yaml(f"sleep {sizes.recovery_step_s}", name="unfinished")
    for i in range(sizes.runs):
        path = os.path.join(workdir, f"recovery-{i}.db")
        shutil.copyfile(base, path)
        uids = await _submit(path, text, sizes.recovery_unfinished, executor="local", prefix="open")
        daemon = _spawn("daemon", "--db", path)
        try:
            # Kill once every run is mid-way: all have started a few steps.
            _wait_for(
                lambda p=path: (
                    _count(
                        p,
                        "SELECT COUNT(*) FROM events WHERE type = 'NodeFinished'"
                        " AND wf > (SELECT MAX(id) FROM workflows) - ?",
                        (sizes.recovery_unfinished,),
                    )
                    >= 6 * sizes.recovery_unfinished
                ),
                120,
                "the daemon to get the runs mid-way",
            )
        finally:
            daemon.send_signal(signal.SIGKILL)
            daemon.wait()
        unfinished = _count(path, "SELECT COUNT(*) FROM workflows WHERE finished = 0")
        if unfinished != sizes.recovery_unfinished:
            raise RuntimeError(f"kill -9 left {unfinished} unfinished runs")
        left = _work_left(path, uids, sizes.recovery_step_s)
        after = _count(path, "SELECT MAX(gseq) FROM events")
        start = time.time()
        proc = subprocess.run(
            exitflow_argv("recover", "--db", path),
            cwd=ROOT,
            env=python_env(),
            capture_output=True,
            timeout=600,
        )
        if proc.returncode != 0 or _count(
            path, "SELECT COUNT(*) FROM workflows WHERE finished = 0"
        ):
            raise RuntimeError(f"recover failed ({proc.returncode}): {proc.stderr[-500:]!r}")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            (first_ts,) = conn.execute(
                "SELECT MIN(ts) FROM events WHERE gseq > ? AND type = 'NodeStarted'", (after,)
            ).fetchone()
            (last_ts,) = conn.execute(
                "SELECT MAX(ts) FROM events WHERE gseq > ? AND type = 'WorkflowCompleted'",
                (after,),
            ).fetchone()
        finally:
            conn.close()
        total.values.append(max(0.0, last_ts - start - left))
        first.values.append((first_ts - start) * 1000)
        # Everything is finished now: what does a recover with nothing to do cost?
        t0 = time.perf_counter()
        subprocess.run(
            exitflow_argv("recover", "--db", path),
            cwd=ROOT,
            env=python_env(),
            capture_output=True,
            check=True,
            timeout=120,
        )
        noop.values.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        subprocess.run(
            exitflow_argv("--version"),
            cwd=ROOT,
            env=python_env(),
            capture_output=True,
            check=True,
            timeout=60,
        )
        startup.values.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        subprocess.run(
            exitflow_argv("--version"),
            cwd=ROOT,
            env=python_env(bytecode_cache=False),
            capture_output=True,
            check=True,
            timeout=60,
        )
        startup_src.values.append((time.perf_counter() - t0) * 1000)
    return [total, first, noop, startup, startup_src]


# --- exit handler latency ------------------------------------------------------------------------


async def exit_latency(sizes: Sizes, workdir: str) -> list[Figure]:
    """Entrypoint's final event durable → the exit handler's process running (local executor).

    The durable moment is taken in the controller's `on_change` hook, which the runner calls
    right after the append that holds `WorkflowExiting` returns; the exit handler is `date
    +%s.%N`, whose output is the moment its process ran.
    """
    p50 = Figure(
        "exit_handler_latency_p50_ms",
        f"exit handler latency p50 (local, {sizes.wf_inflight} in flight)",
        "ms",
        better="lower",
    )
    p99 = Figure("exit_handler_latency_p99_ms", "  p99", "ms", better="lower", target=20)
    text = sequential_yaml("true", steps=1, name="latency", cleanup="date +%s.%N")
    for i in range(sizes.runs):
        path = os.path.join(workdir, f"latency-{i}.db")
        subs = submissions(text, sizes.latency_total, executor="local", prefix="lat")
        latencies = await _latency_run(path, subs, sizes.wf_inflight)
        latencies.sort()
        p50.values.append(statistics.median(latencies))
        p99.values.append(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))])
    return [p50, p99]


async def _latency_run(path: str, subs: list[WorkflowSubmitted], inflight: int) -> list[float]:
    durable: dict[str, float] = {}

    def seen(view: WorkflowView) -> None:
        if view.phase == EXIT_PHASE and view.uid not in durable:
            durable[view.uid] = time.time()

    store = await SqliteStore.open(path)
    pool = ExecutorPool("local")
    latencies: list[float] = []
    try:
        await store.acquire_controller()
        controller = Controller(store, pool, on_change=seen)
        limit = anyio.Semaphore(inflight)

        async def one(sub: WorkflowSubmitted) -> None:
            async with limit:
                await store.create_workflow(sub)
                await controller.run_workflow(sub.uid)

        async with anyio.create_task_group() as tg:
            for sub in subs:
                tg.start_soon(one, sub)
        for sub in subs:
            logs = await store.read_logs(sub.uid)
            ran = [float(r.data) for r in logs if r.stream == "stdout" and r.data.strip()]
            if not ran or sub.uid not in durable:
                raise RuntimeError(f"{sub.name}: no exit handler output")
            latencies.append((ran[-1] - durable[sub.uid]) * 1000)
    finally:
        await pool.aclose()
        await store.aclose()
    return latencies


# --- daemon memory -------------------------------------------------------------------------------


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def rss(sizes: Sizes, workdir: str) -> list[Figure]:
    n = sizes.rss_running
    fig = Figure(
        f"rss_mb_{n}_running" if n != 1000 else "rss_mb_1000_running",
        f"daemon RSS holding {n:,} running workflows (`sleep 30`)",
        "MB",
        better="lower",
        target=150 if n == 1000 else None,
    )
    idle = Figure("rss_mb_idle", "  daemon RSS, idle", "MB", better="lower")
    text = sequential_yaml("sleep 30", name="held")
    for i in range(sizes.runs):
        path = os.path.join(workdir, f"rss-{i}.db")
        store = await SqliteStore.open(path)
        await store.aclose()
        daemon = _spawn("daemon", "--db", path)
        try:
            await anyio.sleep(0.5)
            idle.values.append(_rss_mb(daemon.pid))
            await _submit(path, text, n, executor="local", prefix="held")
            _wait_for(
                # seq 8 is each run's first Pod start (see the event list in docs/performance.md).
                lambda p=path: (
                    _count(p, "SELECT COUNT(*) FROM events WHERE type = 'NodeStarted' AND seq = 8")
                    >= n
                ),
                300,
                f"{n} running steps",
            )
            await anyio.sleep(0.5)  # the last processes are being spawned
            fig.values.append(_rss_mb(daemon.pid))
        finally:
            # kill -9: the steps die with it (PDEATHSIG); a graceful stop of 1,000 steps would
            # only add minutes to the benchmark.
            daemon.send_signal(signal.SIGKILL)
            daemon.wait()
    return [idle, fig]


# --- crashtest -----------------------------------------------------------------------------------


def crashtest(sizes: Sizes, workdir: str) -> list[Figure]:
    fig = Figure(
        "crashtest_boundaries_per_s",
        "`exitflow crashtest` dag-exit-handlers.yaml (simulate)",
        "boundaries/s",
    )
    if not os.path.exists(os.path.join(ROOT, "engine", "cli", "crashtest.py")):
        fig.note = "not available (engine/cli/crashtest.py does not exist yet)"
        return [fig]
    import json

    example = os.path.join(ROOT, "examples", "dag-exit-handlers.yaml")
    for i in range(sizes.runs):
        directory = os.path.join(workdir, f"crashtest-{i}")
        os.makedirs(directory, exist_ok=True)
        t0 = time.perf_counter()
        proc = subprocess.run(
            exitflow_argv("crashtest", example, "--executor", "simulate", "-o", "json"),
            cwd=directory,
            env=python_env(),
            capture_output=True,
            text=True,
            timeout=900,
        )
        elapsed = time.perf_counter() - t0
        try:
            report = json.loads(proc.stdout)
        except ValueError:
            fig.note = (
                f"not available (crashtest exited {proc.returncode}: "
                f"{(proc.stderr or proc.stdout).strip()[-200:]})"
            )
            return [fig]
        boundaries = _boundaries(report)
        if not boundaries:
            fig.note = "not available (crashtest JSON has no boundary count)"
            return [fig]
        fig.values.append(boundaries / elapsed)
    return [fig]


def _boundaries(report: object) -> int:
    """The number of crash boundaries a crashtest JSON report says it tested."""
    if isinstance(report, dict):
        for key in ("boundaries", "crash_points", "points", "total"):
            value = report.get(key)
            if isinstance(value, int):
                return value
            if isinstance(value, list):
                return len(value)
    if isinstance(report, list):
        return len(report)
    return 0
