"""Argo's enhanced `depends` logic: a tiny tokenizer, parser and evaluator.

Grammar (Argo's, minus arbitrary govaluate):

    expr    := or
    or      := and ("||" and)*
    and     := unary ("&&" unary)*
    unary   := "!" unary | "(" expr ")" | operand
    operand := TASK ["." RESULT]       TASK = [A-Za-z0-9_-]+

RESULT is one of `Succeeded Failed Errored Skipped Omitted Daemoned AnySucceeded AllFailed`.
A bare `TASK` means `(TASK.Succeeded || TASK.Skipped || TASK.Daemoned)`. The legacy
`dependencies: [A, B]` is `A && B`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.errors import SpecError

__all__ = [
    "DEPENDS_RESULTS",
    "And",
    "DependsExpr",
    "Not",
    "Or",
    "TaskResult",
    "evaluate_depends",
    "parse_depends",
    "task_dependencies",
    "task_names",
]

DEPENDS_RESULTS: frozenset[str] = frozenset(
    {
        "Succeeded",
        "Failed",
        "Errored",
        "Skipped",
        "Omitted",
        "Daemoned",
        "AnySucceeded",
        "AllFailed",
    }
)

#: What a bare task name means.
BARE_RESULTS: tuple[str, ...] = ("Succeeded", "Skipped", "Daemoned")


@dataclass(frozen=True, slots=True)
class TaskResult:
    """`task.result`; `result` is None for a bare task name."""

    task: str
    result: str | None = None


@dataclass(frozen=True, slots=True)
class Not:
    operand: DependsExpr


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[DependsExpr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[DependsExpr, ...]


DependsExpr = TaskResult | Not | And | Or

_TOKEN = re.compile(
    r"\s*(?:(?P<op>&&|\|\||!|\(|\))|(?P<name>[A-Za-z0-9_-]+)(?:\.(?P<result>[A-Za-z]+))?)"
)


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    """(kind, value, column) tokens; kind is "op" or "name" (value "task" or "task.Result")."""
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = text[pos:].lstrip()
            raise SpecError(
                f"depends {text!r}: unexpected {bad[:1]!r} at column {len(text) - len(bad) + 1}"
            )
        if m.group("op"):
            tokens.append(("op", m.group("op"), m.start("op")))
        else:
            result = m.group("result")
            if result is not None and result not in DEPENDS_RESULTS:
                raise SpecError(
                    f"depends {text!r}: unknown result {result!r} for task {m.group('name')!r}"
                    f" (expected one of {', '.join(sorted(DEPENDS_RESULTS))})"
                )
            value = m.group("name") + (f".{result}" if result else "")
            tokens.append(("name", value, m.start("name")))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def error(self, what: str) -> SpecError:
        return SpecError(f"depends {self.text!r}: {what}")

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def parse(self) -> DependsExpr:
        if not self.tokens:
            raise self.error("empty expression")
        expr = self.parse_or()
        tok = self.peek()
        if tok is not None:
            raise self.error(f"unexpected {tok[1]!r} at column {tok[2] + 1}")
        return expr

    def parse_or(self) -> DependsExpr:
        items = [self.parse_and()]
        while (tok := self.peek()) is not None and tok[1] == "||":
            self.i += 1
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> DependsExpr:
        items = [self.parse_unary()]
        while (tok := self.peek()) is not None and tok[1] == "&&":
            self.i += 1
            items.append(self.parse_unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_unary(self) -> DependsExpr:
        tok = self.peek()
        if tok is None:
            raise self.error("unexpected end of expression")
        kind, value, col = tok
        self.i += 1
        if kind == "name":
            task, _, result = value.partition(".")
            return TaskResult(task, result or None)
        if value == "!":
            return Not(self.parse_unary())
        if value == "(":
            inner = self.parse_or()
            close = self.peek()
            if close is None or close[1] != ")":
                raise self.error(f"missing ')' for '(' at column {col + 1}")
            self.i += 1
            return inner
        raise self.error(f"unexpected {value!r} at column {col + 1}")


def parse_depends(text: str) -> DependsExpr:
    """Parse a `depends` string; SpecError (without path; callers add it) if malformed."""
    return _Parser(text).parse()


def task_names(expr: DependsExpr) -> list[str]:
    """Task names referenced by `expr`, in first-appearance order."""
    out: dict[str, None] = {}

    def walk(e: DependsExpr) -> None:
        if isinstance(e, TaskResult):
            out.setdefault(e.task)
        elif isinstance(e, Not):
            walk(e.operand)
        else:
            for o in e.operands:
                walk(o)

    walk(expr)
    return list(out)


def task_dependencies(
    depends: str | None, dependencies: Sequence[str] | None
) -> DependsExpr | None:
    """The effective dependency expression of a DAG task (`depends` wins over `dependencies`)."""
    if depends is not None and depends.strip():
        return parse_depends(depends)
    if dependencies:
        items = tuple(TaskResult(d) for d in dependencies)
        return items[0] if len(items) == 1 else And(items)
    return None


def evaluate_depends(expr: DependsExpr, has_result: Callable[[str, str], bool]) -> bool:
    """Evaluate `expr`; `has_result(task, result)` answers one `task.Result` test.

    A bare task name is expanded to `Succeeded || Skipped || Daemoned`.
    """
    if isinstance(expr, TaskResult):
        if expr.result is None:
            return any(has_result(expr.task, r) for r in BARE_RESULTS)
        return has_result(expr.task, expr.result)
    if isinstance(expr, Not):
        return not evaluate_depends(expr.operand, has_result)
    if isinstance(expr, And):
        return all(evaluate_depends(o, has_result) for o in expr.operands)
    return any(evaluate_depends(o, has_result) for o in expr.operands)
