"""Argo's behaviour where the engine used to differ (issue 10, "Differences from Argo"), one test
per item, each running a real workflow through the CLI; and runs recorded under the rules before
these fixes (rules=1) still re-derive under `exitflow verify`.

Each rule is read from Argo's source (argoproj/argo-workflows v4.1.2); the function is named in
the test's docstring.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import anyio
import msgspec

from engine.api import prepare
from engine.controller.controller import Controller
from engine.controller.pool import ExecutorPool
from engine.events import RULES_VERSION
from engine.state.view import WorkflowView
from engine.store import SqliteStore
from tests.helpers import Result, by_name, exitflow, phases

HEAD = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: {name}
spec:
"""


def _write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(HEAD.format(name=name) + textwrap.indent(textwrap.dedent(body), "  "))
    return path


def _run(
    tmp_path: Path, file: Path, *args: str, executor: str = "local", db: str = "x.db"
) -> Result:
    return exitflow(
        "run", str(file), "--db", str(tmp_path / db), "--executor", executor, "-o", "json", *args
    )


def _node(wf: dict[str, Any], display: str) -> dict[str, Any]:
    [node] = [n for n in wf["status"]["nodes"].values() if n["displayName"] == display]
    return node


def _result(wf: dict[str, Any], display: str) -> str | None:
    result: str | None = (_node(wf, display).get("outputs") or {}).get("result")
    return result


# ---------------------------------------------------------------------------- 1. exit hook args

EXIT_HOOK_ARGS = """\
entrypoint: main
arguments:
  parameters:
  - {name: who, value: from-workflow}
templates:
- name: main
  steps:
  - - name: s1
      template: work
      onExit: report
    - name: s2
      template: work
      hooks:
        exit: {template: report}
    - name: s3
      template: inner
- name: inner
  dag:
    tasks:
    - name: t1
      template: work
      hooks:
        exit: {template: needs-who, arguments: {}}
- name: work
  container: {image: alpine, command: [sh, -c, "echo work"]}
- name: report
  inputs:
    parameters:
    - {name: who, default: input-default}
  container: {image: alpine, command: [sh, -c, "echo {{inputs.parameters.who}}"]}
- name: needs-who
  inputs:
    parameters:
    - name: who
  container: {image: alpine, command: [sh, -c, "echo {{inputs.parameters.who}}"]}
"""


def test_step_and_task_exit_hooks_get_the_workflow_arguments(tmp_path: Path) -> None:
    """Argo `WorkflowStep.GetExitHook(wf.spec.arguments)` / `DAGTask.GetExitHook`: an `onExit` or
    `hooks.exit` without arguments gets the workflow's arguments. So a hook template whose input
    has no default is valid, and the workflow argument wins over the input's default. Empty
    `arguments: {}` count as none (`Arguments.IsEmpty`)."""
    file = _write(tmp_path, "exit-hook-args", EXIT_HOOK_ARGS)
    lint = exitflow("lint", str(file))
    assert lint.code == 0, lint.stderr
    res = _run(tmp_path, file, "-p", "who=from-cli")
    assert res.code == 0, res.stderr
    wf = res.json()
    got = phases(wf)
    assert got["s1.onExit"] == got["s2.onExit"] == got["t1.onExit"] == "Succeeded", got
    assert _result(wf, "s1.onExit") == "from-cli"
    assert _result(wf, "s2.onExit") == "from-cli"
    assert _result(wf, "t1.onExit") == "from-cli"


def test_exit_hook_with_own_arguments_keeps_them(tmp_path: Path) -> None:
    """`LifecycleHook.WithArgs`: the workflow's arguments only fill a hook that has none."""
    body = EXIT_HOOK_ARGS.replace(
        "exit: {template: report}",
        "exit: {template: report, arguments: {parameters: [{name: who, value: own}]}}",
    )
    file = _write(tmp_path, "exit-hook-own-args", body)
    res = _run(tmp_path, file)
    assert res.code == 0, res.stderr
    wf = res.json()
    assert _result(wf, "s2.onExit") == "own"
    assert _result(wf, "s1.onExit") == "from-workflow"


# ---------------------------------------------------- 2. spec.retryStrategy, spec.templateDefaults

