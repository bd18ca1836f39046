"""Loops: `withItems`, `withParam`, `withSequence` expanded to items."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...errors import ExpressionError
from ...naming import (
    argo_item_value,
    as_param,
)

if TYPE_CHECKING:
    from .driver import Operator


class _NoItem:
    pass


_NO_ITEM = _NoItem()


def _with_item(scope: Mapping[str, Any], item: Any, rules: int = 1) -> dict[str, Any]:
    out = dict(scope)
    out["item"] = argo_item_value(item) if rules >= 2 else as_param(item)
    if isinstance(item, dict):
        for k, v in item.items():
            out[f"item.{k}"] = as_param(v)
    out["__item__"] = item
    return out


_PRINTF = re.compile(r"%(0?)(\d*)([dxXo])")


def _sprintf(fmt: str, value: int) -> str:
    def sub(m: re.Match[str]) -> str:
        zero, width, conv = m.groups()
        spec = f"{'0' if zero else ''}{width}{'d' if conv == 'd' else conv}"
        return format(value, spec)

    return _PRINTF.sub(sub, fmt)


def _expand(self: Operator, step: Any, scope: Mapping[str, Any]) -> list[Any] | str | None:
    """Items of withItems/withParam/withSequence; None when the step has no loop; a str
    describing the problem when the loop cannot be expanded."""
    limited = self.view.rules >= 2
    limits = self.view.limits
    if step.with_items is not None:
        if limited and len(step.with_items) > limits.max_loop_items:
            return limits.loop_exceeded("withItems", len(step.with_items))
        items: list[Any] = []
        for item in step.with_items:
            if isinstance(item, str):
                items.append(self._render_lenient(item, scope))
            else:
                items.append(item)
        return items
    if step.with_param is not None:
        try:
            text = self._render_strict(str(step.with_param), scope)
        except ExpressionError as e:
            return str(e)
        try:
            value = json.loads(text)
        except ValueError:
            return f"withParam value could not be parsed as a JSON list: {text[:200]}"
        if not isinstance(value, list):
            return f"withParam value could not be parsed as a JSON list: {text[:200]}"
        if limited and len(value) > limits.max_loop_items:
            return limits.loop_exceeded("withParam", len(value))
        return value
    seq = step.with_sequence
    if seq is not None:
        try:
            count = (
                self._render_strict(as_param(seq.count), scope) if seq.count is not None else None
            )
            start = (
                int(self._render_strict(as_param(seq.start), scope)) if seq.start is not None else 0
            )
            if count is not None and int(count) == 0 and self.view.rules >= 2:
                return []  # Argo expandSequence: `count: 0` is no items
            if count is not None:
                end = start + int(count) - 1
            else:
                end = (
                    int(self._render_strict(as_param(seq.end), scope)) if seq.end is not None else 0
                )
        except (ExpressionError, ValueError) as e:
            return f"withSequence: {e}"
        step_by = 1 if end >= start else -1
        if limited and abs(end - start) + 1 > limits.max_loop_items:
            return limits.loop_exceeded("withSequence", abs(end - start) + 1)
        fmt = seq.format
        values = []
        for v in range(start, end + step_by, step_by):
            values.append(_sprintf(fmt, v) if fmt else str(v))
        return values
    return None
