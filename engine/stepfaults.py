"""`exitflow crashtest FILE --step-faults`: does every failure path reach its cleanup?

The workflow runs once cleanly; then once per Pod/HTTP node of the clean run (by display name,
exit handlers' own nodes excluded) with that node forced to fail (`exitflow run --fail NODE`),
each in its own temporary database. Per case the report gives the final phase and the exit
handlers that ran with their phases. A case passes when the run finished, its log verifies, and
every exit handler owed in it completed: a handler node that exists and was not Skipped/Omitted
(its `when` held) must have Succeeded.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence

import anyio
import msgspec

from .controller.faults import stable_name, without_retry
from .crashtest import (
    _PROCESS_TIMEOUT,
    _exit_handlers,
    _Proc,
    default_workers,
    verify_log,
)
from .errors import InputError
from .events import OMITTED, SKIPPED, SUCCEEDED, WORK_TYPES
from .state.fold import fold
from .state.view import WorkflowView
from .store import SqliteStore

__all__ = ["FaultCase", "StepFaultReport", "run_step_faults"]


class FaultCase(msgspec.Struct, frozen=True, kw_only=True):
    """One run with `node` forced to fail ("clean" for the reference run)."""

    node: str
    phase: str
    #: exit handler (its `faults.stable_name`) -> its final phase (Skipped: `when` did not hold)
    handlers: dict[str, str]
    #: exit handler display name -> deliveries (NodeStarted events of its Pod/HTTP nodes)
    handler_runs: dict[str, int]
    ok: bool
    reasons: list[str] = []
    seconds: float = 0.0


class StepFaultReport(msgspec.Struct, kw_only=True):
    file: str
    clean: FaultCase
    cases: list[FaultCase]
    seconds: float

    @property
    def ok(self) -> bool:
        return self.clean.ok and all(c.ok for c in self.cases)

    def to_builtins(self) -> dict[str, object]:
        out = msgspec.to_builtins(self)
        assert isinstance(out, dict)
        out["ok"] = self.ok
        return out


def work_nodes(view: WorkflowView) -> list[str]:
    """Display names (retry suffix dropped) of the Pod/HTTP nodes that are not exit handlers'."""
    names: list[str] = []
    for node in view.nodes.values():
        if node.type in WORK_TYPES and node.role != "exit":
            name = without_retry(stable_name(node.display_name, view.name))
            if name not in names:
                names.append(name)
    return names


async def _read(db: str) -> tuple[WorkflowView | None, dict[str, int], list[str]]:
    if not os.path.exists(db):
        return None, {}, ["the run was never submitted"]
    store = await SqliteStore.open(db, read_only=True)
    try:
        records = await store.list_workflows()
        if len(records) != 1:
            return None, {}, [f"{len(records)} workflows in the log, expected 1"]
        check = await verify_log(store, records[0].uid)
        events = await store.read(records[0].uid)
        view = fold(r.event for r in events)
        starts: dict[str, int] = {}
        for rec in events:
            if type(rec.event).__name__ == "NodeStarted":
                nid = getattr(rec.event, "node_id", "")
                starts[nid] = starts.get(nid, 0) + 1
        return view, starts, list(check.problems)
    finally:
        await store.aclose()


def _case(file: str, argv_tail: list[str], node: str, workdir: str, tag: str,
          isolation: str, timeout: float) -> FaultCase:
    started = time.monotonic()
    db = os.path.join(workdir, f"{tag}.db")
    argv = ["run", file, "--db", db, "-o", "json", *argv_tail]
    if node != "clean":
        argv += ["--fail", node]
    code = _Proc(argv, {"EXITFLOW_CRASH_AT": None}, workdir, tag, isolation).wait(timeout)
    view, starts, reasons = anyio.run(_read, db)
    if code not in (0, 1, 3):
        reasons.insert(0, f"the run did not finish (exit {code})")
    handlers: dict[str, str] = {}
    runs: dict[str, int] = {}
    phase = "-"
    if view is not None:
        phase = view.phase
        if not view.finished:
            reasons.append(f"the workflow is {view.phase}, not finished")
        for top in _exit_handlers(view):
            label = stable_name(top.display_name, view.name)
            handlers[label] = top.phase
            stack, total = [top], 0
            while stack:
                n = stack.pop()
                if n.type in WORK_TYPES:
                    total = max(total, starts.get(n.id, 0))
                stack.extend(view.nodes[c] for c in n.children if c in view.nodes)
            runs[label] = total
            if top.phase not in (SKIPPED, OMITTED, SUCCEEDED):
                reasons.append(f"exit handler {label} is {top.phase}"
                               + (f": {top.message}" if top.message else ""))
    return FaultCase(node=node, phase=phase, handlers=handlers, handler_runs=runs,
                     ok=not reasons, reasons=reasons,
                     seconds=round(time.monotonic() - started, 3))


def run_step_faults(
    file: str,
    *,
    parameters: Sequence[str] = (),
    executor: str = "local",
    workers: int | None = None,
    isolation: str = "fork",
    timeout: float = _PROCESS_TIMEOUT,
    on_clean: Callable[[FaultCase, int], None] | None = None,
    on_result: Callable[[FaultCase], None] | None = None,
) -> StepFaultReport:
    """Run `file` cleanly, then once per Pod/HTTP node with that node forced to fail."""
    started = time.monotonic()
    if not os.path.isfile(file):
        raise InputError(f"{file}: no such file")
    path = os.path.abspath(file)
    tail = ["--executor", executor]
    for p in parameters:
        tail += ["-p", p]
    base = tempfile.mkdtemp(prefix="exitflow-stepfaults-")
    try:
        clean = _case(path, tail, "clean", base, "clean", isolation, timeout)
        view, _, _ = anyio.run(_read, os.path.join(base, "clean.db"))
        if view is None or not view.finished:
            raise InputError(f"{file}: the clean run did not finish: {'; '.join(clean.reasons)}")
        nodes = work_nodes(view)
        if on_clean is not None:
            on_clean(clean, len(nodes))
        cases: list[FaultCase] = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers or default_workers()) as ex:
            futures = [
                ex.submit(_case, path, tail, node, base, f"fault{i}", isolation, timeout)
                for i, node in enumerate(nodes)
            ]
            for future in concurrent.futures.as_completed(futures):
                case = future.result()
                cases.append(case)
                if on_result is not None:
                    on_result(case)
        cases.sort(key=lambda c: nodes.index(c.node))
        return StepFaultReport(file=file, clean=clean, cases=cases,
                               seconds=round(time.monotonic() - started, 3))
    finally:
        shutil.rmtree(base, ignore_errors=True)
