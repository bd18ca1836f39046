"""The executor interface: how a Pod node's work is run.

Executors never import the store or the state: they get a `Job`, do the work and return a
`JobResult`. The controller has already made the attempt durable (write-ahead) before `run`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol, runtime_checkable

import msgspec


class HttpRequest(msgspec.Struct, frozen=True, kw_only=True):
    """The request of an HTTP node (Argo's `http` template), fully resolved."""

    url: str
    method: str = "GET"
    #: (name, value) pairs, in template order.
    headers: list[tuple[str, str]] = []
    body: str = ""
    #: Expression over `response.*`/`request.*`; "" means "a 2xx status succeeds".
    success_condition: str = ""
    timeout_seconds: float = 30.0
    insecure_skip_verify: bool = False


class ChildWorkflow(msgspec.Struct, frozen=True, kw_only=True):
    """What a `resource` template's node creates: a child workflow in the same log. Its name and
    uid derive from the node's idempotency key, so creating it again is a no-op."""

    manifest: str
    name: str
    uid: str


class Job(msgspec.Struct, frozen=True, kw_only=True):
    """One attempt of one Pod (or HTTP) node, fully resolved (no `{{ }}` left)."""

    workflow_name: str
    workflow_uid: str
    node_id: str
    node_name: str
    #: Delivery count, 1-based; increments only when a crash lost the previous attempt.
    attempt: int
    #: Retry index of the node (the `n` of `name(n)`), 0 when not retried.
    retry: int = 0
    #: Stable for this node across crash re-runs: f"{workflow_uid}:{node_id}".
    idempotency_key: str
    image: str = ""
    command: list[str] = []
    args: list[str] = []
    env: dict[str, str] = {}
    working_dir: str | None = None
    #: Script templates: the source, run as `command + [path-of-source-file]`.
    source: str | None = None
    #: Output parameters read from files after the work ends: name -> path.
    output_paths: dict[str, str] = {}
    #: Absolute wall-clock deadline (epoch seconds) computed from logged times, or None.
    deadline: float | None = None
    #: Message used when the deadline kills the work.
    deadline_message: str = "Step exceeded its deadline"
    #: Docker network mode asked for by the template ("none" unless it says otherwise).
    network_mode: str = "none"
    #: An HTTP node's request: sent by the HTTP executor, whatever the run's executor.
    http: HttpRequest | None = None
    #: A `resource` node's child workflow: created by the controller (it owns the log).
    child: ChildWorkflow | None = None

    def exitflow_env(self) -> dict[str, str]:
        """The EXITFLOW_* variables every executor passes to the work."""
        return {
            "EXITFLOW_WORKFLOW_NAME": self.workflow_name,
            "EXITFLOW_WORKFLOW_UID": self.workflow_uid,
            "EXITFLOW_NODE_ID": self.node_id,
            "EXITFLOW_NODE_NAME": self.node_name,
            "EXITFLOW_ATTEMPT": str(self.attempt),
            "EXITFLOW_RETRY": str(self.retry),
            "EXITFLOW_IDEMPOTENCY_KEY": self.idempotency_key,
        }


class JobResult(msgspec.Struct, frozen=True, kw_only=True):
    #: Succeeded (exit 0), Failed (non-zero exit, timeout, deadline) or Error (could not run).
    phase: str
    exit_code: int | None = None
    message: str = ""
    stdout: bytes = b""
    stderr: bytes = b""
    #: Output parameter name -> file content, or None when the file was missing.
    output_files: dict[str, str | None] = {}


@runtime_checkable
class Executor(Protocol):
    """Runs Pod nodes. Implementations: local (default), docker, simulate."""

    name: str
    #: True when `run` keeps something (e.g. an exited container) until `release`: the runner
    #: then releases before recording that the workflow finished, so nothing outlives it.
    retains_work: bool

    async def run(self, job: Job) -> JobResult:
        """Run one attempt to completion.

        Must honour `job.deadline` (terminate: SIGTERM, grace, SIGKILL; phase Failed with
        `job.deadline_message`). On cancellation: terminate the work the same way, then re-raise.
        A failure to start (missing binary, missing image, daemon gone) is a JobResult with phase
        Error and the reason, not an exception.
        """
        ...

    async def reattach(self, job: Job) -> JobResult | None:
        """After a controller crash: collect the result of `job` if its work survived.

        Returns the result (awaiting it if still running), or None when the work is gone; then
        the controller records the attempt as lost and runs `job` again with attempt + 1. An
        executor that cannot re-attach must make sure no leftover of the attempt keeps running.
        """
        ...

    async def release(self, job: Job) -> None:
        """The outcome of `job` is durable in the log: free what `run`/`reattach` kept so that a
        crash before that point could still re-attach (e.g. the exited Docker container)."""
        ...

    async def sweep(self, workflow_uid: str, keep: Collection[str]) -> int:
        """Stop and remove every leftover of the workflow's attempts whose idempotency keys are
        not in `keep` (work a crashed controller left behind). Returns how many were found."""
        ...

    async def aclose(self) -> None: ...
