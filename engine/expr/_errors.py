"""Errors of the expression language (all are `engine.errors.ExpressionError`)."""

from __future__ import annotations

from engine.errors import ExpressionError

__all__ = ["ExpressionError", "UnresolvedReference", "error_at"]

_SNIPPET = 80


def _where(source: str, pos: int) -> str:
    """`column C` (or `line L, column C` for a multi-line source); `pos` is a 0-based offset."""
    pos = max(0, min(pos, len(source)))
    line = source.count("\n", 0, pos) + 1
    col = pos - (source.rfind("\n", 0, pos) + 1) + 1
    return f"line {line}, column {col}" if "\n" in source else f"column {col}"


def _snippet(source: str) -> str:
    text = " ".join(source.split())
    if len(text) > _SNIPPET:
        text = text[: _SNIPPET - 3] + "..."
    return text


def error_at(message: str, source: str, pos: int) -> ExpressionError:
    """One-line `ExpressionError`: what went wrong, where (column), and in which expression."""
    hint = ""
    if "{{" in source:
        hint = " (an unsubstituted {{...}} tag?)"
    return ExpressionError(f"{message} at {_where(source, pos)} in `{_snippet(source)}`{hint}")


class UnresolvedReference(ExpressionError):
    """A reference (`{{steps.a.outputs.result}}`, `tasks.X.phase`) that has no value (yet).

    `path` and `reference` are the dotted reference, e.g. `tasks.X.phase`.
    """

    def __init__(self, reference: str, message: str | None = None) -> None:
        super().__init__(message or f"unresolved reference {reference}")
        self.reference = reference
        self.path = reference

    def render(self) -> str:
        # `SpecError.render` would print `path` (a JSON path there) as a location.
        where = []
        if self.source:
            where.append(self.source + (f":{self.line}" if self.line else ""))
        elif self.line:
            where.append(f"line {self.line}")
        prefix = " ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message
