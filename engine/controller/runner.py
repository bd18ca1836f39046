"""Drive one run: decide → append (durable) → act → observe, until the run is finished.

The runner owns one task group per run; every job task lives in it and has a cancel scope the
runner can use to stop the work (deadline, `stop`, `terminate`). Nothing happens before the
events that announce it are durable: write-ahead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import anyio
from anyio.abc import TaskGroup

from ..executors.base import Executor, Job, JobResult
from ..spec import Workflow
from ..state.view import WorkflowView
from ..store.base import EventStore
from .operator import Decision, Operator

Clock = Callable[[], float]
_LOST = object()


class WorkflowRunner:
    """Runs (or resumes) one workflow to its final phase."""

    def __init__(
        self,
        store: EventStore,
        executor: Executor,
        view: WorkflowView,
        workflow: Workflow,
        *,
        clock: Clock = time.time,
        on_change: Callable[[WorkflowView], None] | None = None,
    ) -> None:
        self.store = store
        self.executor = executor
        self.view = view
        self.operator = Operator(view, workflow)
        self.clock = clock
        self.on_change = on_change
        self._inflight: dict[str, anyio.CancelScope] = {}
        self._send, self._receive = anyio.create_memory_object_stream[tuple[str, Any]](math.inf)
        self._pending_commands: list[str] = []

    def request(self, command: str) -> None:
        """Ask the run to "Stop" or "Terminate"; the runner records it as an event."""
        self._pending_commands.append(command)
        self._send.send_nowait(("", None))

    async def run(self) -> WorkflowView:
        async with anyio.create_task_group() as tg:
            try:
                await self._loop(tg)
            finally:
                tg.cancel_scope.cancel()
        return self.view

    async def _loop(self, tg: TaskGroup) -> None:
        results: list[tuple[str, JobResult]] = []
        lost: list[tuple[str, str]] = []
        first = True
        while True:
            shutdown = None
            if self._pending_commands:
                shutdown = "Terminate" if "Terminate" in self._pending_commands else "Stop"
                self._pending_commands.clear()
            decision = self.operator.reconcile(
                self.clock(), results=results, lost=lost, shutdown=shutdown
            )
            results, lost = [], []
            if first:
                # Recovery: Pod nodes Running in the log with no work of ours behind them.
                first = False
                for node in self.operator.running_pods():
                    if node.id in decision.start or node.id in self._inflight:
                        continue
                    job = self.operator.job_for(node)
                    if job is not None:
                        self._spawn(tg, job, reattach=True)
            await self._commit(decision)
            for nid in decision.kill:
                scope = self._inflight.pop(nid, None)
                if scope is not None:
                    scope.cancel()
            for nid in decision.start:
                job = self.operator.job_for(self.view.nodes[nid])
                if job is not None and nid not in self._inflight:
                    self._spawn(tg, job, reattach=False)
            if self.view.finished:
                return
            await self._wait(decision, results, lost)

    async def _wait(
        self, decision: Decision, results: list[tuple[str, JobResult]], lost: list[tuple[str, str]]
    ) -> None:
        timeout = math.inf
        if decision.wake_at is not None:
            timeout = max(decision.wake_at - self.clock(), 0.0)
        with anyio.move_on_after(timeout):
            item = await self._receive.receive()
            self._take(item, results, lost)
        # Drain whatever else is ready, so one decision records many results (group commit).
        while True:
            try:
                item = self._receive.receive_nowait()
            except anyio.WouldBlock:
                break
            self._take(item, results, lost)

    def _take(
        self, item: tuple[str, Any], results: list[tuple[str, JobResult]], lost: list[tuple[str, str]]
    ) -> None:
        nid, payload = item
        if not nid:
            return
        if payload is _LOST:
            lost.append((nid, "controller restarted; the attempt's work is gone"))
        elif isinstance(payload, JobResult):
            self._inflight.pop(nid, None)
            results.append((nid, payload))

    async def _commit(self, decision: Decision) -> None:
        if not decision.events:
            return
        first_seq = self.view.seq - len(decision.events) + 1
        await self.store.append(self.view.uid, first_seq, decision.events, decision.logs)
        if self.on_change is not None:
            self.on_change(self.view)

    def _spawn(self, tg: TaskGroup, job: Job, *, reattach: bool) -> None:
        scope = anyio.CancelScope()
        self._inflight[job.node_id] = scope
        tg.start_soon(self._run_job, job, scope, reattach)

    async def _run_job(self, job: Job, scope: anyio.CancelScope, reattach: bool) -> None:
        with scope:
            if reattach:
                result = await self.executor.reattach(job)
                if result is None:
                    self._inflight.pop(job.node_id, None)
                    await self._send.send((job.node_id, _LOST))
                    return
            else:
                result = await self.executor.run(job)
            await self._send.send((job.node_id, result))
