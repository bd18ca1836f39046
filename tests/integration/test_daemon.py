"""`exitflow daemon` with `submit`, `stop`, `terminate`, standby, fencing, SIGTERM and SIGHUP,
as real processes on a real database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from engine.crashtest import verify_log
from engine.events import NodeStarted, WorkflowStarted, WorkflowSubmitted
from engine.store import SqliteStore
from tests.helpers import EXAMPLES, ROOT, exitflow, phases

SLOW_STEP = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: slow-
spec:
  entrypoint: main
  onExit: cleanup
  arguments:
    parameters: [{name: seconds, value: "30"}]
  templates:
    - name: main
      steps:
        - - {name: slow, template: slow}
        - - {name: next, template: quick}
    - name: slow
      container:
        image: alpine:latest
        command: [sh, -c]
        args:
          - echo $EXITFLOW_IDEMPOTENCY_KEY $EXITFLOW_ATTEMPT; sleep {{workflow.parameters.seconds}}
    - name: quick
      container: {image: alpine:latest, command: [sh, -c], args: ["echo quick"]}
    - name: cleanup
      container:
        {image: alpine:latest, command: [sh, -c], args: ["echo cleanup {{workflow.status}}"]}
"""


#: SLOW_STEP whose `slow` step runs until the test creates the file `gate` (no race with a clock).
GATED_STEP = SLOW_STEP.replace(
    'parameters: [{name: seconds, value: "30"}]', 'parameters: [{name: gate, value: ""}]'
).replace(
    "sleep {{workflow.parameters.seconds}}",
    "while [ ! -e {{workflow.parameters.gate}} ]; do sleep 0.05; done",
)


class Daemon:
    """An `exitflow daemon` process; its stderr goes to a file the test can read."""

    def __init__(self, db: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.db = db
        self.err_path = db.with_suffix(f".daemon-{time.monotonic_ns()}.err")
        full_env = {k: v for k, v in os.environ.items() if k != "EXITFLOW_CRASH_AT"}
        full_env.update(env or {})
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "engine", "daemon", "--db", str(db), *args],
                cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=err,
            )

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.stderr:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}: {self.stderr}")
            if time.monotonic() > deadline:
                raise AssertionError(f"daemon never said {text!r}: {self.stderr}")
            time.sleep(0.02)

    def ready(self) -> Daemon:
        self.wait_for("controlling")
        return self

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for d in started:
        d.kill()


def _start(daemons: list[Daemon], db: Path, *args: str, **kw: Any) -> Daemon:
    d = Daemon(db, *args, **kw)
    daemons.append(d)
    return d


async def _events(db: Path, name: str) -> list[Any]:
    store = await SqliteStore.open(str(db), read_only=True)
    try:
        record = await store.get_workflow(name)
        return [r.event for r in await store.read(record.uid)]
    finally:
        await store.aclose()


async def _verify_all(db: Path) -> dict[str, str]:
    store = await SqliteStore.open(str(db), read_only=True)
    try:
        out = {}
        for record in await store.list_workflows():
            check = await verify_log(store, record.uid)
            assert not check.problems, (record.name, check.problems)
            out[record.name] = check.phase
        return out
    finally:
        await store.aclose()


