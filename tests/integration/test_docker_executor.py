"""DockerExecutor against a real Docker daemon (bash .ci/setup-docker.sh starts one)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiodocker
import anyio
import msgspec
import pytest
from anyio.abc import SocketStream

from engine.errors import ExecutorUnavailableError
from engine.executors.base import Executor, Job, JobResult
from engine.executors.docker import DockerExecutor, container_name, doctor

pytestmark = pytest.mark.anyio

IMAGE = "alpine:3.7"
ROOT = Path(__file__).resolve().parents[2]
DOCKER_URL = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
SOCKET = DOCKER_URL.removeprefix("unix://")

# Runs one job in a child process, so that the test can kill -9 it mid-run (a controller crash).
CHILD = """
import sys, anyio, msgspec
from engine.executors.base import Job
from engine.executors.docker import DockerExecutor

async def main() -> None:
    job = msgspec.json.decode(sys.argv[1], type=Job)
    async with await DockerExecutor.create(grace_seconds=1) as executor:
        await executor.run(job)

anyio.run(main)
"""


def make_job(node_id: str = "step", **kwargs: Any) -> Job:
    uid = kwargs.pop("workflow_uid", uuid.uuid4().hex)
    fields: dict[str, Any] = {
        "workflow_name": "wf",
        "workflow_uid": uid,
        "node_id": node_id,
        "node_name": f"wf.{node_id}",
        "attempt": 1,
        "idempotency_key": f"{uid}:{node_id}",
        "image": IMAGE,
    }
    fields.update(kwargs)
    return Job(**fields)


def sh(script: str, **kwargs: Any) -> Job:
    return make_job(command=["sh", "-c"], args=[script], **kwargs)


@pytest.fixture
async def executor(docker_available: None) -> AsyncIterator[DockerExecutor]:
    async with aiodocker.Docker(url=DOCKER_URL) as client:
        labels = {"label": ["exitflow.idempotency-key"]}
        before = {c.id for c in await client.containers.list(all=True, filters=labels)}
        async with await DockerExecutor.create(grace_seconds=1) as ex:
            yield ex
        # run() keeps a finished container until release(); remove what this test left.
        for container in await client.containers.list(all=True, filters=labels):
            if container.id not in before:
                await container.delete(force=True)


@pytest.fixture
async def docker(docker_available: None) -> AsyncIterator[aiodocker.Docker]:
    async with aiodocker.Docker(url=DOCKER_URL) as client:
        yield client


async def state_of(docker: aiodocker.Docker, name: str) -> str | None:
    try:
        info = await docker.containers.container(name).show()
    except aiodocker.DockerError as exc:
        if exc.status == 404:
            return None
        raise
    status: str = info["State"]["Status"]
    return status


async def wait_for_state(docker: aiodocker.Docker, name: str, wanted: str) -> None:
    with anyio.fail_after(10):
        while await state_of(docker, name) != wanted:
            await anyio.sleep(0.05)


async def remove(docker: aiodocker.Docker, name: str) -> None:
    try:
        await docker.containers.container(name).delete(force=True)
    except aiodocker.DockerError as exc:
        if exc.status != 404:
            raise


async def run_in_child_until(docker: aiodocker.Docker, job: Job, state: str) -> None:
    """Start `job` in a child process and kill -9 the child once its container is `state`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    encoded = msgspec.json.encode(job).decode()
    async with await anyio.open_process(
        [sys.executable, "-c", CHILD, encoded], cwd=ROOT, env=env
    ) as child:
        try:
            await wait_for_state(docker, container_name(job), "running")
        finally:
            child.kill()
            await child.wait()
    if state != "running":
        await wait_for_state(docker, container_name(job), state)


@pytest.mark.docker
async def test_echo_succeeds_with_env_and_workdir(
    executor: DockerExecutor, docker: aiodocker.Docker
) -> None:
    job = sh(
        "echo hello; pwd; env | grep -E '^(EXITFLOW_|FOO=)' | sort; echo oops >&2",
        env={"FOO": "bar"},
        working_dir="/tmp",
    )
    assert isinstance(executor, Executor)
    result = await executor.run(job)
    assert result.phase == "Succeeded", result
    assert result.exit_code == 0
    lines = result.stdout.decode().splitlines()
    assert lines[:2] == ["hello", "/tmp"]
    assert "FOO=bar" in lines
    for key, value in job.exitflow_env().items():
        assert f"{key}={value}" in lines
    assert result.stderr == b"oops\n"
    # Kept until the result is durable (release), so a crash can re-attach.
    assert await state_of(docker, container_name(job)) == "exited"
    await executor.release(job)
    assert await state_of(docker, container_name(job)) is None


@pytest.mark.docker
async def test_nonzero_exit_fails(executor: DockerExecutor) -> None:
    result = await executor.run(sh("echo before; exit 3"))
    assert result.phase == "Failed"
    assert result.exit_code == 3
    assert result.message == "exit code 3"
    assert result.stdout == b"before\n"


