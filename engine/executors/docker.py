"""The Docker executor: one container per attempt, found again by name after a crash.

Lifecycle::

    async with await DockerExecutor.create() as executor:
        result = await executor.run(job)

A container is named `exitflow-<uid[:12]>-<node id>-a<attempt>` and labelled with the workflow uid,
node id, attempt and idempotency key, so a restarted controller can `reattach(job)` to it: a
container still `created` is started, a running one is awaited, an exited one is only collected
(never started again: `start()` on an exited container would run the work a second time).

Nothing is ever pulled (there is no registry to reach): a missing image is a JobResult with phase
Error. Every call to the daemon is bounded with `anyio.fail_after`; waiting for the work itself is
bounded by the job's deadline and checks the daemon is still there every `poll_seconds`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import re
import tarfile
import time
from collections.abc import Awaitable, Collection, Iterable, Sequence
from types import TracebackType
from typing import Any, Final, TypeVar

import aiodocker
import aiohttp
import anyio
import msgspec
from aiodocker.containers import DockerContainer

from engine.errors import ExecutorUnavailableError
from engine.executors.base import Job, JobResult

__all__ = [
    "DEFAULT_DOCKER_URL",
    "SCRIPT_PATH",
    "DockerExecutor",
    "DoctorReport",
    "container_name",
    "doctor",
]

DEFAULT_DOCKER_URL: Final = "unix:///var/run/docker.sock"
#: Where a script template's source is put in its container.
SCRIPT_PATH: Final = "/tmp/exitflow-script"

LABEL_WORKFLOW_UID: Final = "exitflow.workflow-uid"
LABEL_NODE_ID: Final = "exitflow.node-id"
LABEL_ATTEMPT: Final = "exitflow.attempt"
LABEL_IDEMPOTENCY_KEY: Final = "exitflow.idempotency-key"

_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")
_MAX_NODE_PART = 100
#: Container states in which the work may still be running.
_LIVE_STATES: Final = frozenset({"running", "paused", "restarting"})

T = TypeVar("T")

#: What a failed or lost call to the daemon raises.
_DAEMON_ERRORS: Final = (aiodocker.DockerError, aiohttp.ClientError, OSError, TimeoutError)


class DoctorReport(msgspec.Struct, frozen=True, kw_only=True):
    """What `doctor()` found out about the Docker daemon."""

    url: str
    reachable: bool
    #: Why the daemon is not reachable ("" when it is).
    error: str = ""
    server_version: str = ""
    api_version: str = ""
    images_present: list[str] = []
    images_missing: list[str] = []


class _DaemonError(Exception):
    """A call to the daemon failed in a way that makes the attempt an Error."""


def default_url() -> str:
    """$DOCKER_HOST, else the standard socket."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_URL


def container_name(job: Job) -> str:
    """The deterministic container name of one attempt of one node.

    Docker names match `[a-zA-Z0-9][a-zA-Z0-9_.-]*`; characters outside that set become `-`, and
    then (or when the node id is very long) a hash of the node id keeps the name unique.
    """
    uid = _UNSAFE.sub("-", job.workflow_uid[:12])
    node = _UNSAFE.sub("-", job.node_id)
    if node != job.node_id or len(node) > _MAX_NODE_PART:
        digest = hashlib.sha256(job.node_id.encode()).hexdigest()[:8]
        node = f"{node[:_MAX_NODE_PART]}-{digest}"
    return f"exitflow-{uid}-{node}-a{job.attempt}"


def _reason(exc: BaseException) -> str:
    """A one-line reason for a daemon failure."""
    if isinstance(exc, aiodocker.DockerError):
        cause = exc.__context__
        if exc.status == 900 and isinstance(cause, aiohttp.ClientConnectorError):
            return cause.os_error.strerror or str(cause.os_error)
        message = exc.message
    elif isinstance(exc, TimeoutError):
        message = "the daemon did not answer in time"
    else:
        message = str(exc) or type(exc).__name__
    return " ".join(str(message).split())


def _is_unreachable(exc: BaseException) -> bool:
    return (isinstance(exc, aiodocker.DockerError) and exc.status == 900) or isinstance(
        exc, aiohttp.ClientError | OSError
    )


def _script_tar(source: str) -> bytes:
    data = source.encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(SCRIPT_PATH.lstrip("/"))
        info.size = len(data)
        info.mode = 0o755
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _read_first_file(tar: tarfile.TarFile) -> str | None:
    with tar:
        for member in tar.getmembers():
            if member.isfile():
                extracted = tar.extractfile(member)
                if extracted is None:
                    return None
                return extracted.read().decode("utf-8", errors="replace")
    return None


