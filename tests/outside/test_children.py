"""A `resource` template creating a `Workflow` (examples/cleanup-starts-recovery.yaml): the child is
submitted into the same log, named after the handler's idempotency key, so a controller crash at
any event boundary still creates exactly one child; parent and child name each other."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import anyio
import pytest

from engine.events import WorkflowSubmitted
from engine.store import SqliteStore
from tests.helpers import EXAMPLES, exitflow

EXAMPLE = EXAMPLES / "cleanup-starts-recovery.yaml"


async def _runs(db: Path) -> list[tuple[str, str, str, str]]:
    """(uid, name, phase, parent uid) of every workflow in the log."""
    if not db.exists():
        return []
    store = await SqliteStore.open(str(db), read_only=True)
    try:
        out = []
        for record in await store.list_workflows():
            (first,) = await store.read(record.uid, upto_seq=1)
            assert isinstance(first.event, WorkflowSubmitted)
            out.append((record.uid, record.name, record.phase, first.event.parent_uid))
        return out
    finally:
        await store.aclose()


async def _count(db: Path) -> int:
    store = await SqliteStore.open(str(db), read_only=True)
    try:
        return sum([len(await store.read(r.uid)) for r in await store.list_workflows()])
    finally:
        await store.aclose()


def test_get_shows_the_child_on_the_parent_node_and_the_child_its_parent(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    res = exitflow("run", str(EXAMPLE), "--db", db, "-o", "json")
    assert res.code == 1, res.stderr
    parent = res.json()
    (node,) = [n for n in parent["status"]["nodes"].values()
               if n["displayName"] == "start-recovery"]
    (parent_row, child_row) = anyio.run(_runs, tmp_path / "x.db")
    _, child_name, child_phase, parent_uid = child_row
    assert parent_uid == parent["metadata"]["uid"] and child_phase == "Pending"
    assert node["message"] == f"created workflow {child_name}"
    assert node["outputs"]["result"] == child_name
    assert f"created workflow {child_name}" in exitflow("get", parent_row[1], "--db", db).stdout
    got = exitflow("get", child_name, "--db", db, "-o", "json").json()
    (owner,) = got["metadata"]["ownerReferences"]
    assert owner["uid"] == parent_uid and owner["name"] == parent_row[1]
    assert got["metadata"]["annotations"]["exitflow.io/parent-node"] == node["id"]
    assert "Parent:" in exitflow("get", child_name, "--db", db).stdout
    # Without --wait-children the child waits in the log; `recover` runs it.
    assert "created workflow" in res.stderr
    assert exitflow("recover", "--db", db).code == 0
    assert anyio.run(_runs, tmp_path / "x.db")[1][2] == "Succeeded"


def test_wait_children_runs_the_child_to_its_end(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    res = exitflow("run", str(EXAMPLE), "--db", db, "--wait-children")
    assert res.code == 1, res.stderr  # the parent's phase
    (_, (_, child, phase, _)) = anyio.run(_runs, tmp_path / "x.db")
    assert phase == "Succeeded"
    logs = exitflow("logs", child, "--db", db).stdout
    assert "recovering after cleanup-starts-recovery-" in logs
    assert exitflow("verify", "--db", db).code == 0


def _crash_then_recover(tmp_path: Path, point: str) -> list[tuple[str, str, str, str]]:
    db = tmp_path / f"crash-{point.replace(':', '-')}.db"
    crashed = exitflow("run", str(EXAMPLE), "--db", str(db), env={"EXITFLOW_CRASH_AT": point})
    assert crashed.code in (137, 1), (point, crashed.stderr)
    if crashed.code == 137:
        recovered = exitflow("recover", "--db", str(db))
        assert recovered.code in (0, 1), (point, recovered.stderr)
    if db.exists():
        assert exitflow("verify", "--db", str(db)).code == 0, point
    return anyio.run(_runs, db)


@pytest.mark.slow
def test_a_crash_at_every_event_boundary_creates_exactly_one_child(tmp_path: Path) -> None:
    clean = tmp_path / "clean.db"
    assert exitflow("run", str(EXAMPLE), "--db", str(clean)).code == 1
    # Every event the run's process appends: the parent's and the child's submission.
    events = anyio.run(_count, clean)
    assert events > 15
    # "after N" is "before N+1" but for events appended together; the first is "before 1".
    points = ["1:before"] + [f"{n}:after" for n in range(1, events + 1)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(points, pool.map(lambda p: _crash_then_recover(tmp_path, p), points),
                           strict=True))
    assert results.pop("1:before") == []  # nothing was recorded: nothing to recover
    for point, runs in results.items():
        parents = [r for r in runs if not r[3]]
        children = [r for r in runs if r[3]]
        assert len(parents) == 1 and parents[0][2] == "Failed", (point, runs)
        assert len(children) == 1, (point, runs)
        assert children[0][3] == parents[0][0], (point, runs)


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        ("{action: apply, manifest: 'apiVersion: argoproj.io/v1alpha1\\nkind: Workflow'}",
         "resource"),
        ("{action: create, manifest: 'apiVersion: v1\\nkind: ConfigMap'}", "resource"),
    ],
)
def test_anything_but_creating_a_workflow_is_a_lint_error(
    tmp_path: Path, resource: str, message: str
) -> None:
    spec = tmp_path / "wf.yaml"
    spec.write_text(f"""\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{generateName: r-}}
spec:
  entrypoint: make
  templates:
    - name: make
      resource: {resource}
""")
    res = exitflow("lint", str(spec))
    assert res.code == 2 and message in res.stderr, res


def test_a_broken_child_manifest_is_one_line_exit_2(tmp_path: Path) -> None:
    spec = tmp_path / "wf.yaml"
    spec.write_text(EXAMPLE.read_text().replace("entrypoint: recover", "entrypoitn: recover"))
    for args in (["lint"], ["run", "--db", str(tmp_path / "x.db")]):
        res = exitflow(args[0], str(spec), *args[1:])
        assert res.code == 2, res
        assert len(res.stderr.strip().splitlines()) == 1
        assert "child workflow manifest" in res.stderr
    assert not (tmp_path / "x.db").exists() or not anyio.run(_runs, tmp_path / "x.db")
