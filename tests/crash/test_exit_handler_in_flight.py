"""An exit handler caught by a crash while it runs, or after its last line but before its
completion event, runs again under the same idempotency key with the next attempt number, and no
process of the dead controller is left running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from engine.crashtest import verify_log
from engine.events import NodeInitialized
from engine.executors.local import find_processes
from engine.store import SqliteStore
from tests.helpers import ROOT, exitflow

WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: handler-in-flight-
spec:
  entrypoint: work
  onExit: handler
  arguments:
    parameters:
      - {name: marker}
      - {name: pause, value: "0"}
  templates:
    - name: work
      container: {image: alpine:latest, command: [sh, -c], args: ["exit 1"]}
    - name: handler
      container:
        image: alpine:latest
        command: [sh, -c]
        args:
          - |
            m={{workflow.parameters.marker}}
            echo "start $EXITFLOW_IDEMPOTENCY_KEY $EXITFLOW_ATTEMPT" >> $m
            if [ "$EXITFLOW_ATTEMPT" = 1 ]; then sleep {{workflow.parameters.pause}}; fi
            echo "end $EXITFLOW_ATTEMPT" >> $m
"""


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def _check(db: Path) -> tuple[str, str, list[str]]:
    store = await SqliteStore.open(str(db), read_only=True)
    try:
        (record,) = await store.list_workflows()
        check = await verify_log(store, record.uid)
        return record.uid, check.phase, check.problems
    finally:
        await store.aclose()


async def _seq_of(db: Path, event_type: str, node_suffix: str) -> int:
    store = await SqliteStore.open(str(db), read_only=True)
    try:
        (record,) = await store.list_workflows()
        events = await store.read(record.uid)
        names = {}
        for rec in events:
            ev = rec.event
            if isinstance(ev, NodeInitialized):
                names[ev.node_id] = ev.name
            if type(ev).__name__ == event_type and names.get(
                getattr(ev, "node_id", ""), ""
            ).endswith(node_suffix):
                return rec.seq
        raise AssertionError(f"no {event_type} for *{node_suffix}")
    finally:
        await store.aclose()


def _assert_redelivered(marker: Path, uid: str) -> None:
    lines = [ln.split() for ln in _lines(marker)]
    starts = [ln for ln in lines if ln[0] == "start"]
    assert [s[2] for s in starts] == ["1", "2"], lines
    key = starts[0][1]
    assert key.startswith(uid + ":") and starts[1][1] == key, lines
    assert ["end", "2"] in lines, lines


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "EXITFLOW_CRASH_AT"}


@pytest.mark.slow
def test_killed_while_the_handler_runs(tmp_path: Path) -> None:
    spec = tmp_path / "wf.yaml"
    spec.write_text(WORKFLOW)
    marker = tmp_path / "marker"
    db = tmp_path / "x.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "run", str(spec), "--db", str(db),
         "-p", f"marker={marker}", "-p", "pause=30"],
        cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not _lines(marker):
        assert proc.poll() is None, "the run ended before its exit handler started"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # kill -9 from outside, the handler mid-way
    proc.wait()
    uid, phase, _ = anyio.run(_check, db)
    assert phase == "ExitPhase"
    # The handler's `sleep` is a grandchild (PDEATHSIG reaches only the direct child).
    result = exitflow("recover", "--db", str(db), timeout=120)
    assert result.code == 1, result.stderr  # Failed, like the clean run
    _assert_redelivered(marker, uid)
    assert ["end", "1"] not in [ln.split() for ln in _lines(marker)], "attempt 1 kept running"
    assert not find_processes(uid), "a process of the dead controller is still running"
    _, phase, problems = anyio.run(_check, db)
    assert phase == "Failed" and not problems


@pytest.mark.slow
def test_crash_after_the_handler_ended_before_its_completion_event(tmp_path: Path) -> None:
    spec = tmp_path / "wf.yaml"
    spec.write_text(WORKFLOW)
    clean_db, db = tmp_path / "clean.db", tmp_path / "x.db"
    clean = exitflow("run", str(spec), "--db", str(clean_db), "-p", f"marker={tmp_path / 'c'}")
    assert clean.code == 1, clean.stderr
    # The transaction that records the handler's result starts with its NodeLogged.
    n = anyio.run(_seq_of, clean_db, "NodeLogged", ".onExit")
    marker = tmp_path / "marker"
    crashed = exitflow("run", str(spec), "--db", str(db), "-p", f"marker={marker}",
                       env={"EXITFLOW_CRASH_AT": f"{n}:before"})
    assert crashed.code == 137
    assert [ln.split()[0] for ln in _lines(marker)] == ["start", "end"]  # it had finished
    uid, phase, _ = anyio.run(_check, db)
    assert phase == "ExitPhase"
    assert exitflow("recover", "--db", str(db)).code == 1
    _assert_redelivered(marker, uid)
    _, phase, problems = anyio.run(_check, db)
    assert phase == "Failed" and not problems
