"""`exitflow cron ...` and CronWorkflows run by a real daemon on a real database."""

from __future__ import annotations

import calendar
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Result, exitflow
from tests.integration.test_daemon import Daemon

CRON = """\
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata:
  name: {name}
spec:
  schedule: "@every 1s"
  concurrencyPolicy: {policy}
  workflowSpec:
    entrypoint: main
    templates:
    - name: main
      container:
        image: alpine
        command: [sh, -c, "sleep {sleep}"]
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _one_line(res: Result) -> str:
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    return lines[0]


def _status(db: Path, name: str) -> dict[str, Any]:
    res = exitflow("cron", "get", name, "--db", str(db), "-o", "json")
    assert res.code == 0, res.stderr
    out: dict[str, Any] = res.json()
    return out


def _wait_ticks(db: Path, name: str, n: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = _status(db, name)
        if len(status["ticks"]) >= n:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


def test_crud_suspend_resume(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    f = _write(tmp_path, "c.yaml", CRON.format(name="c1", policy="Allow", sleep=0))
    assert exitflow("cron", "create", str(f), "--db", str(db)).stdout.strip() == (
        "cronworkflow/c1 created"
    )
    again = exitflow("cron", "create", str(f), "--db", str(db))
    assert again.code == 2 and "already exists" in _one_line(again)
    assert exitflow("cron", "list", "--db", str(db), "-o", "name").stdout.split() == ["c1"]
    assert exitflow("cron", "get", "c1", "--db", str(db), "-o", "yaml").stdout == f.read_text()
    assert exitflow("cron", "suspend", "c1", "--db", str(db)).code == 0
    assert _status(db, "c1")["suspended"] is True
    assert _status(db, "c1")["nextScheduledTime"] is None
    assert exitflow("cron", "resume", "c1", "--db", str(db)).code == 0
    assert _status(db, "c1")["suspended"] is False
    assert exitflow("cron", "delete", "c1", "--db", str(db)).code == 0
    gone = exitflow("cron", "get", "c1", "--db", str(db))
    assert gone.code == 2 and "no CronWorkflow named 'c1'" in _one_line(gone)


BAD = {
    "schedule": ('schedule: "@every 1s"', 'schedule: "99 * * * *"', "does not parse"),
    "template-ref": (
        "      container:",
        "      steps: [[{name: x, templateRef: {name: nope, template: y}}]]\n      container:",
        "unknown WorkflowTemplate 'nope'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_cron_is_exit_2_one_line_nothing_stored(tmp_path: Path, case: str) -> None:
    old, new, fragment = BAD[case]
    db = tmp_path / "x.db"
    f = _write(
        tmp_path, "c.yaml", CRON.format(name="c1", policy="Allow", sleep=0).replace(old, new)
    )
    res = exitflow("cron", "create", str(f), "--db", str(db))
    assert res.code == 2
    assert fragment in _one_line(res)
    assert exitflow("cron", "list", "--db", str(db), "-o", "name").stdout == ""
    if case == "schedule":
        lint = exitflow("lint", str(f))
        assert lint.code == 2 and fragment in _one_line(lint)


def test_daemon_runs_ticks_forbid_skips_and_suspended_waits(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    for name, policy, sleep in (
        ("allow", "Allow", 0),
        ("forbid", "Forbid", 3),
        ("paused", "Allow", 0),
    ):
        f = _write(tmp_path, f"{name}.yaml", CRON.format(name=name, policy=policy, sleep=sleep))
        assert exitflow("cron", "create", str(f), "--db", str(db)).code == 0
    assert exitflow("cron", "suspend", "paused", "--db", str(db)).code == 0
    daemon = Daemon(db).ready()
    try:
        allow = _wait_ticks(db, "allow", 3)
        forbid = _wait_ticks(db, "forbid", 3)
    finally:
        daemon.signal(signal.SIGTERM)
        daemon.wait()
    assert all(t["outcome"] == "run" for t in allow["ticks"])
    for t in allow["ticks"]:  # Argo's child name: <cron>-<unix seconds of the tick>
        scheduled = calendar.timegm(time.strptime(t["scheduled"], "%Y-%m-%dT%H:%M:%SZ"))
        assert t["workflow"] == f"allow-{scheduled}"
    # forbid: its first run sleeps 3 s, the ticks meanwhile are skipped, each recorded.
    outcomes = [t["outcome"] for t in forbid["ticks"]]
    assert outcomes[0] == "run"
    assert any(o.startswith("skipped: concurrencyPolicy Forbid") for o in outcomes[1:]), outcomes
    assert _status(db, "paused")["ticks"] == []
    hist = exitflow(
        "history",
        allow["ticks"][-1]["workflow"],
        "--db",
        str(db),
        "-o",
        "json",
        "--kind",
        "WorkflowSubmitted",
    )
    assert hist.code == 0, hist.stderr
    submitted = hist.json()[0]["event"]
    assert submitted["source"] == "CronWorkflow allow"
    assert "workflows.argoproj.io/cron-workflow: allow" in submitted["spec_yaml"]


def test_replace_stops_the_running_workflow(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    f = _write(tmp_path, "r.yaml", CRON.format(name="repl", policy="Replace", sleep=30))
    assert exitflow("cron", "create", str(f), "--db", str(db)).code == 0
    daemon = Daemon(db).ready()
    try:
        status = _wait_ticks(db, "repl", 2)
        first = status["ticks"][0]["workflow"]
        deadline = time.monotonic() + 60
        while True:  # the second tick stopped the first run (its sleep is 30 s)
            wf = exitflow("get", first, "--db", str(db), "-o", "json").json()
            if wf["status"]["phase"] in ("Failed", "Error"):
                break
            assert time.monotonic() < deadline, wf["status"]
            time.sleep(0.1)
    finally:
        daemon.signal(signal.SIGTERM)
        daemon.wait()
    assert all(t["outcome"] == "run" for t in status["ticks"])
