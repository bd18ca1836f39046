"""`suspend` templates and `exitflow resume`, as real processes (daemons, CLI) on a real SQLite
file: resumed from another process, by its `duration`, across a kill -9 of the daemon, and
stopped while suspended (its exit handler still runs)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from engine.events import NodeStarted, ResumeRequested
from tests.helpers import exitflow, phases
from tests.integration.test_daemon import (
    Daemon,
    _events,
    _start,
    _verify_all,
    _wait_node_running,
    _wait_phase,
)


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for d in started:
        d.kill()

APPROVAL = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: approval
spec:
  entrypoint: main
  onExit: cleanup
  templates:
    - name: main
      steps:
        - - {name: before, template: say}
        - - {name: approve, template: approve}
        - - {name: after, template: say}
    - name: approve
      suspend: {DURATION}
    - name: say
      container: {image: alpine:latest, command: [sh, -c], args: ["echo hello"]}
    - name: cleanup
      container:
        {image: alpine:latest, command: [sh, -c], args: ["echo cleanup {{workflow.status}}"]}
"""

FINAL = {"Succeeded", "Failed", "Error"}


def _file(tmp_path: Path, duration: str = "") -> Path:
    path = tmp_path / "approval.yaml"
    body = "{duration: " + duration + "}" if duration else "{}"
    path.write_text(APPROVAL.replace("{DURATION}", body))
    return path


def _submit(db: Path, path: Path) -> str:
    result = exitflow("submit", str(path), "--db", str(db), "-o", "name")
    assert result.code == 0, result.stderr
    return result.stdout.strip()


def _starts(db: Path, name: str) -> int:
    return sum(isinstance(e, NodeStarted) for e in anyio.run(_events, db, name))


