"""An executor that sends HTTP nodes to the HTTP executor and everything else to the run's own.

The controller gives every run one executor; an HTTP node must really send its request whatever
that executor is (local, docker or simulate), so the pool hands out this pair. `run_now` (the
simulate executor's inline path) is offered only for Pod jobs: `runs_now(job)` tells the runner.
"""

from __future__ import annotations

from collections.abc import Collection

from engine.executors.base import Executor, Job, JobResult
from engine.executors.http import HttpExecutor

__all__ = ["RoutedExecutor"]


class RoutedExecutor:
    """`inner` for Pod jobs, `http` for jobs with a request (`job.http`)."""

    def __init__(self, inner: Executor, http: HttpExecutor) -> None:
        self.inner = inner
        self.http = http
        self.name = inner.name
        self.retains_work = inner.retains_work

    def runs_now(self, job: Job) -> bool:
        """True when `run_now(job)` completes the job inline (the simulate executor's Pods)."""
        return job.http is None and job.child is None and hasattr(self.inner, "run_now")

    def run_now(self, job: Job) -> JobResult:
        run_now = self.inner.run_now  # type: ignore[attr-defined]
        result: JobResult = run_now(job)
        return result

    def _for(self, job: Job) -> Executor:
        return self.http if job.http is not None else self.inner

    async def run(self, job: Job) -> JobResult:
        return await self._for(job).run(job)

    async def reattach(self, job: Job) -> JobResult | None:
        return await self._for(job).reattach(job)

    async def release(self, job: Job) -> None:
        if job.child is None:
            await self._for(job).release(job)

    async def sweep(self, workflow_uid: str, keep: Collection[str]) -> int:
        return await self.inner.sweep(workflow_uid, keep)

    async def aclose(self) -> None:
        """The pool closes `inner` and `http` itself (they are shared)."""
