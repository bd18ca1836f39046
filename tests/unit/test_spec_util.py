"""Helpers: template kinds, durations, parameters, names, depends, feature lists."""

from __future__ import annotations

import random
import re

import pytest

from engine.errors import ParameterError, SpecError
from engine.spec import (
    Template,
    effective_parameters,
    generate_name,
    ignored_features,
    load_text,
    parse_duration,
    task_dependencies,
    task_names,
    template_kind,
    unsupported_features,
)

HEADER = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("10s", 10.0),
        ("1m", 60.0),
        ("2h", 7200.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("300ms", 0.3),
        ("30", 30.0),
        (" 30 ", 30.0),
        (5, 5.0),
        (0, 0.0),
        (2.5, 2.5),
        ("1m30s", 90.0),
    ],
)
def test_parse_duration(value: str | int | float, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "abc", "-1s", "-5", "1d", "10 s", "nan", "inf", True])
def test_parse_duration_invalid(value: str | int) -> None:
    with pytest.raises(SpecError, match="invalid duration"):
        parse_duration(value)


def test_template_kind() -> None:
    wf = load_text(
        HEADER + "spec:\n  templates:\n  - {name: c, container: {image: a}}\n"
        "  - {name: s, script: {image: a, source: x}}\n  - {name: st, steps: []}\n"
        "  - {name: d, dag: {tasks: []}}\n  - {name: r, resource: {action: create}}\n"
        "  - {name: p, suspend: {}}\n  - {name: none}\n"
    )
    kinds = [template_kind(t) for t in wf.spec.templates[:-1]]
    assert kinds == ["container", "script", "steps", "dag", "resource", "suspend"]
    with pytest.raises(SpecError, match="has no type"):
        template_kind(wf.spec.templates[-1])
    with pytest.raises(SpecError, match="several types"):
        template_kind(Template(name="x", steps=[], dag=wf.spec.templates[3].dag))


def params_wf() -> str:
    return (
        HEADER + "metadata: {name: fixed}\nspec:\n  arguments:\n    parameters:\n"
        "    - {name: a, value: '1'}\n    - {name: b}\n"
        "    - {name: c, value: x, enum: [x, y]}\n"
        "    - {name: d, valueFrom: {default: dflt}}\n"
    )


def test_effective_parameters() -> None:
    wf = load_text(params_wf())
    assert effective_parameters(wf, {"b": "2"}) == {"a": "1", "b": "2", "c": "x", "d": "dflt"}
    assert effective_parameters(wf, {"b": "2", "a": "9", "c": "y"})["a"] == "9"
    with pytest.raises(ParameterError, match="parameter 'b' has no value"):
        effective_parameters(wf, {})
    with pytest.raises(ParameterError, match="undeclared parameters 'x', 'y'"):
        effective_parameters(wf, {"x": "1", "y": "2"})
    with pytest.raises(ParameterError, match="not one of"):
        effective_parameters(wf, {"b": "1", "c": "q"})


def test_generate_name() -> None:
    assert generate_name(load_text(params_wf())) == "fixed"
    wf = load_text(HEADER + "metadata: {generateName: hello-}\nspec: {}\n")
    names = {generate_name(wf) for _ in range(20)}
    assert all(re.fullmatch(r"hello-[a-z0-9]{5}", n) for n in names)
    assert len(names) > 1
    assert generate_name(wf, rng=random.Random(1)) == generate_name(wf, rng=random.Random(1))
    with pytest.raises(SpecError, match=r"metadata.name or metadata.generateName is required"):
        generate_name(load_text(HEADER + "spec: {}\n"))


# ---------------------------------------------------------------- depends


def test_task_names_in_order_of_appearance() -> None:
    expr = task_dependencies("(A.Failed||b_2) && !A && task-3.AnySucceeded", None)
    assert expr is not None
    assert task_names(expr) == ["A", "b_2", "task-3"]


def test_task_dependencies_legacy_and_empty() -> None:
    legacy = task_dependencies(None, ["A", "B"])
    assert legacy is not None and legacy.source == "A && B"
    assert task_dependencies(None, None) is None
    assert task_dependencies("  ", None) is None


# ---------------------------------------------------------------- features


def test_unsupported_features() -> None:
    text = (
        HEADER
        + """\
metadata: {generateName: x-}
spec:
  entrypoint: main
  volumeClaimTemplates: [{metadata: {name: w}}]
  templates:
  - name: main
    steps:
    - - name: a
        templateRef: {name: other, template: t}
      - name: b
        template: art
        arguments: {artifacts: [{name: in, raw: {data: x}}]}
  - name: art
    inputs: {artifacts: [{name: in, path: /tmp/in}]}
    daemon: true
    memoize: {key: k, cache: {configMap: {name: c}}}
    container:
      image: a
      env: [{name: S, valueFrom: {secretKeyRef: {name: s, key: k}}}]
  - name: r
    resource: {action: create, manifest: "x"}
  - name: h
    http: {url: "http://x", headers: [{name: A, valueFrom: {secretKeyRef: {name: s, key: k}}}]}
  - name: h2
    http: {url: "http://x"}
  - name: r2
    resource:
      action: create
      manifest: "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: c}"
  - name: o
    outputs:
      parameters: [{name: p, valueFrom: {jsonPath: "{.a}"}}]
    suspend: {}
"""
    )
    wf = load_text(text)
    assert unsupported_features(wf) == [
        "artifacts",
        "daemon",
        "env.valueFrom",
        "http.headers.valueFrom",
        "memoize",
        "resource",
        "templateRef",
        "valueFrom.jsonPath",
        "volumes",
    ]


def test_supported_workflow_has_no_unsupported_features() -> None:
    wf = load_text(
        HEADER + "spec:\n  nodeSelector: {a: b}\n  podGC: {strategy: OnPodSuccess}\n  templates:\n"
        "  - name: s\n    outputs: {parameters: [{name: p, valueFrom: {path: /tmp/p}}]}\n"
        "    script: {image: a, source: x, resources: {limits: {cpu: '1'}}}\n"
        "  - name: wait\n    suspend: {duration: 10s}\n"
    )
    assert unsupported_features(wf) == []
    assert ignored_features(wf) == ["container.resources", "nodeSelector", "podGC"]
