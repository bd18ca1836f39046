"""Drive one run: decide → append (durable) → act → observe, until the run is finished.

The runner owns one task group per run; every job task lives in it and has a cancel scope the
runner can use to stop the work (deadline, `stop`, `terminate`). Nothing happens before the
events that announce it are durable: write-ahead.

Recovery is the same loop: the first pass over a log folded from a previous controller
re-attaches every Pod node that is Running in the log (the executor either collects the work's
result or reports it gone; gone means `NodeAttemptLost` + `NodeStarted(attempt + 1)` under the
same idempotency key), and has the executor sweep the leftovers of every other attempt (e.g.
one that a deadline finished while no controller ran, or an exited container whose result was
recorded just before the crash).

Release: an executor may keep what it needs to re-attach (Docker keeps the exited container)
until the attempt's result is durable; the runner calls `executor.release(job)` right after the
append that records it.

Draining (`drain`): the controller is shutting down gracefully. The runner stops deciding new
work; it waits (until the drain deadline) for the work in flight, records those results, records
any command it was given, and returns. Work still running at the deadline is cancelled (the
executor terminates it) and stays Running in the log: the next controller re-runs it under the
same idempotency key with the next attempt number (a hand-over).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from anyio.abc import TaskGroup

from ..events import (
    RESUME,
    STOP,
    SUSPEND_RUN,
    TERMINATE,
    WORK_TYPES,
    ResumeRequested,
    ShutdownRequested,
    SuspendRequested,
    WorkflowCompleted,
)
from ..executors.base import Executor, Job, JobResult
from ..spec import Workflow
from ..state.fold import apply
from ..state.view import WorkflowView
from ..store.base import EventStore
from .children import create_child
from .operator import Decision, Operator

Clock = Callable[[], float]
_LOST = object()
#: How long a leftover sweep or the final releases may take (they are cancelled after this).
_SWEEP_SECONDS = 10.0


def _always(job: Job) -> bool:
    return True


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class RecoveryGate:
    """FIFO turns for the executor calls of recovery (re-attach, sweep), shared by every runner
    of a controller. A turn ends when its call returns or `hold` seconds after it began,
    whichever is first: quick calls (the local executor's /proc scans, ~1 ms) run one after
    another instead of 100 threads round-robin on the GIL, where the first finished only when
    nearly all had (measured: first resumed step 60-100 ms later); slow calls (a Docker
    re-attach waits for its container) delay the next by at most `hold`."""

    def __init__(self, hold: float = 0.005) -> None:
        self._hold = hold
        self._tail: asyncio.Future[None] | None = None

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        prev, mine = self._tail, loop.create_future()
        self._tail = mine
        try:
            if prev is not None and not prev.done():
                await asyncio.wait([prev])  # (never cancels prev)
            timer = loop.call_later(self._hold, _wake, mine)
            try:
                yield
            finally:
                timer.cancel()
        finally:
            _wake(mine)


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
        gate: RecoveryGate | None = None,
    ) -> None:
        self.store = store
        self._gate = gate if gate is not None else RecoveryGate()
        self.executor = executor
        self.view = view
        self.operator = Operator(view, workflow)
        self.clock = clock
        self.on_change = on_change
        self._inflight: dict[str, anyio.CancelScope] = {}
        #: What the jobs and commands post for the loop: (node id, result or _LOST), or ("", None)
        #: to wake it. A deque and one future rather than a memory stream: this is the per-result
        #: hot path (see docs/performance.md).
        self._inbox: deque[tuple[str, Any]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        #: `executor.run_now(job)` for executors whose work completes at once (simulate): the
        #: result is taken inline, after the append that starts the job, without a task.
        self._run_now: Callable[[Job], JobResult] | None = getattr(executor, "run_now", None)
        #: Which jobs `run_now` takes (an HTTP node's request is never run inline).
        self._runs_now: Callable[[Job], bool] = getattr(executor, "runs_now", _always)
        self._pending_commands: list[str] = []
        #: Monotonic (anyio clock) deadline of a graceful drain, or None while running normally.
        self._drain_deadline: float | None = None
        #: Results received by the last wait of the loop, left for the drain to record.
        self._unreceived: list[tuple[str, JobResult]] = []
        #: The work of every attempt started or re-attached by this runner, until released.
        self._jobs: dict[str, Job] = {}
        self._releasing = 0
        self._released = anyio.Event()
        #: A resumed run's sweep of leftovers (set when over) and the keys it keeps.
        self._swept: anyio.Event | None = None
        #: Set once the recovery sweep (if any) is over; kept after new work stops waiting on it.
        self._sweep_done: anyio.Event | None = None
        self._keep: set[str] = set()

    @property
    def draining(self) -> bool:
        return self._drain_deadline is not None

    def request(self, command: str) -> None:
        """Ask the run to "Stop", "Terminate" or "Resume"; the runner records it as an event."""
        self._pending_commands.append(command)
        self._post(("", None))

    def drain(self, grace: float) -> None:
        """Stop deciding new work; wait up to `grace` seconds for the work in flight, record its
        results and return (what is still running then is handed to the next controller)."""
        deadline = anyio.current_time() + max(grace, 0.0)
        if self._drain_deadline is None or deadline < self._drain_deadline:
            self._drain_deadline = deadline
        self._post(("", None))

    def _post(self, item: tuple[str, Any]) -> None:
        self._inbox.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _next(self, timeout: float) -> None:
        """Wait until something is in the inbox, at most `timeout` seconds."""
        if self._inbox:
            return
        if timeout <= 0:
            await asyncio.sleep(0)  # still a checkpoint: a due timer must not starve the loop
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiter = waiter
        timer = loop.call_later(timeout, _wake, waiter) if timeout != math.inf else None
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    async def run(self) -> WorkflowView:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                if not self.draining:
                    await self._loop(tg)
                if self.draining and not self.view.finished:
                    await self._drain()
                with anyio.move_on_after(_SWEEP_SECONDS):
                    if self._sweep_done is not None:
                        await self._sweep_done.wait()  # never cancel a sweep half done
                    while self._releasing:
                        await self._released.wait()
                        self._released = anyio.Event()
            finally:
                tg.cancel_scope.cancel()
        return self.view

    def _take_command(self) -> str | None:
        """The pending Stop/Terminate, if any (Suspend/Resume stay for `_take_hold`)."""
        pending = self._pending_commands
        shutdowns = [c for c in pending if c in (STOP, TERMINATE)]
        if not shutdowns:
            return None
        pending[:] = [c for c in pending if c not in (STOP, TERMINATE)]
        return TERMINATE if TERMINATE in shutdowns else STOP

    def _take_hold(self) -> str | None:
        """The last Suspend/Resume delivered to this run since the previous call, if any."""
        holds = [c for c in self._pending_commands if c in (RESUME, SUSPEND_RUN)]
        if not holds:
            return None
        self._pending_commands[:] = [c for c in self._pending_commands if c not in holds]
        return holds[-1]

    def _hold_args(self) -> dict[str, bool]:
        hold = self._take_hold()
        return {"resume": hold == RESUME, "suspend": hold == SUSPEND_RUN}

    async def _loop(self, tg: TaskGroup) -> None:
        results: list[tuple[str, JobResult]] = []
        lost: list[tuple[str, str]] = []
        first = True
        # Pod nodes already in the log when this runner started: a previous controller's work.
        resumed = any(n.type in WORK_TYPES for n in self.view.nodes.values())
        while True:
            decision = self.operator.reconcile(
                self.clock(),
                results=results,
                lost=lost,
                shutdown=self._take_command(),
                **self._hold_args(),
            )
            results, lost = [], []
            if first:
                first = False
                if resumed:
                    self._recover(tg, decision)
            await self._commit_and_release(tg, decision)
            for nid in decision.kill:
                scope = self._inflight.pop(nid, None)
                if scope is not None:
                    scope.cancel()
            run_now = self._run_now
            for nid in decision.start:
                job = self.operator.job_for(self.view.nodes[nid])
                if job is None or nid in self._inflight:
                    continue
                swept = self._swept
                if swept is not None and job.idempotency_key not in self._keep:
                    # New work: only once the sweep of a previous controller's leftovers is
                    # over (it kills every attempt whose key is not kept).
                    await swept.wait()
                    self._swept = None
                if run_now is not None and self._runs_now(job):
                    # Completes at once: the result goes to the next reconcile directly.
                    self._jobs[nid] = job
                    results.append((nid, run_now(job)))
                else:
                    self._spawn(tg, job, reattach=False)
            if self.view.finished:
                return
            if results:
                self._drain_ready(results, lost)
            else:
                await self._wait(decision.wake_at, results, lost)
            if self.draining:
                # Results collected by this wait are recorded by the drain (no new decisions).
                self._unreceived = results
                return

    def _recover(self, tg: TaskGroup, decision: Decision) -> None:
        """First pass over a previous controller's log: re-attach its Running pods, and sweep
        the leftovers of every other attempt of this workflow (new work waits for the sweep)."""
        keep: set[str] = set()
        for node in self.operator.running_pods():
            job = self.operator.job_for(node)
            if job is None:
                continue
            keep.add(job.idempotency_key)
            if node.id not in decision.start and node.id not in self._inflight:
                self._spawn(tg, job, reattach=True)
        self._keep = keep
        self._swept = self._sweep_done = anyio.Event()
        tg.start_soon(self._sweep, keep, self._swept)

    async def _sweep(self, keep: set[str], swept: anyio.Event) -> None:
        try:
            with anyio.move_on_after(_SWEEP_SECONDS):
                async with self._gate.turn():
                    await self.executor.sweep(self.view.uid, keep)
        finally:
            swept.set()

    async def _commit_and_release(self, tg: TaskGroup, decision: Decision) -> None:
        """Append the decision, then release the work whose results it recorded. When the
        decision also finishes the workflow and the executor retains work, the releases happen
        between the results and the final event: a finished workflow leaves nothing behind,
        and a crash in between is recovered like any other (the next start sweeps)."""
        events = decision.events
        if (
            self._sweep_done is not None
            and events
            and isinstance(events[-1], WorkflowCompleted)
        ):
            # A finished workflow leaves nothing behind: the recovery sweep of a previous
            # controller's leftovers ends before the final event (the sweep is bounded).
            await self._sweep_done.wait()
        if (
            self.executor.retains_work
            and decision.finished_work
            and events
            and isinstance(events[-1], WorkflowCompleted)
        ):
            first_seq = self.view.seq - len(events) + 1
            final = events.pop()
            await self._commit(decision, first_seq=first_seq)
            jobs = [j for j in (self._jobs.pop(n, None) for n in decision.finished_work) if j]
            with anyio.move_on_after(_SWEEP_SECONDS):
                for job in jobs:
                    await self.executor.release(job)
            decision.events, decision.logs = [final], []
            await self._commit(decision, first_seq=self.view.seq)
            return
        await self._commit(decision)
        self._release(tg, decision)

    def _release(self, tg: TaskGroup, decision: Decision) -> None:
        """Results recorded by this (durable) decision: let the executor free their work."""
        if not self.executor.retains_work:
            # Nothing is kept until release (the protocol's `retains_work`): no task per job.
            for nid in decision.finished_work:
                self._jobs.pop(nid, None)
            return
        for nid in decision.finished_work:
            job = self._jobs.pop(nid, None)
            if job is not None:
                self._releasing += 1
                tg.start_soon(self._release_one, job)

    async def _release_one(self, job: Job) -> None:
        try:
            await self.executor.release(job)
        finally:
            self._releasing -= 1
            self._released.set()

    async def _drain(self) -> None:
        """Record results of the work in flight until the drain deadline, then hand over.

        Attempts still running at the deadline stay Running in the log: the next controller
        re-runs them (same idempotency key, next attempt number)."""
        results, self._unreceived = self._unreceived, []
        lost: list[tuple[str, str]] = []
        deadline = self._drain_deadline if self._drain_deadline is not None else 0.0
        while True:
            decision = self._record(results)
            await self._commit(decision)
            self._release(self._tg, decision)
            results = []
            remaining = deadline - anyio.current_time()
            if not self._inflight or remaining <= 0:
                return
            await self._next(remaining)
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
        if (
            command is not None
            and not view.finished
            and view.shutdown
            not in (
                command,
                TERMINATE,
            )
        ):
            event = ShutdownRequested(ts=op.now, strategy=command)
            apply(view, event)
            decision.events.append(event)
        hold = self._take_hold()
        if hold is not None and not view.finished:
            held = ResumeRequested(ts=op.now) if hold == RESUME else SuspendRequested(ts=op.now)
            apply(view, held)
            decision.events.append(held)
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
        await self._next(timeout)
        self._drain_ready(results, lost)

    def _drain_ready(
        self, results: list[tuple[str, JobResult]], lost: list[tuple[str, str]]
    ) -> None:
        """Take whatever else is ready, so one decision records many results (group commit)."""
        inbox = self._inbox
        while inbox:
            self._take(inbox.popleft(), results, lost)

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

    async def _commit(self, decision: Decision, *, first_seq: int | None = None) -> None:
        if not decision.events:
            return
        if first_seq is None:
            first_seq = self.view.seq - len(decision.events) + 1
        await self.store.append(self.view.uid, first_seq, decision.events, decision.logs)
        if self.on_change is not None:
            self.on_change(self.view)

    def _spawn(self, tg: TaskGroup, job: Job, *, reattach: bool) -> None:
        self._jobs[job.node_id] = job
        scope = anyio.CancelScope()
        self._inflight[job.node_id] = scope
        tg.start_soon(self._run_job, job, scope, reattach)

    async def _run_job(self, job: Job, scope: anyio.CancelScope, reattach: bool) -> None:
        with scope:
            if reattach and job.child is None:
                async with self._gate.turn():
                    result = await self.executor.reattach(job)
                if result is None:
                    self._inflight.pop(job.node_id, None)
                    self._post((job.node_id, _LOST))
                    return
            elif job.child is not None:
                result = await create_child(self.store, job, parent_name=self.view.name,
                                            executor=self.view.executor)
            else:
                result = await self.executor.run(job)
            self._post((job.node_id, result))
