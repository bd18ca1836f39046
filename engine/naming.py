"""Node names and ids, as Argo forms them.

Node ids are a pure function of the workflow name and the node name, so a node keeps its id (and
so its idempotency key) across crashes and re-runs. Runs recorded under reconciler rules 1 use
Argo's 32-bit FNV hash (`node_id`), which collides by chance in loops of some 10^4 items and on
purpose with chosen `withItems`/`withParam` values; runs under rules >= 2 use `node_id_v2`, a
128-bit BLAKE2b hash, and a salted re-hash (`node_id_v2(..., salt=k)`) should two names ever meet.
"""

from __future__ import annotations

import hashlib
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


def node_id_v2(workflow_name: str, node_name: str, *, salt: int = 0) -> str:
    """`<wf>-<32 hex digits of BLAKE2b-128(name)>`; the root node's id is the workflow name.
    `salt` > 0 derives the alternative ids tried, in order, when an id is already taken."""
    if node_name == workflow_name and not salt:
        return workflow_name
    text = node_name if not salt else f"{node_name}\x00{salt}"
    return f"{workflow_name}-{hashlib.blake2b(text.encode(), digest_size=16).hexdigest()}"


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
