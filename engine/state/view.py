"""The state of one run, as the fold derives it from its events."""

from __future__ import annotations

from ..events import COMPLETED, FULFILLED, PENDING, NodeOutputs
from ..limits import RunLimits


class NodeView:
    """One node of a run (Argo's NodeStatus)."""

    __slots__ = (
        "attempt",
        "boundary_id",
        "children",
        "display_name",
        "finished_at",
        "id",
        "inputs",
        "message",
        "name",
        "outputs",
        "parent_id",
        "phase",
        "role",
        "started_at",
        "template_name",
        "type",
    )

    def __init__(
        self,
        *,
        id: str,
        name: str,
        display_name: str,
        type: str,
        template_name: str,
        parent_id: str | None,
        boundary_id: str | None,
        phase: str,
        message: str,
        inputs: dict[str, str],
        role: str,
        created_at: float,
    ) -> None:
        self.id = id
        self.name = name
        self.display_name = display_name
        self.type = type
        self.template_name = template_name
        self.parent_id = parent_id
        self.boundary_id = boundary_id
        self.phase = phase
        self.message = message
        self.inputs = inputs
        self.role = role
        self.children: list[str] = []
        self.attempt = 0
        self.started_at: float | None = None if phase == PENDING else created_at
        self.finished_at: float | None = created_at if phase in FULFILLED else None
        self.outputs: NodeOutputs | None = None

    @property
    def fulfilled(self) -> bool:
        return self.phase in FULFILLED

    @property
    def completed(self) -> bool:
        return self.phase in COMPLETED

    def __repr__(self) -> str:
        return f"NodeView({self.name!r}, {self.type}, {self.phase})"


class WorkflowView:
    """One run: what the fold knows after some prefix of its events."""

    __slots__ = (
        "created_at",
        "executor",
        "exit_status",
        "faults",
        "finished_at",
        "held",
        "limits",
        "message",
        "name",
        "nodes",
        "nodes_by_name",
        "parameters",
        "parent",
        "phase",
        "resumed",
        "rules",
        "seq",
        "shutdown",
        "source",
        "spec_yaml",
        "started_at",
        "uid",
    )

    def __init__(self) -> None:
        self.uid = ""
        self.name = ""
        self.spec_yaml = ""
        self.source = ""
        self.parameters: dict[str, str] = {}
        self.executor = ""
        #: The reconciler rules this run was submitted under (events.RULES_VERSION).
        self.rules = 1
        #: Injected faults of the run (WorkflowSubmitted.faults): pattern -> outcome.
        self.faults: dict[str, str] = {}
        #: The run limits of the run (WorkflowSubmitted.limits; the defaults for older logs).
        self.limits = RunLimits()
        #: (uid, name, node id) of the run that created this one as a child, or None.
        self.parent: tuple[str, str, str] | None = None
        self.phase = PENDING
        #: `workflow.status` once the entrypoint is done (set by WorkflowExiting).
        self.exit_status: str | None = None
        self.message = ""
        self.created_at = 0.0
        self.started_at: float | None = None
        self.finished_at: float | None = None
        #: "Stop" or "Terminate" once requested.
        self.shutdown: str | None = None
        #: Suspend nodes that a `ResumeRequested` found Running (resumed; ended by the reconciler).
        self.resumed: set[str] = set()
        #: The whole run is suspended (True) / resumed (False) by a command; None: as the spec's
        #: `suspend` says.
        self.held: bool | None = None
        self.nodes: dict[str, NodeView] = {}
        self.nodes_by_name: dict[str, NodeView] = {}
        #: Sequence number of the last applied event.
        self.seq = 0

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    def node(self, name: str) -> NodeView | None:
        return self.nodes_by_name.get(name)