def test_resume_from_another_process_while_a_daemon_runs(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    db = tmp_path / "x.db"
    _start(daemons, db).ready()
    name = _submit(db, _file(tmp_path))
    _wait_node_running(db, name, "approve")
    wf = exitflow("get", name, "--db", str(db), "-o", "json").json()
    assert phases(wf)["before"] == "Succeeded" and "after" not in phases(wf)
    resumed = exitflow("resume", name, "--db", str(db))
    assert resumed.code == 0, resumed.stderr
    wf = _wait_phase(db, name, FINAL)
    assert wf["status"]["phase"] == "Succeeded"
    p = phases(wf)
    assert p["approve"] == p["after"] == p["@onExit"] == "Succeeded"
    assert any(isinstance(e, ResumeRequested) for e in anyio.run(_events, db, name))
    anyio.run(_verify_all, db)


def test_duration_resumes_by_itself(tmp_path: Path, daemons: list[Daemon]) -> None:
    db = tmp_path / "x.db"
    _start(daemons, db).ready()
    name = _submit(db, _file(tmp_path, '"2"'))
    wf = _wait_phase(db, name, FINAL)
    assert wf["status"]["phase"] == "Succeeded"
    p = phases(wf)
    assert p["approve"] == p["after"] == "Succeeded"
    assert not any(isinstance(e, ResumeRequested) for e in anyio.run(_events, db, name))
    approve = next(n for n in wf["status"]["nodes"].values() if n["displayName"] == "approve")
    assert approve["type"] == "Suspend"
    anyio.run(_verify_all, db)


def test_still_suspended_after_kill_9_then_resumed(tmp_path: Path, daemons: list[Daemon]) -> None:
    db = tmp_path / "x.db"
    first = _start(daemons, db).ready()
    name = _submit(db, _file(tmp_path))
    _wait_node_running(db, name, "approve")
    starts = _starts(db, name)
    first.signal(signal.SIGKILL)
    first.wait()
    second = _start(daemons, db).ready()
    second.wait_for("controlling")
    # Recovered: still suspended, nothing re-run (no new NodeStarted), not finished.
    _wait_node_running(db, name, "approve")
    wf = exitflow("get", name, "--db", str(db), "-o", "json").json()
    assert wf["status"]["phase"] == "Running"
    assert _starts(db, name) == starts
    resumed = exitflow("resume", name, "--db", str(db))
    assert resumed.code == 0, resumed.stderr
    wf = _wait_phase(db, name, FINAL)
    assert wf["status"]["phase"] == "Succeeded"
    p = phases(wf)
    assert p["before"] == p["approve"] == p["after"] == p["@onExit"] == "Succeeded"
    anyio.run(_verify_all, db)


def test_resume_recorded_without_a_controller_is_seen_by_recover(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    crashed = exitflow("run", str(_file(tmp_path)), "--db", str(db),
                       env={"EXITFLOW_CRASH_AT": "12"})
    assert crashed.code == 137, crashed.stderr
    wf = exitflow("get", "approval", "--db", str(db), "-o", "json").json()
    if phases(wf).get("approve") != "Running":  # crashed before the suspend: get there first
        daemon = Daemon(db)
        try:
            daemon.ready()
            _wait_node_running(db, "approval", "approve")
        finally:
            daemon.kill()
    resumed = exitflow("resume", "approval", "--db", str(db))
    assert resumed.code == 0, resumed.stderr
    assert "recorded" in resumed.stdout
    recovered = exitflow("recover", "--db", str(db))
    assert recovered.code == 0, recovered.stderr
    wf = exitflow("get", "approval", "--db", str(db), "-o", "json").json()
    assert wf["status"]["phase"] == "Succeeded"
    assert phases(wf)["@onExit"] == "Succeeded"
    anyio.run(_verify_all, db)


def test_stop_of_a_suspended_run_runs_its_exit_handler(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    db = tmp_path / "x.db"
    _start(daemons, db).ready()
    name = _submit(db, _file(tmp_path))
    _wait_node_running(db, name, "approve")
    stopped = exitflow("stop", name, "--db", str(db))
    assert stopped.code == 0, stopped.stderr
    wf = _wait_phase(db, name, FINAL)
    assert wf["status"]["phase"] == "Failed"
    p = phases(wf)
    assert p["approve"] == "Failed"
    assert p["@onExit"] == "Succeeded"
    assert "after" not in p or p["after"] != "Succeeded"
    anyio.run(_verify_all, db)


def test_resume_with_nothing_suspended_is_one_line_exit_2(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    path = _file(tmp_path, '"0"')
    ran = exitflow("run", str(path), "--db", str(db))
    assert ran.code == 0, ran.stderr
    result = exitflow("resume", "approval", "--db", str(db))
    assert result.code == 2
    assert result.stderr.strip().count("\n") == 0 and "nothing to resume" in result.stderr
    assert "Traceback" not in result.stderr
    missing = exitflow("resume", "no-such-run", "--db", str(db))
    assert missing.code != 0 and "Traceback" not in missing.stderr


def test_suspend_command_holds_the_run_until_resume(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    db = tmp_path / "x.db"
    gate = tmp_path / "gate"
    _start(daemons, db).ready()
    path = tmp_path / "gated.yaml"
    path.write_text(APPROVAL.replace("suspend: {DURATION}", "suspend: {duration: 0}").replace(
        'args: ["echo hello"]', f'args: ["while [ ! -e {gate} ]; do sleep 0.05; done"]'))
    name = _submit(db, path)
    _wait_node_running(db, name, "before")
    held = exitflow("suspend", name, "--db", str(db))
    assert held.code == 0, held.stderr
    again = exitflow("suspend", name, "--db", str(db))
    assert again.code == 0 and "already suspended" in again.stdout, again.stdout + again.stderr
    gate.touch()  # `before` finishes while the run is suspended: recorded, nothing new starts
    deadline = time.monotonic() + 30
    while True:
        wf = exitflow("get", name, "--db", str(db), "-o", "json").json()
        if phases(wf)["before"] == "Succeeded":
            break
        assert time.monotonic() < deadline, phases(wf)
        time.sleep(0.05)
    assert "approve" not in phases(wf) and wf["status"]["phase"] == "Running"
    resumed = exitflow("resume", name, "--db", str(db))
    assert resumed.code == 0, resumed.stderr
    wf = _wait_phase(db, name, FINAL)
    assert wf["status"]["phase"] == "Succeeded"
    assert phases(wf)["after"] == phases(wf)["@onExit"] == "Succeeded"
    anyio.run(_verify_all, db)


def test_spec_suspend_true_waits_for_resume(tmp_path: Path, daemons: list[Daemon]) -> None:
    db = tmp_path / "x.db"
    _start(daemons, db).ready()
    path = tmp_path / "held.yaml"
    path.write_text(APPROVAL.replace("suspend: {DURATION}", "suspend: {duration: 0}").replace(
        "  onExit: cleanup\n", "  onExit: cleanup\n  suspend: true\n"))
    assert exitflow("lint", str(path)).code == 0
    name = _submit(db, path)
    _wait_phase(db, name, {"Running"})
    events = anyio.run(_events, db, name)
    assert not any(isinstance(e, NodeStarted) for e in events)
    resumed = exitflow("resume", name, "--db", str(db))
    assert resumed.code == 0, resumed.stderr
    wf = _wait_phase(db, name, FINAL)
    assert wf["status"]["phase"] == "Succeeded"
    anyio.run(_verify_all, db)
