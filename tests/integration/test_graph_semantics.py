"""What a task or step depends on, end to end: lint (one line, exit 2) and real runs.

Dependencies come from one module (`engine/spec/graph.py`) for both `lint` and `run`. Runs use
the real CLI in a subprocess (local and simulate executors) or the real controller and SQLite
store in-process; the decisions that changed with rules 2 are also run under rules 1, which
old logs keep (they must still re-derive byte for byte).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from engine.api import prepare
from engine.controller.controller import Controller
from engine.controller.pool import ExecutorPool
from engine.events import ERROR, FAILED, OMITTED, SKIPPED, SUCCEEDED
from engine.state.view import WorkflowView
from engine.store import SqliteStore
from tests.helpers import exitflow, phases

HEAD = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  generateName: graph-\n"
ECHO = (
    "  - name: echo\n    inputs: {parameters: [{name: m, default: x}]}\n"
    '    container: {image: alpine, command: [echo, "{{inputs.parameters.m}}"]}\n'
)
FAIL = '  - name: fail\n    container: {image: alpine, command: [sh, -c, "exit 1"]}\n'

#: The brief's own exit handler: `main` is the entrypoint DAG, `run-task` one of its tasks.
BRIEF = (
    HEAD + "spec:\n  entrypoint: main\n  exitHandlers:\n  - name: notify\n    template: echo\n"
    "    when: steps.main.status == Failed || tasks.run-task.status == Failed\n"
    "  templates:\n  - name: main\n    dag:\n      tasks:\n"
    "      - name: run-task\n        template: fail\n" + FAIL + ECHO
)


def write(tmp_path: Path, text: str, name: str = "wf.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def lint_error(tmp_path: Path, text: str) -> str:
    """`exitflow lint` of `text`: exit 2 and exactly one line on stderr, returned."""
    path = write(tmp_path, text)
    r = exitflow("lint", str(path))
    assert r.code == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def run_json(tmp_path: Path, text: str, *args: str) -> tuple[int, dict[str, Any]]:
    path = write(tmp_path, text)
    r = exitflow("run", str(path), "--db", str(tmp_path / "wf.db"), "-o", "json", *args)
    assert r.code in (0, 1, 3), r.stderr
    return r.code, json.loads(r.stdout)


def run_inprocess(
    tmp_path: Path, text: str, *, rules: int, fail: dict[str, int] | None = None
) -> WorkflowView:
    """Run `text` to completion with the simulate executor, recorded under `rules`."""

    async def go() -> WorkflowView:
        pool = ExecutorPool("simulate", {"simulate": {"fail": fail or {}}})
        store = await SqliteStore.open(tmp_path / f"rules{rules}.db")
        try:
            await store.acquire_controller()
            _, submitted = prepare(text, source="test.yaml")
            submitted = msgspec.structs.replace(submitted, rules=rules)
            await store.create_workflow(submitted)
            return await Controller(store, pool).run_workflow(submitted.uid)
        finally:
            await pool.aclose()
            await store.aclose()

    return asyncio.run(go())


def node_phases(view: WorkflowView) -> dict[str, str]:
    return {n.display_name: n.phase for n in view.nodes.values()}


# ---------------------------------------------------------------- the brief's exit handler


def test_brief_exit_handler_condition_lints_ok(tmp_path: Path) -> None:
    r = exitflow("lint", str(write(tmp_path, BRIEF)))
    assert r.code == 0, r.stderr


@pytest.mark.parametrize("executor", ["local", "simulate"])
def test_brief_exit_handler_runs_when_entrypoint_dag_failed(tmp_path: Path, executor: str) -> None:
    code, wf = run_json(tmp_path, BRIEF, "--executor", executor, "--simulate-fail", "run-task")
    got = phases(wf)
    assert got["run-task"] == FAILED
    assert got["notify"] == SUCCEEDED, wf["status"]
    assert wf["status"]["phase"] == FAILED
    assert code == 1


def test_entrypoint_name_in_exit_handler_only_under_rules_2(tmp_path: Path) -> None:
    new = run_inprocess(tmp_path, BRIEF, rules=2, fail={"run-task": 1})
    assert new.phase == FAILED
    assert node_phases(new)["notify"] == SUCCEEDED
    old = run_inprocess(tmp_path, BRIEF, rules=1, fail={"run-task": 1})
    assert node_phases(old)["notify"] == ERROR  # what rules-1 logs recorded
    assert old.phase == ERROR


def test_entrypoint_steps_name_means_entry_node(tmp_path: Path) -> None:
    text = (
        HEAD + "spec:\n  entrypoint: main\n  exitHandlers:\n"
        "  - {name: on-ok, template: echo, when: '{{steps.main.status}} == Succeeded'}\n"
        "  - {name: on-bad, template: echo, when: steps.main.status != Succeeded}\n"
        "  templates:\n  - name: main\n    steps:\n    - - {name: a, template: echo}\n" + ECHO
    )
    view = run_inprocess(tmp_path, text, rules=2)
    got = node_phases(view)
    assert (got["on-ok"], got["on-bad"], view.phase) == (SUCCEEDED, SKIPPED, SUCCEEDED)


# ---------------------------------------------------------------- cycles and references


def _dag(tasks: str, extra: str = "", templates: str = "") -> str:
    return (
        HEAD
        + f"spec:\n  entrypoint: main\n{extra}  templates:\n  - name: main\n    dag:\n"
        + "      tasks:\n"
        + tasks
        + ECHO
        + templates
    )


MUTUAL = _dag(
    "      - name: a\n        template: echo\n"
    "        arguments: {parameters: [{name: m, value: '{{tasks.b.outputs.result}}'}]}\n"
    "      - name: b\n        template: echo\n"
    "        arguments: {parameters: [{name: m, value: '{{tasks.a.outputs.result}}'}]}\n"
)


def test_tasks_reading_each_other_are_a_cycle_for_lint_and_run(tmp_path: Path) -> None:
    line = lint_error(tmp_path, MUTUAL)
    assert "wf.yaml:" in line and "$.spec.templates[0].dag.tasks[0]" in line
    assert "a -> b -> a" in line
    db = tmp_path / "wf.db"
    r = exitflow("run", str(write(tmp_path, MUTUAL)), "--db", str(db), "--executor", "simulate")
    assert r.code == 2 and "a -> b -> a" in r.stderr  # never "Succeeded having run nothing"
    listed = exitflow("list", "--db", str(db))
    assert "graph-" not in listed.stdout


LINT_CASES: dict[str, tuple[str, list[str]]] = {
    # name: (workflow, fragments of the one line)
    "written-cycle": (
        _dag(
            "      - {name: A, template: echo, dependencies: [C]}\n"
            "      - {name: B, template: echo, dependencies: [A]}\n"
            "      - {name: C, template: echo, dependencies: [A]}\n"
        ),
        ["A -> C -> A", "$.spec.templates[0].dag.tasks["],
    ),
    "cycle-through-when": (
        _dag(
            "      - {name: a, template: echo, depends: b}\n"
            "      - {name: b, template: echo, when: '{{tasks.a.status}} == Succeeded'}\n"
        ),
        ["a -> b -> a", "b reads tasks.a"],
    ),
    "cycle-through-hook": (
        _dag(
            "      - name: a\n        template: echo\n        depends: b\n"
            "      - name: b\n        template: echo\n        hooks:\n          exit:\n"
            "            template: echo\n"
            "            arguments: {parameters: [{name: m, value: '{{tasks.a.status}}'}]}\n"
        ),
        ["a -> b -> a"],
    ),
    "cycle-through-withParam": (
        _dag(
            "      - {name: a, template: echo, depends: b}\n"
            "      - {name: b, template: echo, withParam: '{{tasks.a.outputs.result}}'}\n"
        ),
        ["a -> b -> a"],
    ),
    "task-reads-itself": (
        _dag("      - {name: a, template: echo, when: 'tasks.a.status == Succeeded'}\n"),
        ["a -> a", "$.spec.templates[0].dag.tasks[0]"],
    ),
    "long-chain-cycle": (
        _dag(
            "".join(
                f"      - {{name: t{i}, template: echo, depends: t{(i + 1) % 1500}}}\n"
                for i in range(1500)
            )
        ),
        ["dependency cycle", "t0 -> t1499"],
    ),
    "exit-handler-unknown-task": (
        _dag(
            "      - {name: a, template: echo}\n",
            "  exitHandlers:\n  - {name: h, template: echo, when: tasks.nope.status == Failed}\n",
        ),
        ["$.spec.exitHandlers[0].when", "tasks.nope", "exit handler 'h'"],
    ),
    "exit-handler-unknown-step-in-arguments": (
        _dag(
            "      - {name: a, template: echo}\n",
            "  exitHandlers:\n  - name: h\n    template: echo\n"
            "    arguments: {parameters: [{name: m, value: '{{steps.gone.status}}'}]}\n",
        ),
        ["$.spec.exitHandlers[0].arguments.parameters[0].value", "steps.gone"],
    ),
    "exit-handler-reads-later-handler": (
        _dag(
            "      - {name: a, template: echo}\n",
            "  exitHandlers:\n"
            "  - {name: first, template: echo, when: exitHandlers.second.status == Failed}\n"
            "  - {name: second, template: echo}\n",
        ),
        ["exitHandlers.second", "does not run before it"],
    ),
    "exit-handler-unknown-handler": (
        _dag(
            "      - {name: a, template: echo}\n",
            "  exitHandlers:\n"
            "  - {name: first, template: echo, when: exitHandlers.frist.status == Failed}\n",
        ),
        ["exitHandlers.frist", "no exit handler"],
    ),
    "task-hook-unknown-task": (
        _dag(
            "      - name: a\n        template: echo\n        hooks:\n          done:\n"
            "            template: echo\n            expression: tasks.ghost.status == Failed\n"
        ),
        ["$.spec.templates[0].dag.tasks[0].hooks.done.expression", "tasks.ghost"],
    ),
    "workflow-hook-unknown-step": (
        _dag(
            "      - {name: a, template: echo}\n",
            "  hooks:\n    failed:\n      template: echo\n"
            "      expression: steps.nada.status == Failed\n",
        ),
        ["$.spec.hooks.failed.expression", "steps.nada"],
    ),
    "step-reads-later-group": (
        HEAD + "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps:\n"
        "    - - {name: a, template: echo, when: '{{steps.b.status}} == Succeeded'}\n"
        "    - - {name: b, template: echo}\n" + ECHO,
        ["$.spec.templates[0].steps[0][0]", "steps.b", "group [1]"],
    ),
    "step-reads-same-group": (
        HEAD + "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps:\n"
        "    - - {name: a, template: echo}\n"
        "      - name: b\n        template: echo\n"
        "        arguments: {parameters: [{name: m, value: '{{steps.a.outputs.result}}'}]}\n"
        + ECHO,
        ["$.spec.templates[0].steps[0][1]", "steps.a"],
    ),
    "task-when-unknown-task": (
        _dag("      - {name: a, template: echo, when: 'tasks.ghost.status == Failed'}\n"),
        ["$.spec.templates[0].dag.tasks[0].when", "tasks.ghost"],
    ),
    "step-argument-unknown-step": (
        HEAD + "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps:\n"
        "    - - name: a\n        template: echo\n"
        "        arguments: {parameters: [{name: m, value: '{{steps.nowhere.outputs.result}}'}]}\n"
        + ECHO,
        ["$.spec.templates[0].steps[0][0].arguments.parameters[0].value", "steps.nowhere"],
    ),
    "user-depends-too-long": (
        _dag(
            "      - {name: a, template: echo}\n"
            "      - {name: b, template: echo, depends: '" + " || ".join(["a"] * 2600) + "'}\n"
        ),
        ["$.spec.templates[0].dag.tasks[1].depends", "depends longer than"],
    ),
}


@pytest.mark.parametrize("case", sorted(LINT_CASES))
def test_lint_rejects(tmp_path: Path, case: str) -> None:
    text, fragments = LINT_CASES[case]
    line = lint_error(tmp_path, text)
    for fragment in fragments:
        assert fragment in line, line


OK_CASES: dict[str, str] = {
    # Argo validate_dag_test `dagStatusReference`: B reads A's status and depends on it.
    "status-of-dependency": _dag(
        "      - {name: A, template: echo, continueOn: {failed: true}}\n"
        "      - name: B\n        template: echo\n        dependencies: [A]\n"
        "        arguments: {parameters: [{name: m, value: '{{tasks.A.status}}'}]}\n"
    ),
    # [ours] a reference alone makes the edge (Argo: "missing dependency").
    "reference-implies-dependency": _dag(
        "      - {name: A, template: echo}\n"
        "      - name: C\n        template: echo\n"
        "        arguments: {parameters: [{name: m, value: '{{tasks.B.outputs.result}}'}]}\n"
        "      - {name: B, template: echo, dependencies: [A]}\n"
    ),
    "own-name-variable": HEAD
    + "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps:\n"
    "    - - name: a\n        template: echo\n"
    "        arguments: {parameters: [{name: m, value: '{{steps.name}}'}]}\n" + ECHO,
    "hook-reads-own-task": _dag(
        "      - name: a\n        template: echo\n        hooks:\n          exit:\n"
        "            template: echo\n"
        "            arguments: {parameters: [{name: m, value: '{{tasks.a.status}}'}]}\n"
    ),
    "step-reads-earlier-group": HEAD
    + "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps:\n"
    "    - - {name: a, template: echo}\n"
    "    - - {name: b, template: echo, when: '{{steps.a.status}} == Succeeded'}\n" + ECHO,
    "exit-handler-reads-earlier-handler-and-entrypoint": _dag(
        "      - {name: a, template: echo}\n",
        "  exitHandlers:\n  - {name: first, template: echo, when: tasks.main.status == Failed}\n"
        "  - {name: second, template: echo, when: exitHandlers.first.status == Skipped}\n",
    ),
}


@pytest.mark.parametrize("case", sorted(OK_CASES))
def test_lint_accepts(tmp_path: Path, case: str) -> None:
    r = exitflow("lint", str(write(tmp_path, OK_CASES[case])))
    assert r.code == 0, r.stderr


def test_reference_orders_tasks_at_run_time(tmp_path: Path) -> None:
    """C reads B's output: it waits for B although it names no dependency."""
    code, wf = run_json(tmp_path, OK_CASES["reference-implies-dependency"], "--executor", "local")
    assert code == 0, wf["status"]
    nodes = {n["displayName"]: n for n in wf["status"]["nodes"].values()}
    assert nodes["C"]["startedAt"] >= nodes["B"]["finishedAt"]
    assert nodes["C"]["inputs"]["parameters"][0]["value"] == "x"


