"""Run workflows in-process with the real engine (store, controller, simulate executor)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.api import prepare
from engine.controller.controller import Controller
from engine.controller.pool import ExecutorPool
from engine.events import AnyEvent
from engine.state.view import WorkflowView
from engine.store import SqliteStore


async def run_workflow(
    text: str,
    db: Path,
    *,
    executor: str = "simulate",
    fail: dict[str, int] | None = None,
    parameters: dict[str, str] | None = None,
) -> tuple[WorkflowView, list[AnyEvent]]:
    """Run one workflow to completion; returns its final view and every event of its log."""
    options: dict[str, dict[str, Any]] = {"simulate": {"fail": fail or {}}}
    pool = ExecutorPool(executor, options)
    store = await SqliteStore.open(db)
    try:
        await store.acquire_controller()
        _, submitted = prepare(text, source="test.yaml", parameters=parameters)
        await store.create_workflow(submitted)
        view = await Controller(store, pool).run_workflow(submitted.uid)
        events = [r.event for r in await store.read(submitted.uid)]
    finally:
        await pool.aclose()
        await store.aclose()
    return view, events