class DockerExecutor:
    """Runs each attempt of a Pod node in its own container (see the module docstring)."""

    name = "docker"
    retains_work = True

    def __init__(
        self,
        docker: aiodocker.Docker,
        *,
        url: str,
        grace_seconds: float = 10,
        call_timeout: float = 30,
        poll_seconds: float = 30,
    ) -> None:
        """Use `await DockerExecutor.create()`, which checks the daemon answers."""
        self._docker = docker
        self.url = url
        #: Between SIGTERM and SIGKILL when a deadline or a cancellation stops a container.
        self.grace_seconds = grace_seconds
        #: Bound of every single call to the daemon.
        self.call_timeout = call_timeout
        #: While waiting for a container, how often to check the daemon is still there.
        self.poll_seconds = poll_seconds

    @classmethod
    async def create(
        cls,
        *,
        url: str | None = None,
        grace_seconds: float = 10,
        call_timeout: float = 30,
        poll_seconds: float = 30,
        connect_timeout: float = 5,
    ) -> DockerExecutor:
        """Connect to the daemon at `url` ($DOCKER_HOST or the standard socket).

        Raises ExecutorUnavailableError when the daemon does not answer.
        """
        url = url or default_url()
        try:
            docker = aiodocker.Docker(url=url)
        except (ValueError, AssertionError) as exc:
            raise ExecutorUnavailableError(
                f"cannot reach the Docker daemon at {url}: {_reason(exc)}"
            ) from None
        try:
            with anyio.fail_after(connect_timeout):
                await docker.version()
        except _DAEMON_ERRORS as exc:
            with anyio.CancelScope(shield=True), anyio.move_on_after(connect_timeout):
                await docker.close()
            raise ExecutorUnavailableError(
                f"cannot reach the Docker daemon at {url}: {_reason(exc)}"
            ) from None
        except BaseException:
            with anyio.CancelScope(shield=True), anyio.move_on_after(connect_timeout):
                await docker.close()
            raise
        return cls(
            docker,
            url=url,
            grace_seconds=grace_seconds,
            call_timeout=call_timeout,
            poll_seconds=poll_seconds,
        )

    async def __aenter__(self) -> DockerExecutor:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True), anyio.move_on_after(self.call_timeout):
            await self._docker.close()

    # -- the Executor protocol ------------------------------------------------------------------

    async def run(self, job: Job) -> JobResult:
        """Run one attempt in a new container and collect its result.

        If the container of this attempt already exists (the controller crashed after creating
        it), it is adopted as `reattach` would: started only if it never was.
        """
        name = container_name(job)
        try:
            return await self._run(job, name)
        except anyio.get_cancelled_exc_class():
            await self._cleanup(name)
            raise

    async def reattach(self, job: Job) -> JobResult | None:
        """Collect the attempt's container after a controller crash, or None if it is gone."""
        name = container_name(job)
        try:
            return await self._adopt(job, name)
        except _DAEMON_ERRORS as exc:
            return await self._error_result(name, exc)
        except anyio.get_cancelled_exc_class():
            await self._cleanup(name)
            raise

    async def _run(self, job: Job, name: str) -> JobResult:
        try:
            try:
                await self._call(
                    self._docker.containers.create(self.container_config(job), name=name)
                )
            except aiodocker.DockerError as exc:
                if exc.status == 404:
                    return JobResult(
                        phase="Error",
                        message=f"image {job.image} not found locally (no registry reachable): "
                        f"{_reason(exc)}",
                    )
                if exc.status != 409:
                    raise
                # Name taken: this attempt was created before a crash. Adopt it.
                result = await self._adopt(job, name)
                if result is not None:
                    return result
                # It vanished between the 409 and the inspect: create it afresh.
                await self._call(
                    self._docker.containers.create(self.container_config(job), name=name)
                )
            return await self._supervise(job, name, state="created")
        except _DAEMON_ERRORS as exc:
            return await self._error_result(name, exc)

    async def release(self, job: Job) -> None:
        """The result is durable: remove the attempt's container (bounded, shielded)."""
        with (
            anyio.CancelScope(shield=True),
            anyio.move_on_after(2 * self.call_timeout),
            contextlib.suppress(*_DAEMON_ERRORS),
        ):
            await self._remove(container_name(job))

    async def sweep(self, workflow_uid: str, keep: Collection[str]) -> int:
        return await self.sweep_orphans(set(keep), workflow_uid=workflow_uid)

    # -- maintenance ----------------------------------------------------------------------------

    async def sweep_orphans(self, keep: set[str], *, workflow_uid: str | None = None) -> int:
        """Remove (forcibly) every Exitflow container whose idempotency key is not in `keep`.

        With `workflow_uid`, only that workflow's containers are considered. Returns how many
        were removed. Raises ExecutorUnavailableError if the daemon is gone.
        """
        labels = [LABEL_IDEMPOTENCY_KEY]
        if workflow_uid is not None:
            labels.append(f"{LABEL_WORKFLOW_UID}={workflow_uid}")
        try:
            listed = await self._call(
                self._docker.containers.list(all=True, filters={"label": labels})
            )
            removed = 0
            for container in listed:
                found: dict[str, str] = container["Labels"] or {}
                if found.get(LABEL_IDEMPOTENCY_KEY) in keep:
                    continue
                try:
                    await self._call(container.delete(force=True, v=True))
                except aiodocker.DockerError as exc:
                    if exc.status != 404:
                        raise
                    continue
                removed += 1
            return removed
        except _DAEMON_ERRORS as exc:
            raise ExecutorUnavailableError(
                f"cannot sweep containers at {self.url}: {_reason(exc)}"
            ) from None

    # -- internals ------------------------------------------------------------------------------

    async def _call(self, aw: Awaitable[T], *, timeout: float | None = None) -> T:
        with anyio.fail_after(self.call_timeout if timeout is None else timeout):
            return await aw

    def _container(self, name: str) -> DockerContainer:
        return self._docker.containers.container(name)

    def container_config(self, job: Job) -> dict[str, Any]:
        """The `containers/create` body for one attempt (what `run` creates)."""
        env = {**job.env, **job.exitflow_env()}
        config: dict[str, Any] = {
            "Image": job.image,
            "Env": [f"{key}={value}" for key, value in env.items()],
            "Labels": {
                LABEL_WORKFLOW_UID: job.workflow_uid,
                LABEL_NODE_ID: job.node_id,
                LABEL_ATTEMPT: str(job.attempt),
                LABEL_IDEMPOTENCY_KEY: job.idempotency_key,
            },
            "AttachStdin": False,
            "AttachStdout": False,
            "AttachStderr": False,
            "Tty": False,
            "OpenStdin": False,
            "HostConfig": {"Init": True, "NetworkMode": job.network_mode},
        }
        # Argo (Kubernetes) semantics: `command` replaces the image ENTRYPOINT and, when given,
        # the image CMD is ignored; `args` replaces CMD.
        command = list(job.command)
        if job.source is not None:
            command.append(SCRIPT_PATH)
        if command:
            config["Entrypoint"] = command
            config["Cmd"] = list(job.args)
        elif job.args:
            config["Cmd"] = list(job.args)
        if job.working_dir:
            config["WorkingDir"] = job.working_dir
        return config

    async def _adopt(self, job: Job, name: str) -> JobResult | None:
        """Take over an existing container of this attempt; None if there is none."""
        try:
            info = await self._call(self._container(name).show())
        except aiodocker.DockerError as exc:
            if exc.status == 404:
                return None
            raise
        state: str = info["State"]["Status"]
        if state == "removing":
            return None
        return await self._supervise(job, name, state=state)

    async def _supervise(self, job: Job, name: str, *, state: str) -> JobResult:
        """From the container's `state`: start it if never started, wait, collect, delete."""
        container = self._container(name)
        if state == "created":
            if job.source is not None:
                await self._call(container.put_archive("/", _script_tar(job.source)))  # type: ignore[no-untyped-call]
            try:
                await self._call(container.start())
            except aiodocker.DockerError as exc:
                if exc.status == 404 and "No such container" in exc.message:
                    raise
                await self._remove(name)
                return JobResult(
                    phase="Error",
                    exit_code=None,
                    message=f"cannot start container {name}: {_reason(exc)}",
                )
        deadline_hit = False
        if state in _LIVE_STATES or state == "created":
            exit_code, deadline_hit = await self._wait(container, job)
        else:
            exit_code = await self._exit_code(container)
        # The container stays until `release`: the result is not durable in the log yet, and a
        # controller that crashes now must be able to re-attach instead of running it again.
        return await self._collect(container, job, exit_code, deadline_hit)

    async def _cleanup(self, name: str) -> None:
        """Shielded and bounded: stop (SIGTERM, grace, SIGKILL) and remove the container."""
        with (
            anyio.CancelScope(shield=True),
            anyio.move_on_after(self.grace_seconds + 2 * self.call_timeout),
        ):
            await self._stop_and_remove(name)

    async def _wait(self, container: DockerContainer, job: Job) -> tuple[int, bool]:
        """Wait for the container to exit; stop it at the deadline. -> (exit code, deadline hit)"""
        while True:
            timeout = self.poll_seconds
            if job.deadline is not None:
                timeout = min(timeout, max(0.0, job.deadline - time.time()))
            with anyio.move_on_after(timeout):
                status = await container.wait()
                return int(status["StatusCode"]), False
            if job.deadline is not None and time.time() >= job.deadline:
                await self._stop(container)
                return await self._exit_code(container), True
            # Still running: make sure the daemon is still there before waiting again.
            await self._call(container.show())

    async def _exit_code(self, container: DockerContainer) -> int:
        status = await self._call(container.wait())
        return int(status["StatusCode"])

    async def _stop(self, container: DockerContainer) -> None:
        """SIGTERM, `grace_seconds`, SIGKILL (Docker's stop does exactly that)."""
        grace = max(0, math.ceil(self.grace_seconds))
        try:
            await self._call(container.stop(t=grace), timeout=grace + self.call_timeout)
        except aiodocker.DockerError as exc:
            if exc.status not in (304, 404):  # already stopped / gone
                raise

    async def _collect(
        self, container: DockerContainer, job: Job, exit_code: int, deadline_hit: bool
    ) -> JobResult:
        stdout = "".join(await self._call(container.log(stdout=True)))
        stderr = "".join(await self._call(container.log(stderr=True)))
        outputs: dict[str, str | None] = {}
        for param, path in job.output_paths.items():
            try:
                tar = await self._call(container.get_archive(path))
            except aiodocker.DockerError as exc:
                if exc.status != 404:
                    raise
                outputs[param] = None
            else:
                outputs[param] = _read_first_file(tar)
        if deadline_hit:
            phase, message = "Failed", job.deadline_message
        elif exit_code == 0:
            phase, message = "Succeeded", ""
        else:
            phase, message = "Failed", f"exit code {exit_code}"
        return JobResult(
            phase=phase,
            exit_code=exit_code,
            message=message,
            stdout=stdout.encode(),
            stderr=stderr.encode(),
            output_files=outputs,
        )

    async def _remove(self, name: str) -> None:
        try:
            await self._call(self._container(name).delete(force=True, v=True))
        except aiodocker.DockerError as exc:
            if exc.status != 404:
                raise

    async def _stop_and_remove(self, name: str) -> None:
        """Best effort (used while unwinding): stop gracefully, then remove."""
        with contextlib.suppress(*_DAEMON_ERRORS):
            await self._stop(self._container(name))
        with contextlib.suppress(*_DAEMON_ERRORS):
            await self._remove(name)

    async def _error_result(self, name: str, exc: BaseException) -> JobResult:
        """The attempt could not be run or followed: phase Error with the daemon's reason."""
        if isinstance(exc, TimeoutError):  # before OSError, of which it is a subclass
            message = f"the Docker daemon at {self.url} did not answer within {self.call_timeout}s"
        elif _is_unreachable(exc):
            message = f"lost the Docker daemon at {self.url}: {_reason(exc)}"
        else:
            message = f"Docker daemon error: {_reason(exc)}"
            # The daemon answers: do not leave the container behind.
            await self._cleanup(name)
        return JobResult(phase="Error", message=message)


async def doctor(
    images: Iterable[str] = (), *, url: str | None = None, timeout: float = 5
) -> DoctorReport:
    """Is the daemon reachable, which version, and which of `images` exist locally. Never raises."""
    url = url or default_url()
    wanted: Sequence[str] = list(images)
    try:
        docker = aiodocker.Docker(url=url)
    except (ValueError, AssertionError) as exc:
        return DoctorReport(url=url, reachable=False, error=_reason(exc), images_missing=[*wanted])
    try:
        with anyio.fail_after(timeout):
            version = await docker.version()
        present: list[str] = []
        missing: list[str] = []
        for image in wanted:
            try:
                with anyio.fail_after(timeout):
                    await docker.images.inspect(image)
            except aiodocker.DockerError as exc:
                if exc.status != 404:
                    raise
                missing.append(image)
            else:
                present.append(image)
        return DoctorReport(
            url=url,
            reachable=True,
            server_version=str(version.get("Version", "")),
            api_version=str(version.get("ApiVersion", "")),
            images_present=present,
            images_missing=missing,
        )
    except _DAEMON_ERRORS as exc:
        return DoctorReport(url=url, reachable=False, error=_reason(exc), images_missing=[*wanted])
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(timeout):
            await docker.close()