def test_workflow_retry_strategy_applies_to_every_template(tmp_path: Path) -> None:
    """Argo `woc.retryStrategy(tmpl)`: the template's own, else `spec.retryStrategy`, for every
    template: the entry DAG becomes a Retry node with child `<wf>(0)` (Argo's e2e
    `parameter-aggregation-dag-with-retry`), and a flaky step is retried."""
    marker = tmp_path / "flaky-marker"
    file = _write(tmp_path, "wf-retry", f"""\
        entrypoint: main
        retryStrategy: {{limit: 2}}
        exitHandlers:
        - name: after-flaky
          when: tasks.flaky.status == Succeeded
          template: echo-value
          arguments: {{parameters: [{{name: message, value: done}}]}}
        templates:
        - name: main
          dag:
            tasks:
            - name: echo-list
              template: echo-value
              arguments: {{parameters: [{{name: message, value: "{{{{item}}}}"}}]}}
              withItems: [1, 2, 3]
            - name: flaky
              template: flaky
          outputs:
            parameters:
            - name: agg
              valueFrom: {{parameter: "{{{{tasks.echo-list.outputs.parameters.out}}}}"}}
        - name: echo-value
          inputs: {{parameters: [{{name: message}}]}}
          container: {{image: alpine, command: [sh, -c, "echo {{{{inputs.parameters.message}}}}"]}}
          outputs:
            parameters:
            - {{name: out, value: "{{{{inputs.parameters.message}}}}"}}
        - name: flaky
          container:
            image: alpine
            command: [sh, -c, "if [ -e {marker} ]; then echo ok; else touch {marker}; exit 1; fi"]
        """)
    res = _run(tmp_path, file)
    assert res.code == 0, res.stderr
    wf = res.json()
    assert wf["status"]["phase"] == "Succeeded"
    root = _node(wf, "wf-retry")
    assert root["type"] == "Retry" and root["phase"] == "Succeeded"
    attempt = _node(wf, "wf-retry(0)")
    assert attempt["type"] == "DAG" and attempt["phase"] == "Succeeded"
    [agg] = attempt["outputs"]["parameters"]
    assert agg["name"] == "agg" and json.loads(agg["value"]) == ["1", "2", "3"]
    assert root["outputs"] == attempt["outputs"]
    got = phases(wf)
    assert _node(wf, "flaky")["type"] == "Retry"
    assert (got["flaky"], got["flaky(0)"], got["flaky(1)"]) == ("Succeeded", "Failed", "Succeeded")
    # every Pod template is retried too: each loop item is a Retry node with one attempt
    assert _node(wf, "echo-list(0:1)")["type"] == "Retry"
    assert got["echo-list(0:1)(0)"] == "Succeeded"
    # an exit handler's `when` sees the tasks of the entrypoint's last attempt
    assert got["after-flaky"] == "Succeeded"
    assert _node(wf, "after-flaky")["type"] == "Retry"


def test_template_defaults_apply_to_every_template(tmp_path: Path) -> None:
    """Argo `mergedTemplateDefaultsInto`: a strategic merge of each template over
    `spec.templateDefaults` (the template wins; `env` merged by name; the default
    `retryStrategy` applies where the template has none)."""
    file = _write(tmp_path, "tmpl-defaults", """\
        entrypoint: main
        templateDefaults:
          retryStrategy: {limit: 1}
          container:
            image: alpine
            env:
            - {name: GREETING, value: hello}
            - {name: WHO, value: default-who}
        templates:
        - name: main
          steps:
          - - {name: greet, template: greet}
            - {name: fails, template: fails}
        - name: greet
          container:
            command: [sh, -c, 'echo "$GREETING $WHO"']
            env:
            - {name: WHO, value: template-who}
        - name: fails
          retryStrategy: {limit: 2}
          container: {command: [sh, -c, "exit 3"]}
        """)
    res = _run(tmp_path, file)
    assert res.code == 1, res.stderr
    wf = res.json()
    nodes = by_name(wf)
    # the steps template got the default retryStrategy too (limit 1: two attempts of main)
    assert nodes["tmpl-defaults"]["type"] == "Retry"
    assert [nodes[f"tmpl-defaults({i})"]["phase"] for i in (0, 1)] == ["Failed", "Failed"]
    assert "tmpl-defaults(2)" not in nodes
    group = "tmpl-defaults(0)[0]"
    assert nodes[f"{group}.greet"]["type"] == "Retry"
    assert nodes[f"{group}.greet(0)"]["outputs"]["result"] == "hello template-who"
    # the template's own retryStrategy wins over the default: 3 attempts
    assert [nodes[f"{group}.fails({i})"]["phase"] for i in range(3)] == ["Failed"] * 3
    assert f"{group}.fails(3)" not in nodes


