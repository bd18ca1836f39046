"""The events of a workflow run: one tagged union, the only truth.

Every node and workflow transition is one of these, appended to the log *before* its side effect
starts. The state of a run is `fold(events)`; nothing needed for recovery lives anywhere else.

Schema-evolution rules (stored logs must keep replaying):
- tags are explicit strings and never change, even if a class is renamed;
- a field never changes its type; new fields get a default; fields are never removed;
- decoding does not forbid unknown fields, so an older reader skips a newer field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import msgspec

#: Node phases as Argo names them.
PENDING: Final = "Pending"
RUNNING: Final = "Running"
SUCCEEDED: Final = "Succeeded"
FAILED: Final = "Failed"
ERROR: Final = "Error"
SKIPPED: Final = "Skipped"
OMITTED: Final = "Omitted"
#: Workflow-only phase while exit handlers run [ours].
EXIT_PHASE: Final = "ExitPhase"

#: Node types as Argo names them (`NodeInitialized.node_type`). `SKIPPED_TYPE` is the type of a
#: node decided without running (its phase may be Skipped, Omitted, Failed or Error).
POD: Final = "Pod"
STEPS: Final = "Steps"
STEP_GROUP: Final = "StepGroup"
DAG: Final = "DAG"
TASK_GROUP: Final = "TaskGroup"
RETRY: Final = "Retry"
SKIPPED_TYPE: Final = "Skipped"
SUSPEND: Final = "Suspend"
HTTP: Final = "HTTP"
NODE_TYPES: Final = frozenset(
    {POD, STEPS, STEP_GROUP, DAG, TASK_GROUP, RETRY, SKIPPED_TYPE, SUSPEND, HTTP}
)
#: Node roles (`NodeInitialized.role`): "" for ordinary nodes, an exit handler/`onExit` hook, or
#: an expression hook.
ROLE_EXIT: Final = "exit"
ROLE_HOOK: Final = "hook"
#: Shutdown strategies (`ShutdownRequested.strategy`, `view.shutdown`).
STOP: Final = "Stop"
TERMINATE: Final = "Terminate"
#: The command resuming every suspended node of a run (`exitflow resume`, `ResumeRequested`).
RESUME: Final = "Resume"
#: The command suspending a whole run (`exitflow suspend`, `SuspendRequested`; Argo's
#: `spec.suspend: true`).
SUSPEND_RUN: Final = "SuspendRun"

#: Version of the reconciler's rules. A run records the version it was submitted under
#: (`WorkflowSubmitted.rules`) and is decided by those rules for its whole life, so recovery,
#: replay and `verify` of a run recorded before a rule changed re-derive exactly what was recorded.
#: Every change to what the reconciler decides is gated on `view.rules >= N` and bumps this.
#: 1: the first wave (logs without the field). 2: Argo-exact semantics of issue 10.
RULES_VERSION: Final = 2

#: Node types whose work an executor runs: Argo's `Pod`, and `HTTP` (an `http` template's
#: request, sent by the HTTP executor).
POD_TYPE: Final = POD
HTTP_TYPE: Final = HTTP
WORK_TYPES: Final = frozenset({POD_TYPE, HTTP_TYPE})

FULFILLED: Final = frozenset({SUCCEEDED, FAILED, ERROR, SKIPPED, OMITTED})
COMPLETED: Final = frozenset({SUCCEEDED, FAILED, ERROR})


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every event. `ts` is wall-clock seconds since the epoch when it was decided."""

    ts: float


