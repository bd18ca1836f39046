"""`history`: every event of a run in order, as rows a person (or jq) can read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from ..events import (
    PENDING,
    AnyEvent,
    NodeAttemptLost,
    NodeFinished,
    NodeInitialized,
    NodeLogged,
    NodeStarted,
    ShutdownRequested,
    WorkflowCompleted,
    WorkflowExiting,
    WorkflowSubmitted,
    event_type,
    to_builtins,
)
from ..limits import RUN_LIMITS
from ..naming import rfc3339
from ..store.base import RawEvent

_RESULT_CHARS = 60


class HistoryRow(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    ts: float
    kind: str
    #: Node id ("" for workflow events) and its name and display name (from NodeInitialized).
    node_id: str = ""
    node: str = ""
    display_name: str = ""
    details: str = ""
    hash: str = ""
    event: dict[str, Any] = {}

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": rfc3339_precise(self.ts),
            "ts": self.ts,
            "kind": self.kind,
            "nodeId": self.node_id or None,
            "node": self.node or None,
            "displayName": self.display_name or None,
            "details": self.details,
            "hash": self.hash,
            "event": self.event,
        }


def rfc3339_precise(ts: float) -> str:
    """RFC 3339 with milliseconds (events of one run are often within a second)."""
    base = rfc3339(ts) or ""
    return f"{base[:-1]}.{int(ts * 1000) % 1000:03d}Z"


def _short(text: str, limit: int = _RESULT_CHARS) -> str:
    text = text.replace("\n", "⏎")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def details(event: AnyEvent) -> str:
    """A one-line summary of what an event says."""
    parts: list[str] = []
    match event:
        case WorkflowSubmitted():
            parts.append(f"name={event.name}")
            if event.parameters:
                parts.append("parameters " + ", ".join(f"{k}={v}" for k, v in
                                                       event.parameters.items()))
            if event.executor:
                parts.append(f"executor={event.executor}")
            if event.engine_version:
                parts.append(f"engine {event.engine_version}")
            if event.faults:
                parts.append("injected faults " + ", ".join(f"{k}={v}" for k, v in
                                                            event.faults.items()))
            raised = [f"{lim.flag}={event.limits[lim.key]}" for lim in RUN_LIMITS
                      if event.limits.get(lim.key, lim.default) != lim.default]
            if raised:
                parts.append("limits " + ", ".join(raised))
        case ShutdownRequested():
            parts.append(f"strategy={event.strategy}")
        case WorkflowExiting():
            parts.append(f"status={event.status}")
            if event.message:
                parts.append(event.message)
        case WorkflowCompleted():
            parts.append(f"phase={event.phase}")
            if event.message:
                parts.append(event.message)
        case NodeInitialized():
            parts.append(f"{event.node_type}")
            if event.template_name:
                parts.append(f"template={event.template_name}")
            if event.phase != PENDING:
                parts.append(f"phase={event.phase}")
            if event.role:
                parts.append(f"role={event.role}")
            if event.inputs:
                parts.append("inputs " + _short(", ".join(f"{k}={v}" for k, v in
                                                          event.inputs.items())))
            if event.message:
                parts.append(event.message)
        case NodeStarted():
            parts.append(f"attempt {event.attempt}")
        case NodeAttemptLost():
            parts.append(f"attempt {event.attempt} lost")
            if event.reason:
                parts.append(event.reason)
        case NodeFinished():
            parts.append(f"phase={event.phase}")
            if event.injected:
                parts.append("injected")
            out = event.outputs
            if out is not None and out.exit_code is not None:
                parts.append(f"exit code {out.exit_code}")
            if event.message and not (out is not None and event.message ==
                                      f"exit code {out.exit_code}"):
                parts.append(event.message)
            if out is not None and out.result:
                parts.append(f"result={_short(out.result)!r}")
            if out is not None and out.parameters:
                parts.append("outputs " + _short(", ".join(f"{k}={v}" for k, v in
                                                           out.parameters.items())))
        case NodeLogged():
            parts.append(f"attempt {event.attempt}: stdout {event.stdout_bytes} B,"
                         f" stderr {event.stderr_bytes} B")
    return "; ".join(parts)


def history_rows(raw: Sequence[RawEvent], events: Sequence[AnyEvent]) -> list[HistoryRow]:
    """One row per event (raw and decoded lists in the same order)."""
    names: dict[str, tuple[str, str]] = {}
    rows = []
    for r, event in zip(raw, events, strict=True):
        node_id = getattr(event, "node_id", "")
        if isinstance(event, NodeInitialized):
            names[event.node_id] = (event.name, event.display_name)
        name, display = names.get(node_id, ("", "")) if node_id else ("", "")
        rows.append(HistoryRow(seq=r.seq, ts=event.ts, kind=event_type(event), node_id=node_id,
                               node=name, display_name=display, details=details(event),
                               hash=r.hash, event=to_builtins(event)))
    return rows


def filter_rows(rows: Iterable[HistoryRow], *, nodes: Sequence[str] = (),
                kinds: Sequence[str] = ()) -> list[HistoryRow]:
    """Rows whose node matches one of `nodes` (id, name, display name, or a name's last dotted
    part) and whose kind is one of `kinds` (case-insensitive); empty filters match all."""
    wanted_kinds = {k.lower() for k in kinds}
    out = []
    for row in rows:
        if wanted_kinds and row.kind.lower() not in wanted_kinds:
            continue
        if nodes and not any(_node_matches(row, n) for n in nodes):
            continue
        out.append(row)
    return out


def _node_matches(row: HistoryRow, wanted: str) -> bool:
    if not row.node_id:
        return False
    if wanted in (row.node_id, row.node, row.display_name):
        return True
    return row.node.endswith("." + wanted)