# ---------------------------------------------------------------- fan-in


def test_fan_in_of_2000_dependencies(tmp_path: Path) -> None:
    n = 2000
    tasks = "".join(f"      - {{name: t{i}, template: echo}}\n" for i in range(n))
    join = ", ".join(f"t{i}" for i in range(n))
    text = _dag(tasks + f"      - {{name: join, template: echo, dependencies: [{join}]}}\n")
    assert exitflow("lint", str(write(tmp_path, text))).code == 0
    code, wf = run_json(tmp_path, text, "--executor", "simulate")
    got = phases(wf)
    assert code == 0 and got["join"] == SUCCEEDED
    assert sum(1 for p in got.values() if p == SUCCEEDED) == n + 2


def test_unknown_entry_in_a_long_dependencies_list_names_the_entry(tmp_path: Path) -> None:
    deps = ", ".join(f"t{i}" for i in range(3000))
    text = _dag(
        "      - {name: t0, template: echo}\n"
        f"      - {{name: j, template: echo, dependencies: [{deps}]}}\n"
    )
    line = lint_error(tmp_path, text)
    assert "$.spec.templates[0].dag.tasks[1].dependencies[1]" in line and "'t1'" in line


# ---------------------------------------------------------------- continueOn and bare deps

CONTINUE = _dag(
    "      - {name: A, template: fail, continueOn: {failed: true}}\n"
    "      - {name: B, template: echo, depends: A}\n"
    "      - {name: C, template: echo, dependencies: [A]}\n",
    templates=FAIL,
)


