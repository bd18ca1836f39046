"""A run as `argo get -o json` shows it: a pure function of the folded view."""

from __future__ import annotations

from typing import Any

from ..naming import rfc3339
from .view import NodeView, WorkflowView


def node_json(node: NodeView) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": node.id,
        "name": node.name,
        "displayName": node.display_name,
        "type": node.type,
        "templateName": node.template_name,
        "phase": node.phase,
        "startedAt": rfc3339(node.started_at),
        "finishedAt": rfc3339(node.finished_at),
    }
    if node.message:
        out["message"] = node.message
    if node.boundary_id:
        out["boundaryID"] = node.boundary_id
    if node.children:
        out["children"] = list(node.children)
    if node.inputs:
        out["inputs"] = {"parameters": [{"name": k, "value": v} for k, v in node.inputs.items()]}
    if node.outputs is not None:
        outputs: dict[str, Any] = {}
        if node.outputs.result is not None:
            outputs["result"] = node.outputs.result
        if node.outputs.exit_code is not None:
            outputs["exitCode"] = str(node.outputs.exit_code)
        if node.outputs.parameters:
            outputs["parameters"] = [
                {"name": k, "value": v} for k, v in node.outputs.parameters.items()
            ]
        if outputs:
            out["outputs"] = outputs
    if node.attempt > 1:
        out["attempts"] = node.attempt
    return out


def workflow_json(view: WorkflowView) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": view.phase,
        "startedAt": rfc3339(view.started_at),
        "finishedAt": rfc3339(view.finished_at),
        "nodes": {nid: node_json(n) for nid, n in view.nodes.items()},
    }
    if view.message:
        status["message"] = view.message
    if view.shutdown:
        status["shutdown"] = view.shutdown
    metadata: dict[str, Any] = {
        "name": view.name,
        "uid": view.uid,
        "creationTimestamp": rfc3339(view.created_at),
    }
    if view.parent is not None:
        # A child workflow (a `resource` template's): owned by the run that created it.
        metadata["ownerReferences"] = [{
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "uid": view.parent[0], "name": view.parent[1],
        }]
        metadata["annotations"] = {"exitflow.io/parent-node": view.parent[2]}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": metadata,
        "spec": {
            "arguments": {
                "parameters": [{"name": k, "value": v} for k, v in view.parameters.items()]
            }
        },
        "status": status,
    }
