"""Records and words the reconciler modules share: `Decision`, the execution context `_Ctx`,
the work of a Pod node, node types and roles, template kinds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...events import (
    ERROR,
    FAILED,
    POD_TYPE,
    ROLE_EXIT,
    Event,
)
from ...spec import Template
from ...store.base import LogRecord

POD = POD_TYPE


@dataclass
class Decision:
    """What one reconcile decided: events to append (already applied to the view), then work."""

    events: list[Event] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    #: Pod nodes whose work must start once the events are durable.
    start: list[str] = field(default_factory=list)
    #: Pod nodes whose running work must be stopped (their final event is in `events`).
    kill: list[str] = field(default_factory=list)
    #: Earliest wall-clock time at which reconciling again may decide something new.
    wake_at: float | None = None
    #: Pod nodes whose work's result this decision records (the executor may release it).
    finished_work: list[str] = field(default_factory=list)

    def wake(self, at: float) -> None:
        if self.wake_at is None or at < self.wake_at:
            self.wake_at = at


@dataclass(frozen=True, slots=True)
class _Ctx:
    """Where a node is being executed from."""

    boundary_id: str | None
    role: str = ""

    @property
    def exempt(self) -> bool:
        """Exit handlers and exit hooks are exempt from deadlines and from `stop`."""
        return self.role == ROLE_EXIT


@dataclass(slots=True)
class _PodWork:
    template: Template
    inputs: dict[str, str]
    ctx: _Ctx
    retry: int


#: id(template) -> (template, kind): templates are frozen and live as long as their spec; the
#: template is kept in the value so that its id cannot be reused while cached.
_KINDS: dict[int, tuple[Template, str]] = {}


def _kind(tmpl: Template) -> str:
    hit = _KINDS.get(id(tmpl))
    if hit is not None and hit[0] is tmpl:
        return hit[1]
    kind = _find_kind(tmpl)
    if len(_KINDS) > 4096:
        _KINDS.clear()
    _KINDS[id(tmpl)] = (tmpl, kind)
    return kind


def _runs_as_work(tmpl: Template) -> bool:
    """Templates run like a Pod since rules 2: `http` (an HTTP node) and a `resource` that
    creates a child Workflow (a Pod node whose work the controller does)."""
    if tmpl.http is not None:
        return True
    return tmpl.resource is not None and tmpl.resource.creates_workflow()


def _find_kind(tmpl: Template) -> str:
    for kind in (
        "container",
        "script",
        "steps",
        "dag",
        "resource",
        "suspend",
        "http",
        "data",
        "plugin",
        "container_set",
    ):
        if getattr(tmpl, kind, None) is not None:
            return kind
    return "unknown"


def _continues_on(step: Any, phase: str) -> bool:
    co = getattr(step, "continue_on", None)
    if co is None:
        return False
    if phase == FAILED:
        return bool(co.failed)
    if phase == ERROR:
        return bool(co.error)
    return False
