"""The controller: the only process that acts on a database, running many workflows at once.

It holds the controller lease of the store (every append is fenced by its generation), resumes
every unfinished run from its log (recovery), picks up new submissions and commands (the database
is the queue), and owns one task group in which every run has its own runner.

Three ways to use it:
- `run_workflow(uid)` / `run_one(uid)`: one run (the `run` command; `run_one` also takes
  commands such as `exitflow stop` from the command table while it runs);
- `recover()`: finish every unfinished run, then return (the `recover` command);
- `serve()`: the daemon loop: recover, then take new submissions within one poll interval, until
  `shutdown(grace)` drains it or it is cancelled.

A replaced controller (another process took over the database: its generation is newer) gets a
FencedError from its next append or command poll; every entry point then stops all its runs and
raises that FencedError (never half-runs on).
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable

import anyio
from anyio.abc import TaskGroup

from ..errors import ExitflowError, FencedError, StoreError, WorkflowNotFoundError
from ..events import (
    RESUME,
    STOP,
    SUSPEND_RUN,
    TERMINATE,
    ResumeRequested,
    ShutdownRequested,
    SuspendRequested,
)
from ..spec import Workflow, load_text
from ..state.fold import fold
from ..state.view import WorkflowView
from ..store.base import EventStore, LeasedStore
from .pool import ExecutorPool
from .runner import Clock, RecoveryGate, WorkflowRunner

COMMANDS = (STOP, TERMINATE, RESUME, SUSPEND_RUN)

#: How often the daemon looks for new submissions and commands (seconds).
POLL_INTERVAL = 0.02
#: Default time running steps get to finish when the daemon is asked to stop (seconds).
DEFAULT_GRACE = 10.0
#: Lease mode: at most this many runs claimed per scan, so submissions spread over controllers.
CLAIM_BATCH = 4


class Controller:
    def __init__(
        self,
        store: EventStore,
        executors: ExecutorPool,
        *,
        clock: Clock = time.time,
        max_parallel: int | None = None,
        on_change: Callable[[WorkflowView], None] | None = None,
        on_problem: Callable[[str, str], None] | None = None,
    ) -> None:
        self.store = store
        self.executors = executors
        self.clock = clock
        self.on_change = on_change
        self.on_problem = on_problem
        self.runners: dict[str, WorkflowRunner] = {}
        self.finished: dict[str, WorkflowView] = {}
        #: uid -> message for runs this controller could not drive (left unfinished in the log).
        self.problems: dict[str, str] = {}
        self._limit = anyio.CapacityLimiter(max_parallel) if max_parallel else None
        #: Runs started (or being started) by this controller, and commands that arrived for a
        #: run whose runner is still being built.
        self._known: set[str] = set()
        self._early: dict[str, list[str]] = {}
        self._serving: TaskGroup | None = None
        self._draining: float | None = None
        self._stop_serving = anyio.Event()
        self._fenced: FencedError | None = None
        self._scope: anyio.CancelScope | None = None
        #: Shared by every runner: recovery's executor calls take turns (see RecoveryGate).
        self._gate = RecoveryGate()
        #: Lease mode (many controllers on one PostgreSQL database): the store, and the cancel
        #: scope of each run this controller drives (cancelled when its lease is lost).
        self._leased: LeasedStore | None = (
            store if isinstance(store, LeasedStore) and store.owner is not None else None
        )
        self._run_scopes: dict[str, anyio.CancelScope] = {}

    # ------------------------------------------------------------------ one run

    async def load(self, uid: str) -> tuple[WorkflowView, Workflow]:
        """Fold a run's log and parse the spec it was submitted with."""
        records = await self.store.read(uid)
        if not records:
            raise WorkflowNotFoundError(f"no events for workflow {uid}")
        view = fold(r.event for r in records)
        return view, _parse_spec(view.spec_yaml, view.source or view.name)

    async def run_workflow(self, uid: str) -> WorkflowView:
        """Run or resume one workflow to its final phase (or until a drain hands it over)."""
        self._known.add(uid)
        view, workflow = await self.load(uid)
        if view.finished:
            self._early.pop(uid, None)
            self.finished[uid] = view
            return view
        executor = await self.executors.get(view.executor)
        runner = WorkflowRunner(
            self.store,
            executor,
            view,
            workflow,
            clock=self.clock,
            on_change=self.on_change,
            gate=self._gate,
        )
        self.runners[uid] = runner
        for command in self._early.pop(uid, []):
            runner.request(command)
        if self._draining is not None:
            runner.drain(self._draining - anyio.current_time())
        try:
            if self._limit is not None:
                async with self._limit:
                    if self._draining is not None:
                        runner.drain(0)
                    return await runner.run()
            return await runner.run()
        finally:
            self.runners.pop(uid, None)
            if view.finished:
                self.finished[uid] = view

    async def run_one(self, uid: str) -> WorkflowView:
        """`run_workflow` while taking commands (stop/terminate) from the command table."""
        view = WorkflowView()
        async with self._fenceable() as tg:
            tg.start_soon(self._command_loop, POLL_INTERVAL)
            view = await self.run_workflow(uid)
            tg.cancel_scope.cancel()
        return view

    async def _drive(self, uid: str) -> None:
        """Run one workflow inside a many-run loop: a problem with one run is reported and the
        run is left in the log; a fence stops everything (in lease mode: only this run, which
        another controller now owns)."""
        if self._leased is not None:
            await self._drive_leased(self._leased, uid)
            return
        try:
            await self.run_workflow(uid)
        except FencedError as e:
            self._fence(e)
        except StoreError:
            raise  # the database itself failed: nothing else can proceed either
        except ExitflowError as e:
            self._problem(uid, str(e))
        except Exception as e:  # a bug in one run must not stop the others
            self._problem(uid, f"internal error: {e!r}")

    async def _drive_leased(self, store: LeasedStore, uid: str) -> None:
        finished = False
        try:
            with anyio.CancelScope() as scope:
                self._run_scopes[uid] = scope
                try:
                    view = await self.run_workflow(uid)
                    finished = view.finished
                except FencedError as e:
                    print(f"exitflow: workflow {uid}: {e}; left to its new owner",
                          file=sys.stderr)
                except StoreError:
                    raise
                except ExitflowError as e:
                    self._problem(uid, str(e))
                except Exception as e:
                    self._problem(uid, f"internal error: {e!r}")
        finally:
            self._run_scopes.pop(uid, None)
            self._known.discard(uid)
            if finished or uid in self.problems:
                with anyio.CancelScope(shield=True), contextlib.suppress(StoreError):
                    await store.release_run(uid)

    async def _renew_loop(self, store: LeasedStore) -> None:
        """Renew every held lease each lease/3 seconds. A run whose lease was lost is stopped
        at once; if renewing fails until 2/3 of the lease has passed since the last success,
        every run is stopped (fenced) before any lease can expire."""
        lease = store.lease_seconds
        last_ok = anyio.current_time()
        while True:
            await anyio.sleep(lease / 3)
            try:
                with anyio.fail_after(max(last_ok + lease * 2 / 3 - anyio.current_time(), 0.01)):
                    lost = await store.renew_leases()
            except (TimeoutError, StoreError) as e:
                if anyio.current_time() >= last_ok + lease * 2 / 3:
                    self._fence(FencedError(f"could not renew the run leases in time: {e}"))
                    return
                continue
            last_ok = anyio.current_time()
            for uid in lost:
                scope = self._run_scopes.get(uid)
                if scope is not None:
                    print(f"exitflow: workflow {uid}: lease lost; stopped here", file=sys.stderr)
                    scope.cancel()

    def _problem(self, uid: str, message: str) -> None:
        self.problems[uid] = message
        if self.on_problem is not None:
            self.on_problem(uid, message)
        else:
            print(f"exitflow: workflow {uid}: {message}", file=sys.stderr)

    def _fence(self, error: FencedError) -> None:
        if self._fenced is None:
            self._fenced = error
        if self._scope is not None:
            self._scope.cancel()

    @contextlib.asynccontextmanager
    async def _fenceable(self) -> AsyncIterator[TaskGroup]:
        """A task group whose cancel scope a fence cancels; raises the FencedError (or the one
        real error of a failed task) instead of an exception group."""
        try:
            async with anyio.create_task_group() as tg:
                self._scope = tg.cancel_scope
                yield tg
        except BaseException as e:
            fenced = self._fenced or _find_fenced(e)
            if fenced is not None:
                raise fenced from None
            single = unwrap(e)
            if single is not e:
                raise single from None
            raise
        if self._fenced is not None:
            raise self._fenced

    # ------------------------------------------------------------------ many runs

    async def recover(self, uids: Iterable[str] | None = None) -> list[WorkflowView]:
        """Finish every unfinished workflow (or the given ones); returns their final views."""
        if uids is None:
            uids = [w.uid for w in await self.store.list_workflows(unfinished_only=True)]
        uids = list(uids)
        async with self._fenceable() as tg:
            async with anyio.create_task_group() as runs:
                for uid in uids:
                    self._known.add(uid)
                    runs.start_soon(self._drive, uid)
                tg.start_soon(self._command_loop, POLL_INTERVAL)
            tg.cancel_scope.cancel()
        return [self.finished[u] for u in uids if u in self.finished]

    async def serve(
        self, *, poll_interval: float = POLL_INTERVAL, ready: Callable[[], None] | None = None
    ) -> None:
        """The daemon loop: recover every unfinished run, then take new submissions and
        commands until `shutdown()` has drained every run (or until cancelled)."""
        async with self._fenceable() as tg:
            async with anyio.create_task_group() as runs:
                self._serving = runs
                await self._scan(runs)  # recovery: everything unfinished, before new work
                tg.start_soon(self._command_loop, poll_interval)
                if self._leased is not None:
                    tg.start_soon(self._renew_loop, self._leased)
                claimed_at = anyio.current_time()
                if ready is not None:
                    ready()
                token = await self.store.change_token()
                while not self._stop_serving.is_set():
                    with anyio.move_on_after(poll_interval):
                        await self._stop_serving.wait()
                    if self._stop_serving.is_set():
                        break
                    now = await self.store.change_token()
                    due = self._leased is not None and (
                        anyio.current_time() - claimed_at >= self._leased.lease_seconds / 3
                    )
                    if now != token or due:
                        token = now
                        claimed_at = anyio.current_time()
                        await self._scan(runs)
                self._serving = None
            tg.cancel_scope.cancel()

    async def _scan(self, runs: TaskGroup) -> None:
        if self._leased is not None:  # claim unowned or expired runs (adoption)
            for uid in await self._leased.claim_runs(CLAIM_BATCH):
                if uid not in self._known:
                    self._known.add(uid)
                    runs.start_soon(self._drive, uid)
            return
        for record in await self.store.list_workflows(unfinished_only=True):
            if record.uid not in self._known:
                self._known.add(record.uid)
                runs.start_soon(self._drive, record.uid)

    def shutdown(self, grace: float = DEFAULT_GRACE) -> None:
        """Graceful stop of `serve` (and of `recover`): take no new runs or commands; every run
        records what finishes within `grace` seconds, then hands the rest to the next start."""
        deadline = anyio.current_time() + max(grace, 0.0)
        if self._draining is None or deadline < self._draining:
            self._draining = deadline
        self._stop_serving.set()
        for runner in list(self.runners.values()):
            runner.drain(grace)

    @property
    def draining(self) -> bool:
        return self._draining is not None

    # ------------------------------------------------------------------ commands

    async def _command_loop(self, interval: float) -> None:
        try:
            while self._draining is None:
                for _cid, uid, command in await self.store.take_commands():
                    await self.deliver(uid, command)
                await anyio.sleep(interval)
        except FencedError as e:
            self._fence(e)

    async def deliver(self, uid: str, command: str) -> None:
        """Hand a Stop/Terminate/Resume to the run's runner, or record it in the log if none
        runs."""
        if command not in COMMANDS:
            return
        if self._hand_to_runner(uid, command):
            return
        if self._serving is not None and self._draining is None:
            # A daemon runs everything unfinished: start this run, with the command.
            try:
                record = await self.store.get_workflow(uid)
            except WorkflowNotFoundError:
                return
            if record.finished or self._hand_to_runner(uid, command):
                return
            if self._serving is not None and self._draining is None:
                self._known.add(uid)
                self._early.setdefault(uid, []).append(command)
                self._serving.start_soon(self._drive, uid)
                return
        # No runner will drive it in this process: record the request in its log.
        records = await self.store.read(uid)
        view = fold(r.event for r in records)
        if view.finished:
            return
        if command in (RESUME, SUSPEND_RUN):
            held = ResumeRequested if command == RESUME else SuspendRequested
            await self.store.append(uid, view.seq + 1, [held(ts=self.clock())])
            return
        if view.shutdown in (command, TERMINATE):
            return
        event = ShutdownRequested(ts=self.clock(), strategy=command)
        await self.store.append(uid, view.seq + 1, [event])

    def _hand_to_runner(self, uid: str, command: str) -> bool:
        """True when a runner of this process has (or will have) the command, or the run is
        finished."""
        runner = self.runners.get(uid)
        if runner is not None:
            runner.request(command)
            return True
        if uid in self.finished:
            return True
        if uid in self._known and uid not in self.problems:
            # Its runner is being built: it takes the command when it starts.
            self._early.setdefault(uid, []).append(command)
            return True
        return False


def unwrap(error: BaseException) -> BaseException:
    """The only non-cancellation leaf of an exception group (else the error itself)."""
    leaves: list[BaseException] = []

    def walk(e: BaseException) -> None:
        if isinstance(e, BaseExceptionGroup):
            for inner in e.exceptions:
                walk(inner)
        elif not isinstance(e, anyio.get_cancelled_exc_class()):
            leaves.append(e)

    walk(error)
    return leaves[0] if len(leaves) == 1 else error


@functools.lru_cache(maxsize=128)
def _parse_spec(text: str, source: str) -> Workflow:
    """Parse a submitted spec once per controller: many runs of one file share the (read-only)
    parsed spec, so recovering hundreds of runs does not parse the same YAML hundreds of times."""
    return load_text(text, source=source)


def _find_fenced(error: BaseException) -> FencedError | None:
    """The FencedError inside an exception (group), if any."""
    if isinstance(error, FencedError):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _find_fenced(inner)
            if found is not None:
                return found
    return None
