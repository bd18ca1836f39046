"""Exit codes: 2 for every store or input problem, 1 only for a Failed workflow, and `recover`
never exits 0 when a run could not be recovered."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from engine.events import RULES_VERSION, WorkflowSubmitted
from engine.store import SqliteStore
from tests.hostile import HEADER, exitflow_raw, one_line, write

OK = HEADER + """spec:
  entrypoint: main
  templates:
  - name: main
    container: {image: alpine, command: [sh, -c, "exit 0"]}
"""
FAILS = OK.replace("exit 0", "exit 4")


@pytest.mark.timeout(60)
def test_store_problems_exit_2_failed_exits_1(tmp_path: Path) -> None:
    spec = write(tmp_path, "ok.yaml", OK)
    folder = tmp_path / "a-directory.db"
    folder.mkdir()
    for args in (["run", spec], ["submit", spec], ["list"], ["get", "x"], ["recover"],
                 ["verify"]):
        result = exitflow_raw(*args, "--db", str(folder))
        assert result.code == 2, (args, result)
        assert "directory" in one_line(result.stderr)
    db = str(tmp_path / "t.db")
    failed = exitflow_raw("run", write(tmp_path, "fails.yaml", FAILS), "--db", db)
    assert failed.code == 1 and "Traceback" not in failed.stderr
    assert exitflow_raw("run", spec, "--db", db).code == 0


async def _record_unrunnable(db: str) -> None:
    store = await SqliteStore.open(db)
    try:
        await store.create_workflow(WorkflowSubmitted(
            ts=time.time(), uid="u-broken", name="broken", spec_yaml="spec: [not, a, workflow",
            rules=RULES_VERSION))
    finally:
        await store.aclose()


@pytest.mark.timeout(60)
def test_recover_is_not_zero_when_a_run_cannot_be_recovered(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    assert exitflow_raw("run", write(tmp_path, "ok.yaml", OK), "--db", db).code == 0
    anyio.run(_record_unrunnable, db)
    result = exitflow_raw("recover", "--db", db)
    assert result.code == 3, result
    assert "Traceback" not in result.stderr
    assert "could not be recovered" in result.stderr and "broken" not in result.stdout
