"""Node ids: runs under rules >= 2 use a 128-bit hash, a collision is resolved for that node alone,
and runs recorded under rules 1 keep Argo's FNV-32 ids (so their logs re-derive as recorded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.controller.operator import Operator
from engine.events import RULES_VERSION, NodeInitialized, WorkflowSubmitted
from engine.naming import fnv1a_32, node_id, node_id_v2
from engine.spec import load_text
from engine.state.fold import fold
from tests.hostile import exitflow_raw, write

#: Two loop items whose node names collide under FNV-32 (found by the issue's reporter).
COLLIDING = ("x147789", "x486652")
SPEC = """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: col
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: s
        template: echo
        withItems: [x147789, x486652]
  - name: echo
    container: {image: alpine, command: [sh, -c, "echo hi"]}
"""
NAMES = [f"col[0].s(0:{COLLIDING[0]})", f"col[0].s(1:{COLLIDING[1]})"]


def test_the_reported_names_collide_under_fnv32_only() -> None:
    assert fnv1a_32(NAMES[0]) == fnv1a_32(NAMES[1])
    assert node_id("col", NAMES[0]) == node_id("col", NAMES[1])
    assert node_id_v2("col", NAMES[0]) != node_id_v2("col", NAMES[1])
    assert len(node_id_v2("col", NAMES[0])) == len("col-") + 32
    assert node_id_v2("col", "col") == "col"  # the root keeps the workflow's name


@pytest.mark.timeout(60)
def test_a_loop_over_colliding_items_runs_and_verifies(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    result = exitflow_raw("run", write(tmp_path, "col.yaml", SPEC), "--db", db, "-o", "json")
    assert result.code == 0, result.stderr
    nodes = result.json()["status"]["nodes"]
    pods = {n["name"]: nid for nid, n in nodes.items() if n["type"] == "Pod"}
    assert sorted(pods) == NAMES
    assert pods[NAMES[0]] != pods[NAMES[1]]
    assert all(nodes[nid]["phase"] == "Succeeded" for nid in pods.values())
    assert exitflow_raw("verify", "--db", db).code == 0


def _view(rules: int, taken_by: str | None, spec: str = SPEC) -> Operator:
    events: list[object] = [WorkflowSubmitted(ts=1.0, uid="u", name="col", spec_yaml=spec,
                                              rules=rules)]
    if taken_by is not None:  # a node that already holds the id the first step would get
        events.append(NodeInitialized(ts=1.0, node_id=node_id_v2("col", NAMES[0]),
                                      name=taken_by, display_name=taken_by, node_type="Pod"))
    return Operator(fold(events), load_text(spec, source="col.yaml"))  # type: ignore[arg-type]


def test_a_taken_id_goes_to_the_next_salted_id_and_the_run_goes_on() -> None:
    operator = _view(RULES_VERSION, taken_by="decoy")
    decision = operator.reconcile(2.0)
    started = {e.name: e.node_id for e in decision.events if isinstance(e, NodeInitialized)}
    assert started[NAMES[0]] == node_id_v2("col", NAMES[0], salt=1)
    assert started[NAMES[1]] == node_id_v2("col", NAMES[1])
    assert operator.view.nodes[node_id_v2("col", NAMES[0])].name == "decoy"


def test_rules_1_runs_keep_fnv_ids() -> None:
    operator = _view(1, taken_by=None, spec=SPEC.replace("[x147789, x486652]", "[a, b]"))
    decision = operator.reconcile(2.0)
    ids = {e.name: e.node_id for e in decision.events if isinstance(e, NodeInitialized)}
    assert ids["col"] == "col"
    assert ids["col[0].s(0:a)"] == node_id("col", "col[0].s(0:a)")
    assert ids["col[0].s(1:b)"] == f"col-{fnv1a_32('col[0].s(1:b)')}"
