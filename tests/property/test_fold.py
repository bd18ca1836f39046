"""The fold: the compiled tables agree with the `transitions` machines, replay of any prefix
then the rest equals replay of all, and events survive encode/decode unchanged."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transitions import Machine, MachineError

from engine.events import AnyEvent, decode, encode
from engine.state.fold import IllegalTransition, apply, fold
from engine.state.machines import (
    NODE_STATES,
    NODE_TABLE,
    NODE_TRANSITIONS,
    WORKFLOW_STATES,
    WORKFLOW_TABLE,
    WORKFLOW_TRANSITIONS,
)
from engine.state.report import workflow_json
from tests.helpers import EXAMPLES
from tests.inprocess import run_workflow


class _Model:
    state: str


@pytest.mark.parametrize(
    ("states", "transitions", "table"),
    [
        (NODE_STATES, NODE_TRANSITIONS, NODE_TABLE),
        (WORKFLOW_STATES, WORKFLOW_TRANSITIONS, WORKFLOW_TABLE),
    ],
)
def test_compiled_table_agrees_with_machine(states, transitions, table) -> None:  # type: ignore[no-untyped-def]
    triggers = {str(t["trigger"]) for t in transitions}
    for state in states:
        for trigger in triggers:
            model = _Model()
            Machine(
                model=model,
                states=states,
                transitions=transitions,
                initial=state,
                auto_transitions=False,
            )
            try:
                getattr(model, trigger)()
                allowed: str | None = model.state
            except MachineError:
                allowed = None
            assert table.get((state, trigger)) == allowed, (state, trigger)


def _histories() -> list[list[AnyEvent]]:
    """Real event logs: every example under the simulate executor, passing and failing."""
    out: list[list[AnyEvent]] = []

    async def collect() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            for i, path in enumerate(sorted(EXAMPLES.glob("*.yaml"))):
                for fail in ({}, {"run-task": 1, "do-work": 1, "step1": 2, "A": 1, "produce": 3}):
                    _, events = await run_workflow(
                        path.read_text(), Path(tmp) / f"{i}-{len(fail)}.db", fail=fail
                    )
                    out.append(events)

    asyncio.run(collect())
    return out


HISTORIES = _histories()


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_prefix_then_rest_equals_all(data: st.DataObject) -> None:
    events = data.draw(st.sampled_from(HISTORIES))
    k = data.draw(st.integers(min_value=0, max_value=len(events)))
    view = fold(events[:k])
    for event in events[k:]:
        apply(view, event)
    assert workflow_json(view) == workflow_json(fold(events))


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_events_round_trip(data: st.DataObject) -> None:
    events = data.draw(st.sampled_from(HISTORIES))
    assert [decode(encode(e)) for e in events] == events


def test_every_history_ends_final() -> None:
    for events in HISTORIES:
        assert fold(events).phase in ("Succeeded", "Failed", "Error")


def test_illegal_event_is_rejected() -> None:
    events = HISTORIES[0]
    view = fold(events)
    # Replaying the final event again moves a finished workflow: the machine forbids it.
    with pytest.raises(IllegalTransition):
        apply(view, events[-1])
