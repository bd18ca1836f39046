"""Many daemons on one PostgreSQL database (docs/scale-out.md): runs are leased, a `kill -9`'d
daemon's runs are adopted by the others within the lease time, exit handlers still run, and the
logs verify. Real server, real processes, real SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest

from tests.helpers import ROOT, exitflow, phases

pytestmark = pytest.mark.postgres

LEASE = 5.0  # short for the test; long enough that a loaded machine still renews in time

SLEEPY = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: sleepy-
spec:
  entrypoint: main
  onExit: cleanup
  templates:
    - name: main
      steps:
        - - {name: nap, template: nap}
    - name: nap
      container: {image: alpine:latest, command: [sh, -c], args: ["sleep 2; echo napped"]}
    - name: cleanup
      container:
        {image: alpine:latest, command: [sh, -c], args: ["echo cleanup {{workflow.status}}"]}
"""


def wait(check: Callable[[], Any], what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def query(db: str, sql: str) -> list[Any]:
    async def go() -> list[Any]:
        conn = await asyncpg.connect(db)
        try:
            return list(await conn.fetch(sql))
        finally:
            await conn.close()

    return anyio.run(go)


@pytest.fixture
def daemons(pg_db: str, tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    env = {k: v for k, v in os.environ.items() if k != "EXITFLOW_CRASH_AT"}
    env["EXITFLOW_LEASE_SECONDS"] = str(LEASE)

    def start() -> subprocess.Popen[bytes]:
        errfile = tmp_path / f"daemon{len(procs)}.err"
        with open(errfile, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "engine", "daemon", "--db", pg_db],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err,
            )
        procs.append(proc)
        wait(lambda: "controlling" in errfile.read_text() or proc.poll() is not None,
             "the daemon to start", 60)
        assert proc.poll() is None, errfile.read_text()
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(60)


def owned_by(db: str, pid: int) -> set[str]:
    rows = query(db, f"SELECT uid FROM exitflow.leases WHERE owner LIKE '%:{pid}:%'")
    return {r[0] for r in rows}


def test_kill_9_daemon_runs_adopted(
    pg_db: str, tmp_path: Path, daemons: Callable[[], subprocess.Popen[bytes]]
) -> None:
    a, b = daemons(), daemons()
    assert b.poll() is None
    spec = tmp_path / "sleepy.yaml"
    spec.write_text(SLEEPY)
    names = [exitflow("submit", str(spec), "--db", pg_db).stdout.strip() for _ in range(8)]
    assert all(names)
    # Kill A while it owns runs whose steps are in flight (each step sleeps 2 s).
    wait(lambda: owned_by(pg_db, a.pid), "daemon A to own runs")
    victims = owned_by(pg_db, a.pid)
    os.kill(a.pid, signal.SIGKILL)
    a.wait(30)
    killed = time.monotonic()
    wait(lambda: victims <= owned_by(pg_db, b.pid) or all(
        get_phase(pg_db, n) for n in names), f"B to adopt {victims}", LEASE * 2 + 60)
    adoption = time.monotonic() - killed
    print(f"adoption after kill -9: {adoption:.2f}s (lease {LEASE}s)")
    for name in names:
        wait(lambda name=name: get_phase(pg_db, name), f"{name} to finish", 180)
        wf = exitflow("get", name, "--db", pg_db, "-o", "json").json()
        assert wf["status"]["phase"] == "Succeeded", wf["status"]
        ph = phases(wf)
        assert ph["nap"] == "Succeeded" and ph["@onExit"] == "Succeeded", ph
    verify = exitflow("verify", "--db", pg_db)
    assert verify.code == 0 and "verifies" in verify.stdout, verify.stdout + verify.stderr


def get_phase(db: str, name: str) -> str | None:
    rows = query(db, f"SELECT phase FROM exitflow.workflows WHERE name = '{name}' AND finished")
    return str(rows[0][0]) if rows else None
