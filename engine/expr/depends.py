"""The DAG `depends` language (Argo's enhanced depends logic).

    expr    := or
    or      := and ("||" and)*
    and     := unary ("&&" unary)*
    unary   := "!" unary | "(" expr ")" | operand
    operand := TASK ["." RESULT]        TASK = [A-Za-z0-9_][A-Za-z0-9_-]*

RESULT: Succeeded, Failed, Errored (phase Error), Skipped, Omitted, Daemoned, AnySucceeded and
AllFailed (the last two look at the children of a task expanded by withItems/withParam).
A bare `TASK` is `(TASK.Succeeded || TASK.Skipped || TASK.Daemoned)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from engine.errors import ExpressionError
from engine.expr._errors import error_at

__all__ = [
    "RESULTS",
    "DAnd",
    "DNot",
    "DOr",
    "DTask",
    "DependsExpr",
    "NodeInfo",
    "NodeStatus",
    "dependencies_to_depends",
    "parse_depends",
]

RESULTS = frozenset(
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
MAX_LENGTH = 10_000
MAX_NESTING = 64

_TOKEN = re.compile(r"\s*(?:(&&|\|\||!|\(|\))|([A-Za-z0-9_][A-Za-z0-9_-]*)(?:\.([A-Za-z]+))?)")


class NodeInfo(Protocol):
    """What `DependsExpr.evaluate` needs to know about a task's node."""

    @property
    def phase(self) -> str: ...

    @property
    def children_phases(self) -> Sequence[str]: ...


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """A ready-made NodeInfo. `daemoned`: a daemon step that has started (not Pending)."""

    phase: str
    children_phases: tuple[str, ...] = ()
    daemoned: bool = False


@dataclass(frozen=True, slots=True)
class DTask:
    task: str
    result: str | None = None  # None: bare task


@dataclass(frozen=True, slots=True)
class DNot:
    operand: _DNode


@dataclass(frozen=True, slots=True)
class DAnd:
    operands: tuple[_DNode, ...]


@dataclass(frozen=True, slots=True)
class DOr:
    operands: tuple[_DNode, ...]


_DNode = DTask | DNot | DAnd | DOr


def _result(info: NodeInfo, result: str) -> bool:
    phase = info.phase
    if result == "Succeeded":
        return phase == "Succeeded"
    if result == "Failed":
        return phase == "Failed"
    if result == "Errored":
        return phase == "Error"
    if result == "Skipped":
        return phase == "Skipped"
    if result == "Omitted":
        return phase == "Omitted"
    if result == "Daemoned":
        return bool(getattr(info, "daemoned", False)) and phase != "Pending"
    children = list(info.children_phases)
    if result == "AnySucceeded":
        return any(p == "Succeeded" for p in children)
    # AllFailed
    return bool(children) and all(p == "Failed" for p in children)


