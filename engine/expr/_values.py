"""Value semantics shared by operators and functions: coercion, equality, order, formatting.

Values are JSON-like: None, bool, int (int64 range), float (finite), str, list, dict.
Numeric strings compare as numbers (govaluate coerces them): `"3" < "10"`, `"1" == 1`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from engine.errors import ExpressionError

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_STRING",
    "as_bool",
    "as_number",
    "check_int",
    "check_str",
    "compare",
    "equal",
    "format_number",
    "from_json",
    "go_string",
    "is_number",
    "short",
    "text",
    "to_json",
    "type_name",
]

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
#: Longest string an operation may build (concatenation, join, replace ...).
MAX_STRING = 1_000_000
_NUMERIC = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*")
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")


def type_name(v: object) -> str:
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, Mapping):
        return "map"
    if isinstance(v, Sequence):
        return "array"
    return type(v).__name__


def is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def check_int(v: int) -> int:
    if not INT64_MIN <= v <= INT64_MAX:
        raise ExpressionError("integer overflow")
    return v


def check_str(s: str) -> str:
    if len(s) > MAX_STRING:
        raise ExpressionError(f"string longer than {MAX_STRING} characters")
    return s


def as_number(v: object) -> int | float | None:
    """The number `v` is or spells (`"3"`, `" 2.5 "`), else None."""
    if is_number(v):
        assert isinstance(v, int | float)
        return v
    if isinstance(v, str) and len(v) <= 400 and _NUMERIC.fullmatch(v):
        if _INTEGER.fullmatch(v):
            i = int(v)
            if INT64_MIN <= i <= INT64_MAX:
                return i
        f = float(v)
        return f if math.isfinite(f) else None
    return None


def as_bool(v: object, what: str = "value") -> bool:
    """A boolean, or the strings `true`/`false` (any case); else ExpressionError."""
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    raise ExpressionError(f"{what} is not a boolean: {short(v)}")


def short(v: object) -> str:
    s = go_string(v) if not isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    return s if len(s) <= 60 else s[:57] + "..."


def equal(a: object, b: object) -> bool:
    """`==`: nil only equals nil; numbers (and numeric strings) by value; bools also match the
    strings "true"/"false"; arrays and maps element by element; otherwise strict."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        if isinstance(a, bool) and isinstance(b, bool):
            return a == b
        other, flag = (b, a) if isinstance(a, bool) else (a, b)
        return isinstance(other, str) and other.strip().lower() == ("true" if flag else "false")
    na, nb = as_number(a), as_number(b)
    if na is not None and nb is not None:
        return na == nb
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    return False


def compare(op: str, a: object, b: object) -> bool:
    """`< <= > >=`: numerically if both sides are (or spell) numbers, else as strings."""
    na, nb = as_number(a), as_number(b)
    x: Any
    y: Any
    if na is not None and nb is not None:
        x, y = na, nb
    elif isinstance(a, str) and isinstance(b, str):
        x, y = a, b
    else:
        raise ExpressionError(f"cannot compare {type_name(a)} {op} {type_name(b)}")
    if op == "<":
        return bool(x < y)
    if op == "<=":
        return bool(x <= y)
    if op == ">":
        return bool(x > y)
    return bool(x >= y)


def format_number(v: int | float) -> str:
    """Numbers as Go's encoding/json writes them: `8` for 8.0, `0.5`, `1e+21`, `1e-7`."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if not math.isfinite(v):
        raise ExpressionError(f"cannot format {v}")
    if v == 0:
        return "0"
    a = abs(v)
    if 1e-6 <= a < 1e21:
        s = format(Decimal(repr(v)), "f")
        if "." in s:
            s = s.rstrip("0").rstrip(".")
        return s
    s = repr(v)
    mant, _, exp = s.partition("e")
    if mant.endswith(".0"):
        mant = mant[:-2]
    sign = exp[0] if exp[:1] in "+-" else "+"
    digits = exp.lstrip("+-").lstrip("0") or "0"
    return f"{mant}e{sign}{digits}"


def text(v: object, what: str = "argument") -> str:
    """A string operand: strings as they are, numbers and bools formatted; else ExpressionError."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if is_number(v):
        assert isinstance(v, int | float)
        return format_number(v)
    raise ExpressionError(f"{what} must be a string, not {type_name(v)}")


def go_string(v: object) -> str:
    """Like Go's `fmt.Sprint`: `<nil>`, `true`, `[1 2]`, `map[a:1]`."""
    if v is None:
        return "<nil>"
    if isinstance(v, str):
        return v
    if isinstance(v, bool) or is_number(v):
        return text(v)
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{k}:{go_string(v[k])}" for k in sorted(v, key=str)) + "]"
    if isinstance(v, list | tuple):
        return "[" + " ".join(go_string(x) for x in v) + "]"
    return str(v)


def _json_string(s: str) -> str:
    out = json.dumps(s, ensure_ascii=False)
    # Go's json.Marshal escapes HTML characters and the JavaScript line separators.
    return (
        out.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def to_json(v: object) -> str:
    """Compact JSON like Go's json.Marshal (map keys sorted, `8` for 8.0)."""
    parts: list[str] = []
    size = 0
    # Iterative, so deep data cannot exhaust the stack.
    stack: list[object] = [v]
    while stack:
        item = stack.pop()
        if isinstance(item, _Raw):
            parts.append(item.s)
            size += len(item.s)
        elif item is None:
            parts.append("null")
        elif isinstance(item, bool):
            parts.append("true" if item else "false")
        elif is_number(item):
            assert isinstance(item, int | float)
            parts.append(format_number(item))
        elif isinstance(item, str):
            s = _json_string(item)
            parts.append(s)
            size += len(s)
        elif isinstance(item, Mapping):
            keys = sorted(item, key=str)
            todo: list[object] = [_Raw("{")]
            for idx, k in enumerate(keys):
                if idx:
                    todo.append(_Raw(","))
                todo.append(_Raw(_json_string(str(k)) + ":"))
                todo.append(item[k])
            todo.append(_Raw("}"))
            stack.extend(reversed(todo))
        elif isinstance(item, list | tuple):
            todo = [_Raw("[")]
            for idx, x in enumerate(item):
                if idx:
                    todo.append(_Raw(","))
                todo.append(x)
            todo.append(_Raw("]"))
            stack.extend(reversed(todo))
        else:
            raise ExpressionError(f"cannot encode {type_name(item)} as JSON")
        if size > MAX_STRING:
            raise ExpressionError(f"JSON longer than {MAX_STRING} characters")
    return "".join(parts)


class _Raw:
    __slots__ = ("s",)

    def __init__(self, s: str) -> None:
        self.s = s


def from_json(s: object) -> Any:
    """Decode JSON text (a non-string is returned as it is)."""
    if not isinstance(s, str):
        return s
    try:
        return json.loads(s, parse_constant=_reject_constant)
    except RecursionError:
        raise ExpressionError("JSON nested too deeply") from None
    except ValueError as e:
        raise ExpressionError(f"invalid JSON: {e}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid constant {name}")