class NodeOutputs(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    result: str | None = None
    exit_code: int | None = None
    parameters: dict[str, str] = {}


# --- workflow events -------------------------------------------------------------------------


class WorkflowSubmitted(Event, frozen=True, kw_only=True, tag="WorkflowSubmitted"):
    """The first event of every run: everything needed to run it again from scratch."""

    uid: str
    name: str
    spec_yaml: str
    parameters: dict[str, str] = {}
    #: Executor asked for at submission; "" means the controller's default.
    executor: str = ""
    engine_version: str = ""
    source: str = ""
    #: The reconciler rules this run is decided by (see RULES_VERSION); 1 for older logs.
    rules: int = 1
    #: Injected faults (`exitflow run --fail`): node display name or glob -> "Failed", "Error"
    #: or an exit code. Matching Pod/HTTP nodes end that way without running (rules >= 2).
    faults: dict[str, str] = {}
    #: A child workflow (created by a `resource` template of another run): that run's uid and
    #: name and the creating node's id; "" for a workflow submitted by a user.
    parent_uid: str = ""
    parent_name: str = ""
    parent_node: str = ""
    #: The run limits this run is decided by (engine.limits.RUN_LIMITS: "max_depth",
    #: "max_loop_items", "max_nodes" -> value), every one recorded at submission from the flags,
    #: the environment or the defaults. Empty (logs before they were configurable) means the
    #: defaults.
    limits: dict[str, int] = {}


class WorkflowStarted(Event, frozen=True, kw_only=True, tag="WorkflowStarted"):
    pass


class ShutdownRequested(Event, frozen=True, kw_only=True, tag="ShutdownRequested"):
    """`exitflow stop` (exit handlers still run) or `exitflow terminate` (they do not)."""

    strategy: str  # STOP | TERMINATE


class ResumeRequested(Event, frozen=True, kw_only=True, tag="ResumeRequested"):
    """`exitflow resume`: every `suspend` node Running when this is folded is resumed (Argo's
    `argo resume`); the reconciler then ends those nodes Succeeded (rules >= 2). It also lifts a
    whole-run suspension (`SuspendRequested`, `spec.suspend: true`)."""


class SuspendRequested(Event, frozen=True, kw_only=True, tag="SuspendRequested"):
    """`exitflow suspend`: the run decides nothing new until `exitflow resume` (Argo's
    `argo suspend`, which sets `spec.suspend: true`); work already running finishes."""


class WorkflowExiting(Event, frozen=True, kw_only=True, tag="WorkflowExiting"):
    """The entrypoint is done: `workflow.status` is fixed and exit handlers are owed from here."""

    status: str  # Succeeded | Failed | Error
    message: str = ""


class WorkflowCompleted(Event, frozen=True, kw_only=True, tag="WorkflowCompleted"):
    phase: str  # Succeeded | Failed | Error
    message: str = ""


# --- node events -----------------------------------------------------------------------------


class NodeInitialized(Event, frozen=True, kw_only=True, tag="NodeInitialized"):
    """A node exists. It starts Pending, or directly in a final phase (Skipped, Omitted, Error)."""

    node_id: str
    name: str
    display_name: str
    node_type: str  # Pod | Steps | StepGroup | DAG | TaskGroup | Retry | Skipped
    template_name: str = ""
    parent_id: str | None = None
    boundary_id: str | None = None
    phase: str = PENDING
    message: str = ""
    inputs: dict[str, str] = {}
    #: "" for ordinary work; "exit" for exit handlers and exit hooks; "hook" for expression hooks.
    role: str = ""


class NodeStarted(Event, frozen=True, kw_only=True, tag="NodeStarted"):
    """Write-ahead intent: this attempt of the node is about to start (for a Pod: its process).

    `attempt` counts deliveries of the same work, 1-based; it increments only when an attempt is
    lost to a crash. The idempotency key does not change with it.
    """

    node_id: str
    attempt: int = 1


class NodeAttemptLost(Event, frozen=True, kw_only=True, tag="NodeAttemptLost"):
    """Recovery found this attempt started and never finished; it will be run again."""

    node_id: str
    attempt: int
    reason: str = ""


class NodeFinished(Event, frozen=True, kw_only=True, tag="NodeFinished"):
    node_id: str
    phase: str  # Succeeded | Failed | Error | Skipped | Omitted
    message: str = ""
    outputs: NodeOutputs | None = None
    #: True when the outcome was injected (`exitflow run --fail`), not produced by running.
    injected: bool = False


class NodeLogged(Event, frozen=True, kw_only=True, tag="NodeLogged"):
    """A node's stdout/stderr were stored in the log table (digest makes them tamper-evident)."""

    node_id: str
    attempt: int
    stdout_sha256: str = ""
    stderr_sha256: str = ""
    stdout_bytes: int = 0
    stderr_bytes: int = 0


AnyEvent = (
    WorkflowSubmitted
    | WorkflowStarted
    | ShutdownRequested
    | ResumeRequested
    | SuspendRequested
    | WorkflowExiting
    | WorkflowCompleted
    | NodeInitialized
    | NodeStarted
    | NodeAttemptLost
    | NodeFinished
    | NodeLogged
)

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(AnyEvent)
_json_encoder = msgspec.json.Encoder()


def encode(event: Event) -> bytes:
    """Canonical bytes of an event (msgpack)."""
    return _encoder.encode(event)


#: `decode` without the wrapper call, for bulk loops (replay decodes millions of events).
decode_fast: Final[Callable[[bytes], AnyEvent]] = _decoder.decode


def decode(data: bytes) -> AnyEvent:
    event: AnyEvent = _decoder.decode(data)
    return event


def to_builtins(event: Event) -> dict[str, object]:
    out = msgspec.to_builtins(event)
    assert isinstance(out, dict)
    return out


def event_type(event: Event) -> str:
    """The stored tag of an event."""
    tag = type(event).__struct_config__.tag
    assert isinstance(tag, str)
    return tag