def test_template_defaults_that_cannot_be_honoured_are_unsupported(tmp_path: Path) -> None:
    file = _write(tmp_path, "tmpl-defaults-steps", """\
        entrypoint: main
        templateDefaults:
          name: not-a-default
          steps: [[{name: extra, template: main}]]
        templates:
        - name: main
          container: {image: alpine, command: [sh, -c, "true"]}
        """)
    lint = exitflow("lint", str(file))
    assert lint.code == 2
    assert "cannot run: templateDefaults.name, templateDefaults.steps" in lint.stderr
    assert "Traceback" not in lint.stderr


def test_workflow_retry_strategy_is_validated(tmp_path: Path) -> None:
    file = _write(tmp_path, "bad-wf-retry", """\
        entrypoint: main
        retryStrategy: {retryPolicy: Sometimes}
        templates:
        - name: main
          container: {image: alpine, command: [sh, -c, "true"]}
        """)
    lint = exitflow("lint", str(file))
    assert lint.code == 2
    assert "$.spec.retryStrategy.retryPolicy" in lint.stderr
    assert len(lint.stderr.strip().splitlines()) == 1


# ------------------------------------------- 3. expression without retryPolicy; 12. message path

def test_retry_expression_without_policy_retries_errors(tmp_path: Path) -> None:
    """Argo `RetryStrategy.RetryPolicyActual`: with an `expression` and no `retryPolicy` the
    policy is `Always`, so an Errored attempt (here: an output file not written) is retried.
    Also item 12: the "not found" message names the rendered path, not the `{{...}}` text."""
    out_dir = tmp_path / "outs"
    out_dir.mkdir()
    file = _write(tmp_path, "retry-expr", f"""\
        entrypoint: main
        arguments:
          parameters:
          - {{name: dir, value: "{out_dir}"}}
        templates:
        - name: main
          steps:
          - - name: produce
              template: produce
              arguments: {{parameters: [{{name: dir, value: "{{{{workflow.parameters.dir}}}}"}}]}}
        - name: produce
          inputs: {{parameters: [{{name: dir}}]}}
          retryStrategy:
            limit: 3
            expression: lastRetry.status == "Error"
          container:
            image: alpine
            command:
            - sh
            - -c
            - cd {{{{inputs.parameters.dir}}}};
              if [ -e m ]; then echo v > out.txt; else touch m; fi
          outputs:
            parameters:
            - name: value
              valueFrom: {{path: "{{{{inputs.parameters.dir}}}}/out.txt"}}
        """)
    res = _run(tmp_path, file)
    assert res.code == 0, res.stderr
    wf = res.json()
    got = phases(wf)
    assert (got["produce"], got["produce(0)"], got["produce(1)"]) == (
        "Succeeded", "Error", "Succeeded",
    )
    first = _node(wf, "produce(0)")
    assert first["message"] == (
        f"failed to get output parameter 'value': {out_dir}/out.txt not found"
    )
    assert _node(wf, "produce")["outputs"]["parameters"] == [{"name": "value", "value": "v"}]


# ------------------------------------------------------------------ 5. withSequence count 0

def test_with_sequence_count_zero_is_skipped(tmp_path: Path) -> None:
    """Argo `expandSequence`: `count: 0` expands to no items, so the step (and the DAG task) is
    Skipped ("Skipped, empty params") and nothing runs."""
    file = _write(tmp_path, "seq-zero", """\
        entrypoint: main
        arguments:
          parameters:
          - {name: n, value: "0"}
        templates:
        - name: main
          steps:
          - - name: loop
              template: work
              withSequence: {count: "{{workflow.parameters.n}}"}
            - name: dag
              template: dag
          - - name: after
              template: work
        - name: dag
          dag:
            tasks:
            - name: fan
              template: work
              withSequence: {count: 0, start: 5}
        - name: work
          container: {image: alpine, command: [sh, -c, "true"]}
        """)
    res = _run(tmp_path, file, executor="simulate")
    assert res.code == 0, res.stderr
    wf = res.json()
    got = phases(wf)
    assert got["loop"] == "Skipped" and got["fan"] == "Skipped" and got["after"] == "Succeeded"
    assert _node(wf, "loop")["message"] == "Skipped, empty params"
    assert not [n for n in got if n.startswith(("loop(", "fan("))], got
    res = _run(tmp_path, file, "-p", "n=2", executor="simulate", db="two.db")
    assert res.code == 0, res.stderr
    got = phases(res.json())
    assert got["loop(0:0)"] == got["loop(1:1)"] == "Succeeded"


