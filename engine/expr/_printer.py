"""AST → source text that parses back to an equal AST (fully parenthesised)."""

from __future__ import annotations

import re

from engine.expr._ast import (
    ArrayLit,
    Binary,
    Call,
    Literal,
    MapLit,
    Member,
    Name,
    Node,
    Pointer,
    Predicate,
    Slice,
    Ternary,
    Tuple,
    Unary,
)

__all__ = ["unparse"]

_MEMBER_NAME = re.compile(r"[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*")
_ESC = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _string(s: str) -> str:
    out = []
    for c in s:
        if c in _ESC:
            out.append(_ESC[c])
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _literal(v: int | float | str | bool | None) -> str:
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return _string(v)
    s = repr(v)
    if isinstance(v, float) and "e" not in s and "." not in s:  # pragma: no cover - repr has one
        s += ".0"
    return f"({s})" if s.startswith("-") else s


def _postfixable(node: Node) -> str:
    s = unparse(node)
    if isinstance(node, Name | Member | Call | Pointer | Slice | ArrayLit | MapLit):
        return s
    if isinstance(node, Literal) and isinstance(node.value, str):
        return s
    return f"({s})"


def unparse(node: Node) -> str:
    if isinstance(node, Literal):
        return _literal(node.value)
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Pointer):
        return node.name
    if isinstance(node, Member):
        obj = _postfixable(node.obj)
        dot = "?." if node.optional else "."
        k = node.key
        if isinstance(k, Literal) and isinstance(k.value, str) and _MEMBER_NAME.fullmatch(k.value):
            return f"{obj}{dot}{k.value}"
        return f"{obj}{'?.' if node.optional else ''}[{unparse(k)}]"
    if isinstance(node, Slice):
        lo = "" if node.lo is None else unparse(node.lo)
        hi = "" if node.hi is None else unparse(node.hi)
        return f"{_postfixable(node.obj)}[{lo}:{hi}]"
    if isinstance(node, Unary):
        return f"({node.op}{unparse(node.operand)})"
    if isinstance(node, Binary):
        return f"({unparse(node.left)} {node.op} {unparse(node.right)})"
    if isinstance(node, Ternary):
        return f"({unparse(node.cond)} ? {unparse(node.then)} : {unparse(node.otherwise)})"
    if isinstance(node, Call):
        return f"{node.name}({', '.join(unparse(a) for a in node.args)})"
    if isinstance(node, ArrayLit):
        return f"[{', '.join(unparse(x) for x in node.items)}]"
    if isinstance(node, Tuple):
        inner = ", ".join(unparse(x) for x in node.items)
        return f"({inner},)" if len(node.items) == 1 else f"({inner})"
    if isinstance(node, MapLit):
        parts = []
        for k, v in node.items:
            key = (
                unparse(k) if isinstance(k, Literal) and k.value is not None else f"({unparse(k)})"
            )
            if isinstance(k, Literal) and isinstance(k.value, bool):
                key = f"({key})"
            parts.append(f"{key}: {unparse(v)}")
        return "{" + ", ".join(parts) + "}"
    if isinstance(node, Predicate):
        return "{" + unparse(node.body) + "}"
    raise TypeError(f"cannot print {type(node).__name__}")  # pragma: no cover
