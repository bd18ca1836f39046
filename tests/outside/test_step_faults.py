"""`exitflow crashtest FILE --step-faults`: one run per Pod node forced to fail; per case the final
phase and the exit handlers that ran; exit 0 only if every owed handler completed in every case."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import EXAMPLES, exitflow
from tests.outside.server import serve


def test_every_failure_path_reaches_its_cleanup() -> None:
    res = exitflow("crashtest", str(EXAMPLES / "dag-exit-handlers.yaml"), "--step-faults",
                   "-o", "json")
    assert res.code == 0, res.stderr
    report = res.json()
    assert report["ok"] is True
    assert report["clean"]["handlers"] == {"fail-task": "Skipped",
                                           "always-run-cleanup": "Succeeded"}
    (case,) = report["cases"]
    assert case["node"] == "run-task" and case["phase"] == "Failed" and case["ok"]
    assert case["handlers"] == {"fail-task": "Succeeded", "always-run-cleanup": "Succeeded"}
    assert case["handler_runs"] == {"fail-task": 1, "always-run-cleanup": 1}
    table = exitflow("crashtest", str(EXAMPLES / "dag-exit-handlers.yaml"), "--step-faults")
    assert table.code == 0
    assert "run-task" in table.stdout and "1/1 forced failures" in table.stdout


def test_a_handler_that_breaks_on_a_failure_path_fails_the_test() -> None:
    res = exitflow("crashtest", str(EXAMPLES / "hooks-step-level.yaml"), "--step-faults",
                   "-o", "json")
    assert res.code == 1
    cases = {c["node"]: c for c in res.json()["cases"]}
    assert set(cases) == {"produce", "flaky", "produce.hooks.succeeded", "after"}
    produce = cases["produce"]
    assert not produce["ok"] and produce["handlers"]["produce.onExit"] == "Error"
    assert "produce.onExit" in produce["reasons"][0]
    assert all(c["ok"] for name, c in cases.items() if name != "produce")


def test_a_generated_root_pod_is_forced_as_root(tmp_path: Path) -> None:
    with serve() as server:
        res = exitflow("crashtest", str(EXAMPLES / "notify-on-failure.yaml"), "--step-faults",
                       "-o", "json", "-p", f"webhook-url={server.url}/ok")
        assert res.code == 0, res.stderr
        report = res.json()
        assert report["clean"]["handlers"] == {"@onExit": "Succeeded"}
        (case,) = report["cases"]
        assert case["node"] == "@root" and case["phase"] == "Failed" and case["ok"]
        # Forced to fail, the workflow posted its status: once, from the forced case only.
        (seen,) = server.seen("/ok")
        assert "ended Failed" in seen.body
