"""The fold: `apply(view, event)` — pure, no I/O, the same code for live runs and replay."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..errors import ReplayError
from ..events import (
    ERROR,
    EXIT_PHASE,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    SUSPEND,
    Event,
    NodeAttemptLost,
    NodeFinished,
    NodeInitialized,
    NodeLogged,
    NodeStarted,
    ResumeRequested,
    ShutdownRequested,
    SuspendRequested,
    WorkflowCompleted,
    WorkflowExiting,
    WorkflowStarted,
    WorkflowSubmitted,
)
from ..limits import RunLimits
from .machines import FINISH_TRIGGER, NODE_TABLE, WORKFLOW_TABLE
from .view import NodeView, WorkflowView

_FINAL_WORKFLOW = {SUCCEEDED: "succeed", FAILED: "fail", ERROR: "error"}


class IllegalTransition(ReplayError):
    """An event asks for a phase move the state machines do not allow."""


def _illegal(what: str, state: str, trigger: str) -> IllegalTransition:
    return IllegalTransition(f"{what}: cannot {trigger!r} from phase {state}")


def _node(view: WorkflowView, node_id: str) -> NodeView:
    node = view.nodes.get(node_id)
    if node is None:
        raise IllegalTransition(f"event for unknown node {node_id!r}")
    return node


# One handler per event type, looked up by exact type (a dict hit instead of a chain of
# isinstance checks; ~2x faster replay). Each handler is the whole effect of its event.


def _node_initialized(view: WorkflowView, event: NodeInitialized) -> None:
    if event.node_id in view.nodes:
        raise IllegalTransition(f"node {event.name!r} initialized twice")
    node = NodeView(
        id=event.node_id,
        name=event.name,
        display_name=event.display_name,
        type=event.node_type,
        template_name=event.template_name,
        parent_id=event.parent_id,
        boundary_id=event.boundary_id,
        phase=event.phase,
        message=event.message,
        inputs=event.inputs,
        role=event.role,
        created_at=event.ts,
    )
    view.nodes[event.node_id] = node
    view.nodes_by_name[event.name] = node
    if event.parent_id is not None:
        parent = view.nodes.get(event.parent_id)
        if parent is not None:
            parent.children.append(event.node_id)


def _node_started(view: WorkflowView, event: NodeStarted) -> None:
    node = view.nodes.get(event.node_id) or _node(view, event.node_id)
    dest = NODE_TABLE.get((node.phase, "start"))
    if dest is None:
        raise _illegal(node.name, node.phase, "start")
    node.phase = dest
    node.attempt = event.attempt
    if node.started_at is None:
        node.started_at = event.ts


def _node_finished(view: WorkflowView, event: NodeFinished) -> None:
    node = view.nodes.get(event.node_id) or _node(view, event.node_id)
    trigger = FINISH_TRIGGER.get(event.phase)
    if trigger is None:
        raise IllegalTransition(f"{node.name}: unknown final phase {event.phase!r}")
    dest = NODE_TABLE.get((node.phase, trigger))
    if dest is None:
        raise _illegal(node.name, node.phase, trigger)
    node.phase = dest
    node.message = event.message
    node.finished_at = event.ts
    if event.outputs is not None:
        node.outputs = event.outputs


def _node_attempt_lost(view: WorkflowView, event: NodeAttemptLost) -> None:
    node = _node(view, event.node_id)
    dest = NODE_TABLE.get((node.phase, "lose"))
    if dest is None:
        raise _illegal(node.name, node.phase, "lose")
    node.phase = dest


def _node_logged(view: WorkflowView, event: NodeLogged) -> None:
    if event.node_id not in view.nodes:
        _node(view, event.node_id)


def _workflow_submitted(view: WorkflowView, event: WorkflowSubmitted) -> None:
    if view.uid:
        raise IllegalTransition("workflow submitted twice")
    view.uid = event.uid
    view.name = event.name
    view.spec_yaml = event.spec_yaml
    view.source = event.source
    view.parameters = dict(event.parameters)
    view.executor = event.executor
    view.rules = event.rules
    view.faults = dict(event.faults)
    view.limits = RunLimits.from_record(event.limits)
    if event.parent_uid:
        view.parent = (event.parent_uid, event.parent_name, event.parent_node)
    view.created_at = event.ts


def _workflow_move(view: WorkflowView, trigger: str) -> None:
    dest = WORKFLOW_TABLE.get((view.phase, trigger))
    if dest is None:
        raise _illegal(view.name, view.phase, trigger)
    view.phase = dest


def _workflow_started(view: WorkflowView, event: WorkflowStarted) -> None:
    _workflow_move(view, "start")
    view.started_at = event.ts


def _shutdown_requested(view: WorkflowView, event: ShutdownRequested) -> None:
    view.shutdown = event.strategy


def _suspend_requested(view: WorkflowView, event: SuspendRequested) -> None:
    view.held = True


def _resume_requested(view: WorkflowView, event: ResumeRequested) -> None:
    view.held = False
    view.resumed.update(
        n.id for n in view.nodes.values() if n.type == SUSPEND and n.phase == RUNNING
    )


def _workflow_exiting(view: WorkflowView, event: WorkflowExiting) -> None:
    _workflow_move(view, "exit")
    view.exit_status = event.status
    if event.message:
        view.message = event.message


def _workflow_completed(view: WorkflowView, event: WorkflowCompleted) -> None:
    trigger = _FINAL_WORKFLOW.get(event.phase)
    if trigger is None:
        raise IllegalTransition(f"{view.name}: unknown final phase {event.phase!r}")
    _workflow_move(view, trigger)
    view.message = event.message
    view.finished_at = event.ts


_HANDLERS: dict[type[Event], Callable[[WorkflowView, object], None]] = {
    NodeInitialized: _node_initialized,  # type: ignore[dict-item]
    NodeStarted: _node_started,  # type: ignore[dict-item]
    NodeFinished: _node_finished,  # type: ignore[dict-item]
    NodeLogged: _node_logged,  # type: ignore[dict-item]
    NodeAttemptLost: _node_attempt_lost,  # type: ignore[dict-item]
    WorkflowSubmitted: _workflow_submitted,  # type: ignore[dict-item]
    WorkflowStarted: _workflow_started,  # type: ignore[dict-item]
    ShutdownRequested: _shutdown_requested,  # type: ignore[dict-item]
    ResumeRequested: _resume_requested,  # type: ignore[dict-item]
    SuspendRequested: _suspend_requested,  # type: ignore[dict-item]
    WorkflowExiting: _workflow_exiting,  # type: ignore[dict-item]
    WorkflowCompleted: _workflow_completed,  # type: ignore[dict-item]
}


def _handler(event: Event) -> Callable[[WorkflowView, object], None]:
    handler = _HANDLERS.get(type(event))
    if handler is None:
        # A subclass of a known event (not produced by the decoder, but allowed in code).
        for cls, candidate in _HANDLERS.items():
            if isinstance(event, cls):
                return candidate
        raise IllegalTransition(f"unknown event {type(event).__name__}")
    return handler


def apply(view: WorkflowView, event: Event) -> None:
    """Apply one event to `view` in place. Raises IllegalTransition on an impossible event.

    On an illegal event the view is left as it was, except `seq`, which counts the event.
    """
    view.seq += 1
    handler = _HANDLERS.get(type(event)) or _handler(event)
    handler(view, event)


#: trigger -> the phase the workflow machine moves to (each trigger has one destination).
_TRIGGER_DEST: dict[str, str] = {trigger: dest for (_src, trigger), dest in WORKFLOW_TABLE.items()}
_FINAL_PHASES = frozenset(_FINAL_WORKFLOW)


def _workflow_trigger(event: Event) -> str | None:
    cls = type(event)  # event classes are final: exact types
    if cls is WorkflowStarted:
        return "start"
    if cls is WorkflowExiting:
        return "exit"
    if cls is WorkflowCompleted:
        assert isinstance(event, WorkflowCompleted)
        return _FINAL_WORKFLOW.get(event.phase)
    return None


def index_after(events: Iterable[Event]) -> tuple[str | None, bool]:
    """The (phase, finished) a store's workflow index takes once `events` are appended: the
    run's phase as the fold's workflow machine leaves it (None: these events do not move it).

    Stores write their index only from this, in the same transaction as the events, so the
    index never runs ahead of (or beside) the log: "which runs are unfinished" is the fold's
    answer."""
    phase: str | None = None
    for event in events:
        trigger = _workflow_trigger(event)
        if trigger is not None:
            phase = _TRIGGER_DEST.get(trigger, phase)
    return phase, phase in _FINAL_PHASES


def fold(events: Iterable[Event], view: WorkflowView | None = None) -> WorkflowView:
    """Fold events into a (new or given) view."""
    view = view if view is not None else WorkflowView()
    handlers = _HANDLERS
    for event in events:
        view.seq += 1
        handler = handlers.get(type(event)) or _handler(event)
        handler(view, event)
    return view


__all__ = [
    "EXIT_PHASE",
    "PENDING",
    "RUNNING",
    "IllegalTransition",
    "apply",
    "fold",
    "index_after",
]
