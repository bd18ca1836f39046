"""Built-in functions: Argo's (`asInt`, `asFloat`, `jsonpath`, `toJson`), expr-lang's
(`len`, `filter`, `map`, `split`, ...) and the `sprig.*` subset found in Argo workflows.

Each function declares its arity, so a call with an unknown name or a wrong number of arguments
is refused when the expression is parsed. Predicate functions (`filter`, `map`, ...) receive the
`Predicate` node as their second argument and call `ctx.predicate` per element.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from engine.errors import ExpressionError
from engine.expr._ast import Node
from engine.expr._jsonpath import jsonpath
from engine.expr._regex import search
from engine.expr._values import (
    INT64_MAX,
    INT64_MIN,
    MAX_STRING,
    as_bool,
    as_number,
    check_int,
    check_str,
    equal,
    from_json,
    go_string,
    is_number,
    short,
    text,
    to_json,
    type_name,
)

__all__ = ["FUNCTIONS", "PREDICATE_FUNCTIONS", "Context", "Function"]


class Context(Protocol):
    def predicate(self, body: Node, item: Any, index: int) -> Any: ...

    def filter_matches(self, text: str, item: Any) -> bool: ...

    def tick(self, n: int = 1) -> None: ...


Impl = Callable[[Context, list[Any]], Any]


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    min_args: int
    max_args: int | None  # None: any number
    impl: Impl
    predicate: bool = False  # args[1] is a Predicate node


FUNCTIONS: dict[str, Function] = {}


def _fn(
    name: str, min_args: int, max_args: int | None = -1, *, predicate: bool = False
) -> Callable[[Impl], Impl]:
    def register(impl: Impl) -> Impl:
        for n in name.split("|"):
            FUNCTIONS[n] = Function(
                n, min_args, min_args if max_args == -1 else max_args, impl, predicate
            )
        return impl

    return register


def _err(name: str, msg: str) -> ExpressionError:
    return ExpressionError(f"{name}(): {msg}")


def _list(name: str, v: Any) -> list[Any]:
    if isinstance(v, list | tuple):
        return list(v)
    raise _err(name, f"expected an array, got {type_name(v)}")


def _num(name: str, v: Any) -> int | float:
    n = as_number(v)
    if n is None:
        raise _err(name, f"expected a number, got {short(v)}")
    return n


# --- Argo ------------------------------------------------------------------------------------


@_fn("asInt", 1)
def _as_int(ctx: Context, a: list[Any]) -> int:
    v = a[0]
    if isinstance(v, bool):
        raise _err("asInt", f"cannot convert {short(v)} to int")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and math.isfinite(v):
        return check_int(int(v))
    if isinstance(v, str) and re.fullmatch(r"\s*[+-]?\d{1,19}\s*", v):
        return check_int(int(v))
    raise _err("asInt", f"cannot convert {short(v)} to int")


@_fn("asFloat", 1)
def _as_float(ctx: Context, a: list[Any]) -> float:
    n = as_number(a[0]) if not isinstance(a[0], bool) else None
    if n is None:
        raise _err("asFloat", f"cannot convert {short(a[0])} to float")
    return float(n)


@_fn("jsonpath", 2)
def _jsonpath(ctx: Context, a: list[Any]) -> Any:
    doc = from_json(a[0]) if isinstance(a[0], str) else a[0]
    return jsonpath(doc, text(a[1], "jsonpath path"), ctx.filter_matches)


@_fn("toJson|toJSON", 1)
def _to_json(ctx: Context, a: list[Any]) -> str:
    return to_json(a[0])


@_fn("fromJson|fromJSON", 1)
def _from_json(ctx: Context, a: list[Any]) -> Any:
    return from_json(a[0])


# --- expr-lang: conversion -------------------------------------------------------------------


@_fn("int", 1)
def _int(ctx: Context, a: list[Any]) -> int:
    v = a[0]
    n = as_number(v) if not isinstance(v, bool) else None
    if n is None:
        raise _err("int", f"cannot convert {short(v)} to int")
    return check_int(int(n))


@_fn("float", 1)
def _float(ctx: Context, a: list[Any]) -> float:
    n = as_number(a[0]) if not isinstance(a[0], bool) else None
    if n is None:
        raise _err("float", f"cannot convert {short(a[0])} to float")
    return float(n)


@_fn("string", 1)
def _string(ctx: Context, a: list[Any]) -> str:
    return check_str(go_string(a[0]))


@_fn("type", 1)
def _type(ctx: Context, a: list[Any]) -> str:
    return type_name(a[0])


@_fn("toBase64", 1)
def _to_b64(ctx: Context, a: list[Any]) -> str:
    return base64.b64encode(text(a[0]).encode()).decode()


@_fn("fromBase64", 1)
def _from_b64(ctx: Context, a: list[Any]) -> str:
    return _b64dec("fromBase64", text(a[0]))


def _b64dec(name: str, s: str) -> str:
    try:
        return base64.b64decode(s.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as e:
        raise _err(name, f"invalid base64: {e}") from None


# --- expr-lang: strings ----------------------------------------------------------------------


@_fn("len", 1)
def _len(ctx: Context, a: list[Any]) -> int:
    v = a[0]
    if isinstance(v, str | list | tuple | Mapping):
        return len(v)
    raise _err("len", f"cannot take the length of {type_name(v)}")


@_fn("lower", 1)
def _lower(ctx: Context, a: list[Any]) -> str:
    return text(a[0]).lower()


@_fn("upper", 1)
def _upper(ctx: Context, a: list[Any]) -> str:
    return text(a[0]).upper()


@_fn("trim", 1, 2)
def _trim(ctx: Context, a: list[Any]) -> str:
    return text(a[0]).strip(text(a[1]) if len(a) > 1 else None)


@_fn("trimPrefix", 2)
def _trim_prefix(ctx: Context, a: list[Any]) -> str:
    return text(a[0]).removeprefix(text(a[1]))


@_fn("trimSuffix", 2)
def _trim_suffix(ctx: Context, a: list[Any]) -> str:
    return text(a[0]).removesuffix(text(a[1]))


def _split(name: str, s: str, sep: str, limit: int = -1) -> list[str]:
    if sep == "":
        parts = list(s)
        if limit > 0 and len(parts) > limit:
            parts = [*parts[: limit - 1], "".join(parts[limit - 1 :])]
        return parts
    if limit == 0:
        return []
    return s.split(sep, limit - 1 if limit > 0 else -1)


@_fn("split", 2, 3)
def _split_fn(ctx: Context, a: list[Any]) -> list[str]:
    s, sep = text(a[0]), text(a[1])
    limit = int(_num("split", a[2])) if len(a) > 2 else -1
    parts = _split("split", s, sep, limit)
    ctx.tick(len(parts))
    return parts


@_fn("join", 1, 2)
def _join(ctx: Context, a: list[Any]) -> str:
    items = _list("join", a[0])
    ctx.tick(len(items))
    sep = text(a[1]) if len(a) > 1 else ""
    return check_str(sep.join(text(x, "join element") for x in items))


@_fn("replace", 3)
def _replace(ctx: Context, a: list[Any]) -> str:
    s, old, new = text(a[0]), text(a[1]), text(a[2])
    if old and len(new) > len(old) and s.count(old) * (len(new) - len(old)) + len(s) > MAX_STRING:
        raise _err("replace", "result too long")
    return check_str(s.replace(old, new))


@_fn("indexOf", 2)
def _index_of(ctx: Context, a: list[Any]) -> int:
    return text(a[0]).find(text(a[1]))


@_fn("lastIndexOf", 2)
def _last_index_of(ctx: Context, a: list[Any]) -> int:
    return text(a[0]).rfind(text(a[1]))


def contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        return text(item) in container
    if isinstance(container, list | tuple):
        return any(equal(item, x) for x in container)
    if isinstance(container, Mapping):
        return (item if isinstance(item, str) else text(item)) in container
    if container is None:
        return False
    raise ExpressionError(f"cannot look for a value in {type_name(container)}")


@_fn("contains", 2)
def _contains(ctx: Context, a: list[Any]) -> bool:
    return contains(a[0], a[1])


@_fn("startsWith|hasPrefix", 2)
def _starts(ctx: Context, a: list[Any]) -> bool:
    return text(a[0]).startswith(text(a[1]))


@_fn("endsWith|hasSuffix", 2)
def _ends(ctx: Context, a: list[Any]) -> bool:
    return text(a[0]).endswith(text(a[1]))


# --- expr-lang: collections ------------------------------------------------------------------


@_fn("get", 2)
def _get(ctx: Context, a: list[Any]) -> Any:
    v, k = a
    if isinstance(v, Mapping):
        if k in v:
            return v[k]
        return v.get(text(k)) if k is not None else None
    if isinstance(v, list | tuple):
        i = as_number(k)
        if isinstance(i, int) and -len(v) <= i < len(v):
            return v[i]
        return None
    return None


@_fn("concat", 1, None)
def _concat(ctx: Context, a: list[Any]) -> list[Any]:
    out: list[Any] = []
    for x in a:
        out.extend(_list("concat", x))
        ctx.tick(len(out))
    return out


@_fn("keys", 1)
def _keys(ctx: Context, a: list[Any]) -> list[Any]:
    if not isinstance(a[0], Mapping):
        raise _err("keys", f"expected a map, got {type_name(a[0])}")
    return sorted(a[0], key=str)


@_fn("values", 1)
def _values(ctx: Context, a: list[Any]) -> list[Any]:
    if not isinstance(a[0], Mapping):
        raise _err("values", f"expected a map, got {type_name(a[0])}")
    return [a[0][k] for k in sorted(a[0], key=str)]


@_fn("first", 1)
def _first(ctx: Context, a: list[Any]) -> Any:
    items = _list("first", a[0])
    return items[0] if items else None


@_fn("last", 1)
def _last(ctx: Context, a: list[Any]) -> Any:
    items = _list("last", a[0])
    return items[-1] if items else None


@_fn("reverse", 1)
def _reverse(ctx: Context, a: list[Any]) -> list[Any]:
    return _list("reverse", a[0])[::-1]


@_fn("uniq", 1)
def _uniq(ctx: Context, a: list[Any]) -> list[Any]:
    out: list[Any] = []
    items = _list("uniq", a[0])
    ctx.tick(len(items) * max(1, min(len(items), 1000)))
    for x in items:
        if not any(equal(x, y) for y in out):
            out.append(x)
    return out


@_fn("sort", 1, 2)
def _sort(ctx: Context, a: list[Any]) -> list[Any]:
    items = _list("sort", a[0])
    desc = len(a) > 1 and text(a[1]) == "desc"
    ctx.tick(len(items))
    if all(is_number(x) for x in items):
        return sorted(items, reverse=desc)
    if all(isinstance(x, str) for x in items):
        return sorted(items, reverse=desc)
    raise _err("sort", "can only sort an array of numbers or of strings")


def _numbers(name: str, a: list[Any]) -> list[int | float]:
    items = a[0] if len(a) == 1 and isinstance(a[0], list | tuple) else a
    return [_num(name, x) for x in items]


@_fn("max", 1, None)
def _max(ctx: Context, a: list[Any]) -> int | float:
    nums = _numbers("max", a)
    if not nums:
        raise _err("max", "no values")
    return max(nums)


@_fn("min", 1, None)
def _min(ctx: Context, a: list[Any]) -> int | float:
    nums = _numbers("min", a)
    if not nums:
        raise _err("min", "no values")
    return min(nums)


@_fn("sum", 1)
def _sum(ctx: Context, a: list[Any]) -> int | float:
    total: int | float = sum(_numbers("sum", [_list("sum", a[0])]))
    return check_int(total) if isinstance(total, int) else total


@_fn("mean", 1)
def _mean(ctx: Context, a: list[Any]) -> float:
    nums = _numbers("mean", [_list("mean", a[0])])
    return float(sum(nums)) / len(nums) if nums else 0.0


@_fn("abs", 1)
def _abs(ctx: Context, a: list[Any]) -> int | float:
    n = _num("abs", a[0])
    return check_int(abs(n)) if isinstance(n, int) else abs(n)


@_fn("ceil", 1)
def _ceil(ctx: Context, a: list[Any]) -> float:
    return float(math.ceil(_num("ceil", a[0])))


@_fn("floor", 1)
def _floor(ctx: Context, a: list[Any]) -> float:
    return float(math.floor(_num("floor", a[0])))


@_fn("round", 1)
def _round(ctx: Context, a: list[Any]) -> float:
    n = float(_num("round", a[0]))
    return float(math.floor(abs(n) + 0.5)) * (1 if n >= 0 else -1)


# --- expr-lang: predicates -------------------------------------------------------------------


def _each(ctx: Context, name: str, a: list[Any]) -> list[tuple[int, Any, Any]]:
    items = a[0]
    if isinstance(items, Mapping):
        items = [items[k] for k in sorted(items, key=str)]
    seq = _list(name, items)
    ctx.tick(len(seq))
    return [(i, x, None) for i, x in enumerate(seq)]


def _test(ctx: Context, body: Node, x: Any, i: int) -> bool:
    return as_bool(ctx.predicate(body, x, i), "predicate result")


@_fn("filter", 2, predicate=True)
def _filter(ctx: Context, a: list[Any]) -> list[Any]:
    return [x for i, x, _ in _each(ctx, "filter", a) if _test(ctx, a[1], x, i)]


@_fn("map", 2, predicate=True)
def _map(ctx: Context, a: list[Any]) -> list[Any]:
    return [ctx.predicate(a[1], x, i) for i, x, _ in _each(ctx, "map", a)]


@_fn("all", 2, predicate=True)
def _all(ctx: Context, a: list[Any]) -> bool:
    return all(_test(ctx, a[1], x, i) for i, x, _ in _each(ctx, "all", a))


@_fn("any", 2, predicate=True)
def _any(ctx: Context, a: list[Any]) -> bool:
    return any(_test(ctx, a[1], x, i) for i, x, _ in _each(ctx, "any", a))


@_fn("none", 2, predicate=True)
def _none(ctx: Context, a: list[Any]) -> bool:
    return not any(_test(ctx, a[1], x, i) for i, x, _ in _each(ctx, "none", a))


@_fn("one", 2, predicate=True)
def _one(ctx: Context, a: list[Any]) -> bool:
    return sum(1 for i, x, _ in _each(ctx, "one", a) if _test(ctx, a[1], x, i)) == 1


@_fn("count", 2, predicate=True)
def _count(ctx: Context, a: list[Any]) -> int:
    return sum(1 for i, x, _ in _each(ctx, "count", a) if _test(ctx, a[1], x, i))


@_fn("find", 2, predicate=True)
def _find(ctx: Context, a: list[Any]) -> Any:
    return next((x for i, x, _ in _each(ctx, "find", a) if _test(ctx, a[1], x, i)), None)


@_fn("findIndex", 2, predicate=True)
def _find_index(ctx: Context, a: list[Any]) -> int:
    return next((i for i, x, _ in _each(ctx, "findIndex", a) if _test(ctx, a[1], x, i)), -1)


@_fn("findLast", 2, predicate=True)
def _find_last(ctx: Context, a: list[Any]) -> Any:
    items = _each(ctx, "findLast", a)
    return next((x for i, x, _ in reversed(items) if _test(ctx, a[1], x, i)), None)


@_fn("findLastIndex", 2, predicate=True)
def _find_last_index(ctx: Context, a: list[Any]) -> int:
    items = _each(ctx, "findLastIndex", a)
    return next((i for i, x, _ in reversed(items) if _test(ctx, a[1], x, i)), -1)


PREDICATE_FUNCTIONS = frozenset(n for n, f in FUNCTIONS.items() if f.predicate)

# --- sprig -----------------------------------------------------------------------------------


def _to_int64(v: Any) -> int:
    """spf13/cast ToInt64 as sprig uses it: invalid input is 0."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v) if math.isfinite(v) and INT64_MIN <= v <= INT64_MAX else 0
    if isinstance(v, str):
        s = v.strip()
        m = re.fullmatch(r"([+-]?\d+)\.0*", s)
        if m:
            s = m.group(1)
        try:
            if re.fullmatch(r"[+-]?0[0-7]+", s):
                i = int(s, 8)
            elif re.fullmatch(r"[+-]?(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|\d+)", s):
                i = int(s, 0)
            else:
                return 0
        except ValueError:
            return 0
        return i if INT64_MIN <= i <= INT64_MAX else 0
    return 0


