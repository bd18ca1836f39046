"""The simulate executor: runs nothing; every job completes at once.

For benchmarks (1,000 workflows/s) and for users testing control flow. A job Succeeds with exit
code 0, empty stdout and every output parameter missing (None), unless the constructor's maps name
its node.

How a key NODE names a job (first match wins, in this order):

1. `job.node_id == NODE`;
2. `job.node_name == NODE` (the full name, e.g. `wf.main.step1(0)`);
3. NODE is a dot-separated tail of the node name: `job.node_name` ends with `"." + NODE`, so
   `step1(0)`, `main.step1(0)` and — for loop nodes like `wf.fan(1:x)` — `fan(1:x)` all match; a
   node under an expanded loop `wf.fan(0:a).inner` matches `inner` (`"]." + NODE` suffixes are
   included, being `"." + NODE` suffixes). The longest matching tail wins.

So `fail={"step1": 3}` fails every node whose last name component is `step1`; use the full node
name or the node id to pick one node.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from typing import TypeVar

import anyio.lowlevel

from engine.executors.base import Job, JobResult

__all__ = ["SimulateExecutor"]

_T = TypeVar("_T")
_EMPTY: dict[str, str | None] = {}


class SimulateExecutor:
    """Completes every job at once. No processes, threads or sleeps."""

    name = "simulate"
    retains_work = False

    def __init__(
        self,
        *,
        fail: Mapping[str, int] | None = None,
        outputs: Mapping[str, Mapping[str, str]] | None = None,
        results: Mapping[str, str] | None = None,
    ) -> None:
        """
        Args:
            fail: NODE -> exit code; the job Fails with that code ("exit code N").
                An exit code of 0 makes it Succeed (useful to override a broader key).
            outputs: NODE -> {parameter name: value}; other declared parameters stay None.
            results: NODE -> stdout text (the step's `outputs.result`).
        """
        self._fail = dict(fail or {})
        self._outputs = {k: dict(v) for k, v in (outputs or {}).items()}
        self._results = {k: v.encode() for k, v in (results or {}).items()}
        self.runs = 0

    async def run(self, job: Job) -> JobResult:
        await anyio.lowlevel.checkpoint()
        return self.run_now(job)

    def run_now(self, job: Job) -> JobResult:
        """`run` without awaiting: the runner takes the result inline (no task per job)."""
        self.runs += 1
        if job.deadline is not None and job.deadline <= time.time():
            return JobResult(phase="Failed", message=job.deadline_message)
        code = _lookup(self._fail, job) if self._fail else None
        stdout = (_lookup(self._results, job) if self._results else None) or b""
        if job.output_paths:
            given = (_lookup(self._outputs, job) if self._outputs else None) or {}
            output_files = {name: given.get(name) for name in job.output_paths}
        else:
            output_files = _EMPTY
        if code:
            return JobResult(
                phase="Failed",
                exit_code=code,
                message=f"exit code {code}",
                stdout=stdout,
                output_files=output_files,
            )
        return JobResult(phase="Succeeded", exit_code=0, stdout=stdout, output_files=output_files)

    async def reattach(self, job: Job) -> JobResult | None:
        return None

    async def release(self, job: Job) -> None:
        return None

    async def sweep(self, workflow_uid: str, keep: Collection[str]) -> int:
        return 0

    async def aclose(self) -> None:
        return None


def _lookup(table: Mapping[str, _T], job: Job) -> _T | None:
    """The entry naming `job` (see the module docstring), or None."""
    hit = table.get(job.node_id)
    if hit is not None:
        return hit
    name = job.node_name
    hit = table.get(name)
    if hit is not None:
        return hit
    dot = name.find(".")
    while dot >= 0:
        hit = table.get(name[dot + 1 :])
        if hit is not None:
            return hit
        dot = name.find(".", dot + 1)
    return None