@pytest.mark.docker
async def test_args_without_command_use_the_image_entrypoint(executor: DockerExecutor) -> None:
    # alpine's default is CMD ["sh"] with no ENTRYPOINT: args replace CMD.
    result = await executor.run(make_job(args=["echo", "from", "args"]))
    assert result.phase == "Succeeded"
    assert result.stdout == b"from args\n"


@pytest.mark.docker
async def test_script_template(executor: DockerExecutor) -> None:
    source = 'echo "script at $0"\nfor i in 1 2; do echo "line $i"; done\necho err >&2\n'
    result = await executor.run(make_job(command=["sh"], source=source))
    assert result.phase == "Succeeded", result
    assert result.stdout == b"script at /tmp/exitflow-script\nline 1\nline 2\n"
    assert result.stderr == b"err\n"


@pytest.mark.docker
async def test_output_parameters_from_files(executor: DockerExecutor) -> None:
    job = sh(
        "mkdir -p /tmp/out && printf 'real-value' > /tmp/out/p.txt && echo multi > /tmp/q.txt",
        output_paths={"p": "/tmp/out/p.txt", "q": "/tmp/q.txt", "missing": "/tmp/nope.txt"},
    )
    result = await executor.run(job)
    assert result.phase == "Succeeded"
    assert result.output_files == {"p": "real-value", "q": "multi\n", "missing": None}


@pytest.mark.docker
async def test_missing_image_is_an_error_not_a_hang(executor: DockerExecutor) -> None:
    with anyio.fail_after(20):
        result = await executor.run(make_job(image="alpine:9.9", command=["true"]))
    assert result.phase == "Error"
    assert result.exit_code is None
    assert result.message.startswith("image alpine:9.9 not found locally (no registry reachable)")


@pytest.mark.docker
async def test_deadline_stops_the_container(
    executor: DockerExecutor, docker: aiodocker.Docker
) -> None:
    job = sh("sleep 30", deadline=time.time() + 1.0)
    result = await executor.run(job)
    assert result.phase == "Failed"
    assert result.message == job.deadline_message
    assert result.exit_code in (137, 143)
    # Kept until the result is durable (release), so a crash can re-attach.
    assert await state_of(docker, container_name(job)) == "exited"
    await executor.release(job)
    assert await state_of(docker, container_name(job)) is None


@pytest.mark.docker
async def test_cancellation_stops_and_removes_the_container(
    executor: DockerExecutor, docker: aiodocker.Docker
) -> None:
    job = sh("sleep 30")
    name = container_name(job)
    finished: list[JobResult] = []

    async def run() -> None:
        finished.append(await executor.run(job))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await wait_for_state(docker, name, "running")
        tg.cancel_scope.cancel()
    assert finished == []
    assert await state_of(docker, name) is None


@pytest.mark.docker
async def test_docker_kill_from_outside_fails_with_137(
    executor: DockerExecutor, docker: aiodocker.Docker
) -> None:
    job = sh("sleep 30")
    name = container_name(job)
    results: list[JobResult] = []

    async def run() -> None:
        results.append(await executor.run(job))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await wait_for_state(docker, name, "running")
        await docker.containers.container(name).kill(signal="SIGKILL")
    [result] = results
    assert result.phase == "Failed"
    assert result.exit_code == 137
    assert result.message == "exit code 137"


@pytest.mark.docker
async def test_reattach_to_a_running_container_after_a_crash(
    executor: DockerExecutor, docker: aiodocker.Docker
) -> None:
    job = sh("echo start; sleep 2; echo done")
    name = container_name(job)
    try:
        await run_in_child_until(docker, job, "running")
        result = await executor.reattach(job)
    finally:
        await remove(docker, name)
    assert result is not None
    assert result.phase == "Succeeded", result
    # The log of a container accumulates over its starts: one "start" means it ran once.
    assert result.stdout == b"start\ndone\n"
    assert await state_of(docker, name) is None


@pytest.mark.docker
async def test_reattach_to_an_exited_container_does_not_run_it_again(
    executor: DockerExecutor, docker: aiodocker.Docker
) -> None:
    job = sh("sleep 0.5; echo ran; exit 4")
    name = container_name(job)
    try:
        await run_in_child_until(docker, job, "exited")
        started = (await docker.containers.container(name).show())["State"]["StartedAt"]
        result = await executor.reattach(job)
        # Kept until the result is durable (release), so a crash can re-attach.
        assert await state_of(docker, name) == "exited"
        await executor.release(job)
        assert await state_of(docker, name) is None
    finally:
        await remove(docker, name)
    assert started
    assert result is not None
    assert result.phase == "Failed"
    assert result.exit_code == 4
    assert result.stdout == b"ran\n"


@pytest.mark.docker
async def test_reattach_starts_a_container_that_was_only_created(
    executor: DockerExecutor, docker: aiodocker.Docker
) -> None:
    job = make_job(command=["sh"], source="echo scripted")
    name = container_name(job)
    try:
        await docker.containers.create(executor.container_config(job), name=name)
        result = await executor.reattach(job)
    finally:
        await remove(docker, name)
    assert result is not None
    assert result.phase == "Succeeded", result
    assert result.stdout == b"scripted\n"


