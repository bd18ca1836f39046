"""A daemon killed across a CronWorkflow tick runs that tick exactly once (real processes,
real SQLite file, real SIGKILL / os._exit at the store's crash point)."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.helpers import exitflow
from tests.integration.test_daemon import Daemon

CRON = """\
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata:
  name: tick
spec:
  schedule: "@every 2s"
  startingDeadlineSeconds: 600
  successfulJobsHistoryLimit: 1000
  workflowSpec:
    entrypoint: main
    templates:
    - name: main
      container:
        image: alpine
        command: [echo, "{{workflow.name}}"]
"""

WAIT = 60.0


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db, timeout=30) as conn:
        return list(conn.execute(sql))


def _wait(db: Path, sql: str, until: int, daemon: Daemon | None = None) -> None:
    deadline = time.monotonic() + WAIT
    while True:
        try:
            n = int(_rows(db, sql)[0][0])  # type: ignore[call-overload]
        except sqlite3.OperationalError:
            n = 0
        if n >= until:
            return
        if daemon is not None and daemon.proc.poll() is not None:
            return  # it crashed as asked
        assert time.monotonic() < deadline, f"{sql} never reached {until}"
        time.sleep(0.05)


def _check_exactly_once(db: Path) -> int:
    ticks = _rows(db, "SELECT scheduled, workflow, outcome, submitted FROM cron_ticks ORDER BY 1")
    runs = [t for t in ticks if t[2] == "run"]
    # Only the very last tick may be left claimed by the daemon stopped last (the next start
    # finishes it).
    assert runs and all(t[3] == 1 for t in runs[:-1]), ticks
    # Every 2 s slot from the first to the last tick is there: none skipped.
    times = [float(t[0]) for t in ticks]  # type: ignore[arg-type]
    assert times == [times[0] + 2 * k for k in range(len(times))], times
    names = [str(r[0]) for r in _rows(db, "SELECT name FROM workflows WHERE name LIKE 'tick-%'")]
    assert len(names) == len(set(names))  # no tick ran twice
    assert set(names) <= {str(t[1]) for t in runs}
    assert {str(t[1]) for t in runs if t[3] == 1} <= set(names)  # no tick lost
    return len(runs)


@pytest.mark.parametrize("when", ["before", "after"])
def test_crash_between_claim_and_workflow_then_restart(tmp_path: Path, when: str) -> None:
    """`before`: killed after the tick was claimed, before its workflow was committed;
    `after`: killed after the workflow was committed, before the tick was marked."""
    db = tmp_path / "c.db"
    cron_file = tmp_path / "cron.yaml"
    cron_file.write_text(CRON)
    assert exitflow("cron", "create", str(cron_file), "--db", str(db)).code == 0
    first = Daemon(db, env={"EXITFLOW_CRASH_AT": f"1:{when}"})
    try:
        first.wait(timeout=WAIT)  # it dies at its first append: the first tick's workflow
        pending = _rows(db, "SELECT workflow, submitted FROM cron_ticks")
        assert len(pending) == 1 and pending[0][1] == 0, pending
        created = _rows(db, "SELECT count(*) FROM workflows")[0][0]
        assert created == (1 if when == "after" else 0)
    finally:
        first.kill()
    second = Daemon(db).ready()
    try:
        _wait(db, "SELECT count(*) FROM cron_ticks WHERE submitted = 1 AND outcome = 'run'", 3)
        _wait(db, "SELECT count(*) FROM workflows WHERE finished = 1", 3)
    finally:
        second.signal(signal.SIGTERM)
        second.wait()
    assert _check_exactly_once(db) >= 3
    assert pending[0][0] in {r[0] for r in _rows(db, "SELECT name FROM workflows")}


def test_sigkill_at_random_moments_across_ticks(tmp_path: Path) -> None:
    """kill -9 the daemon right as ticks appear, five times; restarts catch up every missed tick
    (within startingDeadlineSeconds) and never run one twice."""
    db = tmp_path / "c.db"
    cron_file = tmp_path / "cron.yaml"
    cron_file.write_text(CRON)
    assert exitflow("cron", "create", str(cron_file), "--db", str(db)).code == 0
    for round_ in range(5):
        d = Daemon(db).ready()
        try:
            _wait(db, "SELECT count(*) FROM cron_ticks", round_ + 1, d)
            time.sleep(0.01 * round_)  # lands at different points of the claim/create/mark
        finally:
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait()
    last = Daemon(db).ready()
    try:
        total = int(_rows(db, "SELECT count(*) FROM cron_ticks")[0][0])  # type: ignore[call-overload]
        _wait(db, "SELECT count(*) FROM cron_ticks WHERE submitted = 1", total + 2)
    finally:
        last.signal(signal.SIGTERM)
        last.wait()
    assert _check_exactly_once(db) >= 7
    # The runs the last daemon left unfinished at its SIGTERM are finished by a recover; then
    # the whole log verifies.
    assert exitflow("recover", "--db", str(db)).code == 0
    verify = exitflow("verify", "--db", str(db))
    assert verify.code == 0, verify.stdout + verify.stderr
