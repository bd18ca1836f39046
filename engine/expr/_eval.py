"""The evaluator: AST + variables → value.

Variables may be nested (`{"tasks": {"A": {"status": "Succeeded"}}}`) and/or flat dotted keys
(`{"tasks.A.status": "Succeeded"}`): a reference path is looked up by its longest flat key first,
then walked into nested maps and lists. `.phase` and `.status` are aliases, and
`tasks.A.Succeeded` (a phase word after a node) is `tasks.A.status == "Succeeded"`.

A bare word that names no variable is the word itself (govaluate, after `{{}}` substitution); a
dotted reference that resolves to nothing is an error, except on the left of `??` (nil there).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

from engine.errors import ExpressionError
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
from engine.expr._errors import UnresolvedReference, error_at
from engine.expr._functions import FUNCTIONS, contains
from engine.expr._regex import search
from engine.expr._values import (
    INT64_MAX,
    INT64_MIN,
    as_bool,
    as_number,
    check_int,
    check_str,
    compare,
    equal,
    is_number,
    short,
    text,
    type_name,
)

__all__ = ["MAX_STEPS", "Evaluator", "reference_path"]

#: Evaluation steps (nodes visited, elements iterated) before an expression is stopped.
MAX_STEPS = 1_000_000
MAX_RANGE = 100_000

_MISSING: Any = object()
_PHASE_WORDS = {
    "Succeeded": "Succeeded",
    "Failed": "Failed",
    "Errored": "Error",
    "Error": "Error",
    "Skipped": "Skipped",
    "Omitted": "Omitted",
    "Running": "Running",
    "Pending": "Pending",
}
_ALIASES = {"phase": "status", "status": "phase"}

Path = tuple[str | int, ...]


def reference_path(node: Node) -> Path | None:
    """(`tasks`, `A`, `status`) for `tasks.A.status` / `tasks["A"].status`; else None."""
    keys: list[str | int] = []
    while isinstance(node, Member):
        if node.optional or not isinstance(node.key, Literal):
            return None
        k = node.key.value
        if isinstance(k, bool) or not isinstance(k, str | int):
            return None
        keys.append(k)
        node = node.obj
    if not isinstance(node, Name):
        return None
    keys.append(node.name)
    return tuple(reversed(keys))


def path_text(path: Path) -> str:
    return ".".join(str(p) for p in path)


def _get(container: Any, key: str | int) -> Any:
    """One step of a reference walk; _MISSING if absent."""
    if isinstance(container, Mapping):
        for k in (key, str(key)) if isinstance(key, int) else (key,):
            try:
                return container[k]
            except (KeyError, TypeError):
                continue
        alias = _ALIASES.get(str(key))
        if alias is not None:
            try:
                return container[alias]
            except (KeyError, TypeError):
                return _MISSING
        return _MISSING
    if isinstance(container, list | tuple):
        if isinstance(key, str):
            if not key.lstrip("-").isdigit() or len(key) > 18:
                return _MISSING
            key = int(key)
        if -len(container) <= key < len(container):
            return container[key]
    return _MISSING


def _flat(variables: Mapping[str, Any], key: str) -> Any:
    try:
        return variables[key]
    except (KeyError, TypeError):
        return _MISSING


def resolve(variables: Mapping[str, Any], path: Path) -> Any:
    """The value at `path`, or _MISSING."""
    for k in range(len(path), 0, -1):
        head = path_text(path[:k])
        value = _flat(variables, head)
        if value is _MISSING and k == len(path) and str(path[-1]) in _ALIASES:
            value = _flat(variables, path_text((*path[:-1], _ALIASES[str(path[-1])])))
        if value is _MISSING:
            continue
        for key in path[k:]:
            value = _get(value, key)
            if value is _MISSING:
                break
        if value is not _MISSING:
            return value
    if len(path) >= 2 and str(path[-1]) in _PHASE_WORDS:
        status = resolve(variables, (*path[:-1], "status"))
        if isinstance(status, str):
            return status == _PHASE_WORDS[str(path[-1])]
    return _MISSING


class Evaluator:
    """Evaluates one expression against one set of variables (not thread-safe; cheap to make)."""

    def __init__(
        self, source: str, variables: Mapping[str, Any], *, bare_words: bool = True
    ) -> None:
        self.source = source
        self.variables = variables
        self.bare_words = bare_words
        self.steps = 0
        self.pointers: list[tuple[Any, int]] = []

    # --- Context protocol for functions --------------------------------------------------------

    def tick(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > MAX_STEPS:
            raise ExpressionError(f"expression took more than {MAX_STEPS} steps")

    def predicate(self, body: Node, item: Any, index: int) -> Any:
        self.pointers.append((item, index))
        try:
            return self.visit(body)
        finally:
            self.pointers.pop()

    def filter_matches(self, text: str, item: Any) -> bool:
        node = _filter_ast(text)
        try:
            return self.predicate(node, item, 0) is True
        except ExpressionError:
            return False

    # --- evaluation ----------------------------------------------------------------------------

    def run(self, node: Node) -> Any:
        try:
            return self.visit(node)
        except UnresolvedReference:
            raise
        except ExpressionError as e:
            if " at column " in e.message or " at line " in e.message:
                raise
            raise error_at(e.message, self.source, getattr(e, "_pos", 0)) from None
        except RecursionError:
            raise ExpressionError("expression nested too deeply") from None

    def fail(self, message: str, node: Node) -> ExpressionError:
        return error_at(message, self.source, max(node.pos, 0))

    def visit(self, node: Node, soft: bool = False) -> Any:
        self.tick()
        try:
            return self._eval(node, soft)
        except UnresolvedReference:
            raise
        except ExpressionError as e:
            if not hasattr(e, "_pos") and node.pos >= 0:
                e._pos = node.pos  # type: ignore[attr-defined]
            raise

    def _eval(self, node: Node, soft: bool) -> Any:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Name | Member) and (path := reference_path(node)) is not None:
            return self.reference(node, path, soft)
        if isinstance(node, Binary):
            return self.binary(node, soft)
        if isinstance(node, Member):
            return self.member(node, soft)
        if isinstance(node, Unary):
            v = self.visit(node.operand)
            if node.op == "!":
                return not as_bool(v, "operand of '!'")
            n = as_number(v)
            if n is None:
                raise ExpressionError(f"cannot negate {short(v)}")
            return (
                check_int(-n)
                if isinstance(n, int) and node.op == "-"
                else (-n if node.op == "-" else n)
            )
        if isinstance(node, Ternary):
            cond = as_bool(self.visit(node.cond), "condition of '?:'")
            return self.visit(node.then if cond else node.otherwise, soft)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, ArrayLit | Tuple):
            return [self.visit(x) for x in node.items]
        if isinstance(node, MapLit):
            out: dict[str, Any] = {}
            for k, v in node.items:
                key = self.visit(k)
                out[key if isinstance(key, str) else text(key, "map key")] = self.visit(v)
            return out
        if isinstance(node, Pointer):
            if not self.pointers:
                raise ExpressionError(f"{node.name} used outside a predicate")
            item, index = self.pointers[-1]
            return index if node.name == "#index" else item
        if isinstance(node, Slice):
            return self.slice(node)
        if isinstance(node, Predicate):
            raise ExpressionError("a predicate {...} is only allowed as a function argument")
        raise ExpressionError(f"cannot evaluate {type(node).__name__}")  # pragma: no cover

    def reference(self, node: Name | Member, path: Path, soft: bool) -> Any:
        value = resolve(self.variables, path)
        if value is not _MISSING:
            return value
        if soft:
            return None
        if isinstance(node, Name) and self.bare_words:
            return node.name
        raise UnresolvedReference(
            path_text(path),
            error_at(f"unknown reference {path_text(path)}", self.source, max(node.pos, 0)).message,
        )

    def member(self, node: Member, soft: bool) -> Any:
        obj = self.visit(node.obj, soft)
        if obj is None and (node.optional or soft):
            return None
        key = self.visit(node.key)
        if isinstance(obj, Mapping):
            if isinstance(key, str) or not isinstance(key, int | float):
                try:
                    return obj.get(key)
                except TypeError:
                    return None
            return obj.get(key, obj.get(text(key)))
        if isinstance(obj, list | tuple | str):
            i = as_number(key) if not isinstance(key, bool) else None
            if not isinstance(i, int):
                if isinstance(i, float) and i.is_integer():
                    i = int(i)
                else:
                    raise ExpressionError(
                        f"index of {type_name(obj)} must be an integer, not {short(key)}"
                    )
            if not -len(obj) <= i < len(obj):
                if soft:
                    return None
                raise ExpressionError(f"index {i} out of range (length {len(obj)})")
            return obj[i]
        if soft:
            return None
        raise ExpressionError(f"cannot get {short(key)} from {type_name(obj)}")

    def slice(self, node: Slice) -> Any:
        obj = self.visit(node.obj)
        if not isinstance(obj, list | tuple | str):
            raise ExpressionError(f"cannot slice {type_name(obj)}")
        bounds: list[int | None] = []
        for b in (node.lo, node.hi):
            if b is None:
                bounds.append(None)
                continue
            v = as_number(self.visit(b))
            if not isinstance(v, int):
                raise ExpressionError("slice bounds must be integers")
            bounds.append(v)
        return obj[bounds[0] : bounds[1]]

    def call(self, node: Call) -> Any:
        spec = FUNCTIONS[node.name]
        if spec.predicate:
            pred = node.args[1]
            body = pred.body if isinstance(pred, Predicate) else pred
            args: list[Any] = [self.visit(node.args[0]), body]
        else:
            args = [self.visit(a) for a in node.args]
        try:
            return spec.impl(self, args)
        except (ExpressionError, RecursionError):
            raise
        except (ValueError, TypeError, OverflowError, ZeroDivisionError, KeyError, IndexError) as e:
            raise ExpressionError(f"{node.name}(): {e}") from None

    # --- operators -------------------------------------------------------------------------------

    def binary(self, node: Binary, soft: bool) -> Any:
        op = node.op
        if op == "&&":
            return as_bool(self.visit(node.left), "left of '&&'") and as_bool(
                self.visit(node.right), "right of '&&'"
            )
        if op == "||":
            return as_bool(self.visit(node.left), "left of '||'") or as_bool(
                self.visit(node.right), "right of '||'"
            )
        if op == "??":
            left = self.visit(node.left, soft=True)
            return self.visit(node.right, soft) if left is None else left
        a = self.visit(node.left)
        b = self.visit(node.right)
        if op == "==":
            return equal(a, b)
        if op == "!=":
            return not equal(a, b)
        if op in ("<", "<=", ">", ">="):
            return compare(op, a, b)
        if op == "in":
            return contains(b, a)
        if op == "not in":
            return not contains(b, a)
        if op == "=~":
            return search(text(b, "regular expression"), text(a, "left of '=~'"))
        if op == "!~":
            return not search(text(b, "regular expression"), text(a, "left of '!~'"))
        if op == "contains":
            return text(b) in text(a)
        if op == "startsWith":
            return text(a).startswith(text(b))
        if op == "endsWith":
            return text(a).endswith(text(b))
        if op == "..":
            lo, hi = as_number(a), as_number(b)
            if not isinstance(lo, int) or not isinstance(hi, int):
                raise ExpressionError("range bounds must be integers")
            if hi - lo + 1 > MAX_RANGE:
                raise ExpressionError(f"range longer than {MAX_RANGE}")
            self.tick(max(0, hi - lo + 1))
            return list(range(lo, hi + 1))
        result = arithmetic(op, a, b)
        if isinstance(result, list):
            self.tick(len(result))
        return result


def _num(v: Any, op: str) -> int | float:
    n = as_number(v) if not isinstance(v, bool) else None
    if n is None:
        raise ExpressionError(f"'{op}' needs numbers, got {short(v)}")
    return n


def arithmetic(op: str, a: Any, b: Any) -> Any:
    if op == "+":
        if isinstance(a, str) and isinstance(b, str):
            return check_str(a + b)
        if isinstance(a, list | tuple) and isinstance(b, list | tuple):
            return [*a, *b]
        if isinstance(a, str) != isinstance(b, str) and (is_number(a) or is_number(b)):
            s = a if isinstance(a, str) else b
            if as_number(s) is None:
                return check_str(text(a) + text(b))
    x, y = _num(a, op), _num(b, op)
    if op == "+":
        r = x + y
    elif op == "-":
        r = x - y
    elif op == "*":
        r = x * y
    elif op == "/":
        if y == 0:
            raise ExpressionError("division by zero")
        r = x / y
    elif op == "%":
        if isinstance(x, int) and isinstance(y, int):
            from engine.expr._functions import go_mod

            return go_mod(x, y)
        if y == 0:
            raise ExpressionError("division by zero")
        r = math.fmod(x, y)
    elif op == "**":
        try:
            r = float(x) ** float(y)
        except (OverflowError, ZeroDivisionError):
            raise ExpressionError(f"{short(x)} ** {short(y)} is out of range") from None
        if isinstance(r, complex):
            raise ExpressionError(f"{short(x)} ** {short(y)} is not a real number")
    else:  # pragma: no cover
        raise ExpressionError(f"unknown operator {op}")
    if isinstance(r, int):
        if not INT64_MIN <= r <= INT64_MAX:
            raise ExpressionError("integer overflow")
        return r
    if not math.isfinite(r):
        raise ExpressionError(f"{short(x)} {op} {short(y)} is out of range")
    return r


@functools.lru_cache(maxsize=256)
def _filter_ast(text: str) -> Node:
    """Parse a JSONPath filter body (`@.age > 42`) as an expression over `#`."""
    from engine.expr._parser import _Parser

    out: list[str] = []
    quote = ""
    for c in text:
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "@":
            c = "#"
        out.append(c)
    parser = _Parser("".join(out))
    parser.predicates = 1
    return Predicate(parser.parse()).body
