"""`{{ }}` templating: simple reference tags and `{{= expression }}` tags.

A simple tag is `{{ path }}` where `path` has no spaces or braces (`inputs.parameters.x`,
`item`, `steps.a.outputs.result`); other `{{ ... }}` text is left alone. An expression tag
`{{= ... }}` ends at the first `}}` outside quotes and outside braces the expression opened
(so `{{= toJson({a: {b: 1}}) }}` works).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from engine.errors import ExpressionError
from engine.expr._errors import UnresolvedReference, error_at
from engine.expr._expression import parse
from engine.expr._values import format_number, is_number, to_json

__all__ = ["format_value", "render", "template_references", "validate_template"]

Lookup = Callable[[str], "str | None"]


@dataclass(frozen=True, slots=True)
class _Tag:
    start: int
    end: int
    kind: Literal["ref", "expr", "unterminated"]
    body: str


def _expr_end(s: str, i: int) -> int:
    """Offset of the `}}` closing an expression tag whose body starts at `i`; -1 if none."""
    depth = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c in "'\"`":
            j = i + 1
            while j < n and s[j] != c:
                j += 2 if (s[j] == "\\" and c != "`") else 1
            i = j + 1
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0 and s.startswith("}}", i):
                return i
            depth = max(0, depth - 1)
        i += 1
    return -1


def _is_path(body: str) -> bool:
    return bool(body) and not any(c.isspace() or c in "{}" for c in body)


def _scan(template: str) -> Iterator[_Tag]:
    i = 0
    while True:
        j = template.find("{{", i)
        if j < 0:
            return
        if template.startswith("=", j + 2):
            end = _expr_end(template, j + 3)
            if end < 0:
                yield _Tag(j, len(template), "unterminated", template[j + 3 :])
                return
            yield _Tag(j, end + 2, "expr", template[j + 3 : end])
            i = end + 2
            continue
        k = template.find("}}", j + 2)
        if k < 0:
            return
        body = template[j + 2 : k].strip()
        if _is_path(body):
            yield _Tag(j, k + 2, "ref", body)
            i = k + 2
        else:
            i = j + 1


class _LookupVariables(Mapping[str, Any]):
    """Variables for `{{= }}`: `variables` first, then `lookup(dotted.key)`."""

    def __init__(self, lookup: Lookup, variables: Mapping[str, Any] | None) -> None:
        self._lookup = lookup
        self._variables = variables

    def __getitem__(self, key: str) -> Any:
        if self._variables is not None:
            try:
                return self._variables[key]
            except KeyError:
                pass
        value = self._lookup(key)
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._variables or ())

    def __len__(self) -> int:
        return len(self._variables or ())


def format_value(value: Any) -> str:
    """How an expression result is written into a string: strings as they are, numbers and
    booleans plainly (`8`, `0.5`, `true`), anything else (nil, arrays, maps) as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        return format_number(value)
    return to_json(value)


def _unterminated(template: str, tag: _Tag) -> ExpressionError:
    return error_at("unterminated {{= expression tag", template, tag.start)


def render(
    template: str,
    lookup: Lookup,
    *,
    strict: bool = False,
    variables: Mapping[str, Any] | None = None,
) -> str:
    """Replace `{{ path }}` with `lookup(path)` and `{{= expr }}` with its formatted value.

    An unresolved reference (`lookup` gives None, or an expression uses a missing reference)
    leaves the tag as it is, or with `strict=True` raises UnresolvedReference. Expressions see
    `variables` (structured values, e.g. `item` as a map) and then `lookup` for dotted keys;
    a bare word in an expression that names nothing is an unresolved reference.
    A bad expression is always an ExpressionError.
    """
    if "{{" not in template:
        return template
    out: list[str] = []
    pos = 0
    env: _LookupVariables | None = None
    for tag in _scan(template):
        out.append(template[pos : tag.start])
        pos = tag.end
        original = template[tag.start : tag.end]
        if tag.kind == "ref":
            value = lookup(tag.body)
            if value is None:
                if strict:
                    raise UnresolvedReference(tag.body, f"unresolved reference {{{{{tag.body}}}}}")
                out.append(original)
            else:
                out.append(value)
            continue
        if tag.kind == "unterminated":
            raise _unterminated(template, tag)
        expr = parse(tag.body)
        env = env or _LookupVariables(lookup, variables)
        try:
            out.append(format_value(expr.evaluate(env, bare_words=False)))
        except UnresolvedReference:
            if strict:
                raise
            out.append(original)
    out.append(template[pos:])
    return "".join(out)


def template_references(template: str) -> list[str]:
    """The reference paths used by the `{{ }}` tags of `template`, in order, without repeats
    (for an expression tag, its references sorted). ExpressionError on a bad expression tag."""
    seen: dict[str, None] = {}
    for tag in _scan(template):
        if tag.kind == "ref":
            seen.setdefault(tag.body)
        elif tag.kind == "expr":
            for ref in sorted(parse(tag.body).references()):
                seen.setdefault(ref)
        else:
            raise _unterminated(template, tag)
    return list(seen)


def validate_template(template: str) -> None:
    """Parse every `{{= }}` tag of `template`; ExpressionError on the first bad one."""
    for tag in _scan(template):
        if tag.kind == "expr":
            parse(tag.body)
        elif tag.kind == "unterminated":
            raise _unterminated(template, tag)
