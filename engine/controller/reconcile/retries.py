"""`retryStrategy`: the Retry node, its children, when to stop and the backoff."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from ...errors import ExpressionError
from ...events import (
    ERROR,
    FAILED,
    OMITTED,
    RETRY,
    SKIPPED,
    SUCCEEDED,
)
from ...expr import evaluate_bool
from ...naming import (
    as_param,
)
from ...spec import Template, parse_duration
from ...state.view import NodeView
from .model import _Ctx, _kind
from .scopes import _nest

if TYPE_CHECKING:
    from .driver import Operator


_RETRY_CHILD = re.compile(r"\((\d+)\)$")


def retry_index(name: str) -> int:
    m = _RETRY_CHILD.search(name)
    return int(m.group(1)) if m else 0


def _execute_retry(
    self: Operator,
    name: str,
    tmpl: Template,
    template_name: str,
    inputs: dict[str, str],
    *,
    parent: NodeView | None,
    ctx: _Ctx,
    display_name: str,
) -> NodeView | None:
    strategy = tmpl.retry_strategy
    assert strategy is not None
    node = self._running_node(
        name,
        RETRY,
        display_name=display_name,
        template_name=template_name,
        parent=parent,
        ctx=ctx,
        inputs=inputs,
    )
    children = [self.view.nodes[c] for c in node.children]

    def attempt(index: int) -> None:
        self._execute(
            f"{name}({index})",
            tmpl,
            template_name,
            inputs,
            parent=node,
            ctx=ctx,
            display_name=f"{display_name}({index})",
            retry=index,
        )

    if children:
        last = children[-1]
        if not last.fulfilled and self.view.rules >= 2 and _kind(tmpl) in ("steps", "dag"):
            attempt(len(children) - 1)  # a steps/DAG attempt is walked (a Pod's ends by itself)
        if not last.fulfilled:
            return node
        if last.phase in (SUCCEEDED, SKIPPED, OMITTED):
            self._finish(node, last.phase, last.message, last.outputs)
            return node
        stop_reason = self._retry_stop_reason(node, strategy, last, len(children), inputs, ctx)
        if stop_reason is not None:
            self._finish(node, last.phase, stop_reason, last.outputs)
            return node
        wait = self._backoff_seconds(strategy, len(children), inputs)
        ready_at = (last.finished_at or self.now) + wait
        if self.now < ready_at:
            self.decision.wake(ready_at)
            return node
    attempt(len(children))
    return node


def _retry_stop_reason(
    self: Operator,
    node: NodeView,
    strategy: Any,
    last: NodeView,
    attempts: int,
    inputs: dict[str, str],
    ctx: _Ctx,
) -> str | None:
    blocked = self._blocked_reason(ctx)
    if blocked is not None:
        return blocked
    policy = strategy.retry_policy or "OnFailure"
    if not strategy.retry_policy and strategy.expression and self.view.rules >= 2:
        policy = "Always"  # Argo RetryPolicyActual: the expression alone decides
    if policy == "OnFailure" and last.phase != FAILED:
        return last.message or "retryPolicy OnFailure does not retry errors"
    if policy in ("OnError", "OnTransientError") and last.phase != ERROR:
        return last.message or f"retryPolicy {policy} does not retry failures"
    scope = {f"inputs.parameters.{k}": v for k, v in inputs.items()}
    scope.update(self._global_scope())
    if strategy.limit is not None:
        limit = int(self._render_lenient(as_param(strategy.limit), scope))
        if attempts > limit:
            return "No more retries left"
    backoff = strategy.backoff
    if backoff is not None and backoff.max_duration and node.started_at is not None:
        max_duration = parse_duration(self._render_lenient(as_param(backoff.max_duration), scope))
        if self.now - node.started_at >= max_duration:
            return "Max duration limit exceeded"
    if strategy.expression:
        exit_code = last.outputs.exit_code if last.outputs else None
        duration = (last.finished_at or self.now) - (last.started_at or self.now)
        variables = {
            "lastRetry": {
                "exitCode": exit_code if exit_code is not None else -1,
                "status": last.phase,
                "duration": duration,
                "message": last.message,
            },
            **_nest(scope),
        }
        try:
            if not evaluate_bool(strategy.expression, variables):
                return "retryStrategy.expression evaluated to false"
        except ExpressionError as e:
            return f"retryStrategy.expression: {e}"
    return None


def _backoff_seconds(self: Operator, strategy: Any, failures: int, inputs: dict[str, str]) -> float:
    backoff = strategy.backoff
    if backoff is None or backoff.duration is None:
        return 0.0
    scope = {f"inputs.parameters.{k}": v for k, v in inputs.items()}
    duration = parse_duration(self._render_lenient(as_param(backoff.duration), scope))
    factor = float(self._render_lenient(as_param(backoff.factor), scope)) if backoff.factor else 1.0
    wait = duration * math.pow(factor, max(failures - 1, 0))
    if backoff.cap:
        wait = min(wait, parse_duration(self._render_lenient(as_param(backoff.cap), scope)))
    return wait