def _to_float64(v: Any) -> float:
    if isinstance(v, bool):
        return float(v)
    n = as_number(v)
    return float(n) if n is not None else 0.0


def _sprig(name: str, min_args: int, max_args: int | None = -1) -> Callable[[Impl], Impl]:
    return _fn("sprig." + name, min_args, max_args)


@_sprig("trim", 1)
def _s_trim(ctx: Context, a: list[Any]) -> str:
    return go_string(a[0]).strip()


@_sprig("trimAll", 2)
def _s_trim_all(ctx: Context, a: list[Any]) -> str:
    return go_string(a[1]).strip(go_string(a[0]))


@_sprig("trimPrefix", 2)
def _s_trim_prefix(ctx: Context, a: list[Any]) -> str:
    return go_string(a[1]).removeprefix(go_string(a[0]))


@_sprig("trimSuffix", 2)
def _s_trim_suffix(ctx: Context, a: list[Any]) -> str:
    return go_string(a[1]).removesuffix(go_string(a[0]))


@_sprig("upper", 1)
def _s_upper(ctx: Context, a: list[Any]) -> str:
    return go_string(a[0]).upper()


@_sprig("lower", 1)
def _s_lower(ctx: Context, a: list[Any]) -> str:
    return go_string(a[0]).lower()


