"""Node names and ids, as Argo forms them.

Node ids are a pure function of the workflow name and the node name, so a node keeps its id (and
so its idempotency key) across crashes and re-runs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def fnv1a_32(text: str) -> int:
    h = 0x811C9DC5
    for byte in text.encode():
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def node_id(workflow_name: str, node_name: str) -> str:
    """Argo's scheme: the root node's id is the workflow name, others `<wf>-<fnv32a(name)>`."""
    if node_name == workflow_name:
        return workflow_name
    return f"{workflow_name}-{fnv1a_32(node_name)}"


def idempotency_key(workflow_uid: str, node_id: str) -> str:
    return f"{workflow_uid}:{node_id}"


def item_label(item: Any) -> str:
    """How Argo shows a loop item in a node name: `name(0:value)`."""
    if isinstance(item, dict):
        return ",".join(f"{k}:{_scalar(v)}" for k, v in sorted(item.items()))
    if isinstance(item, list):
        return json.dumps(item, separators=(",", ":"))
    return _scalar(item)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    if value is None:
        return "null"
    return str(value)


def as_param(value: Any) -> str:
    """A value as an Argo parameter string (scalars plain, structures as JSON)."""
    return _scalar(value)


def rfc3339(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