@pytest.mark.docker
async def test_run_adopts_an_existing_container_of_the_same_attempt(
    executor: DockerExecutor, docker: aiodocker.Docker
) -> None:
    job = sh("echo once")
    name = container_name(job)
    try:
        await docker.containers.create(executor.container_config(job), name=name)
        result = await executor.run(job)
    finally:
        await remove(docker, name)
    assert result.phase == "Succeeded"
    assert result.stdout == b"once\n"


@pytest.mark.docker
async def test_reattach_without_a_container_is_none(executor: DockerExecutor) -> None:
    assert await executor.reattach(sh("true")) is None


@pytest.mark.docker
async def test_container_identity(executor: DockerExecutor, docker: aiodocker.Docker) -> None:
    job = make_job(node_id="wf-x.steps[0].a(1)", attempt=3, command=["true"])
    name = container_name(job)
    assert name.startswith(f"exitflow-{job.workflow_uid[:12]}-wf-x.steps-0-.a-1--")
    assert name.endswith("-a3")
    assert container_name(job) == name
    config = executor.container_config(job)
    assert config["HostConfig"] == {"Init": True, "NetworkMode": "none"}
    assert config["Labels"] == {
        "exitflow.workflow-uid": job.workflow_uid,
        "exitflow.node-id": job.node_id,
        "exitflow.attempt": "3",
        "exitflow.idempotency-key": job.idempotency_key,
    }
    result = await executor.run(job)
    assert result.phase == "Succeeded"


@pytest.mark.docker
async def test_sweep_orphans(executor: DockerExecutor, docker: aiodocker.Docker) -> None:
    uid = uuid.uuid4().hex
    kept, orphan = make_job("kept", workflow_uid=uid), make_job("orphan", workflow_uid=uid)
    try:
        for job in (kept, orphan):
            await docker.containers.create(executor.container_config(job), name=container_name(job))
        removed = await executor.sweep_orphans({kept.idempotency_key}, workflow_uid=uid)
        assert removed == 1
        assert await state_of(docker, container_name(kept)) == "created"
        assert await state_of(docker, container_name(orphan)) is None
    finally:
        for job in (kept, orphan):
            await remove(docker, container_name(job))


@pytest.mark.docker
async def test_daemon_lost_mid_run_is_an_error(docker: aiodocker.Docker, tmp_path: Path) -> None:
    """A proxy socket in front of the daemon goes away while the job runs: the daemon is lost."""
    proxy_path = tmp_path / "docker.sock"

    async def pipe(src: SocketStream, dst: SocketStream) -> None:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            async for chunk in src:
                await dst.send(chunk)
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            await dst.send_eof()

    async def handle(client: SocketStream) -> None:
        async with (
            client,
            await anyio.connect_unix(SOCKET) as upstream,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(pipe, client, upstream)
            tg.start_soon(pipe, upstream, client)

    job = sh("sleep 30")
    name = container_name(job)
    results: list[JobResult] = []
    try:
        async with anyio.create_task_group() as outer:
            listener = await anyio.create_unix_listener(proxy_path)
            proxy = anyio.CancelScope()

            async def serve() -> None:
                with proxy:
                    async with listener:
                        await listener.serve(handle)

            outer.start_soon(serve)
            async with await DockerExecutor.create(
                url=f"unix://{proxy_path}", grace_seconds=1
            ) as executor:

                async def run() -> None:
                    results.append(await executor.run(job))

                async with anyio.create_task_group() as inner:
                    inner.start_soon(run)
                    await wait_for_state(docker, name, "running")
                    await anyio.sleep(0.2)  # let the executor's wait() reach the daemon
                    proxy.cancel()  # the "daemon" and every connection to it are gone
        [result] = results
        assert result.phase == "Error"
        assert result.message.startswith(f"lost the Docker daemon at unix://{proxy_path}: ")
        assert "\n" not in result.message
    finally:
        await remove(docker, name)


async def test_unreachable_daemon_raises_a_one_line_error(tmp_path: Path) -> None:
    url = f"unix://{tmp_path}/no-docker.sock"
    with pytest.raises(ExecutorUnavailableError) as info:
        await DockerExecutor.create(url=url)
    message = str(info.value)
    assert message.startswith(f"cannot reach the Docker daemon at {url}: ")
    assert "\n" not in message


async def test_doctor(tmp_path: Path) -> None:
    down = await doctor(["alpine:3.7"], url=f"unix://{tmp_path}/no-docker.sock")
    assert not down.reachable
    assert down.error
    assert down.images_missing == ["alpine:3.7"]


@pytest.mark.docker
async def test_doctor_with_a_daemon(docker_available: None) -> None:
    report = await doctor([IMAGE, "alpine:9.9"])
    assert report.reachable
    assert report.server_version
    assert report.images_present == [IMAGE]
    assert report.images_missing == ["alpine:9.9"]