@_sprig("title", 1)
def _s_title(ctx: Context, a: list[Any]) -> str:
    return re.sub(r"(^|\s)(\S)", lambda m: m.group(1) + m.group(2).upper(), go_string(a[0]))


@_sprig("nospace", 1)
def _s_nospace(ctx: Context, a: list[Any]) -> str:
    return "".join(go_string(a[0]).split())


@_sprig("int|sprig.int64", 1)
def _s_int(ctx: Context, a: list[Any]) -> int:
    return _to_int64(a[0])


@_sprig("float64", 1)
def _s_float64(ctx: Context, a: list[Any]) -> float:
    return _to_float64(a[0])


@_sprig("atoi", 1)
def _s_atoi(ctx: Context, a: list[Any]) -> int:
    s = go_string(a[0])
    if re.fullmatch(r"[+-]?\d{1,19}", s):
        i = int(s)
        return i if INT64_MIN <= i <= INT64_MAX else 0
    return 0


@_sprig("add", 0, None)
def _s_add(ctx: Context, a: list[Any]) -> int:
    return check_int(sum(_to_int64(x) for x in a))


@_sprig("add1", 1)
def _s_add1(ctx: Context, a: list[Any]) -> int:
    return check_int(_to_int64(a[0]) + 1)


@_sprig("sub", 2)
def _s_sub(ctx: Context, a: list[Any]) -> int:
    return check_int(_to_int64(a[0]) - _to_int64(a[1]))