def test_bare_dependency_on_continue_on_task_accepts_failure(tmp_path: Path) -> None:
    view = run_inprocess(tmp_path, CONTINUE, rules=2, fail={"A": 1})
    got = node_phases(view)
    assert (got["A"], got["B"], got["C"]) == (FAILED, SUCCEEDED, SUCCEEDED)
    assert view.phase == SUCCEEDED  # continueOn: A's failure does not fail the DAG
    old = node_phases(run_inprocess(tmp_path, CONTINUE, rules=1, fail={"A": 1}))
    assert (old["B"], old["C"]) == (OMITTED, OMITTED)


def test_bare_dependency_on_continue_on_error(tmp_path: Path) -> None:
    """A errors (its argument cannot resolve); with continueOn.error, `depends: A` runs B."""
    text = _dag(
        "      - {name: A, template: echo, continueOn: {error: true},"
        " arguments: {parameters: [{name: m, value: '{{workflow.parameters.nope}}'}]}}\n"
        "      - {name: B, template: echo, depends: A}\n"
        "      - {name: C, template: echo, depends: A.Errored}\n"
        "      - {name: D, template: echo, dependencies: [A]}\n"
    )
    got = node_phases(run_inprocess(tmp_path, text, rules=2))
    assert (got["A"], got["B"], got["C"], got["D"]) == (ERROR, SUCCEEDED, SUCCEEDED, SUCCEEDED)
    old = node_phases(run_inprocess(tmp_path, text, rules=1))
    assert (old["B"], old["C"], old["D"]) == (OMITTED, SUCCEEDED, OMITTED)


