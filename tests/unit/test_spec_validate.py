"""validate(): references, names, DAG dependencies, hooks, inputs, parameters, expression hook."""

from __future__ import annotations

import textwrap

import pytest

from engine.errors import ExpressionError, ParameterError, SpecError
from engine.spec import load_text, validate

HEADER = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  generateName: t-\n"

ECHO = """\
  - name: echo
    inputs:
      parameters:
      - name: msg
    container: {image: alpine, command: [echo, "{{inputs.parameters.msg}}"]}
  - name: noop
    container: {image: alpine}
"""


def wf(body: str, templates: str = ECHO) -> str:
    return HEADER + textwrap.dedent(body) + templates


def line_of(text: str, needle: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


def invalid(text: str, **kw: object) -> SpecError:
    w = load_text(text, source="wf.yaml")
    with pytest.raises(SpecError) as ei:
        validate(w, **kw)  # type: ignore[arg-type]
    err = ei.value
    assert "\n" not in str(err)
    assert err.source == "wf.yaml"
    return err


GOOD = wf(
    """\
    spec:
      entrypoint: main
      arguments:
        parameters: [{name: who, value: world}]
      onExit: noop
      hooks:
        running: {expression: 'workflow.status == "Running"', template: noop}
      exitHandlers:
      - {name: notify, when: "{{workflow.status}} == Failed", template: noop}
      - {name: report, template: echo, arguments: {parameters: [{name: msg, value: hi}]}}
      templates:
      - name: main
        steps:
        - - name: s1
            template: echo
            arguments: {parameters: [{name: msg, value: "{{workflow.parameters.who}}"}]}
            hooks:
              exit: {template: noop}
              ok: {expression: 'steps["s1"].status == "Succeeded"', template: noop}
        - - name: s2
            template: d
      - name: d
        dag:
          tasks:
          - {name: A, template: noop}
          - {name: B, template: noop, depends: "A.Succeeded || A.Failed"}
          - {name: C, template: noop, dependencies: [A, B], onExit: noop}
          - {name: D, template: noop, when: "{{tasks.C.status}} == Succeeded"}
          - name: E
            inline:
              retryStrategy: {limit: 2, expression: "lastRetry.exitCode == 1"}
              container: {image: alpine, args: ["{{=sprig.upper('x')}}"]}
            depends: "!(B.Failed) && (C || D.Skipped)"
    """
)


def test_good_workflow_validates() -> None:
    validate(load_text(GOOD))
    validate(load_text(GOOD), parameters={"who": "you"})


def test_check_expression_called_for_every_expression() -> None:
    seen: list[tuple[str, str]] = []
    validate(load_text(GOOD), check_expression=lambda text, path: seen.append((text, path)))
    paths = dict((p, t) for t, p in seen)
    assert paths["$.spec.hooks.running.expression"] == 'workflow.status == "Running"'
    assert paths["$.spec.exitHandlers[0].when"] == "{{workflow.status}} == Failed"
    assert "$.spec.templates[0].steps[0][0].hooks.ok.expression" in paths
    assert paths["$.spec.templates[1].dag.tasks[3].when"] == "{{tasks.C.status}} == Succeeded"
    assert (
        paths["$.spec.templates[1].dag.tasks[4].inline.retryStrategy.expression"]
        == "lastRetry.exitCode == 1"
    )
    assert paths["$.spec.templates[1].dag.tasks[4].inline.container.args[0]"] == (
        "{{=sprig.upper('x')}}"
    )
    assert len(seen) == 6


def test_check_expression_error_gets_line_and_source() -> None:
    def check(text: str, path: str) -> None:
        if "exitCode" in text:
            raise ExpressionError("bad expression", path=path)

    err = invalid(GOOD, check_expression=check)
    assert isinstance(err, ExpressionError)
    assert err.path == "$.spec.templates[1].dag.tasks[4].inline.retryStrategy.expression"
    assert err.line == line_of(GOOD, "lastRetry.exitCode")
    assert str(err).startswith(f"wf.yaml:{err.line} at $.spec.templates[1]")


def test_missing_entrypoint() -> None:
    err = invalid(wf("spec:\n  templates:\n"))
    assert err.path == "$.spec" and "entrypoint is required" in err.message


def test_unknown_entrypoint() -> None:
    text = wf("spec:\n  entrypoint: mian\n  templates:\n  - name: main\n    steps: []\n")
    err = invalid(text)
    assert err.path == "$.spec.entrypoint" and err.line == line_of(text, "entrypoint: mian")
    assert str(err) == (
        f"wf.yaml:{err.line} at $.spec.entrypoint: unknown template 'mian' (did you mean 'main'?)"
    )


@pytest.mark.parametrize(
    ("body", "path", "needle"),
    [
        (
            "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps:\n"
            "    - - {name: a, template: nope}\n",
            "$.spec.templates[0].steps[0][0].template",
            "template: nope",
        ),
        (
            "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    dag:\n      tasks:\n"
            "      - {name: a, template: noop}\n      - {name: b, template: nope}\n",
            "$.spec.templates[0].dag.tasks[1].template",
            "name: b, template: nope",
        ),
        (
            "spec:\n  entrypoint: noop\n  onExit: nope\n  templates:\n",
            "$.spec.onExit",
            "onExit: nope",
        ),
        (
            "spec:\n  entrypoint: noop\n  hooks:\n    exit:\n      template: nope\n  templates:\n",
            "$.spec.hooks.exit.template",
            "template: nope",
        ),
        (
            "spec:\n  entrypoint: noop\n  exitHandlers:\n  - name: x\n    template: nope\n"
            "  templates:\n",
            "$.spec.exitHandlers[0].template",
            "template: nope",
        ),
        (
            "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps:\n"
            "    - - name: a\n        template: noop\n        onExit: nope\n",
            "$.spec.templates[0].steps[0][0].onExit",
            "onExit: nope",
        ),
        (
            "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    dag:\n      tasks:\n"
            "      - name: a\n        template: noop\n        hooks:\n          exit:\n"
            "            template: nope\n",
            "$.spec.templates[0].dag.tasks[0].hooks.exit.template",
            "template: nope",
        ),
    ],
)
def test_unknown_template_reference(body: str, path: str, needle: str) -> None:
    text = wf(body)
    err = invalid(text)
    assert "unknown template 'nope'" in err.message
    assert err.path == path
    assert err.line == line_of(text, needle)


def test_duplicate_template_names() -> None:
    text = wf("spec:\n  entrypoint: noop\n  templates:\n  - name: echo\n    steps: []\n")
    err = invalid(text)
    assert err.path == "$.spec.templates[1].name"
    assert "duplicate template name 'echo'" in err.message


def test_template_without_name_or_kind() -> None:
    err = invalid(wf("spec:\n  entrypoint: noop\n  templates:\n  - container: {image: a}\n"))
    assert err.path == "$.spec.templates[0]" and "template has no name" in err.message
    err = invalid(wf("spec:\n  entrypoint: noop\n  templates:\n  - name: x\n"))
    assert "template 'x' has no type" in err.message
    text = wf("spec:\n  entrypoint: noop\n  templates:\n  - name: x\n    steps: []\n    dag: {}\n")
    err = invalid(text)
    assert "several types (steps, dag)" in err.message
    assert err.line == line_of(text, "- name: x")


def test_duplicate_step_names_across_groups() -> None:
    text = wf(
        "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps:\n"
        "    - - {name: a, template: noop}\n    - - {name: a, template: noop}\n"
    )
    err = invalid(text)
    assert err.path == "$.spec.templates[0].steps[1][0].name"
    assert "duplicate step name 'a'" in err.message


def test_duplicate_task_names() -> None:
    text = wf(
        "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    dag:\n      tasks:\n"
        "      - {name: a, template: noop}\n      - {name: a, template: noop}\n"
    )
    err = invalid(text)
    assert err.path == "$.spec.templates[0].dag.tasks[1].name"
    assert "duplicate task name 'a'" in err.message


def dag(tasks: str) -> str:
    return wf(
        "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    dag:\n      tasks:\n"
        + textwrap.indent(textwrap.dedent(tasks), "      ")
    )


def test_dag_cycle_is_named() -> None:
    text = dag(
        """\
        - {name: A, template: noop, depends: C}
        - {name: B, template: noop, depends: A.Succeeded}
        - {name: C, template: noop, dependencies: [B]}
        - {name: D, template: noop}
        """
    )
    err = invalid(text)
    assert "dependency cycle in DAG 'main'" in err.message
    assert "A -> B -> C -> A" in err.message or "C -> A -> B -> C" in err.message
    assert err.path is not None and err.path.startswith("$.spec.templates[0].dag.tasks[")


def test_dag_self_cycle_through_when() -> None:
    err = invalid(dag("- {name: A, template: noop, when: '{{tasks.A.status}} == Failed'}\n"))
    assert "A -> A" in err.message


def test_when_reference_creates_cycle() -> None:
    text = dag(
        """\
        - {name: A, template: noop, when: "{{tasks.B.status}} == Succeeded"}
        - {name: B, template: noop, depends: A}
        """
    )
    assert "dependency cycle" in invalid(text).message


def test_depends_unknown_task() -> None:
    text = dag("- {name: A, template: noop}\n- {name: B, template: noop, depends: A && Z.Failed}\n")
    err = invalid(text)
    assert err.path == "$.spec.templates[0].dag.tasks[1].depends"
    assert "depends on unknown task 'Z'" in err.message


def test_dependencies_unknown_task() -> None:
    text = dag("- {name: A, template: noop}\n- {name: B, template: noop, dependencies: [A, Y]}\n")
    err = invalid(text)
    assert err.path == "$.spec.templates[0].dag.tasks[1].dependencies[1]"


@pytest.mark.parametrize(
    ("depends", "fragment"),
    [
        ("A.Succeded", "unknown task result 'Succeded'"),
        ("A &&", "found end of depends"),
        ("(A", "expected ')'"),
        ("A & B", "unexpected '&'"),
        ("A B", "found 'B'"),
    ],
)
def test_depends_syntax(depends: str, fragment: str) -> None:
    text = dag(
        f"- {{name: A, template: noop}}\n- {{name: B, template: noop, depends: '{depends}'}}\n"
    )
    err = invalid(text)
    assert fragment in err.message
    assert err.path == "$.spec.templates[0].dag.tasks[1].depends"


def test_dag_target_unknown() -> None:
    text = wf(
        "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    dag:\n      target: A X\n"
        "      tasks:\n      - {name: A, template: noop}\n"
    )
    assert "target refers to unknown task 'X'" in invalid(text).message


def test_hook_without_expression() -> None:
    text = wf(
        "spec:\n  entrypoint: noop\n  hooks:\n    running:\n      template: noop\n  templates:\n"
    )
    err = invalid(text)
    assert err.path == "$.spec.hooks.running"
    assert "Expression required" in err.message
    assert err.line == line_of(text, "running:")


def test_step_hook_without_expression() -> None:
    text = wf(
        "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps:\n"
        "    - - name: a\n        template: noop\n"
        "        hooks:\n          done: {template: noop}\n"
    )
    err = invalid(text)
    assert err.path == "$.spec.templates[0].steps[0][0].hooks.done"


def test_missing_required_input_at_call_site() -> None:
    text = wf(
        "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps:\n"
        "    - - name: a\n        template: echo\n"
    )
    err = invalid(text)
    assert err.path == "$.spec.templates[0].steps[0][0]"
    assert "input parameter 'msg' of template 'echo' is required" in err.message
    assert err.line == line_of(text, "- - name: a")


def test_missing_required_input_for_entrypoint_and_exit_hook() -> None:
    err = invalid(wf("spec:\n  entrypoint: echo\n  templates:\n"))
    assert err.path == "$.spec.entrypoint" and "'msg'" in err.message
    # supplied by spec.arguments: fine, also for the workflow exit handler
    ok = wf(
        "spec:\n  entrypoint: echo\n  onExit: echo\n"
        "  arguments: {parameters: [{name: msg, value: x}]}\n  templates:\n"
    )
    validate(load_text(ok))
    # a step exit hook gets no arguments by default
    text = wf(
        "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps:\n"
        "    - - name: a\n        template: noop\n        hooks: {exit: {template: echo}}\n"
    )
    assert invalid(text).path == "$.spec.templates[0].steps[0][0].hooks.exit"


def test_input_with_default_is_optional() -> None:
    templates = (
        "  - name: opt\n    inputs: {parameters: [{name: x, default: '1'}]}\n"
        "    container: {image: a}\n" + ECHO
    )
    validate(load_text(wf("spec:\n  entrypoint: opt\n  templates:\n", templates)))


def test_undeclared_parameter() -> None:
    args = "  arguments: {parameters: [{name: a, value: '1'}]}\n"
    w = load_text(wf("spec:\n  entrypoint: noop\n" + args + "  templates:\n"))
    with pytest.raises(ParameterError) as ei:
        validate(w, parameters={"b": "2"})
    assert str(ei.value) == "undeclared parameter 'b': spec.arguments.parameters declares 'a'"
    validate(w, parameters={"a": "2"})


def test_parameter_without_value_and_enum() -> None:
    w = load_text(
        wf(
            "spec:\n  entrypoint: noop\n  arguments:\n    parameters:\n    - name: a\n"
            "    - {name: b, value: x, enum: [x, y]}\n  templates:\n"
        )
    )
    with pytest.raises(ParameterError, match="parameter 'a' has no value"):
        validate(w)
    validate(w, parameters={"a": "1"})
    with pytest.raises(ParameterError, match="'z' is not one of 'x', 'y'"):
        validate(w, parameters={"a": "1", "b": "z"})


def test_exit_handlers_rules() -> None:
    base = "spec:\n  entrypoint: noop\n  exitHandlers:\n{}  templates:\n"
    err = invalid(wf(base.format("  - {template: noop}\n")))
    assert err.path == "$.spec.exitHandlers[0]" and "no name" in err.message
    err = invalid(wf(base.format("  - {name: a, template: noop}\n  - {name: a, template: noop}\n")))
    assert err.path == "$.spec.exitHandlers[1].name" and "duplicate exit handler" in err.message
    err = invalid(wf(base.format("  - {name: a}\n")))
    assert "has no template" in err.message
    err = invalid(wf(base.format("  - {name: 'a b', template: noop}\n")))
    assert "name 'a b' is invalid" in err.message


def test_step_needs_exactly_one_template_source() -> None:
    text = wf(
        "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps:\n    - - name: a\n"
    )
    assert "exactly one of template, templateRef or inline (got none)" in invalid(text).message


def test_metadata_name_required_and_checked() -> None:
    text = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec:\n  entrypoint: x\n"
    err = invalid(text)
    assert "metadata.name or metadata.generateName is required" in err.message
    text = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: 'a b'}\nspec: {}\n"
    assert invalid(text).path == "$.metadata.name"