@_sprig("mul", 1, None)
def _s_mul(ctx: Context, a: list[Any]) -> int:
    out = 1
    for x in a:
        out = check_int(out * _to_int64(x))
    return out


def go_div(x: int, y: int) -> int:
    """Integer division truncating toward zero, as Go does."""
    if y == 0:
        raise ExpressionError("integer division by zero")
    q = abs(x) // abs(y)
    return check_int(q if (x >= 0) == (y >= 0) else -q)


def go_mod(x: int, y: int) -> int:
    """Remainder with the sign of the dividend, as Go's `%`."""
    if y == 0:
        raise ExpressionError("integer division by zero")
    r = abs(x) % abs(y)
    return r if x >= 0 else -r


@_sprig("div", 2)
def _s_div(ctx: Context, a: list[Any]) -> int:
    return go_div(_to_int64(a[0]), _to_int64(a[1]))


@_sprig("mod", 2)
def _s_mod(ctx: Context, a: list[Any]) -> int:
    return go_mod(_to_int64(a[0]), _to_int64(a[1]))


@_sprig("max", 1, None)
def _s_max(ctx: Context, a: list[Any]) -> int:
    return max(_to_int64(x) for x in a)


@_sprig("min", 1, None)
def _s_min(ctx: Context, a: list[Any]) -> int:
    return min(_to_int64(x) for x in a)


