"""`Expression`: a parsed, immutable expression; `parse` and `evaluate_bool`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ExpressionError
from engine.expr._ast import Call, Member, Name, Node, Pointer, children
from engine.expr._eval import Evaluator, path_text, reference_path
from engine.expr._parser import parse_ast
from engine.expr._printer import unparse
from engine.expr._values import short

__all__ = ["KNOWN_ROOTS", "Expression", "evaluate_bool", "parse"]

#: Roots of Argo variables; a bare one (`item`, `retries`) counts as a reference.
KNOWN_ROOTS = frozenset(
    {
        "item",
        "retries",
        "lastRetry",
        "workflow",
        "inputs",
        "outputs",
        "steps",
        "tasks",
        "pod",
        "node",
    }
)


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed expression. Equal when the source text is equal."""

    source: str
    ast: Node = field(compare=False, repr=False)

    def evaluate(self, variables: Mapping[str, Any], *, bare_words: bool = True) -> Any:
        """The value of the expression; ExpressionError (UnresolvedReference for a missing
        reference) on a runtime error. With `bare_words=False` (expr-lang, as in `{{= }}`), a
        bare word that names no variable is an unresolved reference instead of a string."""
        return Evaluator(self.source, variables, bare_words=bare_words).run(self.ast)

    def references(self) -> frozenset[str]:
        """Dotted reference paths used (`tasks.run-task.phase`, `steps.flip-coin.status` for
        `steps["flip-coin"].status`), plus bare known roots such as `item`. Single bare words
        (`heads`) are not included: they are strings unless a variable of that name exists."""
        return _references(self.ast)

    def functions(self) -> frozenset[str]:
        """Names of the functions called."""
        out: set[str] = set()
        stack = [self.ast]
        while stack:
            n = stack.pop()
            if isinstance(n, Call):
                out.add(n.name)
            stack.extend(children(n))
        return frozenset(out)

    def unparse(self) -> str:
        """Canonical, fully parenthesised source that parses back to an equal AST."""
        return unparse(self.ast)

    def __str__(self) -> str:
        return self.source


def _references(ast: Node) -> frozenset[str]:
    out: set[str] = set()
    stack = [ast]
    while stack:
        n = stack.pop()
        if isinstance(n, Name | Member):
            path = reference_path(n)
            if path is not None:
                if len(path) >= 2 or path[0] in KNOWN_ROOTS:
                    out.add(path_text(path))
                # keys of a reference path are literals: nothing more inside
                continue
            if isinstance(n, Member) and isinstance(n.obj, Pointer):
                stack.append(n.key)
                continue
        stack.extend(children(n))
    return frozenset(out)


def parse(text: str) -> Expression:
    """Parse an expression; ExpressionError (one line, with the column) if it is invalid."""
    return Expression(text, parse_ast(text))


def evaluate_bool(text_or_expr: str | Expression, variables: Mapping[str, Any]) -> bool:
    """Evaluate a condition (`when`, hook and retry `expression`). The result must be a boolean
    (or the string "true"/"false"); anything else is an ExpressionError."""
    expr = parse(text_or_expr) if isinstance(text_or_expr, str) else text_or_expr
    value = expr.evaluate(variables)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ExpressionError(
        f"expression `{' '.join(expr.source.split())[:80]}` evaluated to {short(value)}, "
        "not to true or false"
    )
