"""`exitflow run --fail NODE[=Failed|Error|EXITCODE]`: matching nodes end that way without running,
recorded as injected (history and verify say so), and exit handlers still run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import exitflow, phases

WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: faults-
spec:
  entrypoint: main
  onExit: cleanup
  arguments:
    parameters: [{name: marker}]
  templates:
    - name: main
      steps:
        - - {name: build, template: touch}
        - - {name: deploy, template: touch}
    - name: touch
      container:
        image: alpine:latest
        command: [sh, -c]
        args: ["echo '{{pod.name}}' >> {{workflow.parameters.marker}}"]
    - name: cleanup
      container:
        image: alpine:latest
        command: [sh, -c]
        args: ["echo cleanup-{{workflow.status}} >> {{workflow.parameters.marker}}"]
"""


def _run(tmp_path: Path, *args: str) -> tuple[int, dict, list[str]]:
    spec, marker = tmp_path / "wf.yaml", tmp_path / "marker"
    spec.write_text(WORKFLOW)
    res = exitflow("run", str(spec), "--db", str(tmp_path / "x.db"), "-o", "json",
                   "-p", f"marker={marker}", *args)
    lines = marker.read_text().splitlines() if marker.exists() else []
    return res.code, res.json() if res.stdout.strip() else {}, lines


@pytest.mark.parametrize(
    ("fault", "code", "phase", "exit_code"),
    [("build", 1, "Failed", 1), ("b*ld=Error", 1, "Error", None), ("build=7", 1, "Failed", 7)],
)
def test_injected_node_does_not_run_and_handlers_still_do(
    tmp_path: Path, fault: str, code: int, phase: str, exit_code: int | None
) -> None:
    got_code, wf, lines = _run(tmp_path, "--fail", fault)
    assert got_code == code
    got = phases(wf)
    assert got["build"] == phase and "deploy" not in got and got["@onExit"] == "Succeeded"
    # Nothing of `build` ran; the cleanup did, seeing the injected failure.
    assert lines == [f"cleanup-{wf['status']['phase']}"]
    build = next(n for n in wf["status"]["nodes"].values() if n["displayName"] == "build")
    assert build["message"].startswith("injected fault (--fail)")
    assert (build.get("outputs") or {}).get("exitCode") == (
        str(exit_code) if exit_code is not None else None
    )
    db = str(tmp_path / "x.db")
    history = exitflow("history", wf["metadata"]["name"], "--db", db)
    assert "injected faults" in history.stdout and "injected" in history.stdout
    verify = exitflow("verify", "--db", db)
    assert verify.code == 0, verify.stdout
    assert "injected faults (--fail, not run): build" in verify.stdout


def test_exit_code_zero_injects_success_and_unmatched_nodes_run(tmp_path: Path) -> None:
    code, wf, lines = _run(tmp_path, "--fail", "build=0")
    assert code == 0
    assert phases(wf)["deploy"] == "Succeeded"
    assert len(lines) == 2 and lines[-1] == "cleanup-Succeeded"  # deploy and cleanup ran


def test_retry_children_match_their_step_and_exhaust_retries(tmp_path: Path) -> None:
    spec = tmp_path / "retry.yaml"
    spec.write_text(WORKFLOW.replace(
        "    - name: touch\n", "    - name: touch\n      retryStrategy: {limit: 2}\n"
    ))
    res = exitflow("run", str(spec), "--db", str(tmp_path / "x.db"), "-o", "json",
                   "-p", f"marker={tmp_path / 'marker'}", "--fail", "build")
    got = phases(res.json())
    assert res.code == 1
    assert [got["build(0)"], got["build(1)"], got["build(2)"]] == ["Failed"] * 3, got
    assert got["build"] == "Failed" and got["@onExit"] == "Succeeded"
    assert (tmp_path / "marker").read_text().splitlines() == ["cleanup-Failed"]


@pytest.mark.parametrize("bad", ["=Failed", "build=Maybe", "build=300"])
def test_bad_fail_option_is_one_line_exit_2(tmp_path: Path, bad: str) -> None:
    spec = tmp_path / "wf.yaml"
    spec.write_text(WORKFLOW)
    res = exitflow("run", str(spec), "--db", str(tmp_path / "x.db"), "-p", "marker=/dev/null",
                   "--fail", bad)
    assert res.code == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "--fail" in res.stderr
    assert not (tmp_path / "x.db").exists() or exitflow(
        "list", "--db", str(tmp_path / "x.db")
    ).stdout.count("faults-") == 0