@_sprig("toString", 1)
def _s_to_string(ctx: Context, a: list[Any]) -> str:
    return check_str(go_string(a[0]))


@_sprig("replace", 3)
def _s_replace(ctx: Context, a: list[Any]) -> str:
    # sprig's order: replace OLD NEW SOURCE
    return str(_replace(ctx, [go_string(a[2]), go_string(a[0]), go_string(a[1])]))


def empty(v: Any) -> bool:
    """sprig's `empty`: nil, "", 0, false, and empty arrays and maps."""
    if v is None or v is False:
        return True
    if isinstance(v, bool):
        return False
    if is_number(v):
        return bool(v == 0)
    if isinstance(v, str | list | tuple | Mapping):
        return len(v) == 0
    return False


@_sprig("empty", 1)
def _s_empty(ctx: Context, a: list[Any]) -> bool:
    return empty(a[0])


@_sprig("default", 1, 2)
def _s_default(ctx: Context, a: list[Any]) -> Any:
    # sprig: default DEFAULT GIVEN
    if len(a) < 2 or empty(a[1]):
        return a[0]
    return a[1]


@_sprig("ternary", 3)
def _s_ternary(ctx: Context, a: list[Any]) -> Any:
    return a[0] if as_bool(a[2], "sprig.ternary condition") else a[1]