# -------------------------------------------------------------- 7. output result: the last 256 kB

def test_output_result_keeps_the_last_256_kb(tmp_path: Path) -> None:
    """Argo `CaptureScriptResult`: one trailing newline dropped, then only the last 256 kB kept."""
    file = _write(tmp_path, "big-result", """\
        entrypoint: main
        templates:
        - name: main
          container:
            image: alpine
            command:
            - sh
            - -c
            - head -c 100000 /dev/zero | tr '\\0' a; head -c 262143 /dev/zero | tr '\\0' b; echo z
        """)
    res = _run(tmp_path, file)
    assert res.code == 0, res.stderr
    result = _result(res.json(), "big-result")
    assert result is not None
    assert len(result) == 256 * 1024
    assert result == "b" * 262143 + "z"


# ---------------------------------------------------- 8. spec.hooks.exit with its own arguments

def test_workflow_exit_hook_with_arguments_gets_exactly_those(tmp_path: Path) -> None:
    """Argo `WorkflowSpec.GetExitHook(args)` → `LifecycleHook.WithArgs`: the workflow's arguments
    are used only when the hook has none; otherwise the hook's arguments are all it gets, so an
    input they do not name takes its own default, not the workflow parameter of that name."""
    file = _write(tmp_path, "wf-exit-args", """\
        entrypoint: main
        arguments:
          parameters:
          - {name: a, value: wf-a}
          - {name: b, value: wf-b}
        hooks:
          exit:
            template: report
            arguments: {parameters: [{name: a, value: hook-a}]}
        templates:
        - name: main
          container: {image: alpine, command: [sh, -c, "true"]}
        - name: report
          inputs:
            parameters:
            - {name: a}
            - {name: b, default: b-default}
          container:
            image: alpine
            command: [sh, -c, "echo {{inputs.parameters.a}} {{inputs.parameters.b}}"]
        """)
    res = _run(tmp_path, file)
    assert res.code == 0, res.stderr
    wf = res.json()
    assert phases(wf)["@onExit"] == "Succeeded"
    assert _result(wf, "wf-exit-args.onExit") == "hook-a b-default"
    # without arguments of its own the hook gets the workflow's: a=wf-a, b=wf-b
    lines = file.read_text().splitlines(keepends=True)
    file.write_text("".join(x for x in lines if "value: hook-a" not in x))
    res = _run(tmp_path, file, db="no-args.db")
    assert res.code == 0, res.stderr
    assert _result(res.json(), "wf-exit-args.onExit") == "wf-a wf-b"


# ---------------------------------------------------------- 9. {{item}} of a map; 10. labels

def test_item_map_renders_as_json_with_sorted_keys(tmp_path: Path) -> None:
    """Argo `processItem`: `{{item}}` of a map item is `json.Marshal(map)`: keys sorted, compact,
    `<` `>` `&` escaped as Go does; `{{item.key}}` is the value."""
    file = _write(tmp_path, "item-map", """\
        entrypoint: main
        templates:
        - name: main
          steps:
          - - name: show
              template: show
              arguments:
                parameters:
                - {name: v, value: "{{item}}"}
                - {name: k, value: "{{item.zeta}}"}
              withItems:
              - {zeta: "z<1>", alpha: 2, mid: [1, "x"]}
        - name: show
          inputs: {parameters: [{name: v}, {name: k}]}
          container:
            image: alpine
            command: [sh, -c, 'printf "%s|%s" "$0" "$1"', "{{inputs.parameters.v}}",
                      "{{inputs.parameters.k}}"]
        """)
    res = _run(tmp_path, file)
    assert res.code == 0, res.stderr
    wf = res.json()
    [display] = [d for d in phases(wf) if d.startswith("show(")]
    assert _result(wf, display) == (
        '{"alpha":2,"mid":[1,"x"],"zeta":"z\\u003c1\\u003e"}|z<1>'
    )


