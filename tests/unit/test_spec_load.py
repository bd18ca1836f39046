"""Loading workflows: YAML/JSON parsing, msgspec conversion, one-line errors with line + path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from engine.errors import SpecError
from engine.spec import (
    DAGTask,
    Template,
    Workflow,
    WorkflowStep,
    dump_json,
    load_file,
    load_json,
    load_obj,
    load_text,
)

HEADER = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  generateName: t-\n"


def wf_text(body: str) -> str:
    return HEADER + textwrap.dedent(body)


def load_err(text: str, source: str = "wf.yaml") -> SpecError:
    with pytest.raises(SpecError) as ei:
        load_text(text, source=source)
    err = ei.value
    assert "\n" not in str(err)
    return err


def line_of(text: str, needle: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


BASIC = wf_text(
    """\
    spec:
      entrypoint: main
      arguments:
        parameters:
        - name: count
          value: 3
        - name: flag
          value: true
        - name: ratio
          value: 1.5
        - name: day
          value: 2024-01-01
        - name: choice
          value: "a"
          enum: [a, 2, false]
      templates:
      - name: main
        steps:
        - - name: hello
            template: echo
            arguments:
              parameters: [{name: msg, value: 7}]
          - name: inline-one
            inline:
              container: {image: alpine, command: ["true"]}
        - - name: loop
            template: echo
            withItems: [1, "two", {k: v}]
            arguments:
              parameters: [{name: msg, value: "{{item}}"}]
      - name: echo
        inputs:
          parameters:
          - name: msg
          - name: other
            default: 10
        retryStrategy:
          limit: "3"
          backoff: {duration: 1, factor: "2", maxDuration: 1m}
        activeDeadlineSeconds: "30"
        container:
          image: alpine
          command: [echo, "{{inputs.parameters.msg}}"]
          env: [{name: A, value: b}]
          resources: {limits: {cpu: 100m}}
    """
)


def test_basic_types_and_normalisation() -> None:
    wf = load_text(BASIC, source="basic.yaml")
    assert isinstance(wf, Workflow)
    assert wf.api_version == "argoproj.io/v1alpha1"
    assert wf.metadata.generate_name == "t-"
    params = {p.name: p for p in wf.spec.arguments.parameters}
    assert params["count"].value == "3"
    assert params["flag"].value == "true"
    assert params["ratio"].value == "1.5"
    assert params["day"].value == "2024-01-01"  # no timestamp resolution
    assert params["choice"].enum == ["a", "2", "false"]
    main = wf.template("main")
    assert main.steps is not None
    step = main.steps[0][0]
    assert isinstance(step, WorkflowStep)
    assert step.arguments.parameters[0].value == "7"
    inline = main.steps[0][1].inline
    assert isinstance(inline, Template) and inline.container is not None
    assert main.steps[1][0].with_items == [1, "two", {"k": "v"}]  # raw items kept
    echo = wf.template("echo")
    assert echo.inputs.parameters[1].default == "10"
    assert echo.retry_strategy is not None and echo.retry_strategy.limit == "3"
    assert echo.retry_strategy.backoff is not None
    assert echo.retry_strategy.backoff.duration == 1
    assert echo.active_deadline_seconds == "30"
    assert echo.container is not None and echo.container.env[0].value == "b"
    assert wf.source == "basic.yaml"
    assert wf.line_of("$.spec.templates[1].name") == line_of(BASIC, "- name: echo")


def test_template_lookup() -> None:
    wf = load_text(BASIC)
    assert wf.template("echo") is wf.spec.templates[1]
    assert wf.find_template("nope") is None
    with pytest.raises(SpecError, match="unknown template 'nope'"):
        wf.template("nope")
    assert list(wf.templates_by_name) == ["main", "echo"]


def test_dump_json_round_trip_is_camel_case() -> None:
    wf = load_text(BASIC)
    data = dump_json(wf)
    assert b'"apiVersion"' in data and b'"withItems"' in data and b'"retryStrategy"' in data
    assert b"with_items" not in data
    again = load_json(data)
    assert again == wf
    assert again.line_of("$.spec") is None
    assert load_json(data.decode()) == wf


def test_special_camel_names() -> None:
    wf = load_text(wf_text("spec:\n  podGC: {strategy: OnPodSuccess}\n  templates: []\n"))
    assert wf.spec.pod_gc == {"strategy": "OnPodSuccess"}
    assert b'"podGC"' in dump_json(wf)


def test_dag_and_hooks() -> None:
    text = wf_text(
        """\
        spec:
          entrypoint: d
          onExit: bye
          hooks:
            exit: {template: bye}
            running:
              expression: workflow.status == "Running"
              template: bye
          exitHandlers:
          - name: notify
            when: "{{workflow.status}} == Failed"
            template: bye
          templates:
          - name: d
            dag:
              failFast: false
              tasks:
              - name: A
                template: bye
                onExit: bye
              - name: B
                depends: A.Succeeded || A.Failed
                template: bye
                continueOn: {failed: true}
                hooks:
                  exit: {template: bye, arguments: {parameters: [{name: x, value: 1}]}}
              - name: C
                dependencies: [A, B]
                template: bye
                withSequence: {count: 3, format: "%02d"}
          - name: bye
            script: {image: python, source: "print(1)"}
        """
    )
    wf = load_text(text)
    dag = wf.template("d").dag
    assert dag is not None and dag.fail_fast is False
    a, b, c = dag.tasks
    assert isinstance(a, DAGTask)
    assert a.exit_hook() is not None and a.exit_hook().template == "bye"  # type: ignore[union-attr]
    assert b.depends == "A.Succeeded || A.Failed"
    assert b.continue_on is not None and b.continue_on.failed
    assert b.hooks["exit"].arguments is not None
    assert b.hooks["exit"].arguments.parameters[0].value == "1"
    assert c.dependencies == ["A", "B"]
    assert c.with_sequence is not None and c.with_sequence.count == 3
    assert wf.spec.hooks["running"].expression == 'workflow.status == "Running"'
    assert wf.spec.exit_handlers[0].name == "notify"
    assert wf.spec.on_exit == "bye"
    assert wf.template("bye").script is not None
    assert wf.template("bye").script.source == "print(1)"  # type: ignore[union-attr]


def test_null_values_are_absent() -> None:
    text = wf_text(
        """\
        spec:
          entrypoint: main
          templates:
          - name: main
            inputs:
              parameters:
            container:
              image: alpine
              args:
        """
    )
    wf = load_text(text)
    assert wf.spec.templates[0].inputs.parameters == []
    assert wf.spec.templates[0].container is not None
    assert wf.spec.templates[0].container.args is None


def test_multi_document_takes_first_workflow() -> None:
    text = (
        "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata: {name: x}\n"
        "spec: {}\n---\n" + wf_text("spec:\n  entrypoint: main\n  templates: []\n")
    )
    wf = load_text(text)
    assert wf.spec.entrypoint == "main"
    assert wf.line_of("$.spec.entrypoint") == line_of(text, "entrypoint: main")


def test_load_file(tmp_path: Path) -> None:
    p = tmp_path / "wf.yaml"
    p.write_text(BASIC, encoding="utf-8")
    wf = load_file(p)
    assert wf.source == str(p)
    p.write_text(BASIC.replace('limit: "3"', "limit: [3]"), encoding="utf-8")
    with pytest.raises(SpecError) as ei:
        load_file(p)
    assert str(ei.value).startswith(f"{p}:{line_of(BASIC, 'limit:')} at $.spec.templates[1]")


def test_load_file_missing(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read workflow file") as ei:
        load_file(tmp_path / "missing.yaml")
    assert str(tmp_path / "missing.yaml") in str(ei.value)


# ---------------------------------------------------------------- errors


def test_malformed_yaml_has_line_and_column() -> None:
    text = HEADER + "spec:\n  entrypoint: main\n  templates: [\n    - name: x\n"
    err = load_err(text)
    assert err.line is not None and err.line >= 6
    assert str(err).startswith(f"wf.yaml:{err.line}: invalid YAML (column")


def test_bad_indentation_yaml() -> None:
    err = load_err("apiVersion: a\nkind: Workflow\n  spec: x\n")
    assert err.line == 3
    assert "mapping values are not allowed" in str(err)


def test_wrong_type_has_path_and_line() -> None:
    text = wf_text(
        """\
        spec:
          entrypoint: main
          templates:
          - name: main
            container: {image: alpine}
          - name: 12
            container: {image: alpine}
        """
    )
    err = load_err(text)
    assert err.path == "$.spec.templates[1].name"
    assert err.line == line_of(text, "- name: 12")
    assert str(err) == (
        f'wf.yaml:{err.line} at $.spec.templates[1].name: Expected "str", got "int"'
    )


def test_unknown_field_points_at_the_key() -> None:
    text = wf_text(
        """\
        spec:
          entrypoint: main
          templates:
          - name: main
            dag:
              tasks:
              - name: a
                template: main
                dependss: [b]
        """
    )
    err = load_err(text)
    assert err.path == "$.spec.templates[0].dag.tasks[0]"
    assert err.line == line_of(text, "dependss")
    assert str(err) == (
        f"wf.yaml:{err.line} at $.spec.templates[0].dag.tasks[0]: "
        'Object contains unknown field "dependss"'
    )


def test_unknown_container_field() -> None:
    text = wf_text("spec:\n  templates:\n  - name: m\n    container:\n      imagee: x\n")
    err = load_err(text)
    assert err.path == "$.spec.templates[0].container"
    assert err.line == line_of(text, "imagee")


def test_error_inside_dict_value_names_the_key() -> None:
    text = wf_text(
        """\
        spec:
          hooks:
            exit: {template: a}
            running:
              expression: "true"
              template: [1]
        """
    )
    err = load_err(text)
    assert err.path == "$.spec.hooks.running.template"
    assert err.line == line_of(text, "template: [1]")


def test_error_inside_label_map_quotes_odd_keys() -> None:
    text = HEADER + "  labels:\n    a.b/c: d\n    x.y/z: [1]\nspec: {}\n"
    err = load_err(text)
    assert err.path == '$.metadata.labels["x.y/z"]'
    assert err.line == line_of(text, "x.y/z")


def test_missing_required_field() -> None:
    text = wf_text("spec:\n  templates:\n  - name: m\n    steps:\n    - - template: m\n")
    err = load_err(text)
    assert err.path == "$.spec.templates[0].steps[0][0]"
    assert 'missing required field "name"' in err.message
    assert err.line == line_of(text, "- - template: m")


def test_kind_not_workflow() -> None:
    text = "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nspec: {}\n"
    err = load_err(text)
    assert str(err) == "wf.yaml:2 at $.kind: kind must be 'Workflow', got 'WorkflowTemplate'"


def test_bad_api_version() -> None:
    text = "apiVersion: argoproj.io/v2\nkind: Workflow\nspec: {}\n"
    err = load_err(text)
    assert err.path == "$.apiVersion" and err.line == 1
    assert "apiVersion must be 'argoproj.io/v1alpha1'" in str(err)


def test_duplicate_key() -> None:
    text = wf_text("spec:\n  entrypoint: a\n  entrypoint: b\n")
    err = load_err(text)
    assert err.line == line_of(text, "entrypoint: b")
    assert "duplicate key 'entrypoint'" in str(err)
    assert err.path == "$.spec"


def test_not_a_mapping_and_empty() -> None:
    assert "expected a Workflow object, got list" in str(load_err("- a\n"))
    assert "no YAML document found" in str(load_err(""))


def test_steps_must_be_list_of_lists() -> None:
    text = wf_text(
        "spec:\n  templates:\n  - name: m\n    steps:\n    - name: a\n      template: m\n"
    )
    err = load_err(text)
    assert err.path == "$.spec.templates[0].steps[0]"
    assert 'Expected "array", got "object"' in err.message


def test_invalid_json() -> None:
    with pytest.raises(SpecError, match="invalid JSON"):
        load_json(b"{")


def test_load_obj_without_lines() -> None:
    with pytest.raises(SpecError) as ei:
        load_obj({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "spec": {"x": 1}})
    assert ei.value.line is None
    assert str(ei.value) == 'at $.spec: Object contains unknown field "x"'