def test_static_durations_and_limits_checked() -> None:
    templates = "  - name: t\n    timeout: 10x\n    container: {image: a}\n"
    err = invalid(wf("spec:\n  entrypoint: t\n  templates:\n", templates))
    assert err.path == "$.spec.templates[0].timeout" and "invalid duration" in err.message
    templates = "  - name: t\n    retryStrategy: {limit: lots}\n    container: {image: a}\n"
    err = invalid(wf("spec:\n  entrypoint: t\n  templates:\n", templates))
    assert err.path == "$.spec.templates[0].retryStrategy.limit"
    templates = (
        "  - name: t\n    timeout: '{{inputs.parameters.t}}'\n"
        "    retryStrategy: {limit: '{{inputs.parameters.n}}', retryPolicy: OnError}\n"
        "    inputs: {parameters: [{name: t, value: 1s}, {name: n, value: '2'}]}\n"
        "    container: {image: a}\n"
    )
    validate(load_text(wf("spec:\n  entrypoint: t\n  templates:\n", templates)))


def test_kind_checked_for_built_workflows() -> None:
    import msgspec

    w = load_text(GOOD)
    bad = msgspec.structs.replace(w, kind="CronWorkflow")
    with pytest.raises(SpecError, match="kind must be 'Workflow'"):
        validate(bad)


def test_inline_template_inputs_and_nested_refs() -> None:
    text = wf(
        "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    dag:\n      tasks:\n"
        "      - name: a\n        inline:\n          inputs: {parameters: [{name: x}]}\n"
        "          container: {image: a}\n"
    )
    err = invalid(text)
    assert "input parameter 'x' of template '<inline>'" in err.message
    text = wf(
        "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps:\n"
        "    - - name: a\n        inline:\n          steps:\n"
        "          - - {name: b, template: nope}\n"
    )
    err = invalid(text)
    assert err.path == "$.spec.templates[0].steps[0][0].inline.steps[0][0].template"
    assert err.line == line_of(text, "template: nope")
