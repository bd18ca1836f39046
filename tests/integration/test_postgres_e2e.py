"""Every command on PostgreSQL, as real `python -m engine` processes against the real test
server (.ci/setup-postgres.sh): run, submit + daemon, stop, terminate, get, list, logs, history,
replay, verify, diff, prune, recover after an injected crash, crashtest, and bundles moving
SQLite -> PostgreSQL -> SQLite byte for byte."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import EXAMPLES, ROOT, exitflow, phases

pytestmark = pytest.mark.postgres

SLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: slow-
spec:
  entrypoint: main
  onExit: cleanup
  templates:
    - name: main
      steps:
        - - {name: slow, template: slow}
    - name: slow
      container: {image: alpine:latest, command: [sh, -c], args: ["echo started; sleep 60"]}
    - name: cleanup
      container:
        {image: alpine:latest, command: [sh, -c], args: ["echo cleanup {{workflow.status}}"]}
"""


def ok(result: Any, *codes: int) -> Any:
    assert result.code in (codes or (0,)), result.stderr
    assert "Traceback" not in result.stderr
    return result


def get(db: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = ok(exitflow("get", name, "--db", db, "-o", "json")).json()
    return data


def wait_for(db: str, name: str, check: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        wf = get(db, name)
        if check(wf):
            return wf
        assert time.monotonic() < deadline, wf["status"]
        time.sleep(0.05)


@pytest.fixture
def daemon(pg_db: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    err = open(tmp_path / "daemon.err", "wb")  # noqa: SIM115 - closed below
    env = {k: v for k, v in os.environ.items() if k != "EXITFLOW_CRASH_AT"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "daemon", "--db", pg_db],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err,
    )
    deadline = time.monotonic() + 30
    while "controlling" not in (tmp_path / "daemon.err").read_text():
        assert proc.poll() is None, (tmp_path / "daemon.err").read_text()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    text = (tmp_path / "daemon.err").read_text()
    assert ("exitflow-test-password" not in text and "***" in text) or "@" not in text
    yield proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(60)
    err.close()


def test_run_and_every_reading_command(pg_db: str, tmp_path: Path) -> None:
    db = pg_db
    run = ok(exitflow("run", str(EXAMPLES / "dag-exit-handlers.yaml"), "--db", db, "-o", "json",
                      "-p", "should-fail=true"), 1)
    name = run.json()["metadata"]["name"]
    assert run.json()["status"]["phase"] == "Failed"
    ok(exitflow("run", str(EXAMPLES / "dag-exit-handlers.yaml"), "--db", db))
    names = ok(exitflow("list", "--db", db, "-o", "name")).stdout.split()
    assert len(names) == 2 and name in names
    assert phases(get(db, name))["always-run-cleanup"] == "Succeeded"
    assert "cleaning up" in ok(exitflow("logs", name, "--db", db)).stdout
    assert "WorkflowCompleted" in ok(exitflow("history", name, "--db", db)).stdout
    ok(exitflow("replay", name, "--db", db, "--at", "3"))
    assert "verifies" in ok(exitflow("verify", "--db", db)).stdout
    ok(exitflow("diff", names[0], names[1], "--db", db), 0, 1)
    # Bundles: PostgreSQL -> SQLite -> PostgreSQL, the run's bytes unchanged.
    first = tmp_path / "a.bundle"
    ok(exitflow("export", name, "--db", db, "-o", str(first)))
    sqlite_db = str(tmp_path / "copy.db")
    ok(exitflow("import", str(first), "--db", sqlite_db))
    assert "verifies" in ok(exitflow("verify", "--db", sqlite_db)).stdout
    second = tmp_path / "b.bundle"
    ok(exitflow("export", name, "--db", sqlite_db, "-o", str(second)))
    ok(exitflow("prune", "--db", db, "--finished-before", "2999-01-01"))
    assert ok(exitflow("list", "--db", db, "-o", "name")).stdout.split() == []
    assert "verifies" in ok(exitflow("verify", "--db", db)).stdout
    ok(exitflow("import", str(second), "--db", db))
    third = tmp_path / "c.bundle"
    ok(exitflow("export", name, "--db", db, "-o", str(third)))
    body = [f.read_bytes().split(b"\n")[1:-2] for f in (first, second, third)]
    assert body[0] == body[1] == body[2] and len(body[0]) > 10  # all but header and trailer
    assert "verifies" in ok(exitflow("verify", "--db", db)).stdout


def test_submit_daemon_stop_terminate(
    pg_db: str, tmp_path: Path, daemon: subprocess.Popen[bytes]
) -> None:
    db = pg_db
    spec = tmp_path / "slow.yaml"
    spec.write_text(SLOW)
    quick = ok(exitflow("submit", str(EXAMPLES / "onexit-cleanup.yaml"), "--db", db, "--wait",
                        "-o", "json"), 1)
    assert quick.json()["status"]["phase"] == "Failed"
    stopped = ok(exitflow("submit", str(spec), "--db", db, "-o", "name")).stdout.strip()
    killed = ok(exitflow("submit", str(spec), "--db", db, "-o", "name")).stdout.strip()
    for name in (stopped, killed):
        wait_for(db, name, lambda wf: phases(wf).get("slow") == "Running")
    ok(exitflow("stop", stopped, "--db", db))
    ok(exitflow("terminate", killed, "--db", db))
    done = {"Failed", "Succeeded", "Error"}
    wf = wait_for(db, stopped, lambda wf: wf["status"]["phase"] in done)
    assert phases(wf).get("@onExit") == "Succeeded"  # stop: exit handlers still run
    wf = wait_for(db, killed, lambda wf: wf["status"]["phase"] in done)
    assert "@onExit" not in phases(wf)  # terminate: they do not
    assert "verifies" in ok(exitflow("verify", "--db", db)).stdout


def test_recover_after_a_crash(pg_db: str) -> None:
    db = pg_db
    crashed = exitflow("run", str(EXAMPLES / "dag-exit-handlers.yaml"), "--db", db,
                       "-p", "should-fail=true", env={"EXITFLOW_CRASH_AT": "9"})
    assert crashed.code == 137
    (name,) = ok(exitflow("list", "--db", db, "-o", "name")).stdout.split()
    assert get(db, name)["status"]["phase"] in ("Running", "ExitPhase")  # unfinished
    recovered = ok(exitflow("recover", "--db", db, "-o", "json"), 1)
    assert "Failed" in recovered.stdout
    wf = get(db, name)
    assert wf["status"]["phase"] == "Failed"
    assert phases(wf)["always-run-cleanup"] == "Succeeded"
    assert "verifies" in ok(exitflow("verify", "--db", db)).stdout


def test_crashtest_on_postgres(pg_url: str) -> None:
    result = ok(exitflow(
        "crashtest", str(ROOT / "tests/crash/workflows/dag-diamond-onexit.yaml"),
        "--db", pg_url, "--executor", "simulate", "--when", "both", "-j", "2", "-o", "json",
        timeout=600,
    ))
    report = json.loads(result.stdout)
    assert report["boundaries"] and all(b["ok"] for b in report["boundaries"])
    assert len(report["boundaries"]) == 2 * report["clean"]["events"]