def test_loop_labels_follow_argo(tmp_path: Path) -> None:
    """Argo `generateNodeName`: `name(i:label)` with every `(` and `)` removed from the label; a
    map is its sorted `key:value` pairs, a list prints as Go prints a slice (`[1 a]`)."""
    file = _write(tmp_path, "labels", """\
        entrypoint: main
        templates:
        - name: main
          steps:
          - - name: say
              template: work
              withItems: ["f(x)", {k: "(v)", a: 1}, [1, "a"], true]
          - - name: dag
              template: dag
        - name: dag
          dag:
            tasks:
            - name: t
              template: work
              withParam: '["g(y)"]'
        - name: work
          container: {image: alpine, command: [sh, -c, "true"]}
        """)
    res = _run(tmp_path, file, executor="simulate")
    assert res.code == 0, res.stderr
    wf = res.json()
    got = phases(wf)
    for display in ("say(0:fx)", "say(1:a:1,k:v)", "say(2:[1 a])", "say(3:true)", "t(0:gy)"):
        assert got.get(display) == "Succeeded", (display, sorted(got))
    names = by_name(wf)
    assert "labels[0].say(0:fx)" in names


# ------------------------------------------------------ runs recorded with rules=1 still verify

OLD_RULES = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: old-rules-
spec:
  entrypoint: main
  retryStrategy: {limit: 1}
  templates:
  - name: main
    steps:
    - - name: loop
        template: work
        withSequence: {count: 0}
      - name: label
        template: work
        withItems: ["f(x)", {b: 1, a: 2}]
      - name: flaky
        template: flaky
"""

OLD_RULES_TEMPLATES = """\
  - name: work
    container: {image: alpine, command: [sh, -c, "true"]}
  - name: flaky
    retryStrategy: {limit: 1, expression: "true"}
    container: {image: alpine, command: [sh, -c, "true"]}
"""


async def _run_with_rules(db: Path, text: str, rules: int) -> WorkflowView:
    """Submit as `exitflow run` does (engine.api.prepare), but recorded under `rules`."""
    pool = ExecutorPool("simulate", {"simulate": {"fail": {"flaky(0)": 1}}})
    store = await SqliteStore.open(db)
    try:
        await store.acquire_controller(wait=True)
        _, submitted = prepare(text, source="old-rules.yaml", executor="simulate")
        submitted = msgspec.structs.replace(submitted, rules=rules)
        await store.create_workflow(submitted)
        return await Controller(store, pool).run_workflow(submitted.uid)
    finally:
        await pool.aclose()
        await store.aclose()


def test_runs_recorded_with_rules_1_still_rederive(tmp_path: Path) -> None:
    """A run submitted before these rules (WorkflowSubmitted.rules = 1) is decided by the old
    rules for its whole life, and `exitflow verify` re-derives it byte for byte; the same
    workflow under the current rules decides differently and verifies too."""
    assert RULES_VERSION >= 2
    db = tmp_path / "runs.db"
    text = OLD_RULES + OLD_RULES_TEMPLATES
    old = anyio.run(_run_with_rules, db, text, 1)
    new = anyio.run(_run_with_rules, db, text, RULES_VERSION)
    assert old.rules == 1 and new.rules == RULES_VERSION

    def displays(view: WorkflowView) -> dict[str, str]:
        return {n.display_name: n.phase for n in view.nodes.values()}

    before, after = displays(old), displays(new)
    # rules=1: count 0 ran items 0 and -1, labels kept parentheses, spec.retryStrategy ignored
    assert "loop(0:0)" in before and "loop(1:-1)" in before
    assert "label(0:f(x))" in before and "label(1:a:2,b:1)" in before
    assert old.nodes[old.name].type == "Steps"
    # rules=2: Argo's behaviour
    assert after["loop"] == "Skipped" and "label(0:fx)" in after
    assert new.nodes[new.name].type == "Retry"
    assert old.phase == new.phase == "Succeeded"
    res = exitflow("verify", "--db", str(db))
    assert res.code == 0, res.stdout + res.stderr

