"""The CronWorkflow scheduler the daemon runs beside its controller.

Each scheduled time of a CronWorkflow is a tick row (engine/store/sqlite_objects.py), keyed by
`(cron, scheduled time)`, claimed *before* its workflow is created and marked once the workflow
exists. So, whenever the daemon is killed:
- before the claim: the next start finds the tick due (or missed, see below) and runs it;
- between the claim and the workflow: the next start finds the claimed tick and creates that very
  workflow (the uid and name chosen at the claim);
- after the workflow: the run is in the log; the controller finishes it.
The unique key means no tick runs twice, whoever (this daemon, a restarted one) gets there first.

Missed ticks (the daemon was down, or late): every scheduled time since the last recorded tick
runs, in order, if it is at most `startingDeadlineSeconds` old; **[ours]** Argo runs only the
latest missed one. Without `startingDeadlineSeconds` a tick may be up to `DEFAULT_LATENESS`
seconds late (the daemon's own poll delay) and older ones are not run, as in Argo. Ticks that
are too late are not run; the newest of them is recorded as skipped. A new or replaced
CronWorkflow counts from the moment it was stored (no catch-up of earlier times).

`concurrencyPolicy`: Allow; Forbid (a tick while a run of this cron is unfinished is recorded as
skipped); Replace (the unfinished runs are stopped, **[ours]** with `Stop`, so their exit
handlers run, where Argo terminates; then the tick runs). History limits
(`successfulJobsHistoryLimit`, default 3; `failedJobsHistoryLimit`, default 1) prune the oldest
finished runs of the cron from the log (`exitflow prune`'s checkpoint keeps the rest verifiable).
"""

from __future__ import annotations

import math
import sys
import time
import uuid
from collections.abc import Callable

import anyio
import msgspec

from .api import prepare
from .errors import ExitflowError, WorkflowNotFoundError
from .events import SUCCEEDED
from .library import resolve_workflow_text
from .spec.cron import FORBID, REPLACE, CronSpec, read_cron
from .spec.refs import dump_yaml
from .store import CronRecord, ObjectStore, SqliteStore, TickRecord

__all__ = ["DEFAULT_LATENESS", "RUN", "CronScheduler", "tick_source"]

#: How late a tick may run when the CronWorkflow sets no startingDeadlineSeconds (seconds).
DEFAULT_LATENESS = 30.0
#: The scheduler's poll interval (seconds): the longest it sleeps before looking again.
POLL = 0.25
#: Tick outcome of a tick that runs a workflow.
RUN = "run"


def tick_source(cron: str) -> str:
    """The `source` recorded in the first event of a workflow a CronWorkflow started."""
    return f"CronWorkflow {cron}"


