"""`{{ }}` templating and the Argo example corpus."""

from __future__ import annotations

from typing import Any

import pytest
import yaml  # type: ignore[import-untyped,unused-ignore]

from engine.errors import ExpressionError
from engine.expr import (
    UnresolvedReference,
    evaluate_bool,
    parse,
    parse_depends,
    render,
    template_references,
    validate_template,
)
from tests.helpers import ARGO_EXAMPLES

VALUES = {
    "inputs.parameters.x": "hello",
    "inputs.parameters.foo": "5",
    "steps.a.outputs.result": "heads",
    "item": "3",
    "item.key": "k",
    "workflow.parameters.p": "P",
    "workflow.creationTimestamp": "2024-03-01T10:00:00Z",
}


def test_simple_tags() -> None:
    t = (
        "{{inputs.parameters.x}} {{ steps.a.outputs.result }}-{{item}}/{{item.key}}"
        " {{workflow.parameters.p}}"
    )
    assert render(t, VALUES.get) == "hello heads-3/k P"


def test_unresolved_tags() -> None:
    assert render("a {{steps.b.outputs.result}} c", VALUES.get) == "a {{steps.b.outputs.result}} c"
    with pytest.raises(UnresolvedReference) as info:
        render("a {{ steps.b.outputs.result }} c", VALUES.get, strict=True)
    assert info.value.path == "steps.b.outputs.result"
    # an expression using a missing reference is left alone too (or raises when strict)
    t = "v={{= steps.b.outputs.result + 'x' }}"
    assert render(t, VALUES.get) == t
    with pytest.raises(UnresolvedReference):
        render(t, VALUES.get, strict=True)
    # a bare word in {{= }} is a reference, not a string
    assert render("{{=nosuch}}", VALUES.get) == "{{=nosuch}}"


def test_not_tags_are_left_alone() -> None:
    for t in ("no tags", "{{ a b }}", "{{}}", "{ {x} }", "{{x", "}}x{{"):
        assert render(t, lambda p: "V") == t
    assert render("{{{x}}}", lambda p: "V") == "{V}"


def test_expression_tags() -> None:
    assert render("{{=asInt(inputs.parameters.foo) * 10}}", VALUES.get) == "50"
    assert render("{{= 1/2 }} {{= 1 < 2 }} {{= nil }}", VALUES.get) == "0.5 true null"
    assert render("{{= [1, 'a'] }} {{= {b: 1} }}", VALUES.get) == '[1,"a"] {"b":1}'
    assert render("{{=toJson({a: {b: 1}})}}", VALUES.get) == '{"a":{"b":1}}'
    assert render("{{= '}}' }}", VALUES.get) == "}}"
    assert render("{{=sprig.date('2006', workflow.creationTimestamp)}}", VALUES.get) == "2024"
    assert render("{{=item}}", VALUES.get) == "3"
    assert render("{{=item.name}}", VALUES.get, variables={"item": {"name": "n"}}) == "n"
    assert (
        render("{{= inputs.parameters['x'] }}{{= steps[\"a\"].outputs.result }}", VALUES.get)
        == "helloheads"
    )


def test_bad_expression_tags_raise() -> None:
    with pytest.raises(ExpressionError, match="column"):
        render("{{= 1 + }}", VALUES.get)
    with pytest.raises(ExpressionError, match="unterminated"):
        render("{{= 1 + 2", VALUES.get)
    with pytest.raises(ExpressionError, match="division by zero"):
        render("{{= 1 / 0 }}", VALUES.get)
    with pytest.raises(ExpressionError):
        validate_template("ok {{= foo( }}")
    with pytest.raises(ExpressionError, match="unterminated"):
        validate_template("{{=")
    validate_template("{{a}} {{= a.b ?? 1 }} {{ not a tag }}")


def test_template_references() -> None:
    t = (
        "{{inputs.parameters.x}} {{ item.key }} {{= tasks.A.outputs.result + steps['b'].status }}"
        " {{inputs.parameters.x}} {{= heads }}"
    )
    assert template_references(t) == [
        "inputs.parameters.x",
        "item.key",
        "steps.b.status",
        "tasks.A.outputs.result",
    ]
    with pytest.raises(ExpressionError):
        template_references("{{= ) }}")


def test_when_flow() -> None:
    """How a `when` is used: substitute the tags, then evaluate."""
    when = "{{steps.a.outputs.result}} == heads && {{inputs.parameters.foo}} < 10"
    assert evaluate_bool(render(when, VALUES.get, strict=True), {}) is True


# --- the Argo example corpus ---------------------------------------------------------------------

CORPUS = ARGO_EXAMPLES


def _walk(node: Any, key: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_walk(v, str(k)))
    elif isinstance(node, list):
        for v in node:
            out.extend(_walk(v, key))
    elif isinstance(node, str):
        out.append((key, node))
    return out


def _corpus_strings() -> list[tuple[str, str, str]]:
    if not CORPUS.is_dir():
        return []
    found = []
    for path in sorted(CORPUS.rglob("*.yaml")):
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError:
            continue
        for doc in docs:
            for key, value in _walk(doc):
                found.append((path.name, key, value))
    return found


STRINGS = _corpus_strings()


@pytest.mark.corpus(index=True)
def test_corpus_parses() -> None:
    counts = {"when": 0, "expression": 0, "depends": 0, "tags": 0}
    for name, key, value in STRINGS:
        where = f"{name}: {key}: {value!r}"
        if "{{=" in value:
            validate_template(value)
            counts["tags"] += 1
        if key == "depends":
            assert parse_depends(value).tasks(), where
            counts["depends"] += 1
        elif key in ("when", "expression") and "{{=" not in value:
            # substitute every simple tag with a plausible word, then it must parse
            text = render(value, lambda p: "1" if "num" in p or "limit" in p else "x")
            parse(text)
            counts[key] += 1
    assert counts["when"] >= 20 and counts["expression"] >= 5 and counts["depends"] >= 20
    assert counts["tags"] >= 15