# ---------------------------------------------------------------- workflow.failures


FAILURES = (
    HEAD + "spec:\n  entrypoint: main\n  exitHandlers:\n  - name: report\n    template: echo\n"
    "    arguments: {parameters: [{name: m, value: '{{workflow.failures}}'}]}\n"
    "  templates:\n  - name: main\n    steps:\n"
    "    - - name: a\n        template: echo\n        hooks:\n          exit: {template: fail}\n"
    + ECHO
    + FAIL
)


def test_workflow_failures_list_failed_step_exit_hooks(tmp_path: Path) -> None:
    view = run_inprocess(tmp_path, FAILURES, rules=2, fail={"a.onExit": 1})
    report = next(n for n in view.nodes.values() if n.display_name == "report")
    failures = json.loads(report.inputs["m"])
    assert [f["displayName"] for f in failures] == ["a.onExit"]
    assert failures[0]["phase"] == FAILED
    assert view.phase == SUCCEEDED  # a step's exit hook never changes the step's phase
    old = run_inprocess(tmp_path, FAILURES, rules=1, fail={"a.onExit": 1})
    report = next(n for n in old.nodes.values() if n.display_name == "report")
    assert report.inputs["m"] == "null"


def test_workflow_failures_leave_out_workflow_level_handlers(tmp_path: Path) -> None:
    text = (
        HEAD + "spec:\n  entrypoint: main\n  exitHandlers:\n  - {name: broken, template: fail}\n"
        "  - name: report\n    template: echo\n"
        "    arguments: {parameters: [{name: m, value: '{{workflow.failures}}'}]}\n"
        "  templates:\n  - name: main\n    steps:\n    - - {name: a, template: fail}\n"
        + ECHO
        + FAIL
    )
    view = run_inprocess(tmp_path, text, rules=2, fail={"a": 1, "broken": 1})
    report = next(n for n in view.nodes.values() if n.display_name == "report")
    names = [f["displayName"] for f in json.loads(report.inputs["m"])]
    assert "broken" not in names and "a" in names


