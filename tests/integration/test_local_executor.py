"""LocalExecutor against real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import anyio
import pytest

from engine.executors import Executor, Job, JobResult, LocalExecutor, find_processes, kill_leftovers

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(sys.platform != "linux", reason="Linux only")]

REPO = Path(__file__).resolve().parents[2]


def make_job(**kw: object) -> Job:
    uid = str(uuid.uuid4())
    fields: dict[str, object] = {
        "workflow_name": "wf",
        "workflow_uid": uid,
        "node_id": "wf-1",
        "node_name": "wf.step",
        "attempt": 1,
        "idempotency_key": f"{uid}:wf-1",
    }
    fields.update(kw)
    return Job(**fields)  # type: ignore[arg-type]


@pytest.fixture
async def ex(tmp_path: Path) -> AsyncIterator[LocalExecutor]:
    executor = LocalExecutor(grace_seconds=0.5, temp_root=str(tmp_path))
    yield executor
    await executor.aclose()


def dead(pid: int) -> bool:
    """Gone, or a zombie (this machine's init may never reap orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2 :][:1] in (b"Z", b"X")


async def wait_dead(pids: Iterable[int], bound: float = 5.0) -> bool:
    """Polls /proc until every pid is dead; `bound` is a limit, not a timing assertion."""
    with anyio.move_on_after(bound):
        while not all(dead(p) for p in pids):
            await anyio.sleep(0.02)
    return all(dead(p) for p in pids)


async def wait_processes(uid: str, count: int, bound: float = 5.0) -> list[int]:
    """Live pids of the workflow, once at least `count` are there."""
    pids: list[int] = []
    with anyio.move_on_after(bound):
        while len(pids) < count:
            pids = find_processes(uid)
            await anyio.sleep(0.01)
    assert len(pids) >= count, pids
    return pids


async def test_echo(ex: LocalExecutor) -> None:
    assert isinstance(ex, Executor)
    r = await ex.run(make_job(command=["echo"], args=["hello", "world"]))
    assert r == JobResult(phase="Succeeded", exit_code=0, stdout=b"hello world\n")


async def test_args_only_and_no_command(ex: LocalExecutor) -> None:
    r = await ex.run(make_job(args=["printf", "x"]))
    assert (r.phase, r.stdout) == ("Succeeded", b"x")
    r = await ex.run(make_job())
    assert (r.phase, r.message) == ("Error", "no command")


async def test_exit_code(ex: LocalExecutor) -> None:
    r = await ex.run(make_job(command=["sh", "-c", "echo out; echo err >&2; exit 3"]))
    assert (r.phase, r.exit_code, r.message) == ("Failed", 3, "exit code 3")
    assert (r.stdout, r.stderr) == (b"out\n", b"err\n")


async def test_killed_by_signal(ex: LocalExecutor) -> None:
    r = await ex.run(make_job(command=["sh", "-c", "kill -9 $$"]))
    assert (r.phase, r.exit_code) == ("Failed", 128 + signal.SIGKILL)


async def test_python_script(ex: LocalExecutor) -> None:
    source = "import os, sys\nprint(sys.argv[1:], os.environ['EXITFLOW_NODE_NAME'])\n"
    r = await ex.run(make_job(command=[sys.executable], source=source, args=["a", "b"]))
    assert (r.phase, r.stdout) == ("Succeeded", b"['a', 'b'] wf.step\n")
    r = await ex.run(make_job(command=["python3"], source="print(6 * 7)"))
    assert (r.phase, r.stdout) == ("Succeeded", b"42\n")


async def test_bash_and_default_sh_script(ex: LocalExecutor) -> None:
    source = 'set -eu\narr=(x y z)\necho "${#arr[@]}" "$1"\n'
    r = await ex.run(make_job(command=["bash"], source=source, args=["arg"]))
    assert (r.phase, r.stdout) == ("Succeeded", b"3 arg\n")
    # No command: sh. The source file is private (0700: executable, as `sh -c` needs) and removed
    # afterwards.
    r = await ex.run(make_job(source='stat -c %a "$0"; echo "$0"'))
    assert r.phase == "Succeeded"
    mode, path = r.stdout.decode().split()
    assert mode == "700"
    assert path.startswith(ex.temp_dir) and not os.path.exists(path)
    # Argo's scripts-bash example: `command: [sh, -c]` runs the script file as a command.
    r = await ex.run(make_job(command=["sh", "-c"], source="echo ran-as-command"))
    assert (r.phase, r.stdout) == ("Succeeded", b"ran-as-command\n")
    r = await ex.run(make_job(source="exit 4"))
    assert (r.phase, r.exit_code) == ("Failed", 4)


async def test_environment(ex: LocalExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXITFLOW_TEST_LEAK", "secret")
    job = make_job(command=["env"], env={"GREETING": "hi", "PATH": os.environ["PATH"]}, attempt=2)
    r = await ex.run(job)
    env = dict(line.split("=", 1) for line in r.stdout.decode().splitlines())
    assert env["GREETING"] == "hi"
    for k, v in job.exitflow_env().items():
        assert env[k] == v
    assert env["EXITFLOW_ATTEMPT"] == "2"
    assert env["EXITFLOW_IDEMPOTENCY_KEY"] == job.idempotency_key
    assert "EXITFLOW_TEST_LEAK" not in env
    assert set(env) <= {"PATH", "HOME", "LANG", "TMPDIR", "GREETING", *job.exitflow_env()}


async def test_working_dir(ex: LocalExecutor, tmp_path: Path) -> None:
    r = await ex.run(make_job(command=["pwd"], working_dir=str(tmp_path)))
    assert r.stdout.decode().strip() == str(tmp_path)
    # A working dir that does not exist on the host: a fresh per-job dir, removed afterwards.
    r = await ex.run(make_job(command=["pwd"], working_dir="/no/such/dir"))
    job_dir = r.stdout.decode().strip()
    assert job_dir.startswith(ex.temp_dir) and not os.path.exists(job_dir)


async def test_output_parameters(ex: LocalExecutor, tmp_path: Path) -> None:
    absolute = tmp_path / "abs.txt"
    job = make_job(
        command=["sh", "-c", f"printf 'a\\n' > rel.txt; printf ' b ' > {absolute}"],
        output_paths={"rel": "rel.txt", "abs": str(absolute), "missing": "/no/such/file"},
    )
    r = await ex.run(job)
    assert r.phase == "Succeeded"
    # Raw content: trimming is the controller's business.
    assert r.output_files == {"rel": "a\n", "abs": " b ", "missing": None}


async def test_output_parameters_are_read_after_failure(ex: LocalExecutor) -> None:
    r = await ex.run(make_job(command=["sh", "-c", "echo v > o; exit 1"], output_paths={"o": "o"}))
    assert (r.phase, r.output_files) == ("Failed", {"o": "v\n"})


async def test_command_not_found(ex: LocalExecutor, tmp_path: Path) -> None:
    # As in a container: the step fails with the shell's code (127 not found, 126 not runnable).
    r = await ex.run(make_job(command=["exitflow-no-such-command"], args=["x"]))
    assert (r.phase, r.exit_code) == ("Failed", 127)
    assert r.message == 'exec: "exitflow-no-such-command": executable file not found in $PATH'
    r = await ex.run(make_job(command=["./missing"], working_dir=str(tmp_path)))
    assert r.phase == "Failed" and '"./missing"' in r.message
    plain = tmp_path / "plain.txt"
    plain.write_text("echo hi\n")
    r = await ex.run(make_job(command=[str(plain)]))
    assert (r.phase, r.exit_code, r.message) == (
        "Failed",
        126,
        f'exec: "{plain}": permission denied',
    )


@pytest.mark.parametrize("mode", ["setpriv", "preexec", "off"])
async def test_exec_format_error(mode: str, tmp_path: Path) -> None:
    ex = LocalExecutor(pdeathsig=mode, temp_root=str(tmp_path))  # type: ignore[arg-type]
    script = tmp_path / "no-shebang"
    script.write_text("echo ran\n")
    script.chmod(0o755)
    r = await ex.run(make_job(command=[str(script)]))
    await ex.aclose()
    assert (r.phase, r.exit_code, r.stdout) == ("Failed", 126, b"")
    assert r.message.lower() == f'exec: "{script}": exec format error'


async def test_large_output_no_deadlock(ex: LocalExecutor) -> None:
    script = "head -c 3000000 /dev/zero; head -c 2000000 /dev/zero >&2; head -c 1000 /dev/zero"
    r = await ex.run(make_job(command=["sh", "-c", script]))
    assert r.phase == "Succeeded"
    assert (len(r.stdout), len(r.stderr)) == (3_001_000, 2_000_000)


async def test_output_is_bounded(tmp_path: Path) -> None:
    ex = LocalExecutor(output_limit=1000, temp_root=str(tmp_path))
    r = await ex.run(make_job(command=["sh", "-c", "head -c 5000 /dev/zero"]))
    await ex.aclose()
    assert (r.phase, len(r.stdout)) == ("Succeeded", 1000)
    assert "stdout truncated to 1000 of 5000 bytes" in r.message


async def test_background_leftover_does_not_hang(ex: LocalExecutor) -> None:
    job = make_job(command=["sh", "-c", "sleep 30 & echo started"])
    r = await ex.run(job)
    assert (r.phase, r.stdout) == ("Succeeded", b"started\n")
    # The main process exited: the rest of its process group was killed.
    assert find_processes(job.workflow_uid) == []


async def test_deadline_kills_process_group(ex: LocalExecutor) -> None:
    job = make_job(
        command=["sh", "-c", "sleep 30 & sleep 30; wait"],
        deadline=time.time() + 2,
        deadline_message="Step exceeded its deadline",
    )
    result: list[JobResult] = []

    async def run() -> None:
        result.append(await ex.run(job))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        pids = await wait_processes(job.workflow_uid, 3)  # sh and both sleeps
    (r,) = result
    assert (r.phase, r.message) == ("Failed", "Step exceeded its deadline")
    assert await wait_dead(pids)


async def test_deadline_sends_sigterm_first(ex: LocalExecutor, tmp_path: Path) -> None:
    script = "trap 'echo term > got-term; exit 0' TERM; sleep 30 & wait"
    job = make_job(
        command=["sh", "-c", script], working_dir=str(tmp_path), deadline=time.time() + 0.5
    )
    r = await ex.run(job)
    assert (r.phase, r.message) == ("Failed", job.deadline_message)
    assert (tmp_path / "got-term").read_text() == "term\n"


async def test_deadline_in_the_past_does_not_start(ex: LocalExecutor, tmp_path: Path) -> None:
    job = make_job(
        command=["touch", "started"],
        working_dir=str(tmp_path),
        deadline=time.time() - 1,
        deadline_message="too late",
    )
    r = await ex.run(job)
    assert (r.phase, r.message, r.exit_code) == ("Failed", "too late", None)
    assert not (tmp_path / "started").exists()


async def test_cancellation_kills_group_and_reraises(ex: LocalExecutor) -> None:
    # Ignores SIGTERM: needs the SIGKILL after the grace.
    job = make_job(command=["sh", "-c", "trap '' TERM; sleep 30 & sleep 30; wait"])
    seen: list[str] = []

    async def run() -> None:
        try:
            await ex.run(job)
        except anyio.get_cancelled_exc_class():
            seen.append("cancelled")
            raise
        seen.append("returned")

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        pids = await wait_processes(job.workflow_uid, 3)
        tg.cancel_scope.cancel()
    assert seen == ["cancelled"]
    # Cleanup ran (shielded) before the cancellation got out of run(): nothing is left.
    assert all(dead(p) for p in pids)


async def test_many_concurrent_jobs(ex: LocalExecutor) -> None:
    results: dict[int, JobResult] = {}

    async def one(i: int) -> None:
        results[i] = await ex.run(make_job(command=["echo", str(i)], node_id=f"n{i}"))

    async with anyio.create_task_group() as tg:
        for i in range(200):
            tg.start_soon(one, i)
    assert all(results[i].stdout == f"{i}\n".encode() for i in range(200))


HELPER = """
import sys, anyio
from engine.executors import Job, LocalExecutor, find_processes
uid, mode, tmp = sys.argv[1:4]
job = Job(workflow_name="wf", workflow_uid=uid, node_id="n", node_name="wf.n", attempt=1,
          idempotency_key=uid + ":n", command=["sleep", "30"])
async def main():
    ex = LocalExecutor(pdeathsig=mode, temp_root=tmp)
    async with anyio.create_task_group() as tg:
        tg.start_soon(ex.run, job)
        while not (pids := find_processes(uid)):
            await anyio.sleep(0.01)
        print(ex.pdeathsig_mode, pids[0], flush=True)
anyio.run(main)
"""


async def start_helper(mode: str, tmp_path: Path) -> tuple[subprocess.Popen[str], str, int, str]:
    """A controller in a subprocess running `sleep 30`; returns (helper, mode, sleep pid, uid)."""
    uid = str(uuid.uuid4())
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    helper = subprocess.Popen(
        [sys.executable, "-c", HELPER, uid, mode, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert helper.stdout is not None
    line = await anyio.to_thread.run_sync(helper.stdout.readline)
    helper.stdout.close()
    used, pid = line.split()
    return helper, used, int(pid), uid


@pytest.mark.parametrize("mode", ["setpriv", "preexec"])
async def test_child_dies_with_controller(mode: str, tmp_path: Path) -> None:
    helper, used, pid, _ = await start_helper(mode, tmp_path)
    assert used == mode
    assert not dead(pid)
    helper.kill()
    helper.wait()
    assert await wait_dead([pid]), f"sleep {pid} survived its controller"


async def test_without_pdeathsig_reattach_kills_leftover(tmp_path: Path) -> None:
    helper, _, pid, uid = await start_helper("off", tmp_path)
    helper.kill()
    helper.wait()
    await anyio.sleep(0.2)
    assert not dead(pid)  # nothing killed it: this is what reattach is for
    ex = LocalExecutor(temp_root=str(tmp_path))
    job = make_job(workflow_uid=uid, node_id="n", idempotency_key=f"{uid}:n")
    assert await ex.reattach(job) is None
    await ex.aclose()
    assert await wait_dead([pid])


async def test_kill_leftovers_by_idempotency_key() -> None:
    key, other = f"{uuid.uuid4()}:n1", f"{uuid.uuid4()}:n2"
    uid = str(uuid.uuid4())
    procs = [
        subprocess.Popen(
            ["sh", "-c", "sleep 30 & wait"],
            env={**os.environ, "EXITFLOW_IDEMPOTENCY_KEY": k, "EXITFLOW_WORKFLOW_UID": uid},
            start_new_session=True,
        )
        for k in (key, other)
    ]
    try:
        found = await wait_processes(uid, 4)  # two shells and their sleeps
        assert {p.pid for p in procs} <= set(found)
        assert kill_leftovers({key}) == 2  # the shell and its sleep
        assert procs[0].wait(timeout=5) == -signal.SIGKILL
        assert procs[1].poll() is None  # another key: untouched
        assert kill_leftovers({"no-such-key"}) == 0
        assert kill_leftovers(set()) == 0
    finally:
        kill_leftovers({key, other})
        for p in procs:
            p.kill()
            p.wait()
