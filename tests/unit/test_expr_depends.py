"""The DAG `depends` language."""

from __future__ import annotations

import pytest

from engine.errors import ExpressionError
from engine.expr import NodeStatus, dependencies_to_depends, parse_depends


def _phases(**phases: str | NodeStatus) -> dict[str, NodeStatus]:
    return {k: v if isinstance(v, NodeStatus) else NodeStatus(v) for k, v in phases.items()}


@pytest.mark.parametrize(
    ("text", "phases", "expected"),
    [
        ("A", {"A": "Succeeded"}, True),
        ("A", {"A": "Skipped"}, True),
        ("A", {"A": "Failed"}, False),
        ("A", {"A": "Error"}, False),
        ("A", {"A": "Omitted"}, False),
        ("A", {"A": NodeStatus("Running", daemoned=True)}, True),
        ("A.Daemoned", {"A": NodeStatus("Pending", daemoned=True)}, False),
        ("A.Succeeded", {"A": "Skipped"}, False),
        ("A.Failed", {"A": "Failed"}, True),
        ("A.Errored", {"A": "Error"}, True),
        ("A.Errored", {"A": "Failed"}, False),
        ("A.Skipped", {"A": "Skipped"}, True),
        ("A.Omitted", {"A": "Omitted"}, True),
        ("A && B", {"A": "Succeeded", "B": "Failed"}, False),
        ("A || B", {"A": "Succeeded", "B": "Failed"}, True),
        ("B.Failed && C", {"B": "Failed", "C": "Succeeded"}, True),
        ("!A.Failed", {"A": "Succeeded"}, True),
        ("A && (C.Succeeded || C.Failed)", {"A": "Succeeded", "C": "Failed"}, True),
        ("a-b && (c-d || c-d.Omitted)", {"a-b": "Succeeded", "c-d": "Omitted"}, True),
        ("e-2.Succeeded || not-e", {"e-2": "Failed", "not-e": "Skipped"}, True),
        ("A.AnySucceeded", {"A": NodeStatus("Failed", ("Failed", "Succeeded"))}, True),
        ("A.AnySucceeded", {"A": NodeStatus("Failed", ("Failed", "Failed"))}, False),
        ("A.AllFailed", {"A": NodeStatus("Failed", ("Failed", "Failed"))}, True),
        ("A.AllFailed", {"A": NodeStatus("Failed", ("Failed", "Error"))}, False),
        ("A.AllFailed", {"A": NodeStatus("Failed", ())}, False),
    ],
)  # fmt: skip
def test_evaluate(text: str, phases: dict[str, str | NodeStatus], expected: bool) -> None:
    table = _phases(**phases)
    assert parse_depends(text).evaluate(table.__getitem__) is expected


def test_short_circuit_and_tasks() -> None:
    d = parse_depends("(A || B) && !C.Failed")
    assert d.tasks() == {"A", "B", "C"}
    asked: list[str] = []

    def phase_of(task: str) -> NodeStatus:
        asked.append(task)
        return NodeStatus("Succeeded")

    assert d.evaluate(phase_of) is True
    assert asked == ["A", "C"]
    assert str(d) == "(A || B) && !C.Failed"
    with pytest.raises(ExpressionError, match="no node for task 'Z'"):
        empty: dict[str, NodeStatus] = {}
        parse_depends("Z").evaluate(empty.__getitem__)


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("", "empty depends", 1),
        ("A &&", "expected a task", 5),
        ("A.Done", "unknown task result 'Done'", 3),
        ("(A", "expected ')'", 3),
        ("A B", "expected '&&' or '||'", 3),
        ("A & B", "unexpected '&'", 3),
        ("A.Succeeded.x", "unexpected '.'", 12),
        ("A)", "expected '&&' or '||'", 2),
    ],
)
def test_errors(text: str, message: str, column: int) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_depends(text)
    assert message in str(info.value)
    assert f"column {column}" in str(info.value)


def test_dependencies_to_depends() -> None:
    assert dependencies_to_depends(["A", "B"]) == "A && B"
    assert dependencies_to_depends(["A"]) == "A"
    assert dependencies_to_depends([]) == ""
    assert parse_depends(dependencies_to_depends(["A", "B-c"])).tasks() == {"A", "B-c"}


def test_nesting_limit() -> None:
    with pytest.raises(ExpressionError, match="nested"):
        parse_depends("(" * 200 + "A" + ")" * 200)
