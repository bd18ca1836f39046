"""`diff`: two runs side by side, node by node."""

from __future__ import annotations

from typing import Any

import msgspec

from ..state.view import NodeView, WorkflowView


class NodeSide(msgspec.Struct, frozen=True, kw_only=True):
    phase: str
    attempts: int
    duration: float | None
    exit_code: int | None
    outputs: dict[str, str]


class NodeDiff(msgspec.Struct, frozen=True, kw_only=True):
    #: The node's name without its workflow's name ("@" for the root), so runs compare.
    key: str
    a: NodeSide | None
    b: NodeSide | None
    #: Fields that differ (duration never counts: it always does).
    differs: list[str]


def node_key(view: WorkflowView, node: NodeView) -> str:
    name = node.name
    if name == view.name:
        return "@"
    if name.startswith(view.name + "."):
        return name[len(view.name) + 1 :]
    return name


def side(node: NodeView) -> NodeSide:
    out: dict[str, str] = {}
    if node.outputs is not None:
        if node.outputs.result:
            out["result"] = node.outputs.result
        out.update(node.outputs.parameters)
    duration = None
    if node.started_at is not None and node.finished_at is not None:
        duration = node.finished_at - node.started_at
    return NodeSide(phase=node.phase, attempts=node.attempt,
                    duration=duration,
                    exit_code=node.outputs.exit_code if node.outputs is not None else None,
                    outputs=out)


_COMPARED = ("phase", "attempts", "exit_code", "outputs")


def diff_runs(a: WorkflowView, b: WorkflowView) -> list[NodeDiff]:
    """Every node of either run, in the order they appear (a's first), with what differs."""
    left = {node_key(a, n): side(n) for n in a.nodes.values()}
    right = {node_key(b, n): side(n) for n in b.nodes.values()}
    keys = list(left) + [k for k in right if k not in left]
    out = []
    for key in keys:
        sa, sb = left.get(key), right.get(key)
        if sa is None or sb is None:
            differs = ["presence"]
        else:
            differs = [f for f in _COMPARED if getattr(sa, f) != getattr(sb, f)]
        out.append(NodeDiff(key=key, a=sa, b=sb, differs=differs))
    return out


def summary(view: WorkflowView) -> dict[str, Any]:
    duration = None
    if view.started_at is not None and view.finished_at is not None:
        duration = view.finished_at - view.started_at
    return {"name": view.name, "uid": view.uid, "phase": view.phase, "duration": duration,
            "parameters": dict(view.parameters), "message": view.message}
