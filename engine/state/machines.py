"""The legal phase moves of nodes and workflows, defined once with `transitions`.

The `transitions` machines are the single definition. The fold does not fire machine triggers
for every event (a trigger costs ~16 µs, which would cap replay near 60k events/s); instead each
machine is compiled at import into a `(state, trigger) -> state` table that the fold checks every
event against. `tests/property/test_machines.py` proves the table and the machine agree.
"""

from __future__ import annotations

from typing import Final

from transitions import Machine

from ..events import (
    ERROR,
    EXIT_PHASE,
    FAILED,
    OMITTED,
    PENDING,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
)

NODE_STATES: Final = [PENDING, RUNNING, SUCCEEDED, FAILED, ERROR, SKIPPED, OMITTED]
WORKFLOW_STATES: Final = [PENDING, RUNNING, EXIT_PHASE, SUCCEEDED, FAILED, ERROR]

NODE_TRANSITIONS: Final[list[dict[str, object]]] = [
    {"trigger": "start", "source": PENDING, "dest": RUNNING},
    # Recovery found the attempt lost: back to Pending until the next delivery starts.
    {"trigger": "lose", "source": RUNNING, "dest": PENDING},
    {"trigger": "succeed", "source": [PENDING, RUNNING], "dest": SUCCEEDED},
    {"trigger": "fail", "source": [PENDING, RUNNING], "dest": FAILED},
    {"trigger": "error", "source": [PENDING, RUNNING], "dest": ERROR},
    {"trigger": "skip", "source": PENDING, "dest": SKIPPED},
    {"trigger": "omit", "source": PENDING, "dest": OMITTED},
]

WORKFLOW_TRANSITIONS: Final[list[dict[str, object]]] = [
    {"trigger": "start", "source": PENDING, "dest": RUNNING},
    {"trigger": "exit", "source": [PENDING, RUNNING], "dest": EXIT_PHASE},
    {"trigger": "succeed", "source": EXIT_PHASE, "dest": SUCCEEDED},
    {"trigger": "fail", "source": [PENDING, RUNNING, EXIT_PHASE], "dest": FAILED},
    {"trigger": "error", "source": [PENDING, RUNNING, EXIT_PHASE], "dest": ERROR},
]

#: The trigger that moves a node (or workflow) into a final phase.
FINISH_TRIGGER: Final = {
    SUCCEEDED: "succeed",
    FAILED: "fail",
    ERROR: "error",
    SKIPPED: "skip",
    OMITTED: "omit",
}


def _machine(states: list[str], transitions: list[dict[str, object]], initial: str) -> Machine:
    # Callback-free, model-less machine: only its transition definitions are used.
    return Machine(
        model=None,
        states=states,
        transitions=transitions,
        initial=initial,
        auto_transitions=False,
        send_event=False,
    )


NODE_MACHINE: Final = _machine(NODE_STATES, NODE_TRANSITIONS, PENDING)
WORKFLOW_MACHINE: Final = _machine(WORKFLOW_STATES, WORKFLOW_TRANSITIONS, PENDING)


def compile_table(machine: Machine) -> dict[tuple[str, str], str]:
    """Every legal `(state, trigger) -> dest` of a machine."""
    table: dict[tuple[str, str], str] = {}
    for trigger, event in machine.events.items():
        for source, transitions in event.transitions.items():
            for transition in transitions:
                assert transition.dest is not None  # every transition here has a destination
                table[(source, trigger)] = transition.dest
    return table


NODE_TABLE: Final = compile_table(NODE_MACHINE)
WORKFLOW_TABLE: Final = compile_table(WORKFLOW_MACHINE)
