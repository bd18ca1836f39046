"""`suspend` templates (rules >= 2): a `Suspend` node that stays Running until `exitflow resume`
(a `ResumeRequested` in the log) or until its `duration` has elapsed since it started; either way
it ends Succeeded, as Argo's `executeSuspend` / `ResumeWorkflow`. `stop`, `terminate` and
`activeDeadlineSeconds` end it Failed (deadlines.py). Decided from (events, spec, now) only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import SpecError
from ...events import ERROR, RUNNING, SUCCEEDED, SUSPEND
from ...spec import Template
from ...spec.util import parse_duration
from ...state.view import NodeView
from .model import _Ctx

if TYPE_CHECKING:
    from .driver import Operator


def _execute_suspend(
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
    node = self.view.node(name)
    if node is None:
        node = self._init_node(
            name,
            SUSPEND,
            display_name=display_name,
            template_name=template_name,
            parent=parent,
            ctx=ctx,
            inputs=inputs,
        )
        self._start(node)
    if node.fulfilled or node.phase != RUNNING:
        return node
    if node.id in self.view.resumed:
        self._finish(node, SUCCEEDED, "resumed")
        return node
    raw = (tmpl.suspend or {}).get("duration")
    if raw is None or raw == "":
        return node  # suspended until `exitflow resume`
    try:
        scope = self._global_scope()
        scope.update({f"inputs.parameters.{k}": v for k, v in inputs.items()})
        text = self._render_strict(raw, scope) if isinstance(raw, str) else raw
        seconds = parse_duration(text)
    except (SpecError, ValueError) as e:
        self._finish(node, ERROR, f"suspend duration: {e}")
        return node
    started = node.started_at if node.started_at is not None else self.now
    until = started + seconds
    if self.now >= until:
        self._finish(node, SUCCEEDED)
    else:
        self.decision.wake(until)
    return node
