"""`prune`: remove old finished runs; a checkpoint keeps the rest of the log verifiable."""

from __future__ import annotations

from ..store.base import ChainHead, Checkpoint
from ..store.locate import AnyStore


async def candidates(store: AnyStore, finished_before: float) -> list[ChainHead]:
    """Finished runs whose last event (WorkflowCompleted) is older than `finished_before`."""
    return [h for h in await store.workflow_heads()
            if h.record.finished and h.last_ts is not None and h.last_ts < finished_before]


async def prune(store: AnyStore, heads: list[ChainHead]) -> Checkpoint | None:
    """Remove these runs in one transaction and seal the log in a checkpoint (None: nothing)."""
    if not heads:
        return None
    return await store.prune([h.record.uid for h in heads])