@_sprig("list", 0, None)
def _s_list(ctx: Context, a: list[Any]) -> list[Any]:
    return list(a)


@_sprig("dict", 0, None)
def _s_dict(ctx: Context, a: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(a), 2):
        out[go_string(a[i])] = a[i + 1] if i + 1 < len(a) else ""
    return out


@_sprig("has", 2)
def _s_has(ctx: Context, a: list[Any]) -> bool:
    return isinstance(a[1], list | tuple) and any(equal(a[0], x) for x in a[1])


@_sprig("first", 1)
def _s_first(ctx: Context, a: list[Any]) -> Any:
    return _first(ctx, a)


@_sprig("last", 1)
def _s_last(ctx: Context, a: list[Any]) -> Any:
    return _last(ctx, a)


@_sprig("keys", 1, None)
def _s_keys(ctx: Context, a: list[Any]) -> list[Any]:
    out: list[Any] = []
    for m in a:
        out.extend(_keys(ctx, [m]))
    return out


@_sprig("toJson|sprig.mustToJson|sprig.toRawJson|sprig.mustToRawJson", 1)
def _s_to_json(ctx: Context, a: list[Any]) -> str:
    return to_json(a[0])


@_sprig("toPrettyJson|sprig.mustToPrettyJson", 1)
def _s_to_pretty_json(ctx: Context, a: list[Any]) -> str:
    import json

    return check_str(
        json.dumps(from_json(to_json(a[0])), indent=2, sort_keys=True, ensure_ascii=False)
    )


@_sprig("fromJson", 1)
def _s_from_json(ctx: Context, a: list[Any]) -> Any:
    try:
        return from_json(go_string(a[0]))
    except ExpressionError:
        return None


@_sprig("mustFromJson", 1)
def _s_must_from_json(ctx: Context, a: list[Any]) -> Any:
    return from_json(go_string(a[0]))


@_sprig("contains", 2)
def _s_contains(ctx: Context, a: list[Any]) -> bool:
    # sprig: contains SUBSTR STRING
    return go_string(a[0]) in go_string(a[1])


@_sprig("hasPrefix", 2)
def _s_has_prefix(ctx: Context, a: list[Any]) -> bool:
    return go_string(a[1]).startswith(go_string(a[0]))


@_sprig("hasSuffix", 2)
def _s_has_suffix(ctx: Context, a: list[Any]) -> bool:
    return go_string(a[1]).endswith(go_string(a[0]))


@_sprig("quote", 0, None)
def _s_quote(ctx: Context, a: list[Any]) -> str:
    import json

    return check_str(
        " ".join(json.dumps(go_string(x), ensure_ascii=False) for x in a if x is not None)
    )


@_sprig("squote", 0, None)
def _s_squote(ctx: Context, a: list[Any]) -> str:
    return check_str(" ".join(f"'{go_string(x)}'" for x in a if x is not None))


@_sprig("cat", 0, None)
def _s_cat(ctx: Context, a: list[Any]) -> str:
    return check_str(" ".join(go_string(x) for x in a if x is not None))


@_sprig("join", 2)
def _s_join(ctx: Context, a: list[Any]) -> str:
    items = a[1] if isinstance(a[1], list | tuple) else [a[1]]
    ctx.tick(len(items))
    return check_str(go_string(a[0]).join(go_string(x) for x in items if x is not None))


