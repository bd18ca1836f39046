"""WorkflowTemplates and ClusterWorkflowTemplates in the database; `templateRef` and
`workflowTemplateRef` resolved at submission into the run's first event (the real CLI, real
SQLite files, real processes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Result, by_name, exitflow, phases

LIBRARY = """\
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata:
  name: lib
spec:
  entrypoint: say
  arguments:
    parameters:
    - name: greeting
      value: from-the-template
  templates:
  - name: say
    inputs:
      parameters:
      - name: message
    script:
      image: alpine
      command: [sh]
      source: |
        echo "lib:{{inputs.parameters.message}}"
  - name: twice
    inputs:
      parameters:
      - name: message
    steps:
    - - name: first
        template: say
        arguments:
          parameters: [{name: message, value: "{{inputs.parameters.message}}-1"}]
    - - name: second
        templateRef: {name: other, template: shout}
        arguments:
          parameters: [{name: message, value: "{{inputs.parameters.message}}-2"}]
  - name: main
    steps:
    - - name: hello
        template: say
        arguments:
          parameters: [{name: message, value: "{{workflow.parameters.greeting}}"}]
---
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata:
  name: other
spec:
  templates:
  - name: say
    inputs:
      parameters:
      - name: message
    container:
      image: alpine
      command: [echo, "other-say:{{inputs.parameters.message}}"]
  - name: shout
    inputs:
      parameters:
      - name: message
    steps:
    - - name: inner
        template: say
        arguments:
          parameters: [{name: message, value: "{{inputs.parameters.message}}"}]
"""

CLUSTER = """\
apiVersion: argoproj.io/v1alpha1
kind: ClusterWorkflowTemplate
metadata:
  name: lib
spec:
  templates:
  - name: say
    inputs:
      parameters:
      - name: message
    container:
      image: alpine
      command: [echo, "cluster:{{inputs.parameters.message}}"]
"""

USES_REFS = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: uses-refs-
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - name: a
        templateRef: {name: lib, template: say}
        arguments:
          parameters: [{name: message, value: A}]
      - name: b
        depends: a
        templateRef: {name: lib, template: twice}
        arguments:
          parameters: [{name: message, value: B}]
      - name: c
        depends: a
        templateRef: {name: lib, template: say, clusterScope: true}
        arguments:
          parameters: [{name: message, value: C}]
        hooks:
          exit:
            templateRef: {name: other, template: say}
            arguments:
              parameters: [{name: message, value: bye}]
"""

USES_WORKFLOW_TEMPLATE = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: whole-
spec:
  entrypoint: main
  arguments:
    parameters:
    - name: greeting
      value: from-the-workflow
  workflowTemplateRef:
    name: lib
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _one_line(res: Result) -> str:
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    return lines[0]


def _logs(name: str, db: Path) -> list[str]:
    res = exitflow("logs", name, "--db", str(db))
    assert res.code == 0, res.stderr
    return sorted(line.split(": ", 1)[1] for line in res.stdout.splitlines())


def _store_library(tmp_path: Path, db: Path) -> None:
    res = exitflow(
        "template", "create", str(_write(tmp_path, "lib.yaml", LIBRARY)), "--db", str(db)
    )
    assert res.code == 0, res.stderr
    assert res.stdout.split() == [
        "workflowtemplate/lib",
        "created",
        "workflowtemplate/other",
        "created",
    ]
    res = exitflow("template", "create", str(_write(tmp_path, "c.yaml", CLUSTER)), "--db", str(db))
    assert res.code == 0, res.stderr


