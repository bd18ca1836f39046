"""Decide what happens next in one run: the reconciler.

`Operator.reconcile()` looks at the folded state of a run and its spec and decides the next
events, the way Argo's `operator.go` walks a workflow's node tree on every reconcile. Every event
it decides is applied to the view at once (the same `apply` as replay) and collected in a
`Decision`; the runner appends the decision durably and only then starts the work it names.

The operator is deterministic for a given state and clock, and it only ever creates what is not
already in the state: after a crash, folding the log and reconciling again continues exactly where
the durable log ends. Times used for deadlines, timeouts and backoff come from logged events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...errors import ExpressionError
from ...events import (
    ERROR,
    FAILED,
    PENDING,
    RUNNING,
    SKIPPED_TYPE,
    SUCCEEDED,
    Event,
    NodeFinished,
    NodeInitialized,
    NodeOutputs,
    NodeStarted,
    ResumeRequested,
    ShutdownRequested,
    SuspendRequested,
    WorkflowExiting,
    WorkflowStarted,
)
from ...executors.base import Job, JobResult
from ...expr import DependsExpr
from ...naming import (
    node_id,
    node_id_v2,
)
from ...spec import DAGTemplate, Template, Workflow
from ...spec.defaults import effective_template, has_defaults
from ...spec.graph import DagGraph
from ...state.fold import apply
from ...state.view import NodeView, WorkflowView
from . import dag, deadlines, hooks, loops, pods, retries, scopes, steps, suspend
from .model import Decision, _Ctx, _kind, _PodWork, _runs_as_work


class Operator:
    """Reconciles one run. Create one per reconcile pass or keep it; it holds no hidden state
    that matters for correctness (only caches derived from the spec)."""

    def __init__(self, view: WorkflowView, workflow: Workflow) -> None:
        self.view = view
        self.wf = workflow
        self.spec = workflow.spec
        self.templates: dict[str, Template] = {t.name: t for t in self.spec.templates}
        if view.rules >= 2 and has_defaults(self.spec):
            # spec.templateDefaults and spec.retryStrategy apply to every template (Argo).
            self.templates = {
                k: effective_template(self.spec, t) for k, t in self.templates.items()
            }
        self._inline: dict[int, tuple[Template, Template]] = {}
        #: id(dag) -> (dag, its graph, task name -> the expression deciding it runs)
        self._graphs: dict[int, tuple[DAGTemplate, DagGraph, dict[str, DependsExpr | None]]] = {}
        self._pods: dict[str, _PodWork] = {}
        #: node id -> (work, (attempt, start), job) of the last job built for that node.
        self._built: dict[str, tuple[_PodWork, tuple[int, float], Job]] = {}
        self.now = 0.0
        self.decision = Decision()
        #: Nested template calls of the reconcile pass under way (view.limits.max_depth).
        self._depth = 0

    def _emit(self, event: Event) -> None:
        apply(self.view, event)
        self.decision.events.append(event)

    def _init_node(
        self,
        name: str,
        node_type: str,
        *,
        display_name: str,
        template_name: str,
        parent: NodeView | None,
        ctx: _Ctx,
        phase: str = PENDING,
        message: str = "",
        inputs: Mapping[str, str] | None = None,
    ) -> NodeView:
        nid = self._new_node_id(name)
        self._emit(
            NodeInitialized(
                ts=self.now,
                node_id=nid,
                name=name,
                display_name=display_name,
                node_type=node_type,
                template_name=template_name,
                parent_id=parent.id if parent is not None else None,
                boundary_id=ctx.boundary_id,
                phase=phase,
                message=message,
                inputs=dict(inputs or {}),
                role=ctx.role,
            )
        )
        return self.view.nodes[nid]

    def _new_node_id(self, name: str) -> str:
        """The id of a new node called `name`. Rules 1 (older logs): Argo's FNV-32, as recorded.
        Rules >= 2: BLAKE2b-128; an id already taken by another name (a collision) gets the next
        salted id, so it stays this node's own affair and never stops the run."""
        if self.view.rules < 2:
            return node_id(self.view.name, name)
        nid, salt = node_id_v2(self.view.name, name), 0
        while nid in self.view.nodes:
            salt += 1
            nid = node_id_v2(self.view.name, name, salt=salt)
        return nid

    def _running_node(
        self,
        name: str,
        node_type: str,
        *,
        display_name: str,
        template_name: str,
        parent: NodeView | None,
        ctx: _Ctx,
        inputs: Mapping[str, str],
    ) -> NodeView:
        """The Retry/Steps/DAG node called `name`: created and started when it is new."""
        node = self.view.node(name)
        if node is None:
            node = self._init_node(
                name,
                node_type,
                display_name=display_name,
                template_name=template_name,
                parent=parent,
                ctx=ctx,
                inputs=inputs,
            )
            self._start(node)
        return node

    def _settle(
        self,
        name: str,
        phase: str,
        message: str,
        *,
        display_name: str,
        template_name: str,
        parent: NodeView | None,
        ctx: _Ctx,
    ) -> NodeView:
        """A node decided without running anything (Skipped, Omitted, Error, Failed): Argo's
        `Skipped`-type node, created directly in its final phase."""
        return self._init_node(
            name,
            SKIPPED_TYPE,
            display_name=display_name,
            template_name=template_name,
            parent=parent,
            ctx=ctx,
            phase=phase,
            message=message,
        )

    def _start(self, node: NodeView, attempt: int = 1) -> None:
        self._emit(NodeStarted(ts=self.now, node_id=node.id, attempt=attempt))

    def _finish(
        self, node: NodeView, phase: str, message: str = "", outputs: NodeOutputs | None = None
    ) -> None:
        if node.fulfilled:
            return
        self._emit(
            NodeFinished(
                ts=self.now, node_id=node.id, phase=phase, message=message, outputs=outputs
            )
        )

    def reconcile(
        self,
        now: float,
        *,
        results: Sequence[tuple[str, JobResult]] = (),
        lost: Sequence[tuple[str, str]] = (),
        shutdown: str | None = None,
        resume: bool = False,
        suspend: bool = False,
    ) -> Decision:
        """Decide the next events of the run at wall-clock time `now`.

        `results` are finished work (node id, result); `lost` are Pod nodes whose attempt died
        with a previous controller (node id, reason). Both are recorded first, in this decision.
        `resume` (`exitflow resume`) and `suspend` (`exitflow suspend`) are recorded as
        `ResumeRequested` / `SuspendRequested` before the walk. While the whole run is suspended
        (rules >= 2, Argo's `ShouldSuspend`) and not shut down, nothing new is decided.
        """
        self.now = now
        self.decision = Decision()
        view = self.view
        if view.finished:
            return self.decision
        for nid, result in results:
            self.complete(nid, result)
        for nid, reason in lost:
            node = view.nodes.get(nid)
            if node is not None and node.phase == RUNNING:
                self.lose_attempt(node, reason)
        if shutdown is not None and view.shutdown != shutdown and view.shutdown != "Terminate":
            self._emit(ShutdownRequested(ts=now, strategy=shutdown))
        if suspend:
            self._emit(SuspendRequested(ts=now))
        if resume:
            self._emit(ResumeRequested(ts=now))
        if view.phase == PENDING:
            self._emit(WorkflowStarted(ts=now))
        self._enforce_shutdown_and_deadline()
        if view.rules >= 2 and view.shutdown is None and self.held():
            return self.decision


        entry = self._execute_entrypoint()
        if view.exit_status is None:
            self._fire_workflow_hooks(final=False)
        if entry is not None and entry.fulfilled and view.exit_status is None:
            status = entry.phase if entry.phase in (FAILED, ERROR) else SUCCEEDED
            message = entry.message if status != SUCCEEDED else ""
            if view.shutdown == "Terminate":
                message = "Stopped with strategy 'Terminate'"
            self._emit(WorkflowExiting(ts=now, status=status, message=message))
        if view.exit_status is not None:
            self._run_exit_handlers()
        return self.decision

    def held(self) -> bool:
        """The whole run is suspended: by `exitflow suspend`, or by `spec.suspend: true` until
        the first `exitflow resume`."""
        if self.view.held is not None:
            return self.view.held
        return bool(self.spec.suspend)

    def _execute_entrypoint(self) -> NodeView | None:
        entrypoint = self.spec.entrypoint or ""
        tmpl = self.templates.get(entrypoint)
        name = self.view.name
        if tmpl is None:
            node = self.view.node(name)
            if node is None:
                node = self._settle(
                    name,
                    ERROR,
                    f"template {entrypoint!r} not found",
                    display_name=name,
                    template_name=entrypoint,
                    parent=None,
                    ctx=_Ctx(None),
                )
            return node
        args = dict(self.view.parameters)
        return self._execute(
            name, tmpl, tmpl.name, args, parent=None, ctx=_Ctx(None), display_name=name
        )

    def _execute(
        self,
        name: str,
        tmpl: Template,
        template_name: str,
        args: Mapping[str, str],
        *,
        parent: NodeView | None,
        ctx: _Ctx,
        display_name: str,
        retry: int | None = None,
    ) -> NodeView | None:
        """Execute a template as node `name`; returns the node, or None if it may not start yet.
        Rules >= 2: past the run's recursion depth or node limit (view.limits), the node is an Error
        (as Argo's `Maximum recursion depth exceeded`)."""
        if self.view.rules >= 2:
            node = self.view.node(name)
            problem = None
            if node is None or not node.fulfilled:
                limits = self.view.limits
                if self._depth + 1 >= limits.max_depth:
                    problem = limits.depth_exceeded()
                elif node is None and len(self.view.nodes) >= limits.max_nodes:
                    problem = limits.nodes_exceeded()
            if problem is not None:
                if node is not None:
                    self._finish(node, ERROR, problem)
                    return node
                return self._settle(
                    name,
                    ERROR,
                    problem,
                    display_name=display_name,
                    template_name=template_name,
                    parent=parent,
                    ctx=ctx,
                )
        self._depth += 1
        try:
            return self._execute_template(
                name,
                tmpl,
                template_name,
                args,
                parent=parent,
                ctx=ctx,
                display_name=display_name,
                retry=retry,
            )
        finally:
            self._depth -= 1

    def _execute_template(
        self,
        name: str,
        tmpl: Template,
        template_name: str,
        args: Mapping[str, str],
        *,
        parent: NodeView | None,
        ctx: _Ctx,
        display_name: str,
        retry: int | None = None,
    ) -> NodeView | None:
        node = self.view.node(name)
        if node is not None and node.fulfilled:
            return node
        if node is None:
            reason = self._blocked_reason(ctx)
            if reason is not None:
                return self._settle(
                    name,
                    FAILED,
                    reason,
                    display_name=display_name,
                    template_name=template_name,
                    parent=parent,
                    ctx=ctx,
                )
        try:
            # An existing node keeps the inputs it was created with: the log is the truth.
            inputs = dict(node.inputs) if node is not None else self._resolve_inputs(tmpl, args)
        except ExpressionError as e:
            if node is None:
                return self._settle(
                    name,
                    ERROR,
                    str(e),
                    display_name=display_name,
                    template_name=template_name,
                    parent=parent,
                    ctx=ctx,
                )
            self._finish(node, ERROR, str(e))
            return node

        if (
            node is None
            and retry is None
            and _kind(tmpl) in ("container", "script", "steps", "dag")
            and not self._boundary_allows(ctx)
        ):
            return None  # the enclosing template's parallelism is reached: wait
        if tmpl.retry_strategy is not None and retry is None:
            return self._execute_retry(
                name, tmpl, template_name, inputs, parent=parent, ctx=ctx, display_name=display_name
            )
        kind = _kind(tmpl)
        if kind in ("container", "script") or (self.view.rules >= 2 and _runs_as_work(tmpl)):
            return self._execute_pod(
                name,
                tmpl,
                template_name,
                inputs,
                parent=parent,
                ctx=ctx,
                display_name=display_name,
                retry=retry or 0,
            )
        if kind == "steps":
            return self._execute_steps(
                name, tmpl, template_name, inputs, parent=parent, ctx=ctx, display_name=display_name
            )
        if kind == "dag":
            return self._execute_dag(
                name, tmpl, template_name, inputs, parent=parent, ctx=ctx, display_name=display_name
            )
        if kind == "suspend" and self.view.rules >= 2:
            return self._execute_suspend(
                name, tmpl, template_name, inputs, parent=parent, ctx=ctx, display_name=display_name
            )
        message = f"template {template_name!r}: {kind} templates are not supported by Exitflow"
        if node is None:
            return self._settle(
                name,
                ERROR,
                message,
                display_name=display_name,
                template_name=template_name,
                parent=parent,
                ctx=ctx,
            )
        self._finish(node, ERROR, message)
        return node

    # ---- scopes.py
    _resolve_inputs = scopes._resolve_inputs
    _global_scope = scopes._global_scope
    _exit_scope = scopes._exit_scope
    _failures_json = scopes._failures_json
    _add_node_vars = scopes._add_node_vars
    _output_defaults = scopes._output_defaults
    _add_aggregate_vars = scopes._add_aggregate_vars
    _steps_scope = scopes._steps_scope
    _dag_scope = scopes._dag_scope
    _template_outputs = scopes._template_outputs
    _resolve_arguments = scopes._resolve_arguments
    _refs_never_ran = scopes._refs_never_ran
    _render_strict = scopes._render_strict
    _render_lenient = scopes._render_lenient

    # ---- loops.py
    _expand = loops._expand

    # ---- deadlines.py
    _deadline = deadlines._deadline
    _past_deadline = deadlines._past_deadline
    _blocked_reason = deadlines._blocked_reason
    _enforce_shutdown_and_deadline = deadlines._enforce_shutdown_and_deadline

    # ---- pods.py
    complete = pods.complete
    lose_attempt = pods.lose_attempt
    running_pods = pods.running_pods
    job_for = pods.job_for
    _execute_pod = pods._execute_pod
    _inject_fault = pods._inject_fault
    _pod_problem = pods._pod_problem
    _may_start_pod = pods._may_start_pod
    _boundary_allows = pods._boundary_allows
    _job_deadline = pods._job_deadline
    _build_job = pods._build_job
    _make_job = pods._make_job
    _network_mode = pods._network_mode
    _pod_scope = pods._pod_scope
    _store_logs = pods._store_logs

    # ---- suspend.py
    _execute_suspend = suspend._execute_suspend

    # ---- retries.py
    _execute_retry = retries._execute_retry
    _retry_stop_reason = retries._retry_stop_reason
    _backoff_seconds = retries._backoff_seconds

    # ---- steps.py
    _execute_steps = steps._execute_steps
    _execute_step_group = steps._execute_step_group
    _run_task_or_step = steps._run_task_or_step
    _when_error = steps._when_error
    _step_template = steps._step_template

    # ---- dag.py
    _execute_dag = dag._execute_dag
    _task_hooks_settled = dag._task_hooks_settled
    _execute_task = dag._execute_task
    _dag_graph = dag._dag_graph
    _assess_dag = dag._assess_dag

    # ---- hooks.py
    _workflow_hooks = hooks._workflow_hooks
    _fire_workflow_hooks = hooks._fire_workflow_hooks
    _run_exit_handlers = hooks._run_exit_handlers
    _start_exit_handler = hooks._start_exit_handler
    _hooks_done = hooks._hooks_done
    _exit_hook_default_args = hooks._exit_hook_default_args
    _execute_hook = hooks._execute_hook
    _in_workflow_handler = hooks._in_workflow_handler