# ---------------------------------------------------------------- a `when` that cannot evaluate

BAD_WHEN = (
    HEAD + "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps:\n"
    "    - - {name: a, template: echo, when: '1 + 1', continueOn: {error: true, failed: true}}\n"
    "    - - {name: b, template: echo}\n" + ECHO
)


def test_unevaluable_when_errors_the_step_group(tmp_path: Path) -> None:
    view = run_inprocess(tmp_path, BAD_WHEN, rules=2)
    got = node_phases(view)
    assert got["[0]"] == ERROR
    assert "a" not in got and "b" not in got  # nothing in the group, no later group
    assert view.nodes[next(iter(view.nodes))].phase == FAILED
    assert view.phase == FAILED
    old = node_phases(run_inprocess(tmp_path, BAD_WHEN, rules=1))
    assert (old["a"], old["b"]) == (ERROR, SUCCEEDED)  # rules 1: continueOn covered it


def test_unevaluable_when_cli(tmp_path: Path) -> None:
    code, wf = run_json(tmp_path, BAD_WHEN, "--executor", "local")
    got = phases(wf)
    assert code == 1 and wf["status"]["phase"] == FAILED
    assert got["[0]"] == ERROR and "b" not in got


# ---------------------------------------------------------------- rules-1 logs keep re-deriving

#: Runs of the workflows above recorded by the engine before this change (rules 1), exported
#: with `exitflow export`: each must import (which re-derives) and verify byte for byte.
HISTORIES = Path(__file__).parent / "histories"
RULES1_PHASES = {
    "brief": ERROR,  # the handler's `steps.main` did not resolve under rules 1
    "continue-on": FAILED,  # B and C Omitted: a bare dependency ignored continueOn
    "failures": SUCCEEDED,
    "bad-when": SUCCEEDED,  # continueOn covered the unevaluable `when`
    "mutual": SUCCEEDED,  # a cycle through arguments: nothing ran (now a lint error)
}


@pytest.mark.parametrize("name", sorted(RULES1_PHASES))
def test_rules_1_history_still_rederives(tmp_path: Path, name: str) -> None:
    bundle = HISTORIES / f"rules1-{name}.bundle"
    db = str(tmp_path / "imported.db")
    imported = exitflow("import", str(bundle), "--db", db)
    assert imported.code == 0, imported.stderr
    verified = exitflow("verify", f"rules1-{name}", "--db", db)
    assert verified.code == 0, verified.stdout + verified.stderr
    assert "rederive" in verified.stdout
    got = exitflow("get", f"rules1-{name}", "--db", db, "-o", "json")
    assert json.loads(got.stdout)["status"]["phase"] == RULES1_PHASES[name]