def test_create_list_get_delete(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    _store_library(tmp_path, db)
    listed = exitflow("template", "list", "--db", str(db), "-o", "json").json()
    assert [(t["kind"], t["name"]) for t in listed] == [
        ("WorkflowTemplate", "lib"),
        ("WorkflowTemplate", "other"),
        ("ClusterWorkflowTemplate", "lib"),
    ]
    got = exitflow("template", "get", "lib", "--cluster", "--db", str(db))
    assert got.code == 0 and got.stdout == CLUSTER
    # Creating again is refused (one line, exit 2) unless --replace.
    again = exitflow("template", "create", str(tmp_path / "c.yaml"), "--db", str(db))
    assert again.code == 2
    assert "already exists" in _one_line(again)
    assert (
        exitflow(
            "template", "create", str(tmp_path / "c.yaml"), "--replace", "--db", str(db)
        ).stdout.strip()
        == "clusterworkflowtemplate/lib replaced"
    )
    assert exitflow("template", "delete", "lib", "--cluster", "--db", str(db)).code == 0
    missing = exitflow("template", "get", "lib", "--cluster", "--db", str(db))
    assert missing.code == 2
    assert "no ClusterWorkflowTemplate named 'lib'" in _one_line(missing)
    assert exitflow("template", "get", "lib", "--db", str(db)).code == 0  # the namespaced one


def test_template_refs_resolved_and_run(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    _store_library(tmp_path, db)
    wf_file = _write(tmp_path, "wf.yaml", USES_REFS)
    assert exitflow("lint", str(wf_file), "--db", str(db)).code == 0
    res = exitflow("run", str(wf_file), "--db", str(db), "-o", "json")
    assert res.code == 0, res.stderr
    wf = res.json()
    got = phases(wf)
    for display in ("a", "b", "c", "first", "second", "inner", "c.onExit"):
        assert got[display] == "Succeeded", (display, got)
    nodes = by_name(wf)
    name = wf["metadata"]["name"]
    assert nodes[f"{name}.a"]["templateName"] == "lib/say"
    assert nodes[f"{name}.c"]["templateName"] == "lib/say@cluster"
    # `template: say` inside `lib` is lib's say; inside `other`, other's say.
    assert _logs(name, db) == [
        "cluster:C",
        "lib:A",
        "lib:B-1",
        "other-say:B-2",
        "other-say:bye",
    ]


def test_workflow_template_ref_merges_the_spec(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    _store_library(tmp_path, db)
    res = exitflow(
        "run",
        str(_write(tmp_path, "wf.yaml", USES_WORKFLOW_TEMPLATE)),
        "--db",
        str(db),
        "-o",
        "json",
    )
    assert res.code == 0, res.stderr
    name = res.json()["metadata"]["name"]
    # The workflow's own argument wins over the template's.
    assert _logs(name, db) == ["lib:from-the-workflow"]
    res = exitflow(
        "run", str(tmp_path / "wf.yaml"), "-p", "greeting=given", "--db", str(db), "-o", "json"
    )
    assert _logs(res.json()["metadata"]["name"], db) == ["lib:given"]


def _submitted(name: str, db: Path) -> dict[str, Any]:
    res = exitflow("history", name, "--db", str(db), "-o", "json", "--kind", "WorkflowSubmitted")
    assert res.code == 0, res.stderr
    event: dict[str, Any] = res.json()[0]["event"]
    return event


def test_the_first_event_holds_the_resolved_spec(tmp_path: Path) -> None:
    """Replay and verify never depend on later edits of a template."""
    db = tmp_path / "x.db"
    _store_library(tmp_path, db)
    res = exitflow(
        "run", str(_write(tmp_path, "wf.yaml", USES_REFS)), "--db", str(db), "-o", "json"
    )
    name = res.json()["metadata"]["name"]
    spec = _submitted(name, db)["spec_yaml"]
    assert "templateRef" not in spec
    assert spec.startswith("# resolved by exitflow from WorkflowTemplate lib\n")
    assert "name: lib/say" in spec and "name: other/shout" in spec
    before = exitflow("get", name, "--db", str(db), "-o", "json").json()
    # Edit one template, delete another: the recorded run still replays and verifies.
    edited = LIBRARY.replace('echo "lib:', 'echo "edited:').split("---")[0]
    assert (
        exitflow(
            "template",
            "create",
            str(_write(tmp_path, "e.yaml", edited)),
            "--replace",
            "--db",
            str(db),
        ).code
        == 0
    )
    assert exitflow("template", "delete", "lib", "--cluster", "--db", str(db)).code == 0
    verify = exitflow("verify", "--db", str(db))
    assert verify.code == 0, verify.stdout + verify.stderr
    assert exitflow("get", name, "--db", str(db), "-o", "json").json() == before
    replay = exitflow("replay", name, "--at", "5", "--db", str(db), "-o", "json")
    assert replay.code == 0, replay.stderr
    # A new submission sees the edit.
    res = exitflow(
        "run",
        str(_write(tmp_path, "w2.yaml", USES_WORKFLOW_TEMPLATE)),
        "--db",
        str(db),
        "-o",
        "json",
    )
    assert res.code == 0, res.stderr
    assert _logs(res.json()["metadata"]["name"], db) == ["edited:from-the-workflow"]


BAD_REFS = {
    "unknown-template-object": (
        "templateRef: {name: nope, template: say}",
        "unknown WorkflowTemplate 'nope'",
    ),
    "unknown-cluster-object": (
        "templateRef: {name: other, template: say, clusterScope: true}",
        "unknown ClusterWorkflowTemplate 'other'",
    ),
    "unknown-template-in-object": (
        "templateRef: {name: lib, template: nope}",
        "WorkflowTemplate 'lib' has no template 'nope'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_REFS))
def test_unknown_reference_is_one_line_exit_2_nothing_recorded(tmp_path: Path, case: str) -> None:
    ref, message = BAD_REFS[case]
    db = tmp_path / "x.db"
    _store_library(tmp_path, db)
    text = USES_REFS.replace("templateRef: {name: lib, template: say}\n", ref + "\n", 1)
    wf_file = _write(tmp_path, "wf.yaml", text)
    for args in (["lint", str(wf_file)], ["submit", str(wf_file)], ["run", str(wf_file)]):
        res = exitflow(*args, "--db", str(db))
        assert res.code == 2, (args, res.stderr)
        line = _one_line(res)
        assert message in line and "wf.yaml:12 at $.spec.templates[0].dag.tasks[0]" in line, line
    assert exitflow("list", "--db", str(db), "-o", "json").json() == []


def test_unknown_workflow_template_ref_without_a_database(tmp_path: Path) -> None:
    wf_file = _write(tmp_path, "wf.yaml", USES_WORKFLOW_TEMPLATE)
    res = exitflow("lint", str(wf_file), "--db", str(tmp_path / "none.db"))
    assert res.code == 2
    assert "unknown WorkflowTemplate 'lib'" in _one_line(res)
    assert not (tmp_path / "none.db").exists()


BAD_TEMPLATES = {
    "a-workflow": (USES_REFS, "kind must be 'WorkflowTemplate' or 'ClusterWorkflowTemplate'"),
    "no-name": (CLUSTER.replace("  name: lib\n", "  labels: {}\n"), "needs metadata.name"),
    "unknown-inner-template": (
        CLUSTER.replace(
            "  - name: say\n",
            "  - name: main\n    steps: [[{name: x, template: y}]]\n  - name: say\n",
        ),
        "unknown template 'y'",
    ),
    "bad-field": (CLUSTER.replace("      image: alpine", "      imagee: alpine"), "imagee"),
}


@pytest.mark.parametrize("case", sorted(BAD_TEMPLATES))
def test_bad_template_is_refused(tmp_path: Path, case: str) -> None:
    text, message = BAD_TEMPLATES[case]
    db = tmp_path / "x.db"
    path = _write(tmp_path, "t.yaml", text)
    commands = [["template", "create", str(path)]]
    if case != "a-workflow":
        commands.append(["lint", str(path)])
    for args in commands:
        res = exitflow(*args, "--db", str(db))
        assert res.code == 2, (args, res.stdout, res.stderr)
        assert message in _one_line(res)
    assert exitflow("template", "list", "--db", str(db), "-o", "json").json() == []


def test_lint_a_template_file(tmp_path: Path) -> None:
    res = exitflow("lint", str(_write(tmp_path, "lib.yaml", LIBRARY)))
    assert res.code == 0, res.stderr
    assert res.stdout.strip().endswith("ok (WorkflowTemplate)")
