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
import re
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


# Argo forms loop labels and `{{item}}` with Go's `encoding/json` and `fmt` (processItem and
# generateNodeName in workflow/controller/operator.go); the functions below follow them exactly.
# They are the rules of runs recorded with `rules >= 2`; `item_label` above stays for older runs.

_GO_HTML = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def go_json(value: Any) -> str:
    """Go's `json.Marshal` of a decoded JSON value: compact, non-ASCII kept, `<>&` and U+2028/9
    escaped. Object keys keep their order (an Argo `Item` keeps its raw JSON)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_GO_HTML)


def _go_unhtml(text: str) -> str:
    """Argo's `jsonutil.Fix`: undo the `<`, `>`, `&` escapes of `json.Marshal`."""
    return text.replace("\\u003c", "<").replace("\\u003e", ">").replace("\\u0026", "&")


#: Characters Go's JSON encoder escapes in a string, other than `<>&` (which `Fix` restores).
_GO_ESCAPED = re.compile(r'["\\\x00-\x1f\u2028\u2029]')


def _go_item_string(value: Any) -> str:
    """Argo `Item.String()` (what `%v` prints): JSON, quotes dropped from a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or (isinstance(value, str) and not _GO_ESCAPED.search(value)):
        return str(value)  # (the common loop items: no escaping to do)
    text = go_json(value)
    if isinstance(value, str):
        text = text[1:-1]
    return _go_unhtml(text)


def argo_item_value(item: Any) -> str:
    """`{{item}}` as Argo renders it: a string as is, a number or bool as written, a list as
    JSON, a map as JSON with its keys sorted (Go marshals a `map[string]Item` in key order)."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        return "{" + ",".join(f"{go_json(k)}:{go_json(item[k])}" for k in sorted(item)) + "}"
    if isinstance(item, list):
        return go_json(item)
    return _go_item_string(item)


def argo_item_label(item: Any) -> str:
    """How Argo shows a loop item in a node name, `name(i:label)` (generateNodeName): a map as
    its sorted `key:value` pairs joined by ",", a list as Go prints a slice (`[a b]`), then every
    `(` and `)` removed (`f(x)` -> `fx`)."""
    if isinstance(item, dict):
        label = ",".join(sorted(f"{k}:{_go_item_string(v)}" for k, v in item.items()))
    elif isinstance(item, list):
        label = "[" + " ".join(_go_item_string(v) for v in item) + "]"
    else:
        label = _go_item_string(item)
    return label.replace("(", "").replace(")", "")


def as_param(value: Any) -> str:
    """A value as an Argo parameter string (scalars plain, structures as JSON)."""
    return _scalar(value)


def rfc3339(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
