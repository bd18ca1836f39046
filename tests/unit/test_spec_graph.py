"""`engine/spec/graph.py`: what a DAG task or a step depends on, table-driven.

Several cases follow Argo's `workflow/controller/dag_test.go` (`TestEvaluateDependsLogic`,
`TestSingleDependency`) and `workflow/validate/validate_dag_test.go` (`dagCycle`,
`dagStatusReference`, `dagResolvedVarNotAncestor`).
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from engine.errors import ExpressionError
from engine.expr import NodeStatus
from engine.spec import DAGTask, DAGTemplate, WorkflowStep, load_text
from engine.spec.graph import (
    ALL_FIELDS,
    RULES1_FIELDS,
    bare_results,
    dag_graph,
    evaluation_depends,
    explicit_depends,
    find_cycle,
    forward_step_references,
    implied_dependencies,
    named_references,
    reference_paths,
    references_itself,
    task_names,
    unknown_references,
)


def task(**fields: Any) -> DAGTask:
    fields.setdefault("template", "t")
    return msgspec.convert(fields, DAGTask)


def step(**fields: Any) -> WorkflowStep:
    fields.setdefault("template", "t")
    return msgspec.convert(fields, WorkflowStep)


def dag(*tasks: DAGTask) -> DAGTemplate:
    return DAGTemplate(tasks=list(tasks))


def arg(value: str) -> dict[str, Any]:
    return {"parameters": [{"name": "m", "value": value}]}


# --------------------------------------------------------------------------- references

REFERENCE_CASES: list[tuple[str, bool, list[tuple[str, str]]]] = [
    # (text, bare, (root, name) references)
    (
        "steps.main.status == Failed || tasks.run-task.status == Failed",
        True,
        [("steps", "main"), ("tasks", "run-task")],
    ),
    ("{{tasks.a.outputs.result}} == heads", True, [("tasks", "a")]),
    ("{{tasks.a.outputs.result}} == heads", False, [("tasks", "a")]),
    ('tasks["b-c"].status == Succeeded', True, [("tasks", "b-c")]),
    ("tasks.a.status == Succeeded", False, []),  # an argument value: literal text
    ("{{=tasks.x.outputs.result + 1}}", False, [("tasks", "x")]),
    ("exitHandlers.first.status == Failed", True, [("exitHandlers", "first")]),
    ("{{workflow.status}} == Failed && {{inputs.parameters.p}}", True, []),
    ("1 == == 2", True, []),  # syntax is the expression checker's business
    ("{{steps.name}}-{{tasks.name}}", False, []),  # the current step's/task's own name
    ("steps.name.status == Failed", True, [("steps", "name")]),  # a step named "name"
    ("{{steps.a.outputs.result}}-{{steps.b.exitCode}}", False, [("steps", "a"), ("steps", "b")]),
]


@pytest.mark.parametrize(("text", "bare", "expected"), REFERENCE_CASES)
def test_named_references(text: str, bare: bool, expected: list[tuple[str, str]]) -> None:
    assert sorted(named_references(text, bare=bare)) == sorted(expected)


def test_reference_paths_keep_the_whole_path() -> None:
    paths = reference_paths("{{tasks.a.outputs.parameters.p}} == x", bare=True)
    assert "tasks.a.outputs.parameters.p" in paths


# --------------------------------------------------------------------------- DAG edges

IMPLIED_CASES: list[tuple[str, DAGTask, frozenset[str], list[str]]] = [
    # (case, task, fields, implied dependencies among {a, b, c, self})
    ("when", task(name="self", when="tasks.a.status == Failed"), ALL_FIELDS, ["a"]),
    ("when-braces", task(name="self", when="{{tasks.b.outputs.result}} == 1"), ALL_FIELDS, ["b"]),
    ("argument", task(name="self", arguments=arg("{{tasks.c.outputs.result}}")), ALL_FIELDS, ["c"]),
    ("withParam", task(name="self", withParam="{{tasks.a.outputs.result}}"), ALL_FIELDS, ["a"]),
    (
        "withParam-rules1",
        task(name="self", withParam="{{tasks.a.outputs.result}}"),
        RULES1_FIELDS,
        [],
    ),
    (
        "withItems",
        task(name="self", withItems=["{{tasks.b.outputs.result}}", 3]),
        ALL_FIELDS,
        ["b"],
    ),
    (
        "withSequence",
        task(name="self", withSequence={"count": "{{tasks.c.outputs.result}}"}),
        ALL_FIELDS,
        ["c"],
    ),
    (
        "hook-expression",
        task(name="self", hooks={"h": {"template": "t", "expression": "tasks.a.status == Failed"}}),
        ALL_FIELDS,
        ["a"],
    ),
    (
        "hook-arguments",
        task(
            name="self", hooks={"exit": {"template": "t", "arguments": arg("{{tasks.b.status}}")}}
        ),
        ALL_FIELDS,
        ["b"],
    ),
    (
        "hook-rules1",
        task(
            name="self", hooks={"exit": {"template": "t", "arguments": arg("{{tasks.b.status}}")}}
        ),
        RULES1_FIELDS,
        [],
    ),
    (
        "own-name-excluded",
        task(
            name="self",
            hooks={"exit": {"template": "t", "arguments": arg("{{tasks.self.status}}")}},
        ),
        ALL_FIELDS,
        [],
    ),
    (
        "other-dag-ignored",
        task(name="self", when="tasks.elsewhere.status == Failed"),
        ALL_FIELDS,
        [],
    ),
    ("steps-ignored", task(name="self", when="steps.a.status == Failed"), ALL_FIELDS, []),
    (
        "field-order-when-first",
        task(name="self", when="tasks.c.status == tasks.a.status", arguments=arg("{{tasks.b.id}}")),
        ALL_FIELDS,
        ["a", "c", "b"],
    ),
]


@pytest.mark.parametrize(
    ("case", "t", "fields", "expected"), IMPLIED_CASES, ids=[c[0] for c in IMPLIED_CASES]
)
def test_implied_dependencies(
    case: str, t: DAGTask, fields: frozenset[str], expected: list[str]
) -> None:
    assert implied_dependencies(t, {"a", "b", "c", "self"}, fields) == expected


EXPLICIT_CASES: list[tuple[DAGTask, list[str]]] = [
    (task(name="x", depends="A && (B.Failed || !C.Succeeded)"), ["A", "B", "C"]),
    (task(name="x", dependencies=["B", "A"]), ["B", "A"]),
    (task(name="x", depends="  "), []),
    (task(name="x"), []),
    (task(name="x", dependencies=[f"t{i}" for i in range(3000)]), [f"t{i}" for i in range(3000)]),
]


@pytest.mark.parametrize(("t", "expected"), EXPLICIT_CASES)
def test_explicit_depends(t: DAGTask, expected: list[str]) -> None:
    expr = explicit_depends(t)
    assert (task_names(expr) if expr is not None else []) == expected


def test_a_long_depends_written_by_the_user_is_refused() -> None:
    with pytest.raises(ExpressionError, match="depends longer than"):
        explicit_depends(task(name="x", depends=" || ".join(["a"] * 3000)))


def test_dag_graph_leaves_and_ancestors() -> None:
    # Argo validate_dag_test `dagResolvedVarNotAncestor`: C reads B without naming it.
    g = dag_graph(
        dag(
            task(name="A"),
            task(name="B", dependencies=["A"], arguments=arg("{{tasks.A.outputs.result}}")),
            task(name="C", dependencies=["A"], arguments=arg("{{tasks.B.outputs.result}}")),
            task(name="D"),
        )
    )
    assert g.explicit["C"] == ("A",) and g.implied["C"] == ("B",)
    assert g.implied["B"] == ()  # already explicit
    assert g.deps["C"] == frozenset({"A", "B"})
    assert g.leaves() == ["C", "D"]
    assert g.ancestors(["C"]) == {"A", "B", "C"}
    assert find_cycle(g.order, g.deps) is None


CYCLE_CASES: list[tuple[str, dict[str, list[str]], list[str] | None]] = [
    # (case, edges: task -> what it depends on, expected cycle in execution order)
    ("none", {"a": [], "b": ["a"], "c": ["a", "b"]}, None),
    ("self", {"a": ["a"]}, ["a", "a"]),
    ("two", {"a": ["b"], "b": ["a"]}, ["a", "b", "a"]),
    # Argo validate_dag_test `dagCycle`: A depends C, B and C depend on A.
    ("argo-dagCycle", {"A": ["C"], "B": ["A"], "C": ["A"]}, ["A", "C", "A"]),
    ("unknown-names-ignored", {"a": ["zz"], "b": ["a", "yy"]}, None),
    ("diamond", {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}, None),
]


@pytest.mark.parametrize(
    ("case", "edges", "expected"), CYCLE_CASES, ids=[c[0] for c in CYCLE_CASES]
)
def test_find_cycle(case: str, edges: dict[str, list[str]], expected: list[str] | None) -> None:
    assert find_cycle(list(edges), edges) == expected


def test_find_cycle_on_a_10000_chain_does_not_recurse() -> None:
    n = 10_000
    edges = {f"t{i}": [f"t{i + 1}"] if i + 1 < n else [] for i in range(n)}
    assert find_cycle(list(edges), edges) is None
    edges[f"t{n - 1}"] = ["t0"]
    cycle = find_cycle(list(edges), edges)
    assert cycle is not None and len(cycle) == n + 1 and cycle[0] == cycle[-1]


def test_cycle_through_references() -> None:
    g = dag_graph(
        dag(
            task(name="a", arguments=arg("{{tasks.b.outputs.result}}")),
            task(name="b", arguments=arg("{{tasks.a.outputs.result}}")),
        )
    )
    assert find_cycle(g.order, g.deps) == ["a", "b", "a"]
    assert g.leaves() == []  # why the old reconciler ran nothing and said Succeeded


# --------------------------------------------------------------------------- evaluation

_PHASES: dict[str, str] = {}


def _info(name: str) -> NodeStatus:
    return NodeStatus(_PHASES[name])


BARE_CASES: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    ({}, ("Succeeded", "Skipped", "Daemoned")),
    ({"continueOn": {"failed": True}}, ("Succeeded", "Skipped", "Daemoned", "Failed")),
    ({"continueOn": {"error": True}}, ("Succeeded", "Skipped", "Daemoned", "Errored")),
    (
        {"continueOn": {"error": True, "failed": True}},
        ("Succeeded", "Skipped", "Daemoned", "Errored", "Failed"),
    ),
]


@pytest.mark.parametrize(("fields", "expected"), BARE_CASES)
def test_bare_results(fields: dict[str, Any], expected: tuple[str, ...]) -> None:
    assert bare_results(task(name="A", **fields)) == expected


EVAL_CASES: list[tuple[str, dict[str, str], bool, bool]] = [
    # (depends, phases, with A continueOn.failed: rules 2 result, rules 1 result)
    ("A", {"A": "Failed"}, True, False),
    ("A", {"A": "Succeeded"}, True, True),
    ("A", {"A": "Error"}, False, False),  # continueOn.failed does not cover Error
    ("A.Succeeded", {"A": "Failed"}, False, False),  # an explicit result is not expanded
    ("!A", {"A": "Failed"}, False, True),
    ("A && B", {"A": "Failed", "B": "Succeeded"}, True, False),
    ("B || A", {"A": "Failed", "B": "Failed"}, True, False),
]


@pytest.mark.parametrize(("depends", "phases", "rules2", "rules1"), EVAL_CASES)
def test_evaluation_depends(
    depends: str, phases: dict[str, str], rules2: bool, rules1: bool
) -> None:
    tasks = {
        "A": task(name="A", continueOn={"failed": True}),
        "B": task(name="B"),
        "x": task(name="x", depends=depends),
    }
    _PHASES.clear()
    _PHASES.update(phases)
    new = evaluation_depends(tasks["x"], tasks)
    old = evaluation_depends(tasks["x"], tasks, continue_on=False)
    assert new is not None and old is not None
    assert new.evaluate(_info) is rules2
    assert old.evaluate(_info) is rules1
    assert new.source == depends


def test_argo_evaluate_depends_logic() -> None:
    """Argo dag_test `TestEvaluateDependsLogic`, after B succeeded and C failed."""
    _PHASES.clear()
    _PHASES.update({"A": "Succeeded", "B": "Succeeded", "C": "Failed"})
    tasks = {
        "should-execute-1": task(name="should-execute-1", depends="A && (C.Succeeded || C.Failed)"),
        "should-execute-2": task(name="should-execute-2", depends="B || C"),
        "should-not-execute": task(name="should-not-execute", depends="B && C"),
    }
    got = {}
    for name, t in tasks.items():
        expr = evaluation_depends(t, tasks)
        assert expr is not None
        got[name] = expr.evaluate(_info)
    assert got == {"should-execute-1": True, "should-execute-2": True, "should-not-execute": False}


# --------------------------------------------------------------------------- steps

STEP_CASES: list[tuple[str, list[list[WorkflowStep]], list[tuple[int, int, str, int]]]] = [
    (
        "earlier-group-ok",
        [[step(name="a")], [step(name="b", when="{{steps.a.status}} == Succeeded")]],
        [],
    ),
    (
        "later-group",
        [[step(name="a", when="{{steps.b.status}} == Succeeded")], [step(name="b")]],
        [(0, 0, "b", 1)],
    ),
    (
        "same-group",
        [[step(name="a"), step(name="b", arguments=arg("{{steps.a.outputs.result}}"))]],
        [(0, 1, "a", 0)],
    ),
    ("itself", [[step(name="a", when="steps.a.status == Failed")]], [(0, 0, "a", 0)]),
    (
        "own-hook-ok",
        [
            [
                step(
                    name="a",
                    hooks={"exit": {"template": "t", "arguments": arg("{{steps.a.status}}")}},
                )
            ]
        ],
        [],
    ),
    ("other-template-ignored", [[step(name="a", when="steps.zz.status == Failed")]], []),
]


@pytest.mark.parametrize(("case", "groups", "expected"), STEP_CASES, ids=[c[0] for c in STEP_CASES])
def test_forward_step_references(
    case: str, groups: list[list[WorkflowStep]], expected: list[tuple[int, int, str, int]]
) -> None:
    assert list(forward_step_references(groups)) == expected


def test_references_itself() -> None:
    assert references_itself(task(name="a", when="tasks.a.status == Failed"), "tasks")
    assert not references_itself(
        task(name="a", hooks={"exit": {"template": "t", "arguments": arg("{{tasks.a.status}}")}}),
        "tasks",
    )


def test_blank_depends_is_none_under_rules_2_and_an_error_under_rules_1() -> None:
    blank = task(name="x", depends="  ")
    assert evaluation_depends(blank, {"x": blank}) is None
    with pytest.raises(ExpressionError, match="empty depends"):
        evaluation_depends(blank, {"x": blank}, continue_on=False)


# --------------------------------------------------------------------------- unknown references

_WF = (
    "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {{name: w}}\nspec:\n"
    "  entrypoint: main\n{extra}  templates:\n  - name: main\n    dag:\n      tasks:\n"
    "      - {{name: a, template: t{task}}}\n"
    "  - name: t\n    container: {{image: alpine}}\n"
)

UNKNOWN_CASES: list[tuple[str, str, str, list[str]]] = [
    # (case, spec extra, task extra, paths of the problems)
    ("none", "", "", []),
    (
        "handler-entrypoint",
        "  exitHandlers:\n  - {name: h, template: t, when: steps.main.status == Failed}\n",
        "",
        [],
    ),
    (
        "handler-unknown",
        "  exitHandlers:\n  - {name: h, template: t, when: tasks.b.status == Failed}\n",
        "",
        ["$.spec.exitHandlers[0].when"],
    ),
    (
        "handler-itself",
        "  exitHandlers:\n  - {name: h, template: t, when: exitHandlers.h.status == Failed}\n",
        "",
        ["$.spec.exitHandlers[0].when"],
    ),
    (
        "task-entrypoint-is-not-a-task",
        "",
        ", when: 'tasks.main.status == Failed'",
        ["$.spec.templates[0].dag.tasks[0].when"],
    ),
    (
        "task-hook",
        "",
        ", hooks: {h: {template: t, expression: 'steps.zz.status == Failed'}}",
        ["$.spec.templates[0].dag.tasks[0].hooks.h.expression"],
    ),
    (
        "task-withParam",
        "",
        ", withParam: '{{tasks.q.outputs.result}}'",
        ["$.spec.templates[0].dag.tasks[0].withParam"],
    ),
]


@pytest.mark.parametrize(
    ("case", "extra", "task_extra", "paths"), UNKNOWN_CASES, ids=[c[0] for c in UNKNOWN_CASES]
)
def test_unknown_references(case: str, extra: str, task_extra: str, paths: list[str]) -> None:
    wf = load_text(_WF.format(extra=extra, task=task_extra), source="w.yaml")
    assert [path for _, path in unknown_references(wf)] == paths