@dataclass(frozen=True, slots=True)
class DependsExpr:
    """A parsed `depends` expression."""

    source: str
    ast: _DNode = field(compare=False, repr=False)

    def tasks(self) -> frozenset[str]:
        """The task names referenced."""
        out: set[str] = set()
        stack: list[_DNode] = [self.ast]
        while stack:
            n = stack.pop()
            if isinstance(n, DTask):
                out.add(n.task)
            elif isinstance(n, DNot):
                stack.append(n.operand)
            else:
                stack.extend(n.operands)
        return frozenset(out)

    def evaluate(self, phase_of: Callable[[str], NodeInfo]) -> bool:
        """True if the dependent task may run. `phase_of(task)` describes a finished task's
        node (`.phase`, `.children_phases`, optionally `.daemoned`); None or an exception
        (KeyError/LookupError) means the task is unknown: ExpressionError."""
        cache: dict[str, NodeInfo] = {}

        def info(task: str) -> NodeInfo:
            if task not in cache:
                try:
                    got = phase_of(task)
                except LookupError:
                    got = None
                if got is None:
                    raise ExpressionError(f"depends {self.source!r}: no node for task {task!r}")
                cache[task] = got
            return cache[task]

        def ev(n: _DNode) -> bool:
            if isinstance(n, DTask):
                if n.result is None:
                    i = info(n.task)
                    return any(_result(i, r) for r in ("Succeeded", "Skipped", "Daemoned"))
                return _result(info(n.task), n.result)
            if isinstance(n, DNot):
                return not ev(n.operand)
            if isinstance(n, DAnd):
                return all(ev(o) for o in n.operands)
            return any(ev(o) for o in n.operands)

        return ev(self.ast)

    def __str__(self) -> str:
        return self.source

    @classmethod
    def all_of(cls, tasks: Sequence[str]) -> DependsExpr:
        """`A && B && ...` built directly (legacy `dependencies: [A, B]`): no parsing, so no
        length limit on a fan-in the user wrote as a list. Empty `tasks`: ValueError."""
        if not tasks:
            raise ValueError("all_of needs at least one task")
        nodes = tuple(DTask(t) for t in tasks)
        return cls(dependencies_to_depends(tasks), nodes[0] if len(nodes) == 1 else DAnd(nodes))

    def expand_bare(self, results: Callable[[str], Sequence[str]]) -> DependsExpr:
        """The same expression with every bare `TASK` replaced by `(TASK.R1 || TASK.R2 ...)`
        for R in `results(TASK)` (Argo `expandDependency`); `source` is kept."""

        def ex(n: _DNode) -> _DNode:
            if isinstance(n, DTask):
                if n.result is not None:
                    return n
                return DOr(tuple(DTask(n.task, r) for r in results(n.task)))
            if isinstance(n, DNot):
                return DNot(ex(n.operand))
            if isinstance(n, DAnd):
                return DAnd(tuple(ex(o) for o in n.operands))
            return DOr(tuple(ex(o) for o in n.operands))

        return DependsExpr(self.source, ex(self.ast))


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, str | None, int]] = []  # kind, text, result, pos
        pos = 0
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                break
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise error_at(f"unexpected {text[pos]!r} in depends", text, pos)
            start = m.start(1) if m.group(1) else m.start(2)
            if m.group(1):
                self.tokens.append(("op", m.group(1), None, start))
            else:
                result = m.group(3)
                if result is not None and result not in RESULTS:
                    raise error_at(
                        f"unknown task result {result!r} (expected one of "
                        f"{', '.join(sorted(RESULTS))})",
                        text,
                        m.start(3),
                    )
                if m.end() < len(text) and text[m.end()] == ".":
                    raise error_at("unexpected '.' in depends", text, m.end())
                self.tokens.append(("task", m.group(2), result, start))
            pos = m.end()
        self.i = 0
        self.depth = 0

    def peek(self) -> tuple[str, str, str | None, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def fail(self, what: str) -> ExpressionError:
        tok = self.peek()
        pos = tok[3] if tok else len(self.text)
        found = repr(tok[1]) if tok else "end of depends"
        return error_at(f"{what}, found {found}", self.text, pos)

    def parse(self) -> _DNode:
        if not self.tokens:
            raise error_at("empty depends", self.text, 0)
        node = self.or_()
        if self.peek() is not None:
            raise self.fail("expected '&&' or '||'")
        return node

    def or_(self) -> _DNode:
        items = [self.and_()]
        while (t := self.peek()) is not None and t[:2] == ("op", "||"):
            self.i += 1
            items.append(self.and_())
        return items[0] if len(items) == 1 else DOr(tuple(items))

    def and_(self) -> _DNode:
        items = [self.unary()]
        while (t := self.peek()) is not None and t[:2] == ("op", "&&"):
            self.i += 1
            items.append(self.unary())
        return items[0] if len(items) == 1 else DAnd(tuple(items))

    def unary(self) -> _DNode:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.fail(f"depends nested more than {MAX_NESTING} levels")
        try:
            t = self.peek()
            if t is None:
                raise self.fail("expected a task")
            if t[:2] == ("op", "!"):
                self.i += 1
                return DNot(self.unary())
            if t[:2] == ("op", "("):
                self.i += 1
                node = self.or_()
                t2 = self.peek()
                if t2 is None or t2[:2] != ("op", ")"):
                    raise self.fail("expected ')'")
                self.i += 1
                return node
            if t[0] == "task":
                self.i += 1
                return DTask(t[1], t[2])
            raise self.fail("expected a task")
        finally:
            self.depth -= 1


def parse_depends(text: str) -> DependsExpr:
    """Parse a `depends` string; ExpressionError (with the column) if it is malformed."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"depends longer than {MAX_LENGTH} characters")
    return DependsExpr(text, _Parser(text).parse())


def dependencies_to_depends(deps: Sequence[str]) -> str:
    """Legacy `dependencies: [A, B]` as a depends string: `A && B` ("" for none)."""
    return " && ".join(deps)
