"""Runs as the API shows them: incremental folds kept in a small cache, and their namespace."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from ..errors import ExitflowError
from ..events import AnyEvent, NodeAttemptLost, event_type, to_builtins
from ..naming import idempotency_key, rfc3339
from ..spec import load_text
from ..state.fold import apply
from ..state.view import WorkflowView
from ..store import SqliteStore

DEFAULT_NAMESPACE = "default"
#: Folded runs kept in memory (each advanced by its new events only).
CACHE_SIZE = 256


def namespace_of(spec_yaml: str, source: str) -> str:
    """The namespace label of a workflow: its `metadata.namespace`, else `default`."""
    try:
        workflow = load_text(spec_yaml, source=source)
    except ExitflowError:
        return DEFAULT_NAMESPACE
    return workflow.metadata.namespace or DEFAULT_NAMESPACE


class Views:
    """Folded runs by uid, advanced incrementally from the store under one lock."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self._cache: OrderedDict[str, WorkflowView] = OrderedDict()
        self._namespaces: dict[str, str] = {}
        self._lock = asyncio.Lock()

    async def current(self, name_or_uid: str) -> WorkflowView:
        """The run as it stands now (WorkflowNotFoundError when there is none)."""
        record = await self.store.get_workflow(name_or_uid)
        async with self._lock:
            view = self._cache.pop(record.uid, None) or WorkflowView()
            for rec in await self.store.read(record.uid, after_seq=view.seq):
                apply(view, rec.event)
            self._cache[record.uid] = view
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return view

    def namespace(self, view: WorkflowView) -> str:
        ns = self._namespaces.get(view.uid)
        if ns is None:
            ns = self._namespaces[view.uid] = namespace_of(view.spec_yaml, view.source or view.name)
        return ns


def node_extras(view: WorkflowView, events: list[AnyEvent]) -> dict[str, dict[str, Any]]:
    """What the UI shows beyond `get -o json`: role, parent, idempotency key, lost attempts."""
    extras: dict[str, dict[str, Any]] = {}
    for node in view.nodes.values():
        extras[node.id] = {
            "role": node.role,
            "parentId": node.parent_id,
            "attempt": node.attempt,
            "idempotencyKey": idempotency_key(view.uid, node.id),
            "lostAttempts": 0,
        }
    for event in events:
        if isinstance(event, NodeAttemptLost) and event.node_id in extras:
            extras[event.node_id]["lostAttempts"] += 1
    return extras


def event_row(seq: int, event: AnyEvent, hash_: str) -> dict[str, Any]:
    """One event for the timeline: its tag, time, hash and fields (the spec text left out)."""
    data = to_builtins(event)
    data.pop("spec_yaml", None)
    data.pop("type", None)
    data.pop("ts", None)
    return {
        "seq": seq,
        "type": event_type(event),
        "ts": event.ts,
        "time": rfc3339(event.ts),
        "hash": hash_,
        "data": data,
    }

