"""Replay at every sequence number: phases only move forward along the state machines, and the
last state is what `get` shows."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from engine.audit.replay import parse_at, view_at, walk
from engine.audit.source import decode_all, open_source
from engine.errors import InputError
from engine.events import AnyEvent, WorkflowCompleted
from engine.state.machines import NODE_TABLE, WORKFLOW_TABLE
from engine.state.report import workflow_json

from .runs import cli

pytestmark = pytest.mark.anyio


def reachable(table: dict[tuple[str, str], str], start: str, end: str) -> bool:
    """`end` can follow `start` by legal transitions (excluding no-op)."""
    seen, todo = {start}, [start]
    while todo:
        state = todo.pop()
        for (source, _), dest in table.items():
            if source == state and dest not in seen:
                seen.add(dest)
                todo.append(dest)
    return end in seen


async def runs(db: Path) -> list[tuple[str, list[AnyEvent]]]:
    source = await open_source(str(db))
    try:
        out = []
        for head in await source.heads():
            raw = await source.events(head.record.uid)
            out.append((head.record.name, decode_all(head.record.name, raw)))
        return out
    finally:
        await source.aclose()


async def test_phases_only_move_forward(base_db: Path) -> None:
    for _name, events in await runs(base_db):
        prev_wf = "Pending"
        prev_nodes: dict[str, str] = {}
        moves = 0
        for seq, view in walk(events):
            assert view.seq == seq
            if view.phase != prev_wf:
                assert reachable(WORKFLOW_TABLE, prev_wf, view.phase), (seq, prev_wf, view.phase)
                moves += 1
            prev_wf = view.phase
            for nid, node in view.nodes.items():
                before = prev_nodes.get(nid)
                # "lose" (Running -> Pending) is the one backward move: a new delivery.
                if before is not None and before != node.phase:
                    assert (before, node.phase) == ("Running", "Pending") or reachable(
                        NODE_TABLE, before, node.phase), (seq, node.name, before, node.phase)
                prev_nodes[nid] = node.phase
            assert set(prev_nodes) == set(view.nodes)  # nodes are never removed
        assert isinstance(events[-1], WorkflowCompleted) and moves >= 2


def test_last_state_equals_get_and_replay_json(base_db: Path) -> None:
    name, events = anyio.run(runs, base_db)[1]
    got = cli("get", name, "--db", str(base_db), "-o", "json")
    assert got.code == 0, got.stderr
    assert workflow_json(view_at(events, len(events))) == got.json()
    replayed = cli("replay", name, "--db", str(base_db), "--at", str(len(events)), "-o",
                        "json")
    assert replayed.code == 0, replayed.stderr
    assert replayed.json() == got.json()
    # --at a time: the state after the last event at or before it.
    at = f"{events[2].ts + 0.000001:.6f}"  # seq 3 is in the first decision (Running)
    early = cli("replay", name, "--db", str(base_db), "--at", at, "-o", "json")
    assert early.json() == workflow_json(view_at(events, parse_at(at, events)))
    assert early.json()["status"]["phase"] == "Running"


def test_step_prints_every_event(base_db: Path) -> None:
    name, events = anyio.run(runs, base_db)[0]
    out = cli("replay", name, "--db", str(base_db), "--step", "-o", "json")
    assert out.code == 0, out.stderr
    states = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(states) == len(events)
    assert states[-1]["status"]["phase"] == "Succeeded"
    text = cli("replay", name, "--db", str(base_db), "--step", "--at", "28")
    assert text.code == 0 and "seq 28/29" in text.stdout and "seq 29/29" in text.stdout


def test_at_parsing() -> None:
    from engine.events import WorkflowStarted

    events: list[AnyEvent] = [WorkflowStarted(ts=100.0), WorkflowStarted(ts=200.0)]
    assert parse_at("2", events) == 2
    assert parse_at("150.5", events) == 1
    assert parse_at("1970-01-01T00:03:20Z", events) == 2
    for bad in ("0", "3", "yesterday", "1970-01-01T00:00:01Z"):
        with pytest.raises(InputError):
            parse_at(bad, events)
