"""engine.spec.defaults: the template a call runs under spec.templateDefaults/spec.retryStrategy
(Argo `mergedTemplateDefaultsInto`, `woc.retryStrategy`)."""

from __future__ import annotations

import pytest

from engine.errors import SpecError
from engine.spec import Workflow, load_text, unsupported_features, validate
from engine.spec.defaults import effective_template, has_defaults

HEAD = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: d}\nspec:\n"


def _wf(body: str) -> Workflow:
    return load_text(HEAD + body)


def test_strategic_merge_template_wins_keyed_lists_merge() -> None:
    wf = _wf(
        "  entrypoint: c\n"
        "  templateDefaults:\n"
        "    timeout: 1m\n"
        "    metadata: {annotations: {a: '1', b: '1'}}\n"
        "    inputs: {parameters: [{name: p, value: d}, {name: q, value: d}]}\n"
        "    container:\n"
        "      image: alpine\n"
        "      command: [default]\n"
        "      env: [{name: A, value: d}, {name: B, value: d}]\n"
        "    script: {image: python, source: x}\n"
        "  templates:\n"
        "  - name: c\n"
        "    timeout: 5s\n"
        "    metadata: {annotations: {b: '2'}}\n"
        "    inputs: {parameters: [{name: q, value: own}, {name: r}]}\n"
        "    container:\n"
        "      command: [own, cmd]\n"
        "      env: [{name: B, value: own}, {name: C, value: own}]\n"
    )
    t = effective_template(wf.spec, wf.spec.templates[0])
    assert t.name == "c" and t.timeout == "5s"
    assert t.metadata is not None and t.metadata.annotations == {"a": "1", "b": "2"}
    assert [(p.name, p.value) for p in t.inputs.parameters] == [
        ("p", "d"), ("q", "own"), ("r", None),
    ]
    assert t.container is not None and t.script is None  # the other kind's default is cleared
    assert t.container.image == "alpine" and t.container.command == ["own", "cmd"]
    assert [(e.name, e.value) for e in t.container.env] == [
        ("A", "d"), ("B", "own"), ("C", "own"),
    ]


def test_workflow_retry_strategy_is_the_fallback() -> None:
    wf = _wf(
        "  entrypoint: s\n"
        "  retryStrategy: {limit: 3}\n"
        "  templateDefaults: {retryStrategy: {limit: 1}}\n"
        "  templates:\n"
        "  - {name: own, retryStrategy: {limit: 5}, container: {image: a}}\n"
        "  - {name: s, steps: [[{name: x, template: own}]]}\n"
    )
    own, steps = (effective_template(wf.spec, t) for t in wf.spec.templates)
    assert own.retry_strategy is not None and own.retry_strategy.limit == 5
    # the templateDefaults' retryStrategy comes before the workflow's
    assert steps.retry_strategy is not None and steps.retry_strategy.limit == 1
    only_wf = _wf(
        "  entrypoint: s\n"
        "  retryStrategy: {limit: 3}\n"
        "  templates:\n"
        "  - {name: s, steps: [[{name: x, template: s2}]]}\n"
        "  - {name: s2, container: {image: a}}\n"
    )
    for t in only_wf.spec.templates:
        rs = effective_template(only_wf.spec, t).retry_strategy
        assert rs is not None and rs.limit == 3


def test_no_defaults_is_the_same_template() -> None:
    wf = _wf("  entrypoint: c\n  templates:\n  - {name: c, container: {image: a}}\n")
    assert not has_defaults(wf.spec)
    assert effective_template(wf.spec, wf.spec.templates[0]) is wf.spec.templates[0]


def test_defaults_that_cannot_be_honoured_are_unsupported() -> None:
    wf = _wf(
        "  entrypoint: c\n"
        "  templateDefaults: {dag: {tasks: []}}\n"
        "  templates:\n  - {name: c, container: {image: a}}\n"
    )
    assert unsupported_features(wf) == ["templateDefaults.dag"]
    ok = _wf(
        "  entrypoint: c\n"
        "  templateDefaults: {container: {image: a}, retryStrategy: {limit: 1}}\n"
        "  templates:\n  - {name: c, container: {image: a}}\n"
    )
    assert unsupported_features(ok) == []


def test_lint_sees_inputs_the_defaults_supply() -> None:
    body = (
        "  entrypoint: main\n"
        "  templateDefaults: {inputs: {parameters: [{name: x, value: from-defaults}]}}\n"
        "  templates:\n"
        "  - {name: main, steps: [[{name: s, template: c}]]}\n"
        "  - {name: c, inputs: {parameters: [{name: x}]}, container: {image: a}}\n"
    )
    validate(_wf(body))
    without = body.replace(
        "  templateDefaults: {inputs: {parameters: [{name: x, value: from-defaults}]}}\n", ""
    )
    with pytest.raises(SpecError, match="input parameter 'x' of template 'c' is required"):
        validate(_wf(without))
