"""HTTP nodes and child workflows under every controller: `exitflow daemon` (which also runs the
child a handler created), and `exitflow crashtest` (a crash at every event boundary of the
notifier, against a real server on 127.0.0.1)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import EXAMPLES, exitflow
from tests.integration.test_daemon import Daemon
from tests.outside.server import serve


def test_the_daemon_sends_http_and_runs_the_child_workflow(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    daemon = Daemon(db, "--executor", "simulate")
    try:
        daemon.ready()
        with serve() as server:
            notify = exitflow("submit", str(EXAMPLES / "notify-on-failure.yaml"), "--db", str(db),
                              "-p", "should-fail=true", "-p", f"webhook-url={server.url}/ok",
                              "--wait", "--executor", "local")
            assert notify.code == 1, notify.stderr
            (seen,) = server.seen("/ok")
            assert seen.headers["X-Exitflow-Attempt"] == "1"
        parent = exitflow("submit", str(EXAMPLES / "cleanup-starts-recovery.yaml"),
                          "--db", str(db), "--wait", "-o", "json", "--executor", "local")
        assert parent.code == 1, parent.stderr
        (node,) = [n for n in parent.json()["status"]["nodes"].values()
                   if n["displayName"] == "start-recovery"]
        child = node["outputs"]["result"]
        # The daemon picks the child up like any submission.
        for _ in range(600):
            got = exitflow("get", child, "--db", str(db), "-o", "json")
            if got.code == 0 and got.json()["status"]["phase"] not in ("Pending", "Running"):
                break
        assert got.json()["status"]["phase"] == "Succeeded"
    finally:
        daemon.kill()


def test_crashtest_of_the_notifier_passes_at_every_boundary(tmp_path: Path) -> None:
    with serve() as server:
        res = exitflow("crashtest", str(EXAMPLES / "notify-on-failure.yaml"), "-o", "json",
                       "-p", "should-fail=true", "-p", f"webhook-url={server.url}/ok")
        assert res.code == 0, res.stdout[-2000:] + res.stderr
        report = json.loads(res.stdout)
        assert report["clean"]["phase"] == "Failed" and report["ok"]
        assert len(report["boundaries"]) == report["clean"]["events"]
        # One post per run (clean and every boundary), except where a crash caught the request
        # started but unrecorded: then it was re-sent under the same key with the next attempt
        # (attempt 1 may never have left if the crash came right after its intent was durable).
        keys = [s.headers["Idempotency-Key"] for s in server.seen("/ok")]
        assert len(set(keys)) == len(report["boundaries"]) + 1
        resent = 0
        for key in set(keys):
            attempts = [int(s.headers["X-Exitflow-Attempt"]) for s in server.seen("/ok")
                        if s.headers["Idempotency-Key"] == key]
            assert len(attempts) == len(set(attempts)) and max(attempts) <= 2, (key, attempts)
            resent += max(attempts) == 2
        assert resent >= 1
