"""Drive one run: decide → append (durable) → act → observe, until the run is finished.

The runner owns one task group per run; every job task lives in it and has a cancel scope the
runner can use to stop the work (deadline, `stop`, `terminate`). Nothing happens before the
events that announce it are durable: write-ahead.

Recovery is the same loop: the first pass over a log folded from a previous controller
re-attaches every Pod node that is Running in the log (the executor either collects the work's
result or reports it gone; gone means `NodeAttemptLost` + `NodeStarted(attempt + 1)` under the
same idempotency key), and sweeps leftovers of Pod nodes that the first decision finished
(e.g. a deadline that passed while no controller ran).

Draining (`drain`): the controller is shutting down gracefully. The runner stops deciding new
work; it waits (until the drain deadline) for the work in flight, records those results, records
any command it was given, and returns. Work still running at the deadline is cancelled (the
executor terminates it) and stays Running in the log: the next controller re-runs it under the
same idempotency key with the next attempt number (a hand-over).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import anyio
from anyio.abc import TaskGroup

from ..events import ShutdownRequested
from ..executors.base import Executor, Job, JobResult
from ..spec import Workflow
from ..state.fold import apply
from ..state.view import WorkflowView
from ..store.base import EventStore
from .operator import Decision, Operator

Clock = Callable[[], float]
_LOST = object()
#: How long a leftover sweep of a non-local executor may take (it is cancelled after this).
_SWEEP_SECONDS = 5.0


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
        #: Monotonic (anyio clock) deadline of a graceful drain, or None while running normally.
        self._drain_deadline: float | None = None
        #: Results received by the last wait of the loop, left for the drain to record.
        self._unreceived: list[tuple[str, JobResult]] = []

    @property
    def draining(self) -> bool:
        return self._drain_deadline is not None

    def request(self, command: str) -> None:
        """Ask the run to "Stop" or "Terminate"; the runner records it as an event."""
        self._pending_commands.append(command)
        self._send.send_nowait(("", None))

    def drain(self, grace: float) -> None:
        """Stop deciding new work; wait up to `grace` seconds for the work in flight, record its
        results and return (what is still running then is handed to the next controller)."""
        deadline = anyio.current_time() + max(grace, 0.0)
        if self._drain_deadline is None or deadline < self._drain_deadline:
            self._drain_deadline = deadline
        self._send.send_nowait(("", None))

    async def run(self) -> WorkflowView:
        async with anyio.create_task_group() as tg:
            try:
                if not self.draining:
                    await self._loop(tg)
                if self.draining and not self.view.finished:
                    await self._drain()
            finally:
                tg.cancel_scope.cancel()
        return self.view

    def _take_command(self) -> str | None:
        if not self._pending_commands:
            return None
        command = "Terminate" if "Terminate" in self._pending_commands else "Stop"
        self._pending_commands.clear()
        return command

    async def _loop(self, tg: TaskGroup) -> None:
        results: list[tuple[str, JobResult]] = []
        lost: list[tuple[str, str]] = []
        first = True
        # Pod nodes Running in the log when this runner started: a previous controller's work.
        inherited = {n.id for n in self.operator.running_pods()}
        while True:
            decision = self.operator.reconcile(
                self.clock(), results=results, lost=lost, shutdown=self._take_command()
            )
            results, lost = [], []
            if first:
                first = False
                self._recover(tg, decision, inherited)
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
            await self._wait(decision.wake_at, results, lost)
            if self.draining:
                # Results collected by this wait are recorded by the drain (no new decisions).
                self._unreceived = results
                return

    def _recover(self, tg: TaskGroup, decision: Decision, inherited: set[str]) -> None:
        """First pass: re-attach Running pods of a previous controller; sweep the leftovers of
        the ones this decision finished."""
        for node in self.operator.running_pods():
            if node.id in decision.start or node.id in self._inflight:
                continue
            job = self.operator.job_for(node)
            if job is not None:
                self._spawn(tg, job, reattach=True)
        for nid in inherited:
            node = self.view.nodes[nid]
            if node.fulfilled:
                job = self.operator.job_for(node)
                if job is not None:
                    tg.start_soon(self._sweep, job)

    async def _sweep(self, job: Job) -> None:
        """Make sure no leftover of a finished attempt keeps running (its result is ignored)."""
        from ..executors.local import LocalExecutor, kill_leftovers

        if isinstance(self.executor, LocalExecutor):
            await anyio.to_thread.run_sync(kill_leftovers, {job.idempotency_key})
            return
        with anyio.move_on_after(_SWEEP_SECONDS):
            await self.executor.reattach(job)  # cancelled: the executor cleans up the work

    async def _drain(self) -> None:
        """Record results of the work in flight until the drain deadline, then hand over.

        Attempts still running at the deadline stay Running in the log: the next controller
        re-runs them (same idempotency key, next attempt number)."""
        results, self._unreceived = self._unreceived, []
        lost: list[tuple[str, str]] = []
        deadline = self._drain_deadline if self._drain_deadline is not None else 0.0
        while True:
            await self._commit(self._record(results))
            results = []
            remaining = deadline - anyio.current_time()
            if not self._inflight or remaining <= 0:
                return
            with anyio.move_on_after(remaining):
                item = await self._receive.receive()
                self._take(item, results, lost)
            self._drain_ready(results, lost)

    def _record(self, results: list[tuple[str, JobResult]]) -> Decision:
        """Results and commands only, no new work: what a draining runner may append."""
        op = self.operator
        decision = Decision()
        op.now, op.decision = self.clock(), decision
        for nid, result in results:
            op.complete(nid, result)
        command = self._take_command()
        view = self.view
        if command is not None and not view.finished and view.shutdown not in (
            command,
            "Terminate",
        ):
            event = ShutdownRequested(ts=op.now, strategy=command)
            apply(view, event)
            decision.events.append(event)
        return decision

    async def _wait(
        self,
        wake_at: float | None,
        results: list[tuple[str, JobResult]],
        lost: list[tuple[str, str]],
    ) -> None:
        timeout = math.inf
        if wake_at is not None:
            timeout = max(wake_at - self.clock(), 0.0)
        with anyio.move_on_after(timeout):
            item = await self._receive.receive()
            self._take(item, results, lost)
        self._drain_ready(results, lost)

    def _drain_ready(
        self, results: list[tuple[str, JobResult]], lost: list[tuple[str, str]]
    ) -> None:
        """Take whatever else is ready, so one decision records many results (group commit)."""
        while True:
            try:
                item = self._receive.receive_nowait()
            except anyio.WouldBlock:
                break
            self._take(item, results, lost)

    def _take(
        self,
        item: tuple[str, Any],
        results: list[tuple[str, JobResult]],
        lost: list[tuple[str, str]],
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
