"""The DBOS Transact peer, run as its own process:
`python -m benchmarks.dbos_peer MODE N INFLIGHT DIR`.

The same workflow shape as Exitflow's benchmark: ten trivial steps in a row, then a cleanup step
in `finally`; `INFLIGHT` workflows at a time, `N` in all, on DBOS's SQLite system database.
MODE "async": `async def` workflow and steps, `INFLIGHT` started with `start_workflow_async`.
MODE "sync": plain functions, `INFLIGHT` threads each calling `start_workflow(...).get_result()`
(DBOS's own fastest setting here: with SQLite, fewer threads contend less).
Prints one JSON object: {"wf_per_s": ..., "version": ...} or {"error": ...}.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from typing import Any

STEPS = 10


def main(argv: list[str]) -> int:
    mode, n, inflight, directory = argv[0], int(argv[1]), int(argv[2]), argv[3]
    try:
        from importlib.metadata import version

        from dbos import DBOS, DBOSConfig
    except ImportError as e:
        print(json.dumps({"error": f"dbos not installed ({e.name})"}))
        return 0
    logging.getLogger("dbos").setLevel(logging.WARNING)
    config: DBOSConfig = {
        "name": "exitflow-bench",
        "system_database_url": f"sqlite:///{os.path.join(directory, 'dbos.sqlite')}",
        "log_level": "WARNING",
        "run_admin_server": False,
    }  # type: ignore[typeddict-unknown-key]
    DBOS(config=config)

    if mode == "sync":
        return _sync(DBOS, version("dbos"), n, inflight)

    @DBOS.step()
    async def step(i: int) -> int:
        return i

    @DBOS.step()
    async def cleanup() -> None:
        return None

    @DBOS.workflow()
    async def workflow() -> int:
        total = 0
        try:
            for i in range(STEPS):
                total += await step(i)
        finally:
            await cleanup()
        return total

    async def run() -> dict[str, Any]:
        DBOS.launch()
        sem = asyncio.Semaphore(inflight)

        async def one() -> None:
            async with sem:
                handle = await DBOS.start_workflow_async(workflow)
                await handle.get_result()

        # Warm-up (not timed): connections, migrations.
        await asyncio.gather(*(one() for _ in range(min(10, n))))
        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        elapsed = time.perf_counter() - t0
        return {"wf_per_s": n / elapsed, "seconds": elapsed, "version": version("dbos")}

    try:
        out = asyncio.run(run())
    finally:
        DBOS.destroy(destroy_registry=True)
    print(json.dumps(out))
    return 0


def _sync(dbos: Any, version: str, n: int, threads: int) -> int:
    from concurrent.futures import ThreadPoolExecutor

    @dbos.step()  # type: ignore[untyped-decorator]
    def step(i: int) -> int:
        return i

    @dbos.step()  # type: ignore[untyped-decorator]
    def cleanup() -> None:
        return None

    @dbos.workflow()  # type: ignore[untyped-decorator]
    def workflow() -> int:
        total = 0
        try:
            for i in range(STEPS):
                total += step(i)
        finally:
            cleanup()
        return total

    def one(_: int) -> int:
        result: int = dbos.start_workflow(workflow).get_result()
        return result

    dbos.launch()
    try:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, range(min(10, n))))  # warm-up, not timed
            t0 = time.perf_counter()
            list(pool.map(one, range(n)))
            elapsed = time.perf_counter() - t0
    finally:
        dbos.destroy(destroy_registry=True)
    print(json.dumps({"wf_per_s": n / elapsed, "seconds": elapsed, "version": version}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