def _wait_phase(db: Path, name: str, wanted: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        wf: dict[str, Any] = exitflow("get", name, "--db", str(db), "-o", "json").json()
        if wf["status"]["phase"] in wanted:
            return wf
        assert time.monotonic() < deadline, wf["status"]
        time.sleep(0.05)


def _wait_node_running(db: Path, name: str, display: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        wf = exitflow("get", name, "--db", str(db), "-o", "json").json()
        if phases(wf).get(display) == "Running":
            return
        assert time.monotonic() < deadline, phases(wf)
        time.sleep(0.05)


def test_submit_runs_many_at_once_and_reports_pickup_latency(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    db = tmp_path / "x.db"
    _start(daemons, db).ready()
    names = []
    for example in ("onexit-cleanup.yaml", "dag-exit-handlers.yaml", "hooks-task-level.yaml"):
        result = exitflow("submit", str(EXAMPLES / example), "--db", str(db), "-o", "name")
        assert result.code == 0, result.stderr
        assert len(result.stdout.split()) == 1  # only the name
        names.append(result.stdout.strip())
    waited = exitflow("submit", str(EXAMPLES / "onexit-cleanup.yaml"), "--db", str(db),
                      "--wait", "-o", "json")
    assert waited.code == 1  # like `run`: Failed
    assert waited.json()["status"]["phase"] == "Failed"
    final = {n: _wait_phase(db, n, {"Succeeded", "Failed", "Error"})["status"]["phase"]
             for n in names}
    assert final == dict(zip(names, ["Failed", "Succeeded", "Succeeded"], strict=True))
    latencies = []
    for name in names:
        events = anyio.run(_events, db, name)
        submitted = next(e for e in events if isinstance(e, WorkflowSubmitted))
        started = next(e for e in events if isinstance(e, WorkflowStarted))
        latencies.append(started.ts - submitted.ts)
    print(f"\npickup latency (WorkflowStarted - WorkflowSubmitted): "
          f"{', '.join(f'{x * 1000:.0f} ms' for x in latencies)}")
    anyio.run(_verify_all, db)


def test_daemon_finishes_a_run_killed_half_way(tmp_path: Path, daemons: list[Daemon]) -> None:
    db = tmp_path / "x.db"
    crashed = exitflow("run", str(EXAMPLES / "dag-exit-handlers.yaml"), "--db", str(db),
                       "-p", "should-fail=true", env={"EXITFLOW_CRASH_AT": "9"})
    assert crashed.code == 137
    (name,) = exitflow("list", "--db", str(db), "-o", "name").stdout.split()
    _start(daemons, db).ready()
    wf = _wait_phase(db, name, {"Failed", "Succeeded", "Error"})
    assert wf["status"]["phase"] == "Failed"
    p = phases(wf)
    assert p["fail-task"] == p["always-run-cleanup"] == "Succeeded"
    anyio.run(_verify_all, db)


def test_crash_injection_counts_recovery_work_of_the_daemon(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    """EXITFLOW_CRASH_AT counts every event the daemon appends, recovery work included."""
    db = tmp_path / "x.db"
    for _ in range(3):
        assert exitflow("submit", str(EXAMPLES / "onexit-cleanup.yaml"), "--db", str(db),
                        "--executor", "simulate").code == 0
    first = _start(daemons, db, env={"EXITFLOW_CRASH_AT": "5"})
    assert first.wait() == 137  # died inside the recovery of the three submissions
    _start(daemons, db).ready()
    deadline = time.monotonic() + 60
    while exitflow("list", "--db", str(db), "--running", "-o", "name").stdout.strip():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert set(anyio.run(_verify_all, db).values()) == {"Succeeded"}


def test_stop_and_terminate_reach_a_running_daemon(tmp_path: Path, daemons: list[Daemon]) -> None:
    db = tmp_path / "x.db"
    spec = tmp_path / "slow.yaml"
    spec.write_text(SLOW_STEP)
    _start(daemons, db).ready()
    stopped = exitflow("submit", str(spec), "--db", str(db), "-o", "name").stdout.strip()
    terminated = exitflow("submit", str(spec), "--db", str(db), "-o", "name").stdout.strip()
    _wait_node_running(db, stopped, "slow")
    _wait_node_running(db, terminated, "slow")
    assert "requested" in exitflow("stop", stopped, "--db", str(db)).stdout
    assert "requested" in exitflow("terminate", terminated, "--db", str(db)).stdout
    wf = _wait_phase(db, stopped, {"Failed", "Error", "Succeeded"})
    p = phases(wf)
    assert wf["status"]["phase"] == "Failed" and wf["status"]["shutdown"] == "Stop"
    assert p["slow"] == "Failed" and p["@onExit"] == "Succeeded" and "next" not in p
    wf = _wait_phase(db, terminated, {"Failed", "Error", "Succeeded"})
    p = phases(wf)
    assert wf["status"]["phase"] == "Failed" and wf["status"]["shutdown"] == "Terminate"
    assert "@onExit" not in p  # no exit handlers, and the log says why
    anyio.run(_verify_all, db)


def test_stop_of_a_queued_workflow_before_the_daemon_runs_it(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    db = tmp_path / "x.db"
    spec = tmp_path / "slow.yaml"
    spec.write_text(SLOW_STEP)
    name = exitflow("submit", str(spec), "--db", str(db), "-o", "name").stdout.strip()
    assert "recorded" in exitflow("stop", name, "--db", str(db)).stdout  # no controller yet
    _start(daemons, db).ready()
    wf = _wait_phase(db, name, {"Failed", "Error", "Succeeded"})
    assert wf["status"]["phase"] == "Failed"
    assert phases(wf)["@onExit"] == "Succeeded" and "slow" not in phases(wf)


@pytest.mark.parametrize("grace", ["10", "0"])
def test_sigterm_drains_or_hands_over(tmp_path: Path, daemons: list[Daemon], grace: str) -> None:
    """SIGTERM: no new work; a running step finishes within the grace (its result recorded) or is
    handed to the next start, which re-runs it with the same key and attempt 2."""
    db = tmp_path / "x.db"
    spec = tmp_path / "slow.yaml"
    spec.write_text(GATED_STEP)
    gate = tmp_path / "gate"
    first = _start(daemons, db, "--grace", grace).ready()
    name = exitflow("submit", str(spec), "--db", str(db), "-p", f"gate={gate}", "-o",
                    "name").stdout.strip()
    _wait_node_running(db, name, "slow")
    first.signal(signal.SIGTERM)
    first.wait_for("taking no new work")
    if grace == "10":
        gate.touch()  # the step finishes within the grace, after the daemon took no new work
    assert first.wait() == 0, first.stderr
    assert "stopped" in first.stderr
    wf = exitflow("get", name, "--db", str(db), "-o", "json").json()
    p = phases(wf)
    if grace == "10":
        assert p["slow"] == "Succeeded"  # finished within the grace, result recorded
    else:
        assert p["slow"] == "Running"  # handed over
    assert "next" not in p  # no new work after SIGTERM
    gate.touch()
    _start(daemons, db).ready()
    wf = _wait_phase(db, name, {"Succeeded", "Failed", "Error"})
    assert wf["status"]["phase"] == "Succeeded"
    starts = [e for e in anyio.run(_events, db, name) if isinstance(e, NodeStarted)]
    slow_id = next(n["id"] for n in wf["status"]["nodes"].values() if n["displayName"] == "slow")
    attempts = [e.attempt for e in starts if e.node_id == slow_id]
    assert attempts == ([1] if grace == "10" else [1, 2])
    logs = exitflow("logs", name, "slow", "--db", str(db)).stdout.splitlines()
    keys = {line.split()[1] for line in logs}
    assert len(keys) == 1  # the same idempotency key for both attempts
    anyio.run(_verify_all, db)
    # Re-derivation too: the drain's last commit (results only) and the next start's decisions.
    verified = exitflow("verify", "--db", str(db))
    assert verified.code == 0, verified.stdout + verified.stderr


def test_sighup_drains_like_sigterm_and_exits_129(tmp_path: Path,
                                                   daemons: list[Daemon]) -> None:
    """SIGHUP (the terminal went away): drained as SIGTERM is, then exit 129 with one line;
    the next daemon finishes the run."""
    db = tmp_path / "x.db"
    spec = tmp_path / "slow.yaml"
    spec.write_text(GATED_STEP)
    gate = tmp_path / "gate"
    first = _start(daemons, db, "--grace", "60").ready()
    name = exitflow("submit", str(spec), "--db", str(db), "-p", f"gate={gate}", "-o",
                    "name").stdout.strip()
    _wait_node_running(db, name, "slow")
    first.signal(signal.SIGHUP)
    first.wait_for("SIGHUP: taking no new work")
    gate.touch()  # the step finishes within the grace, after the daemon took no new work
    assert first.wait() == 129, first.stderr
    assert "Traceback" not in first.stderr
    last = [line for line in first.stderr.splitlines() if line.strip()][-1]
    assert "SIGHUP: stopped" in last, first.stderr
    p = phases(exitflow("get", name, "--db", str(db), "-o", "json").json())
    assert p["slow"] == "Succeeded" and "next" not in p
    _start(daemons, db).ready()
    assert _wait_phase(db, name, {"Succeeded", "Failed", "Error"})["status"]["phase"] == \
        "Succeeded"
    anyio.run(_verify_all, db)


def test_second_daemon_is_a_standby_or_refuses(tmp_path: Path, daemons: list[Daemon]) -> None:
    db = tmp_path / "x.db"
    first = _start(daemons, db).ready()
    refused = exitflow("daemon", "--db", str(db), "--no-standby", timeout=30)
    assert refused.code != 0 and "another controller" in refused.stderr
    standby = _start(daemons, db)
    standby.wait_for("waiting as standby")
    first.signal(signal.SIGTERM)
    assert first.wait() == 0
    standby.ready()  # took over
    result = exitflow("submit", str(EXAMPLES / "onexit-cleanup.yaml"), "--db", str(db),
                      "--wait", "-o", "name", timeout=60)
    assert result.code == 1  # Failed, run by the former standby
    standby.signal(signal.SIGINT)
    assert standby.wait() == 0


async def _take_over(db: Path) -> int:
    store = await SqliteStore.open(str(db))
    try:
        return await store.acquire_controller(takeover=True)
    finally:
        await store.aclose()


def test_a_replaced_daemon_is_fenced_and_exits(tmp_path: Path, daemons: list[Daemon]) -> None:
    db = tmp_path / "x.db"
    spec = tmp_path / "slow.yaml"
    spec.write_text(SLOW_STEP)
    stale = _start(daemons, db).ready()
    name = exitflow("submit", str(spec), "--db", str(db), "-p", "seconds=2", "-o",
                    "name").stdout.strip()
    _wait_node_running(db, name, "slow")
    before = len(anyio.run(_events, db, name))
    generation = anyio.run(_take_over, db)  # another process takes the database over
    assert generation == 2
    code = stale.wait(timeout=30)
    assert code == 1
    assert "was replaced by" in stale.stderr and "may not append" in stale.stderr
    # The stale daemon appended nothing after the takeover.
    assert len(anyio.run(_events, db, name)) == before
    # The next controller finishes the run (the step re-runs, attempt 2).
    assert exitflow("recover", "--db", str(db), timeout=60).code == 0
    assert anyio.run(_verify_all, db)[name] == "Succeeded"