class CronScheduler:
    def __init__(
        self,
        store: SqliteStore,
        *,
        clock: Callable[[], float] = time.time,
        poll: float = POLL,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.objects = ObjectStore(store.path)
        self.clock = clock
        self.poll = poll
        self.note = note or (lambda message: print(message, file=sys.stderr, flush=True))
        self._reported: dict[str, str] = {}

    async def run(self) -> None:
        """Finish ticks a previous daemon claimed, then schedule until cancelled."""
        try:
            await self.finish_claimed()
            while True:
                wake = await self.pass_once()
                await anyio.sleep(max(0.0, min(self.poll, wake - self.clock())))
        finally:
            with anyio.CancelScope(shield=True):
                await self.objects.aclose()

    async def finish_claimed(self) -> None:
        """Ticks claimed but not marked: create their workflow unless it already exists."""
        crons = {c.name: c for c in await self.objects.list_crons()}
        for tick in await self.objects.ticks(pending_only=True):
            try:
                await self.store.get_workflow(tick.uid)
            except WorkflowNotFoundError:
                record = crons.get(tick.cron)
                if record is None:
                    await self.objects.mark_submitted(tick.cron, tick.scheduled, "error: deleted")
                    continue
                await self._create(read_cron(record.yaml, source=tick_source(record.name)), tick)
                continue
            await self.objects.mark_submitted(tick.cron, tick.scheduled)

    async def pass_once(self) -> float:
        """Run every due tick of every CronWorkflow; the time of the next tick."""
        wake = math.inf
        for record in await self.objects.list_crons():
            try:
                cron = read_cron(record.yaml, source=tick_source(record.name))
            except ExitflowError as e:  # stored before a stricter check: report once
                self._report(record.name, f"cannot schedule: {e}")
                continue
            if record.suspended:
                continue
            wake = min(wake, await self._schedule(cron, record))
        return wake

    async def _schedule(self, cron: CronSpec, record: CronRecord) -> float:
        now = self.clock()
        last = await self.objects.last_tick(cron.name)
        since = record.updated if last is None else max(last.scheduled, record.updated)
        due = cron.due(since, now)
        late = cron.starting_deadline if cron.starting_deadline is not None else DEFAULT_LATENESS
        runnable = [t for t in due if now - t <= late]
        if due and not runnable:
            lateness = now - due[-1]
            await self.objects.claim_tick(
                cron.name, due[-1], str(uuid.uuid4()), "",
                f"skipped: {lateness:.0f}s late, past the starting deadline ({late:g}s)",
            )  # fmt: skip
        for scheduled in runnable:
            await self._tick(cron, scheduled)
        return cron.next_after(max(now, due[-1]) if due else now)

    async def _tick(self, cron: CronSpec, scheduled: float) -> None:
        active = await self._active(cron.name)
        if active and cron.concurrency_policy == FORBID:
            names = ", ".join(t.workflow for t in active)
            await self.objects.claim_tick(
                cron.name, scheduled, str(uuid.uuid4()), "",
                f"skipped: concurrencyPolicy Forbid and {names} still running",
            )  # fmt: skip
            return
        tick = await self.objects.claim_tick(
            cron.name, scheduled, str(uuid.uuid4()), cron.workflow_name(scheduled)
        )
        if tick is None:
            return  # someone recorded this tick already
        if active and cron.concurrency_policy == REPLACE:
            for t in active:
                await self.store.add_command(t.uid, "Stop")
        await self._create(cron, tick)
        await self._enforce_history(cron)

    async def _create(self, cron: CronSpec, tick: TickRecord) -> None:
        """Create the tick's workflow (its uid and name from the claim), then mark the tick."""
        source = tick_source(cron.name)
        try:
            text = dump_yaml(cron.workflow_data(tick.scheduled))
            text = await resolve_workflow_text(self.store, text, source=source)
            _, submitted = prepare(text, source=source, executor="")
        except ExitflowError as e:
            message = str(e).splitlines()[0] if str(e) else type(e).__name__
            self._report(cron.name, f"tick {tick.workflow}: {message}")
            await self.objects.mark_submitted(cron.name, tick.scheduled, f"error: {message}")
            return
        submitted = msgspec.structs.replace(submitted, uid=tick.uid, name=tick.workflow)
        await self.store.create_workflow(submitted)
        await self.objects.mark_submitted(cron.name, tick.scheduled)

    async def _active(self, cron: str) -> list[TickRecord]:
        """Ticks of `cron` whose workflow is not finished."""
        out = []
        for t in await self.objects.ticks(cron, unfinished_only=True):
            try:
                record = await self.store.get_workflow(t.uid)
            except WorkflowNotFoundError:
                continue
            if record.finished:
                await self.objects.mark_finished(cron, t.scheduled, record.phase or "")
            else:
                out.append(t)
        return out

    async def _enforce_history(self, cron: CronSpec) -> None:
        """Prune the oldest finished runs beyond the history limits."""
        finished = [t for t in await self.objects.ticks(cron.name) if t.outcome == RUN and t.phase]
        succeeded = [t for t in finished if t.phase == SUCCEEDED]
        failed = [t for t in finished if t.phase != SUCCEEDED]
        extra = succeeded[: max(0, len(succeeded) - cron.successful_history)]
        extra += failed[: max(0, len(failed) - cron.failed_history)]
        extra = [t for t in extra if not t.pruned]
        if not extra:
            return
        try:
            await self.store.prune([t.uid for t in extra])
        except ExitflowError as e:
            self._report(cron.name, f"history limit: {e}")
            return
        for t in extra:
            await self.objects.mark_pruned(cron.name, t.scheduled)

    def _report(self, cron: str, message: str) -> None:
        if self._reported.get(cron) != message:
            self._reported[cron] = message
            self.note(f"exitflow daemon: CronWorkflow {cron}: {message}")
