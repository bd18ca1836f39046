"""Prometheus metrics, derived from the event log (so any server process, beside the controller
or not, reports the whole database), plus the append timings of the controller it serves with.

Log-derived (complete for the database once the server has read the log present at start):
runs by phase, nodes started/finished by type and phase, exit handlers owed / completed / re-run
after a crash and their latency (owed → started), lost attempts and the recoveries that found
them. In-process (`exitflow daemon --listen` only): append latency and batch size.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE_LATEST
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ..controller.operator import POD, ROLE_EXIT
from ..events import (
    FULFILLED,
    NodeAttemptLost,
    NodeFinished,
    NodeInitialized,
    NodeStarted,
    WorkflowCompleted,
    WorkflowExiting,
)
from ..store import GlobalEvent, SqliteStore, WorkflowRecord

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                   300.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class _Node:
    __slots__ = ("handler", "owed_at", "role", "started", "type")

    def __init__(self, type_: str, role: str, handler: bool, owed_at: float) -> None:
        self.type = type_
        self.role = role
        #: A top-level exit handler (its parent is not itself part of an exit handler).
        self.handler = handler
        self.owed_at = owed_at
        self.started = False


class _Run:
    __slots__ = ("exiting_at", "last_lost_seq", "nodes")

    def __init__(self) -> None:
        self.nodes: dict[str, _Node] = {}
        self.exiting_at: float | None = None
        self.last_lost_seq = -2


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Gauge("exitflow_runs", "Runs in the database by phase", ["phase"], registry=r)
        self.nodes_started = Counter("exitflow_nodes_started",
                                     "Node attempts started, by node type", ["type"],
                                     registry=r)
        self.nodes_finished = Counter("exitflow_nodes_finished",
                                      "Nodes finished, by node type and phase",
                                      ["type", "phase"], registry=r)
        self.exit_owed = Counter("exitflow_exit_handlers_owed",
                                 "Exit handlers (workflow and step level) owed", registry=r)
        self.exit_completed = Counter("exitflow_exit_handlers_completed",
                                      "Exit handlers finished, by phase", ["phase"], registry=r)
        self.exit_outstanding = Gauge("exitflow_exit_handlers_outstanding",
                                      "Exit handlers owed and not finished yet", registry=r)
        self.exit_rerun = Counter("exitflow_exit_handlers_rerun_after_crash",
                                  "Exit-handler attempts lost to a crash and run again",
                                  registry=r)
        self.exit_latency = Histogram("exitflow_exit_handler_latency_seconds",
                                      "From an exit handler being owed to its start",
                                      buckets=LATENCY_BUCKETS, registry=r)
        self.append_latency = Histogram("exitflow_append_latency_seconds",
                                        "Durable append latency (this controller process)",
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.append_batch = Histogram("exitflow_append_batch_events",
                                      "Events per append (this controller process)",
                                      buckets=BATCH_BUCKETS, registry=r)
        self.recoveries = Counter("exitflow_recoveries",
                                  "Runs resumed after a crash with work in flight", registry=r)
        self.lost = Counter("exitflow_lost_attempts", "Node attempts lost to a crash, by type",
                            ["type"], registry=r)
        self.events = Counter("exitflow_events_read", "Events read from the log by this server",
                              registry=r)
        self._runs: dict[str, _Run] = {}

    # ------------------------------------------------------------------ from the log

    def observe(self, batch: Sequence[GlobalEvent]) -> None:
        for ge in batch:
            self._observe(ge)
        self.events.inc(len(batch))

    def _observe(self, ge: GlobalEvent) -> None:
        event = ge.event
        node: _Node | None
        run = self._runs.get(ge.uid)
        if run is None:
            run = self._runs[ge.uid] = _Run()
        if isinstance(event, NodeInitialized):
            parent = run.nodes.get(event.parent_id or "")
            handler = event.role == ROLE_EXIT and (parent is None or parent.role != ROLE_EXIT)
            owed_at = run.exiting_at if run.exiting_at is not None else event.ts
            new = run.nodes[event.node_id] = _Node(event.node_type, event.role, handler, owed_at)
            if handler:
                self.exit_owed.inc()
                self.exit_outstanding.inc()
            if event.phase in FULFILLED:
                self._finished(new, event.phase)
        elif isinstance(event, NodeStarted):
            node = run.nodes.get(event.node_id)
            if node is None:
                return
            self.nodes_started.labels(node.type).inc()
            if node.handler and not node.started:
                node.started = True
                self.exit_latency.observe(max(event.ts - node.owed_at, 0.0))
        elif isinstance(event, NodeFinished):
            node = run.nodes.get(event.node_id)
            if node is not None:
                self._finished(node, event.phase)
        elif isinstance(event, NodeAttemptLost):
            node = run.nodes.get(event.node_id)
            if node is None:
                return
            self.lost.labels(node.type).inc()
            if node.role == ROLE_EXIT and node.type == POD:
                self.exit_rerun.inc()
            if ge.seq != run.last_lost_seq + 1:  # one recovery loses a run's attempts together
                self.recoveries.inc()
            run.last_lost_seq = ge.seq
        elif isinstance(event, WorkflowExiting):
            run.exiting_at = event.ts
        elif isinstance(event, WorkflowCompleted):
            self._runs.pop(ge.uid, None)

    def _finished(self, node: _Node, phase: str) -> None:
        self.nodes_finished.labels(node.type, phase).inc()
        if node.handler:
            self.exit_completed.labels(phase).inc()
            self.exit_outstanding.dec()

    def set_runs(self, records: Sequence[WorkflowRecord]) -> None:
        counts: dict[str, int] = {}
        for record in records:
            counts[record.phase] = counts.get(record.phase, 0) + 1
        self.runs.clear()
        for phase, n in counts.items():
            self.runs.labels(phase).set(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    # ------------------------------------------------------------------ in process

    def instrument(self, store: SqliteStore) -> None:
        """Time every append of the controller's store (`exitflow daemon --listen`)."""
        original = store.append

        async def append(uid: str, first_seq: int, events: Sequence[Any],
                         logs: Sequence[Any] = ()) -> None:
            started = time.perf_counter()
            try:
                await original(uid, first_seq, events, logs)
            finally:
                self.append_latency.observe(time.perf_counter() - started)
                self.append_batch.observe(len(events))

        store.append = append  # type: ignore[method-assign]
