"""A small JSONPath: `$`, `.a`, `['a']`, `["a"]`, `[0]`, `[-1]`, `[1:3]`, `[*]`, `.*`, `..a`,
`[0,2]`, and filters `[?(@.age > 42 && @.name == "x")]` (the filter is an expression of this
language with `@` as the element).

A definite path (only names and indexes) gives one value and a missing key is an error; a path
with a wildcard, slice, union, descent or filter gives a list of what matched.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import ExpressionError

__all__ = ["jsonpath"]

MAX_PATH = 1000


@dataclass(frozen=True, slots=True)
class _Step:
    kind: str  # key | index | slice | wild | union | descend | filter
    key: str = ""
    index: int = 0
    lo: int | None = None
    hi: int | None = None
    indexes: tuple[int | str, ...] = ()


def _fail(msg: str, path: str) -> ExpressionError:
    return ExpressionError(f"jsonpath {path!r}: {msg}")


def _quoted(path: str, i: int) -> tuple[str, int]:
    q = path[i]
    out: list[str] = []
    j = i + 1
    while j < len(path):
        c = path[j]
        if c == "\\" and j + 1 < len(path):
            out.append(path[j + 1])
            j += 2
            continue
        if c == q:
            return "".join(out), j + 1
        out.append(c)
        j += 1
    raise _fail("unterminated string", path)


def _filter_end(path: str, i: int) -> int:
    """Offset just past the `)` closing the `(` at `i`, skipping quoted parts."""
    depth = 0
    j = i
    while j < len(path):
        c = path[j]
        if c in "'\"":
            _, j = _quoted(path, j)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    raise _fail("unterminated filter", path)


def _int(s: str, path: str) -> int:
    s = s.strip()
    try:
        return int(s)
    except ValueError:
        raise _fail(f"bad index {s!r}", path) from None


@functools.lru_cache(maxsize=256)
def _parse(path: str) -> tuple[_Step, ...]:
    if len(path) > MAX_PATH:
        raise _fail("path too long", path[:40] + "...")
    p = path.strip()
    if p.startswith("$"):
        i = 1
    elif p[:1] in (".", "["):
        i = 0
    else:
        p = "." + p
        i = 0
    steps: list[_Step] = []
    n = len(p)
    while i < n:
        c = p[i]
        if p.startswith("..", i):
            j = i + 2
            while j < n and p[j] not in ".[":
                j += 1
            name = p[i + 2 : j]
            if not name:
                raise _fail("`..` needs a name", path)
            steps.append(_Step("descend", key=name))
            i = j
        elif c == ".":
            j = i + 1
            while j < n and p[j] not in ".[":
                j += 1
            name = p[i + 1 : j]
            if not name:
                raise _fail(f"empty name at {i}", path)
            steps.append(_Step("wild") if name == "*" else _Step("key", key=name))
            i = j
        elif c == "[":
            j = i + 1
            while j < n and p[j] == " ":
                j += 1
            if j < n and p[j] in "'\"":
                name, j = _quoted(p, j)
                while j < n and p[j] == " ":
                    j += 1
                if j >= n or p[j] != "]":
                    raise _fail(f"expected ] at {j}", path)
                steps.append(_Step("key", key=name))
                i = j + 1
            elif p.startswith("?(", j):
                end = _filter_end(p, j + 1)
                if end >= n or p[end] != "]":
                    raise _fail(f"expected ] at {end}", path)
                steps.append(_Step("filter", key=p[j + 2 : end - 1]))
                i = end + 1
            else:
                k = p.find("]", j)
                if k < 0:
                    raise _fail("unterminated [", path)
                inner = p[j:k].strip()
                if inner == "*":
                    steps.append(_Step("wild"))
                elif ":" in inner:
                    lo_s, _, hi_s = inner.partition(":")
                    if ":" in hi_s:
                        raise _fail("slice steps are not supported", path)
                    lo = _int(lo_s, path) if lo_s.strip() else None
                    hi = _int(hi_s, path) if hi_s.strip() else None
                    steps.append(_Step("slice", lo=lo, hi=hi))
                elif "," in inner:
                    steps.append(
                        _Step("union", indexes=tuple(_int(x, path) for x in inner.split(",")))
                    )
                else:
                    steps.append(_Step("index", index=_int(inner, path)))
                i = k + 1
        else:
            raise _fail(f"unexpected {c!r} at {i}", path)
    return tuple(steps)


def _descend(value: Any, name: str, out: list[Any], budget: list[int]) -> None:
    stack = [value]
    while stack:
        budget[0] -= 1
        if budget[0] < 0:
            raise ExpressionError("jsonpath: document too large to search")
        v = stack.pop()
        if isinstance(v, Mapping):
            if name == "*":
                out.extend(v.values())
            elif name in v:
                out.append(v[name])
            stack.extend(reversed(list(v.values())))
        elif isinstance(v, list):
            stack.extend(reversed(v))


def jsonpath(document: Any, path: str, matches: Callable[[str, Any], bool]) -> Any:
    """Select `path` in `document`; `matches(text, element)` evaluates a `[?(...)]` filter."""
    steps = _parse(path)
    current: list[Any] = [document]
    multi = False
    budget = [1_000_000]
    for step in steps:
        nxt: list[Any] = []
        for v in current:
            if step.kind == "key":
                if isinstance(v, Mapping) and step.key in v:
                    nxt.append(v[step.key])
                elif not multi:
                    raise _fail(f"key {step.key!r} not found", path)
            elif step.kind == "index":
                if isinstance(v, list) and -len(v) <= step.index < len(v):
                    nxt.append(v[step.index])
                elif not multi:
                    raise _fail(f"index {step.index} out of range", path)
            elif step.kind == "slice":
                if isinstance(v, list):
                    nxt.extend(v[step.lo : step.hi])
                elif not multi:
                    raise _fail("slice of a non-array", path)
            elif step.kind == "union":
                if isinstance(v, list):
                    nxt.extend(
                        v[k] for k in step.indexes if isinstance(k, int) and -len(v) <= k < len(v)
                    )
            elif step.kind == "wild":
                if isinstance(v, Mapping):
                    nxt.extend(v[k] for k in sorted(v, key=str))
                elif isinstance(v, list):
                    nxt.extend(v)
            elif step.kind == "descend":
                _descend(v, step.key, nxt, budget)
            else:  # filter
                items = (
                    v if isinstance(v, list) else list(v.values()) if isinstance(v, Mapping) else []
                )
                nxt.extend(x for x in items if matches(step.key, x))
        if step.kind not in ("key", "index"):
            multi = True
        current = nxt
    if multi:
        return current
    return current[0]
