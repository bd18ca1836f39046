"""Make real runs for the audit tests: the simulate executor through the Controller API."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.api import prepare
from engine.controller.controller import Controller
from engine.controller.pool import ExecutorPool
from engine.state.view import WorkflowView
from engine.store import SqliteStore
from tests.helpers import Result

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


async def run_text(db: Path, text: str, *, parameters: Mapping[str, str] | None = None,
                   fail: Mapping[str, int] | None = None,
                   outputs: Mapping[str, Mapping[str, str]] | None = None,
                   results: Mapping[str, str] | None = None) -> WorkflowView:
    """Submit and run one workflow to its end with the simulate executor."""
    options: dict[str, Any] = {}
    if fail:
        options["fail"] = dict(fail)
    if outputs:
        options["outputs"] = {k: dict(v) for k, v in outputs.items()}
    if results:
        options["results"] = dict(results)
    pool = ExecutorPool("simulate", {"simulate": options})
    store = await SqliteStore.open(db)
    try:
        await store.acquire_controller(wait=True)
        _, submitted = prepare(text, source="test.yaml", parameters=parameters,
                               executor="simulate")
        await store.create_workflow(submitted)
        return await Controller(store, pool).run_workflow(submitted.uid)
    finally:
        await pool.aclose()
        await store.aclose()


def sql(db: Path, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(statement, params).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


STEPS = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: audit-steps-
spec:
  entrypoint: main
  onExit: bye
  templates:
    - name: main
      steps:
        - - name: a
            template: work
        - - name: b
            template: work
          - name: c
            template: work
    - name: work
      script:
        image: alpine:latest
        command: [sh]
        source: echo hi
    - name: bye
      container:
        image: alpine:latest
        command: [echo, bye]
"""


def cli(*args: str) -> Result:
    """The real `exitflow` command line, in this process (saves the interpreter start-up)."""
    from click.testing import CliRunner

    from engine.cli import cli as group

    result = CliRunner().invoke(group, list(args), prog_name="exitflow", catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)