@_sprig("splitList", 2)
def _s_split_list(ctx: Context, a: list[Any]) -> list[str]:
    parts = _split("sprig.splitList", go_string(a[1]), go_string(a[0]))
    ctx.tick(len(parts))
    return parts


@_sprig("b64enc", 1)
def _s_b64enc(ctx: Context, a: list[Any]) -> str:
    return base64.b64encode(go_string(a[0]).encode()).decode()


@_sprig("b64dec", 1)
def _s_b64dec(ctx: Context, a: list[Any]) -> str:
    return _b64dec("sprig.b64dec", go_string(a[0]))


@_sprig("regexMatch", 2)
def _s_regex_match(ctx: Context, a: list[Any]) -> bool:
    return search(go_string(a[0]), go_string(a[1]))


# Go reference time layout elements, longest first where prefixes overlap.
_GO_LAYOUT = (
    "January", "Monday", "Z07:00", "-07:00", "Z0700", "-0700", "2006", "Jan", "Mon", "MST",
    ".000000000", ".000000", ".000", ".999999999", ".999999", ".999",
    "-07", "002", "__2", "01", "02", "_2", "03", "04", "05", "06", "15", "PM", "pm",
    "1", "2", "3", "4", "5",
)  # fmt: skip


def _zone(dt: datetime, colon: bool, z: bool, short_form: bool = False) -> str:
    off = dt.utcoffset() or timedelta(0)
    if z and off == timedelta(0):
        return "Z"
    minutes = int(off.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    h, m = divmod(abs(minutes), 60)
    if short_form:
        return f"{sign}{h:02d}"
    return f"{sign}{h:02d}:{m:02d}" if colon else f"{sign}{h:02d}{m:02d}"


def go_format_time(dt: datetime, layout: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(layout):
        for tok in _GO_LAYOUT:
            if layout.startswith(tok, i):
                break
        else:
            out.append(layout[i])
            i += 1
            continue
        i += len(tok)
        h12 = dt.hour % 12 or 12
        frac = f"{dt.microsecond:06d}"
        values = {
            "January": dt.strftime("%B"), "Monday": dt.strftime("%A"), "Jan": dt.strftime("%b"),
            "Mon": dt.strftime("%a"), "2006": f"{dt.year:04d}", "06": f"{dt.year % 100:02d}",
            "01": f"{dt.month:02d}", "1": str(dt.month), "02": f"{dt.day:02d}", "2": str(dt.day),
            "_2": f"{dt.day:2d}", "002": f"{dt.timetuple().tm_yday:03d}",
            "__2": f"{dt.timetuple().tm_yday:3d}", "15": f"{dt.hour:02d}", "03": f"{h12:02d}",
            "3": str(h12), "04": f"{dt.minute:02d}", "4": str(dt.minute),
            "05": f"{dt.second:02d}", "5": str(dt.second),
            "PM": "PM" if dt.hour >= 12 else "AM", "pm": "pm" if dt.hour >= 12 else "am",
            "MST": dt.tzname() or "UTC", "Z07:00": _zone(dt, True, True),
            "-07:00": _zone(dt, True, False), "Z0700": _zone(dt, False, True),
            "-0700": _zone(dt, False, False), "-07": _zone(dt, False, False, True),
            ".000": "." + frac[:3], ".000000": "." + frac, ".000000000": "." + frac + "000",
            ".999": ("." + frac[:3]).rstrip("0").rstrip("."),
            ".999999": ("." + frac).rstrip("0").rstrip("."),
            ".999999999": ("." + frac).rstrip("0").rstrip("."),
        }  # fmt: skip
        out.append(values[tok])
    return check_str("".join(out))


def _as_time(name: str, v: Any) -> datetime:
    if is_number(v):
        try:
            return datetime.fromtimestamp(float(v), tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise _err(name, f"timestamp out of range: {short(v)}") from None
    if isinstance(v, str):
        try:
            dt = datetime.fromisoformat(v.strip())
        except ValueError:
            raise _err(name, f"not an RFC 3339 time: {short(v)}") from None
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    raise _err(name, f"not a time: {short(v)}")


@_sprig("date", 2)
def _s_date(ctx: Context, a: list[Any]) -> str:
    layout = go_string(a[0])
    if len(layout) > 200:
        raise _err("sprig.date", "layout too long")
    return go_format_time(_as_time("sprig.date", a[1]), layout)
