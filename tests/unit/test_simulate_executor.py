from __future__ import annotations

import time

import pytest

from engine.executors import Executor, Job, SimulateExecutor, open_executor

pytestmark = pytest.mark.anyio


def job(node_name: str = "wf.main.step1", node_id: str = "wf-123", **kw: object) -> Job:
    return Job(
        workflow_name="wf",
        workflow_uid="uid-1",
        node_id=node_id,
        node_name=node_name,
        attempt=1,
        idempotency_key=f"uid-1:{node_id}",
        **kw,  # type: ignore[arg-type]
    )


async def test_default_succeeds_with_nothing() -> None:
    ex = SimulateExecutor()
    assert isinstance(ex, Executor)
    r = await ex.run(job(command=["false"], output_paths={"p": "/tmp/p"}))
    assert (r.phase, r.exit_code, r.stdout, r.stderr) == ("Succeeded", 0, b"", b"")
    assert r.output_files == {"p": None}
    assert (await ex.run(job())).output_files == {}
    assert await ex.reattach(job()) is None
    await ex.aclose()


@pytest.mark.parametrize(
    ("key", "node_name", "node_id"),
    [
        ("step1", "wf.main.step1", "id-a"),  # display name (last component)
        ("main.step1", "wf.main.step1", "id-a"),  # dotted tail
        ("wf.main.step1", "wf.main.step1", "id-a"),  # full name
        ("id-a", "wf.main.step1", "id-a"),  # node id
        ("inner", "wf.fan(0:a).inner", "id-a"),  # under an expanded loop
        ("inner", "wf[0].inner", "id-a"),  # "]." + NODE
        ("step1(1)", "wf.main.step1(1)", "id-a"),  # one retry attempt
    ],
)
async def test_fail_map_matches(key: str, node_name: str, node_id: str) -> None:
    ex = SimulateExecutor(fail={key: 3})
    r = await ex.run(job(node_name, node_id))
    assert (r.phase, r.exit_code, r.message) == ("Failed", 3, "exit code 3")


@pytest.mark.parametrize("node_name", ["wf.main.xstep1", "wf.step1x", "step", "wf.main"])
async def test_fail_map_does_not_match_partial_names(node_name: str) -> None:
    ex = SimulateExecutor(fail={"step1": 3})
    assert (await ex.run(job(node_name, "other-id"))).phase == "Succeeded"


async def test_more_specific_key_wins() -> None:
    ex = SimulateExecutor(fail={"step1": 3, "wf.b.step1": 0, "id-c": 5})
    assert (await ex.run(job("wf.a.step1", "id-a"))).exit_code == 3
    assert (await ex.run(job("wf.b.step1", "id-b"))).phase == "Succeeded"
    assert (await ex.run(job("wf.b.step1", "id-c"))).exit_code == 5


async def test_outputs_and_results() -> None:
    ex = SimulateExecutor(
        outputs={"gen": {"count": "3", "extra": "x"}},
        results={"gen": "hello\n"},
        fail={"bad": 2},
    )
    r = await ex.run(job("wf.gen", output_paths={"count": "/tmp/c", "other": "/tmp/o"}))
    assert r.phase == "Succeeded"
    assert r.output_files == {"count": "3", "other": None}
    assert r.stdout == b"hello\n"
    r = await ex.run(job("wf.bad"))
    assert r.phase == "Failed" and r.stdout == b""


async def test_past_deadline_fails() -> None:
    ex = SimulateExecutor()
    r = await ex.run(job(deadline=time.time() - 1, deadline_message="too late"))
    assert (r.phase, r.message) == ("Failed", "too late")
    assert (await ex.run(job(deadline=time.time() + 60))).phase == "Succeeded"


async def test_many_jobs_are_cheap() -> None:
    ex = SimulateExecutor(fail={"x": 1})
    j = job()
    t0 = time.perf_counter()
    for _ in range(10_000):
        await ex.run(j)
    # Not a timing assertion, just a sanity bound far above the expected ~10 ms.
    assert time.perf_counter() - t0 < 10
    assert ex.runs == 10_000


async def test_open_executor() -> None:
    ex = await open_executor("simulate", fail={"a": 1})
    assert isinstance(ex, SimulateExecutor)
    assert (await ex.run(job("wf.a"))).exit_code == 1
    with pytest.raises(ValueError, match="unknown executor"):
        await open_executor("kubernetes")
