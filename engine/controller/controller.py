"""The controller: the only process that acts on a database, running many workflows at once.

It holds the controller lease of the store (every append is fenced by its generation), resumes
every unfinished run from its log (recovery), picks up new submissions and commands (the database
is the queue), and owns one task group in which every run has its own runner.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import anyio
from anyio.abc import TaskGroup

from ..errors import SpecError, WorkflowNotFoundError
from ..events import ShutdownRequested
from ..spec import Workflow, load_text
from ..state.fold import fold
from ..state.view import WorkflowView
from ..store.base import EventStore
from .pool import ExecutorPool
from .runner import Clock, WorkflowRunner

COMMANDS = ("Stop", "Terminate")


class Controller:
    def __init__(
        self,
        store: EventStore,
        executors: ExecutorPool,
        *,
        clock: Clock = time.time,
        max_parallel: int | None = None,
        on_change: Callable[[WorkflowView], None] | None = None,
    ) -> None:
        self.store = store
        self.executors = executors
        self.clock = clock
        self.on_change = on_change
        self.runners: dict[str, WorkflowRunner] = {}
        self.finished: dict[str, WorkflowView] = {}
        self._limit = anyio.CapacityLimiter(max_parallel) if max_parallel else None
        self._changed = anyio.Event()

    async def load(self, uid: str) -> tuple[WorkflowView, Workflow]:
        """Fold a run's log and parse the spec it was submitted with."""
        records = await self.store.read(uid)
        if not records:
            raise WorkflowNotFoundError(f"no events for workflow {uid}")
        view = fold(r.event for r in records)
        workflow = load_text(view.spec_yaml, source=view.source or view.name)
        return view, workflow

    async def run_workflow(self, uid: str) -> WorkflowView:
        """Run or resume one workflow to its final phase."""
        view, workflow = await self.load(uid)
        if view.finished:
            return view
        executor = await self.executors.get(view.executor)
        runner = WorkflowRunner(
            self.store, executor, view, workflow, clock=self.clock, on_change=self.on_change
        )
        self.runners[uid] = runner
        try:
            if self._limit is not None:
                async with self._limit:
                    return await runner.run()
            return await runner.run()
        finally:
            self.runners.pop(uid, None)
            self.finished[uid] = view
            self._changed.set()

    async def _run_quietly(self, uid: str) -> None:
        try:
            await self.run_workflow(uid)
        except SpecError as e:
            # The log holds a spec this engine can no longer read: leave it for an operator.
            self.finished[uid] = WorkflowView()
            self._problem(uid, str(e))

    def _problem(self, uid: str, message: str) -> None:
        import sys

        print(f"exitflow: workflow {uid}: {message}", file=sys.stderr)

    async def recover(self, uids: Iterable[str] | None = None) -> list[WorkflowView]:
        """Finish every unfinished workflow (or the given ones); returns their final views."""
        if uids is None:
            uids = [w.uid for w in await self.store.list_workflows(unfinished_only=True)]
        uids = list(uids)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._command_loop, tg, 0.1, True)
            async with anyio.create_task_group() as runs:
                for uid in uids:
                    runs.start_soon(self._run_quietly, uid)
            tg.cancel_scope.cancel()
        return [self.finished[u] for u in uids if u in self.finished]

    async def serve(self, *, poll_interval: float = 0.05, ready: Callable[[], None] | None = None) -> None:
        """The daemon loop: recover, then take new submissions and commands until cancelled."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._command_loop, tg, poll_interval, False)
            known: set[str] = set()
            first = True
            while True:
                for record in await self.store.list_workflows(unfinished_only=True):
                    if record.uid in known or record.uid in self.runners:
                        continue
                    known.add(record.uid)
                    tg.start_soon(self._run_quietly, record.uid)
                if first and ready is not None:
                    ready()
                first = False
                await anyio.sleep(poll_interval)

    async def _command_loop(self, tg: TaskGroup, interval: float, only_running: bool) -> None:
        while True:
            for _cid, uid, command in await self.store.take_commands():
                await self.deliver(uid, command)
            await anyio.sleep(interval)

    async def deliver(self, uid: str, command: str) -> None:
        """Hand a Stop/Terminate to the run's runner, or record it in the log if none runs."""
        if command not in COMMANDS:
            return
        runner = self.runners.get(uid)
        if runner is not None:
            runner.request(command)
            return
        records = await self.store.read(uid)
        view = fold(r.event for r in records)
        if view.finished or view.shutdown in (command, "Terminate"):
            return
        event = ShutdownRequested(ts=self.clock(), strategy=command)
        await self.store.append(uid, view.seq + 1, [event])
