"""Drive the reconciler the way `WorkflowRunner` does, with a fixed clock, and summarise what it
decides as short lines (see `summarize`). Shared by the table-driven reconciler tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from engine.api import prepare
from engine.controller.operator import Decision, Operator
from engine.events import (
    RULES_VERSION,
    Event,
    NodeAttemptLost,
    NodeFinished,
    NodeInitialized,
    NodeLogged,
    NodeStarted,
    ShutdownRequested,
    WorkflowCompleted,
    WorkflowExiting,
    WorkflowStarted,
)
from engine.executors.base import JobResult
from engine.state.fold import apply
from engine.state.view import WorkflowView

#: The fixed clock: every time in a table is seconds after this.
T0 = 1_800_000_000.0
WF = "wf"


def ok(stdout: str = "", **files: str | None) -> JobResult:
    return JobResult(phase="Succeeded", exit_code=0, stdout=stdout.encode(), output_files=files)


def fail(code: int = 1, stdout: str = "") -> JobResult:
    return JobResult(
        phase="Failed", exit_code=code, message=f"exit code {code}", stdout=stdout.encode()
    )


def error(message: str = "could not run") -> JobResult:
    return JobResult(phase="Error", message=message)


@dataclass(frozen=True)
class At:
    """One reconcile: at T0 + `t`, with these finished jobs (short node name -> result), lost
    attempts (short names) and shutdown command — the inputs a runner hands the operator."""

    t: float
    results: Mapping[str, JobResult] = field(default_factory=dict)
    lost: Sequence[str] = ()
    shutdown: str | None = None


def short(view: WorkflowView, node_id: str) -> str:
    """A node's name with the workflow's name written `@`: `@`, `@[0].a`, `@.task`, `@(1)`."""
    node = view.nodes[node_id]
    return "@" + node.name[len(view.name) :]


def _event_line(view: WorkflowView, ev: Event) -> str:
    match ev:
        case WorkflowStarted():
            return "started"
        case ShutdownRequested():
            return f"shutdown {ev.strategy}"
        case WorkflowExiting():
            return f"exiting {ev.status}" + (f": {ev.message}" if ev.message else "")
        case WorkflowCompleted():
            return f"completed {ev.phase}" + (f": {ev.message}" if ev.message else "")
        case NodeInitialized():
            line = f"init {short(view, ev.node_id)} {ev.node_type}"
            if ev.role:
                line += f" role={ev.role}"
            if ev.phase != "Pending":
                line += f" {ev.phase}" + (f": {ev.message}" if ev.message else "")
            if ev.inputs:
                line += " " + ",".join(f"{k}={v}" for k, v in sorted(ev.inputs.items()))
            return line
        case NodeStarted():
            return f"start {short(view, ev.node_id)}" + (
                f" #{ev.attempt}" if ev.attempt != 1 else ""
            )
        case NodeFinished():
            line = f"finish {short(view, ev.node_id)} {ev.phase}"
            if ev.message:
                line += f": {ev.message}"
            if ev.outputs is not None and ev.outputs.parameters:
                line += " " + ",".join(f"{k}={v}" for k, v in sorted(ev.outputs.parameters.items()))
            return line
        case NodeLogged():
            return f"logged {short(view, ev.node_id)}"
        case NodeAttemptLost():
            return f"lost {short(view, ev.node_id)} #{ev.attempt}"
    return type(ev).__name__


class Harness:
    """One run of `spec` decided by the operator, fed by the caller instead of executors."""

    def __init__(
        self, spec: str, parameters: Mapping[str, str] | None = None, rules: int = RULES_VERSION
    ) -> None:
        # as `exitflow run` prepares a run (validation, effective parameters), at a fixed time
        self.workflow, submitted = prepare(spec, source="table", parameters=parameters)
        self.submitted = msgspec.structs.replace(
            submitted,
            ts=T0,
            uid="00000000-0000-0000-0000-000000000000",
            name=WF,
            engine_version="",
            rules=rules,
        )
        self.view = WorkflowView()
        apply(self.view, self.submitted)
        self.operator = Operator(self.view, self.workflow)
        #: Every event decided so far (the run's log after the submission).
        self.events: list[Event] = []

    def restarted(self) -> Harness:
        """A new controller's view of this run: the log folded from scratch, a new Operator."""
        other = Harness.__new__(Harness)
        other.workflow, other.submitted = self.workflow, self.submitted
        other.view = WorkflowView()
        for ev in [self.submitted, *self.events]:
            apply(other.view, ev)
        other.operator = Operator(other.view, other.workflow)
        # as `WorkflowRunner._recover` does: re-attach the Running pods (`job_for` rebuilds their
        # work from the log; `complete` needs it to read output parameters)
        for node in other.operator.running_pods():
            other.operator.job_for(node)
        other.events = list(self.events)
        return other

    def node_id(self, short_name: str) -> str:
        name = WF + short_name[1:]
        node = self.view.node(name)
        assert node is not None, f"no node {short_name}"
        return node.id

    def step(self, at: At) -> list[str]:
        view = self.view
        decision: Decision = self.operator.reconcile(
            T0 + at.t,
            results=[(self.node_id(n), r) for n, r in at.results.items()],
            lost=[(self.node_id(n), "controller restarted") for n in at.lost],
            shutdown=at.shutdown,
        )
        self.events.extend(decision.events)
        lines = [_event_line(view, ev) for ev in decision.events]
        for nid in decision.kill:
            lines.append(f"kill {short(view, nid)}")
        for nid in decision.start:
            job = self.operator.job_for(view.nodes[nid])
            assert job is not None
            what = " ".join([*job.command, *job.args]) or job.image
            if job.source:
                what += f" <<{job.source.strip()}"
            if job.deadline is not None:
                what += f" (deadline +{job.deadline - T0:g})"
            lines.append(f"run {short(view, nid)}: {what}")
        if decision.wake_at is not None:
            lines.append(f"wake +{decision.wake_at - T0:g}")
        return lines

    def run(self, steps: Sequence[At]) -> list[list[str]]:
        return [self.step(at) for at in steps]
