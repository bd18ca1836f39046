"""The fold: `apply(view, event)` — pure, no I/O, the same code for live runs and replay."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import ReplayError
from ..events import (
    ERROR,
    EXIT_PHASE,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
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
    WorkflowSubmitted,
)
from .machines import FINISH_TRIGGER, NODE_TABLE, WORKFLOW_TABLE
from .view import NodeView, WorkflowView

_FINAL_WORKFLOW = {SUCCEEDED: "succeed", FAILED: "fail", ERROR: "error"}


class IllegalTransition(ReplayError):
    """An event asks for a phase move the state machines do not allow."""


def _move(table: dict[tuple[str, str], str], what: str, state: str, trigger: str) -> str:
    dest = table.get((state, trigger))
    if dest is None:
        raise IllegalTransition(f"{what}: cannot {trigger!r} from phase {state}")
    return dest


def _node(view: WorkflowView, node_id: str) -> NodeView:
    node = view.nodes.get(node_id)
    if node is None:
        raise IllegalTransition(f"event for unknown node {node_id!r}")
    return node


def apply(view: WorkflowView, event: Event) -> None:
    """Apply one event to `view` in place. Raises IllegalTransition on an impossible event."""
    view.seq += 1
    match event:
        case NodeInitialized():
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
        case NodeStarted():
            node = _node(view, event.node_id)
            node.phase = _move(NODE_TABLE, node.name, node.phase, "start")
            node.attempt = event.attempt
            if node.started_at is None:
                node.started_at = event.ts
        case NodeFinished():
            node = _node(view, event.node_id)
            trigger = FINISH_TRIGGER.get(event.phase)
            if trigger is None:
                raise IllegalTransition(f"{node.name}: unknown final phase {event.phase!r}")
            node.phase = _move(NODE_TABLE, node.name, node.phase, trigger)
            node.message = event.message
            node.finished_at = event.ts
            if event.outputs is not None:
                node.outputs = event.outputs
        case NodeAttemptLost():
            node = _node(view, event.node_id)
            node.phase = _move(NODE_TABLE, node.name, node.phase, "lose")
        case NodeLogged():
            _node(view, event.node_id)
        case WorkflowSubmitted():
            if view.uid:
                raise IllegalTransition("workflow submitted twice")
            view.uid = event.uid
            view.name = event.name
            view.spec_yaml = event.spec_yaml
            view.source = event.source
            view.parameters = dict(event.parameters)
            view.executor = event.executor
            view.created_at = event.ts
        case WorkflowStarted():
            view.phase = _move(WORKFLOW_TABLE, view.name, view.phase, "start")
            view.started_at = event.ts
        case ShutdownRequested():
            view.shutdown = event.strategy
        case WorkflowExiting():
            view.phase = _move(WORKFLOW_TABLE, view.name, view.phase, "exit")
            view.exit_status = event.status
            if event.message:
                view.message = event.message
        case WorkflowCompleted():
            trigger = _FINAL_WORKFLOW.get(event.phase)
            if trigger is None:
                raise IllegalTransition(f"{view.name}: unknown final phase {event.phase!r}")
            view.phase = _move(WORKFLOW_TABLE, view.name, view.phase, trigger)
            view.message = event.message
            view.finished_at = event.ts
        case _:
            raise IllegalTransition(f"unknown event {type(event).__name__}")


def fold(events: Iterable[Event], view: WorkflowView | None = None) -> WorkflowView:
    """Fold events into a (new or given) view."""
    view = view if view is not None else WorkflowView()
    for event in events:
        apply(view, event)
    return view


__all__ = ["EXIT_PHASE", "PENDING", "RUNNING", "IllegalTransition", "apply", "fold"]
