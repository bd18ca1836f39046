"""Shutdown (`stop`/`terminate`) and the workflow's `activeDeadlineSeconds`: what may still start,
what must be stopped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...events import (
    FAILED,
    SUSPEND,
    WORK_TYPES,
)
from .model import _Ctx

if TYPE_CHECKING:
    from .driver import Operator


def _deadline(self: Operator) -> float | None:
    ads = self.spec.active_deadline_seconds
    if ads is None or self.view.started_at is None:
        return None
    return self.view.started_at + float(ads)


def _past_deadline(self: Operator) -> bool:
    deadline = self._deadline()
    return deadline is not None and self.now >= deadline


def _blocked_reason(self: Operator, ctx: _Ctx) -> str | None:
    """Why new work may not start in this context, or None."""
    shutdown = self.view.shutdown
    if shutdown == "Terminate":
        return "workflow shutdown with strategy: Terminate"
    if ctx.exempt:
        return None
    if shutdown == "Stop":
        return "workflow shutdown with strategy: Stop"
    if self._past_deadline():
        return "Step exceeded its deadline"
    return None


def _enforce_shutdown_and_deadline(self: Operator) -> None:
    deadline = self._deadline()
    if deadline is not None and self.now < deadline and self.view.exit_status is None:
        self.decision.wake(deadline)
    if self.view.shutdown is None and (deadline is None or self.now < deadline):
        return  # `_blocked_reason` is None for every node: nothing to stop
    suspends = self.view.rules >= 2  # a Suspend node ends like a Pod (Argo's stop/deadline)
    for node in list(self.view.nodes.values()):
        if node.fulfilled or not (
            node.type in WORK_TYPES or (suspends and node.type == SUSPEND)
        ):
            continue
        reason = self._blocked_reason(_Ctx(node.boundary_id, node.role))
        if reason is not None:
            self._finish(node, FAILED, reason)
            if node.type in WORK_TYPES:
                self.decision.kill.append(node.id)
