"""Load: 200 concurrent workflows under the daemon, which is `kill -9`'d at random moments (at
least five times) and restarted; then every workflow reaches the phase of its clean run, every
exit handler completed at least once, and every log replays cleanly (no event lost or
duplicated)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from engine.api import prepare
from engine.crashtest import outcome_of, verify_log
from engine.events import COMPLETED
from engine.state.fold import fold
from engine.store import SqliteStore
from tests.helpers import EXAMPLES, ROOT, exitflow

HERE = Path(__file__).resolve().parent
#: (workflow file, parameters): a mix of phases and exit mechanisms, real local processes.
MIX = [
    (EXAMPLES / "onexit-cleanup.yaml", {}),  # Failed, onExit
    (EXAMPLES / "dag-exit-handlers.yaml", {"should-fail": "true"}),  # Failed, exitHandlers
    (HERE / "workflows" / "failing-exit-handler.yaml", {}),  # Error
    (HERE / "workflows" / "dag-diamond-onexit.yaml", {}),  # Succeeded
    (HERE / "workflows" / "retry-backoff.yaml", {}),  # Succeeded after retries
]
N_WORKFLOWS = 200
N_KILLS = 5


def _clean_phases(tmp: Path) -> dict[str, str]:
    out = {}
    for path, params in MIX:
        args = [a for k, v in params.items() for a in ("-p", f"{k}={v}")]
        result = exitflow("run", str(path), "--db", str(tmp / "clean.db"), "-o", "json", *args)
        out[path.stem] = result.json()["status"]["phase"]
    return out


async def _submit(db: Path, first: int, count: int) -> dict[str, str]:
    """Append submissions (what `exitflow submit` does); name -> file stem."""
    store = await SqliteStore.open(str(db))
    try:
        kinds = {}
        for i in range(first, first + count):
            path, params = MIX[i % len(MIX)]
            _, submitted = prepare(path.read_text(), source=str(path), parameters=params)
            await store.create_workflow(submitted)
            kinds[submitted.name] = path.stem
        return kinds
    finally:
        await store.aclose()


async def _unfinished(db: Path) -> int:
    store = await SqliteStore.open(str(db), read_only=True)
    try:
        return len(await store.list_workflows(unfinished_only=True))
    finally:
        await store.aclose()


async def _audit(db: Path, kinds: dict[str, str], clean: dict[str, str]) -> dict[str, int]:
    store = await SqliteStore.open(str(db), read_only=True)
    stats = {"workflows": 0, "events": 0, "lost_attempts": 0, "handler_redeliveries": 0}
    try:
        for record in await store.list_workflows():
            check = await verify_log(store, record.uid)
            assert not check.problems, (record.name, check.problems)
            assert check.finished, record.name
            assert check.phase == clean[kinds[record.name]], (record.name, check.phase)
            events = await store.read(record.uid)
            outcome = outcome_of(fold(r.event for r in events), events)
            for handler, phase in outcome.exit_phases.items():
                if phase != "Skipped":
                    assert phase in COMPLETED and outcome.exit_runs[handler] >= 1, (
                        record.name, handler, phase,
                    )
                    stats["handler_redeliveries"] += max(0, outcome.exit_runs[handler] - 1)
            stats["workflows"] += 1
            stats["events"] += check.events
            stats["lost_attempts"] += sum(
                1 for r in events if type(r.event).__name__ == "NodeAttemptLost"
            )
        return stats
    finally:
        await store.aclose()


def _wait_ready(daemon: subprocess.Popen[bytes], log: Path, n: int) -> None:
    """Until the n-th daemon started has recovered and said it is controlling the database."""
    deadline = time.monotonic() + 60
    while log.read_text(errors="replace").count("controlling") < n:
        assert daemon.poll() is None, log.read_text()
        assert time.monotonic() < deadline
        time.sleep(0.01)


def _daemon(db: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "EXITFLOW_CRASH_AT"}
    with open(log, "ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "engine", "daemon", "--db", str(db)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err,
        )


@pytest.mark.slow
def test_200_workflows_survive_repeated_kill_9_of_the_daemon(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("EXITFLOW_LOAD_SEED", "4")))
    clean = _clean_phases(tmp_path)
    db = tmp_path / "load.db"
    log = tmp_path / "daemon.err"
    kinds = anyio.run(_submit, db, 0, N_WORKFLOWS)
    started = time.monotonic()
    kills = 0
    daemon = _daemon(db, log)
    try:
        while kills < N_KILLS:
            _wait_ready(daemon, log, kills + 1)
            time.sleep(rng.uniform(0.2, 4.0))
            assert daemon.poll() is None, log.read_text()
            daemon.send_signal(signal.SIGKILL)
            daemon.wait()
            kills += 1
            remaining = anyio.run(_unfinished, db)
            print(f"kill -9 #{kills} at {time.monotonic() - started:.1f}s: {remaining} unfinished")
            daemon = _daemon(db, log)
        deadline = time.monotonic() + 240
        while anyio.run(_unfinished, db):
            assert daemon.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the daemon did not finish the load"
            time.sleep(0.2)
        elapsed = time.monotonic() - started
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(60)
    stats = anyio.run(_audit, db, kinds, clean)
    print(f"load: {stats} in {elapsed:.1f}s with {kills} kill -9")
    assert stats["workflows"] == N_WORKFLOWS
    assert stats["lost_attempts"] > 0  # the kills did land on running work
