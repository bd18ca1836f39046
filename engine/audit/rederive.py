"""Re-derivation: does the current engine decide, from the same inputs, what the log records?

The log of a run is the reconciler's decisions interleaved with inputs from outside the engine.
Replaying it decision by decision with the current `Operator` (one per run, like a live runner):

- Inputs are taken from the log: the submission (seq 1); a `ShutdownRequested` that is the only
  event at its time (a command recorded while no runner was running); the results of work (a
  Pod node's `NodeFinished` that carries outputs while the node is Running: phase, exit code,
  message and output parameters from the event, stdout/stderr from the stored logs); lost
  attempts (`NodeAttemptLost`); and shutdown commands delivered to a runner.
- Every other event must be decided by the engine. The events of one decision share one `ts`
  (the reconciler's clock), so for each time the operator reconciles the state folded so far
  with `now` = that time and those inputs, and its decision must equal the next recorded events
  byte for byte (canonical encoding). The `NodeLogged` digests it recomputes from the stored logs
  must match too.

Not re-checked: what the work itself did (exit codes, stdout, output files are inputs), and
reconciles that decided nothing (they leave no trace in the log).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import ExitflowError
from ..events import (
    RUNNING,
    WORK_TYPES,
    AnyEvent,
    Event,
    NodeAttemptLost,
    NodeFinished,
    NodeLogged,
    ResumeRequested,
    ShutdownRequested,
    SuspendRequested,
    WorkflowSubmitted,
    encode,
    event_type,
    to_builtins,
)
from ..executors.base import JobResult
from ..spec import load_text
from ..state.fold import apply
from ..state.view import WorkflowView
from ..store.base import LogRecord


@dataclass(frozen=True, slots=True)
class Divergence:
    seq: int
    message: str


@dataclass(frozen=True, slots=True)
class Rederived:
    decisions: int
    inputs: int
    divergence: Divergence | None


def _result(event: NodeFinished, stdout: bytes, stderr: bytes) -> JobResult:
    out = event.outputs
    assert out is not None
    # The operator strips one trailing newline from an output file: give it one back.
    files: dict[str, str | None] = {k: v + "\n" for k, v in out.parameters.items()}
    return JobResult(phase=event.phase, exit_code=out.exit_code, message=event.message,
                     stdout=stdout, stderr=stderr, output_files=files)


def _explain(recorded: Event | None, decided: Event | None) -> str:
    if recorded is None and decided is not None:
        return (f"the engine also decides {event_type(decided)} {_brief(decided)},"
                " which the log lacks")
    if decided is None and recorded is not None:
        return (f"the log records {event_type(recorded)} {_brief(recorded)},"
                " which the engine does not decide")
    assert recorded is not None and decided is not None
    if type(recorded) is not type(decided):
        return (f"the log records {event_type(recorded)} {_brief(recorded)}, the engine decides"
                f" {event_type(decided)} {_brief(decided)}")
    a, b = to_builtins(recorded), to_builtins(decided)
    diffs = [f"{k}: log {a.get(k)!r}, engine {b.get(k)!r}"
             for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return f"{event_type(recorded)} differs: " + "; ".join(diffs)


def _brief(event: Event) -> str:
    node = getattr(event, "node_id", None)
    phase = getattr(event, "phase", None)
    bits = [f"node {node}" if node else "", f"phase {phase}" if phase else ""]
    return "(" + ", ".join(b for b in bits if b) + ")" if any(bits) else ""


def rederive(events: Sequence[AnyEvent], logs: Sequence[LogRecord]) -> Rederived:
    """Check every decision of the run; the first divergence (seq, explanation), if any."""
    if not events or not isinstance(events[0], WorkflowSubmitted):
        return Rederived(0, 0, Divergence(1, "the run does not start with WorkflowSubmitted"))
    streams: dict[tuple[str, int, str], bytes] = {}
    for rec in logs:
        key = (rec.node_id, rec.attempt, rec.stream)
        streams[key] = streams.get(key, b"") + rec.data
    view = WorkflowView()
    apply(view, events[0])
    try:
        workflow = load_text(view.spec_yaml, source=view.source or view.name)
    except ExitflowError as e:
        return Rederived(0, 1, Divergence(1, f"the current engine rejects the spec: {e}"))
    from ..controller.operator import Operator

    operator = Operator(view, workflow)
    pos, decisions, inputs = 1, 0, 1
    n = len(events)
    while pos < n:
        ts = events[pos].ts
        end = pos
        while end < n and events[end].ts == ts:
            end += 1
        group = events[pos:end]
        if len(group) == 1 and isinstance(
            group[0], ShutdownRequested | ResumeRequested | SuspendRequested
        ):
            apply(view, group[0])  # a command recorded without a runner: an input
            pos, inputs = end, inputs + 1
            continue
        results, lost, shutdown = _inputs(view, group, streams)
        resume = any(isinstance(e, ResumeRequested) for e in group)
        suspend = any(isinstance(e, SuspendRequested) for e in group)
        inputs += len(results) + len(lost) + (shutdown is not None) + resume + suspend
        try:
            decision = operator.reconcile(
                ts, results=results, lost=lost, shutdown=shutdown, resume=resume,
                suspend=suspend,
            )
        except ExitflowError as e:
            return Rederived(decisions, inputs, Divergence(
                pos + 1, f"the current engine fails to reconcile here: {e}"))
        decided = decision.events
        if not decided:
            return Rederived(decisions, inputs, Divergence(pos + 1, _explain(events[pos], None)))
        if _drained(group, decided):
            # A controller that was stopping (SIGTERM's drain) recorded the results of its work
            # and decided nothing more: the next controller decides the rest at its own time.
            view = WorkflowView()
            for done in events[:end]:
                apply(view, done)
            operator = Operator(view, workflow)
            pos, decisions = end, decisions + 1
            continue
        for i, event in enumerate(decided):
            recorded = events[pos + i] if pos + i < n else None
            if recorded is None or encode(recorded) != encode(event):
                return Rederived(decisions, inputs,
                                 Divergence(pos + i + 1, _explain(recorded, event)))
        pos += len(decided)
        decisions += 1
    return Rederived(decisions, inputs, None)


def _drained(group: Sequence[AnyEvent], decided: Sequence[Event]) -> bool:
    """The recorded group is exactly the results the engine records first (a drain's last
    commit), and the rest of its decision was never made."""
    return (
        len(decided) > len(group)
        and any(isinstance(e, NodeFinished) for e in group)
        and all(isinstance(e, (NodeFinished, NodeLogged)) for e in group)
        and all(encode(a) == encode(b) for a, b in zip(group, decided, strict=False))
    )


def _inputs(
    view: WorkflowView, group: Sequence[AnyEvent], streams: Mapping[tuple[str, int, str], bytes]
) -> tuple[list[tuple[str, JobResult]], list[tuple[str, str]], str | None]:
    results: list[tuple[str, JobResult]] = []
    lost: list[tuple[str, str]] = []
    shutdown: str | None = None
    for event in group:
        if isinstance(event, NodeFinished) and event.outputs is not None:
            node = view.nodes.get(event.node_id)
            if node is not None and node.type in WORK_TYPES and node.phase == RUNNING:
                attempt = max(node.attempt, 1)
                results.append((event.node_id, _result(
                    event,
                    streams.get((event.node_id, attempt, "stdout"), b""),
                    streams.get((event.node_id, attempt, "stderr"), b""),
                )))
        elif isinstance(event, NodeAttemptLost):
            lost.append((event.node_id, event.reason))
        elif isinstance(event, ShutdownRequested):
            shutdown = event.strategy
    return results, lost, shutdown
