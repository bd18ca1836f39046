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

import functools
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ExpressionError
from ..events import (
    ERROR,
    FAILED,
    HTTP_TYPE,
    OMITTED,
    PENDING,
    POD_TYPE,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    WORK_TYPES,
    Event,
    NodeAttemptLost,
    NodeFinished,
    NodeInitialized,
    NodeLogged,
    NodeOutputs,
    NodeStarted,
    ShutdownRequested,
    WorkflowCompleted,
    WorkflowExiting,
    WorkflowStarted,
)
from ..executors.base import Job, JobResult
from ..expr import DependsExpr, evaluate_bool, parse, render, template_references
from ..limits import (
    MAX_DEPTH,
    MAX_LOOP_ITEMS,
    MAX_NODES,
    depth_exceeded,
    loop_exceeded,
    nodes_exceeded,
)
from ..naming import (
    argo_item_label,
    argo_item_value,
    as_param,
    idempotency_key,
    item_label,
    node_id,
    node_id_v2,
)
from ..naming import rfc3339 as _rfc3339
from ..spec import Arguments, DAGTemplate, Template, Workflow, parse_duration
from ..spec.defaults import effective_template, has_defaults
from ..spec.graph import ALL_FIELDS, RULES1_FIELDS, DagGraph, dag_graph, evaluation_depends
from ..state.fold import apply
from ..state.view import NodeView, WorkflowView
from ..store.base import LogRecord
from .children import child_workflow
from .faults import fault_outcome, match_fault
from .http_call import http_request

POD = POD_TYPE
#: Argo's node type of an `http` template (run by the HTTP executor; see http_call).
HTTP = HTTP_TYPE
STEPS = "Steps"
STEP_GROUP = "StepGroup"
DAG = "DAG"
TASK_GROUP = "TaskGroup"
RETRY = "Retry"
SKIPPED_TYPE = "Skipped"

ROLE_EXIT = "exit"
ROLE_HOOK = "hook"

MAX_OUTPUT_CHARS = 256 * 1024
NETWORK_ANNOTATION = "exitflow.io/network"
_REF_PREFIXES = ("steps.", "tasks.", "inputs.", "item", "workflow.", "retries", "exitHandlers.")
_RETRY_CHILD = re.compile(r"\((\d+)\)$")
#: An empty scope, for walks whose steps/tasks read no variables (see `_needs_scope`).
_NO_SCOPE: Mapping[str, Any] = {}


@functools.lru_cache(maxsize=4096)
def rfc3339(ts: float | None) -> str | None:
    """`naming.rfc3339`, memoised: a steps scope formats the times of every earlier step."""
    return _rfc3339(ts)


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
        #: Nested template calls of the reconcile pass under way (engine.limits.MAX_DEPTH).
        self._depth = 0

    # ------------------------------------------------------------------ emitting

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

    # ------------------------------------------------------------------ entry points

    def reconcile(
        self,
        now: float,
        *,
        results: Sequence[tuple[str, JobResult]] = (),
        lost: Sequence[tuple[str, str]] = (),
        shutdown: str | None = None,
    ) -> Decision:
        """Decide the next events of the run at wall-clock time `now`.

        `results` are finished work (node id, result); `lost` are Pod nodes whose attempt died
        with a previous controller (node id, reason). Both are recorded first, in this decision.
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
        if view.phase == PENDING:
            self._emit(WorkflowStarted(ts=now))
        self._enforce_shutdown_and_deadline()

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

    def complete(self, node_id_: str, result: JobResult) -> None:
        """Record the result of a Pod node's work (its final event, its logs)."""
        self.decision.finished_work.append(node_id_)
        node = self.view.nodes.get(node_id_)
        if node is None or node.fulfilled:
            return  # stopped, terminated or already recorded: the late result is ignored
        work = self._pods.get(node_id_)
        self._store_logs(node, result)
        if self.view.rules >= 2:
            result_text = _output_result(result.stdout)
        else:
            stdout = result.stdout.decode("utf-8", "replace")
            if len(stdout) > MAX_OUTPUT_CHARS:
                stdout = stdout[:MAX_OUTPUT_CHARS]
            result_text = stdout[:-1] if stdout.endswith("\n") else stdout
        phase, message = result.phase, result.message
        params: dict[str, str] = {}
        declared = work.template.outputs.parameters if work and work.template.outputs else []
        if work is not None and declared:
            scope = self._pod_scope(work, node)
            scope["outputs.result"] = result_text
            for out in declared:
                value: str | None = None
                vf = out.value_from
                if vf is not None and vf.path:
                    raw = result.output_files.get(out.name)
                    if raw is not None:
                        value = raw[:-1] if raw.endswith("\n") else raw
                    elif vf.default is not None:
                        value = self._render_lenient(as_param(vf.default), scope)
                    elif phase == SUCCEEDED:
                        phase = ERROR
                        path = vf.path
                        if self.view.rules >= 2:
                            path = self._render_lenient(path, scope)  # the path it looked at
                        message = f"failed to get output parameter {out.name!r}: {path} not found"
                elif vf is not None and vf.expression:
                    try:
                        value = as_param(parse(vf.expression).evaluate(_nest(scope)))
                    except ExpressionError as e:
                        if vf.default is not None:
                            value = as_param(vf.default)
                        elif phase == SUCCEEDED:
                            phase, message = ERROR, f"output parameter {out.name!r}: {e}"
                elif out.value is not None:
                    value = self._render_lenient(as_param(out.value), scope)
                elif vf is not None and vf.default is not None:
                    value = as_param(vf.default)
                if value is not None:
                    params[out.name] = value
        outputs = NodeOutputs(result=result_text, exit_code=result.exit_code, parameters=params)
        self._finish(node, phase, message, outputs)

    def lose_attempt(self, node: NodeView, reason: str) -> None:
        """Recovery: the attempt of `node` died with its controller; start the next delivery."""
        self._emit(
            NodeAttemptLost(ts=self.now, node_id=node.id, attempt=node.attempt, reason=reason)
        )
        self._start(node, node.attempt + 1)
        self.decision.start.append(node.id)

    def running_pods(self) -> list[NodeView]:
        """Pod nodes that are Running in the state (for recovery)."""
        return [
            n for n in self.view.nodes.values() if n.type in WORK_TYPES and n.phase == RUNNING
        ]

    def job_for(self, node: NodeView) -> Job | None:
        """The resolved work of a Running Pod node seen by the last reconcile."""
        work = self._pods.get(node.id)
        if work is None:
            # Not reached by the last walk of the tree: rebuild the work from the node's own
            # recorded template and inputs (the log is the truth).
            tmpl = self.templates.get(node.template_name)
            if tmpl is None or not (_kind(tmpl) in ("container", "script") or _runs_as_work(tmpl)):
                return None
            work = _PodWork(
                tmpl, dict(node.inputs), _Ctx(node.boundary_id, node.role), retry_index(node.name)
            )
            self._pods[node.id] = work
        return self._build_job(node, work)

    # ------------------------------------------------------------------ shutdown and deadline

    def _deadline(self) -> float | None:
        ads = self.spec.active_deadline_seconds
        if ads is None or self.view.started_at is None:
            return None
        return self.view.started_at + float(ads)

    def _past_deadline(self) -> bool:
        deadline = self._deadline()
        return deadline is not None and self.now >= deadline

    def _blocked_reason(self, ctx: _Ctx) -> str | None:
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

    def _enforce_shutdown_and_deadline(self) -> None:
        deadline = self._deadline()
        if deadline is not None and self.now < deadline and self.view.exit_status is None:
            self.decision.wake(deadline)
        if self.view.shutdown is None and (deadline is None or self.now < deadline):
            return  # `_blocked_reason` is None for every node: nothing to stop
        for node in list(self.view.nodes.values()):
            if node.type not in WORK_TYPES or node.fulfilled:
                continue
            reason = self._blocked_reason(_Ctx(node.boundary_id, node.role))
            if reason is not None:
                self._finish(node, FAILED, reason)
                self.decision.kill.append(node.id)

    # ------------------------------------------------------------------ workflow level

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

    def _workflow_hooks(self) -> dict[str, Any]:
        return dict(self.spec.hooks or {})

    def _fire_workflow_hooks(self, *, final: bool) -> bool:
        """Fire workflow-level expression hooks; True when every fired hook is fulfilled."""
        done = True
        for hook_name, hook in self._workflow_hooks().items():
            if hook_name == "exit" or not hook.expression:
                continue
            name = f"{self.view.name}.hooks.{hook_name}"
            node = self.view.node(name)
            scope = self._global_scope()
            if node is None:
                try:
                    fire = evaluate_bool(self._render_lenient(hook.expression, scope), _nest(scope))
                except ExpressionError:
                    fire = False
                if not fire:
                    continue
            if node is None or not node.fulfilled:
                node = self._execute_hook(
                    name, name, hook, scope, parent=None, ctx=_Ctx(None, ROLE_HOOK)
                )
            if node is None or not node.fulfilled:
                done = False
        return done

    def _run_exit_handlers(self) -> None:
        view = self.view
        if view.phase not in ("ExitPhase",):
            return
        if not self._fire_workflow_hooks(final=True):
            return
        failures: list[str] = []
        if view.shutdown != "Terminate":
            handlers: list[tuple[str, str, Any, str | None, Any]] = []
            on_exit = self.spec.on_exit
            exit_hook = self._workflow_hooks().get("exit")
            if on_exit:
                handlers.append((f"{view.name}.onExit", f"{view.name}.onExit", on_exit, None, None))
            elif exit_hook is not None and exit_hook.template:
                handlers.append(
                    (
                        f"{view.name}.onExit",
                        f"{view.name}.onExit",
                        exit_hook.template,
                        None,
                        exit_hook.arguments,
                    )
                )
            for handler in self.spec.exit_handlers or []:
                handlers.append(
                    (
                        f"{view.name}.exitHandlers.{handler.name}",
                        handler.name,
                        handler.template,
                        handler.when,
                        handler.arguments,
                    )
                )
            for name, display, template_name, when, arguments in handlers:
                node = view.node(name)
                if node is None or not node.fulfilled:
                    node = self._start_exit_handler(name, display, template_name, when, arguments)
                if node is None or not node.fulfilled:
                    return  # handlers run one after another, in order
                if node.phase in (FAILED, ERROR):
                    failures.append(display)
        status = view.exit_status or FAILED
        message = view.message
        if status == ERROR:
            phase = ERROR
        elif failures:
            phase = ERROR
            message = f"exit handler {', '.join(failures)} did not succeed"
        else:
            phase = status
        self._emit(WorkflowCompleted(ts=self.now, phase=phase, message=message))

    def _start_exit_handler(
        self, name: str, display: str, template_name: str, when: str | None, arguments: Any
    ) -> NodeView | None:
        ctx = _Ctx(None, ROLE_EXIT)
        tmpl = self.templates.get(template_name)
        existing = self.view.node(name)
        if existing is not None and tmpl is not None:
            return self._execute(
                name, tmpl, template_name, {}, parent=None, ctx=ctx, display_name=display
            )
        reads_scope = bool(when) or (arguments is not None and bool(arguments.parameters))
        scope = self._exit_scope() if reads_scope else _NO_SCOPE
        if tmpl is None:
            return self._settle(
                name,
                ERROR,
                f"template {template_name!r} not found",
                display_name=display,
                template_name=template_name,
                parent=None,
                ctx=ctx,
            )
        if when:
            try:
                ok = evaluate_bool(self._render_strict(when, scope), _nest(scope))
            except ExpressionError as e:
                return self._settle(
                    name,
                    ERROR,
                    str(e),
                    display_name=display,
                    template_name=template_name,
                    parent=None,
                    ctx=ctx,
                )
            if not ok:
                return self._settle(
                    name,
                    SKIPPED,
                    f"when '{when}' evaluated false",
                    display_name=display,
                    template_name=template_name,
                    parent=None,
                    ctx=ctx,
                )
        args = dict(self.view.parameters)
        if self.view.rules >= 2 and _has_arguments(arguments):
            args = {}  # Argo WithArgs: a handler with arguments of its own gets exactly those
        try:
            args.update(self._resolve_arguments(arguments, scope))
        except ExpressionError as e:
            return self._settle(
                name,
                ERROR,
                str(e),
                display_name=display,
                template_name=template_name,
                parent=None,
                ctx=ctx,
            )
        return self._execute(
            name, tmpl, template_name, args, parent=None, ctx=ctx, display_name=display
        )

    # ------------------------------------------------------------------ templates

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
        Rules >= 2: past the recursion depth or node limit (engine.limits), the node is an Error
        (as Argo's `Maximum recursion depth exceeded`)."""
        if self.view.rules >= 2:
            node = self.view.node(name)
            problem = None
            if node is None or not node.fulfilled:
                if self._depth + 1 >= MAX_DEPTH:
                    problem = depth_exceeded()
                elif node is None and len(self.view.nodes) >= MAX_NODES:
                    problem = nodes_exceeded()
            if problem is not None:
                if node is not None:
                    self._finish(node, ERROR, problem)
                    return node
                return self._settle(name, ERROR, problem, display_name=display_name,
                                    template_name=template_name, parent=parent, ctx=ctx)
        self._depth += 1
        try:
            return self._execute_template(name, tmpl, template_name, args, parent=parent,
                                          ctx=ctx, display_name=display_name, retry=retry)
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

    def _resolve_inputs(self, tmpl: Template, args: Mapping[str, str]) -> dict[str, str]:
        """The template's input parameters: the caller's arguments, else the template's own
        `value`/`default`. Like Argo's substituteParams, the template's own values are rendered
        once with the other inputs' raw values in scope (an input may derive from another)."""
        inputs: dict[str, str] = {}
        if tmpl.inputs is None:
            return inputs
        own: list[str] = []
        for p in tmpl.inputs.parameters or []:
            if p.name in args:
                inputs[p.name] = args[p.name]
            elif p.value is not None:
                inputs[p.name] = as_param(p.value)
                own.append(p.name)
            elif p.default is not None:
                inputs[p.name] = as_param(p.default)
                own.append(p.name)
            else:
                raise ExpressionError(f"inputs.parameters.{p.name} was not supplied")
        if own:
            scope = self._global_scope()
            for k, v in inputs.items():
                scope[f"inputs.parameters.{k}"] = v
            for name in own:
                inputs[name] = self._render_lenient(inputs[name], scope)
        return inputs

    # ------------------------------------------------------------------ pods

    def _execute_pod(
        self,
        name: str,
        tmpl: Template,
        template_name: str,
        inputs: dict[str, str],
        *,
        parent: NodeView | None,
        ctx: _Ctx,
        display_name: str,
        retry: int,
    ) -> NodeView | None:
        node = self.view.node(name)
        work = _PodWork(tmpl, inputs, ctx, retry)
        if node is None:
            if not self._may_start_pod(ctx):
                return None
            node = self._init_node(
                name,
                HTTP if tmpl.http is not None else POD,
                display_name=display_name,
                template_name=template_name,
                parent=parent,
                ctx=ctx,
                inputs=inputs,
            )
            problem = self._pod_problem(node, work)
            if problem is not None:
                self._finish(node, ERROR, problem)
                return node
            if self.view.faults and self.view.rules >= 2 and self._inject_fault(node):
                return node
            self._pods[node.id] = work
            self._start(node)
            self.decision.start.append(node.id)
            return node
        self._pods[node.id] = work
        if node.phase == PENDING and node.attempt > 0:
            # A lost attempt whose next delivery was not recorded yet (crash in between).
            self._start(node, node.attempt + 1)
            self.decision.start.append(node.id)
        job_deadline = self._job_deadline(node, work)
        if job_deadline is not None and node.phase == RUNNING:
            self.decision.wake(job_deadline)
        return node

    def _inject_fault(self, node: NodeView) -> bool:
        """`exitflow run --fail`: end a matching node as injected, without running it."""
        outcome = match_fault(self.view.faults, node.display_name, self.view.name)
        if outcome is None:
            return False
        phase, message, code = fault_outcome(outcome)
        outputs = NodeOutputs(exit_code=code)
        self._emit(NodeFinished(ts=self.now, node_id=node.id, phase=phase, message=message,
                                outputs=outputs, injected=True))
        self.decision.wake(self.now)  # its parent (e.g. a retry) may decide more at once
        return True

    def _pod_problem(self, node: NodeView, work: _PodWork) -> str | None:
        try:
            self._build_job(node, work)
        except ExpressionError as e:
            return str(e)
        return None

    def _may_start_pod(self, ctx: _Ctx) -> bool:
        """Workflow-level `parallelism`: at most that many Pod nodes active at once."""
        limit = self.spec.parallelism
        if limit is None or ctx.role == ROLE_EXIT:
            return True
        running = sum(
            1
            for n in self.view.nodes.values()
            if n.type == POD and not n.fulfilled and n.role != ROLE_EXIT
        )
        return running < int(limit)

    def _boundary_allows(self, ctx: _Ctx) -> bool:
        """Template-level `parallelism` (Argo's checkParallelism/countActiveChildren): a new
        Pod, Steps or DAG node may start only while its boundary (the enclosing steps/DAG
        template) has fewer active Pod/Steps/DAG children than the boundary's `parallelism`."""
        if ctx.boundary_id is None:
            return True
        bnode = self.view.nodes.get(ctx.boundary_id)
        if bnode is None:
            return True
        btmpl = self.templates.get(bnode.template_name)
        if btmpl is None or btmpl.parallelism is None:
            return True
        active = sum(
            1
            for n in self.view.nodes.values()
            if n.boundary_id == bnode.id and n.type in (POD, STEPS, DAG) and not n.fulfilled
        )
        return active < int(btmpl.parallelism)

    def _job_deadline(self, node: NodeView, work: _PodWork) -> float | None:
        start = node.started_at if node.started_at is not None else self.now
        limits: list[float] = []
        tmpl = work.template
        for raw in (tmpl.timeout, tmpl.active_deadline_seconds):
            if raw is None:
                continue
            scope = {f"inputs.parameters.{k}": v for k, v in work.inputs.items()}
            text = self._render_lenient(str(raw), scope)
            try:
                limits.append(start + parse_duration(text))
            except Exception:
                continue
        if not work.ctx.exempt:
            wf_deadline = self._deadline()
            if wf_deadline is not None:
                limits.append(wf_deadline)
        return min(limits) if limits else None

    def _build_job(self, node: NodeView, work: _PodWork) -> Job:
        # A Job depends on the node only through its attempt and start time (the rest is the
        # work's and the workflow's): the one built when the node was created is reused by
        # `job_for` right after (half the jobs built per Pod).
        key = (max(node.attempt, 1), node.started_at if node.started_at is not None else self.now)
        cached = self._built.get(node.id)
        if cached is not None and cached[0] is work and cached[1] == key:
            return cached[2]
        job = self._make_job(node, work)
        self._built[node.id] = (work, key, job)
        return job

    def _make_job(self, node: NodeView, work: _PodWork) -> Job:
        tmpl = work.template
        scopes: list[dict[str, Any]] = []

        def r(text: str) -> str:
            if "{{" not in text:
                return text
            if not scopes:
                scopes.append(self._pod_scope(work, node))
            return self._render_strict(text, scopes[0])

        if tmpl.resource is not None:
            key = idempotency_key(self.view.uid, node.id)
            manifest = self._render_lenient(tmpl.resource.manifest or "",
                                            self._pod_scope(work, node))
            return Job(
                workflow_name=self.view.name,
                workflow_uid=self.view.uid,
                node_id=node.id,
                node_name=node.name,
                attempt=max(node.attempt, 1),
                retry=work.retry,
                idempotency_key=key,
                child=child_workflow(tmpl.resource, manifest, key),
            )
        if tmpl.http is not None:
            return Job(
                workflow_name=self.view.name,
                workflow_uid=self.view.uid,
                node_id=node.id,
                node_name=node.name,
                attempt=max(node.attempt, 1),
                retry=work.retry,
                idempotency_key=idempotency_key(self.view.uid, node.id),
                deadline=self._job_deadline(node, work),
                http=http_request(tmpl.http, r),
            )
        body = tmpl.container if tmpl.container is not None else tmpl.script
        assert body is not None

        env: dict[str, str] = {}
        for var in body.env or []:
            if var.value is not None:
                env[var.name] = r(as_param(var.value))
        output_paths: dict[str, str] = {}
        for out in (tmpl.outputs.parameters if tmpl.outputs else None) or []:
            if out.value_from is not None and out.value_from.path:
                output_paths[out.name] = r(out.value_from.path)
        source = None
        if tmpl.script is not None:
            source = r(tmpl.script.source or "")
        command = [r(c) for c in body.command or []]
        args = [r(a) for a in body.args or []]
        image = r(body.image or "")
        if tmpl.script is not None and not command:
            command = ["sh"]
        return Job(
            workflow_name=self.view.name,
            workflow_uid=self.view.uid,
            node_id=node.id,
            node_name=node.name,
            attempt=max(node.attempt, 1),
            retry=work.retry,
            idempotency_key=idempotency_key(self.view.uid, node.id),
            image=image,
            command=command,
            args=args,
            env=env,
            working_dir=r(body.working_dir) if body.working_dir else None,
            source=source,
            output_paths=output_paths,
            deadline=self._job_deadline(node, work),
            network_mode=self._network_mode(tmpl),
            deadline_message=(
                "Step exceeded its deadline"
                if tmpl.timeout is None and tmpl.active_deadline_seconds is None
                else "Pod was active on the node longer than the specified deadline"
            ),
        )

    def _network_mode(self, tmpl: Template) -> str:
        """Containers get no network unless the template asks (annotation
        `exitflow.io/network: bridge|host|<network>`) or the workflow sets `hostNetwork`."""
        annotations = tmpl.metadata.annotations if tmpl.metadata is not None else {}
        asked = annotations.get(NETWORK_ANNOTATION)
        if asked:
            return asked
        return "host" if self.spec.host_network else "none"

    def _pod_scope(self, work: _PodWork, node: NodeView) -> dict[str, Any]:
        scope = self._global_scope()
        for k, v in work.inputs.items():
            scope[f"inputs.parameters.{k}"] = v
        scope["inputs.parameters"] = json.dumps(work.inputs)
        scope["retries"] = str(work.retry)
        scope["pod.name"] = node.id
        scope["node.name"] = node.name
        return scope

    def _store_logs(self, node: NodeView, result: JobResult) -> None:
        attempt = max(node.attempt, 1)
        self.decision.logs.append(
            LogRecord(node_id=node.id, attempt=attempt, stream="stdout", data=result.stdout)
        )
        self.decision.logs.append(
            LogRecord(node_id=node.id, attempt=attempt, stream="stderr", data=result.stderr)
        )
        self._emit(
            NodeLogged(
                ts=self.now,
                node_id=node.id,
                attempt=attempt,
                stdout_sha256=hashlib.sha256(result.stdout).hexdigest(),
                stderr_sha256=hashlib.sha256(result.stderr).hexdigest(),
                stdout_bytes=len(result.stdout),
                stderr_bytes=len(result.stderr),
            )
        )

    # ------------------------------------------------------------------ retries

    def _execute_retry(
        self,
        name: str,
        tmpl: Template,
        template_name: str,
        inputs: dict[str, str],
        *,
        parent: NodeView | None,
        ctx: _Ctx,
        display_name: str,
    ) -> NodeView | None:
        strategy = tmpl.retry_strategy
        assert strategy is not None
        node = self._running_node(
            name,
            RETRY,
            display_name=display_name,
            template_name=template_name,
            parent=parent,
            ctx=ctx,
            inputs=inputs,
        )
        children = [self.view.nodes[c] for c in node.children]

        def attempt(index: int) -> None:
            self._execute(
                f"{name}({index})",
                tmpl,
                template_name,
                inputs,
                parent=node,
                ctx=ctx,
                display_name=f"{display_name}({index})",
                retry=index,
            )

        if children:
            last = children[-1]
            if not last.fulfilled and self.view.rules >= 2 and _kind(tmpl) in ("steps", "dag"):
                attempt(len(children) - 1)  # a steps/DAG attempt is walked (a Pod's ends by itself)
            if not last.fulfilled:
                return node
            if last.phase in (SUCCEEDED, SKIPPED, OMITTED):
                self._finish(node, last.phase, last.message, last.outputs)
                return node
            stop_reason = self._retry_stop_reason(node, strategy, last, len(children), inputs, ctx)
            if stop_reason is not None:
                self._finish(node, last.phase, stop_reason, last.outputs)
                return node
            wait = self._backoff_seconds(strategy, len(children), inputs)
            ready_at = (last.finished_at or self.now) + wait
            if self.now < ready_at:
                self.decision.wake(ready_at)
                return node
        attempt(len(children))
        return node

    def _retry_stop_reason(
        self,
        node: NodeView,
        strategy: Any,
        last: NodeView,
        attempts: int,
        inputs: dict[str, str],
        ctx: _Ctx,
    ) -> str | None:
        blocked = self._blocked_reason(ctx)
        if blocked is not None:
            return blocked
        policy = strategy.retry_policy or "OnFailure"
        if not strategy.retry_policy and strategy.expression and self.view.rules >= 2:
            policy = "Always"  # Argo RetryPolicyActual: the expression alone decides
        if policy == "OnFailure" and last.phase != FAILED:
            return last.message or "retryPolicy OnFailure does not retry errors"
        if policy in ("OnError", "OnTransientError") and last.phase != ERROR:
            return last.message or f"retryPolicy {policy} does not retry failures"
        scope = {f"inputs.parameters.{k}": v for k, v in inputs.items()}
        scope.update(self._global_scope())
        if strategy.limit is not None:
            limit = int(self._render_lenient(as_param(strategy.limit), scope))
            if attempts > limit:
                return "No more retries left"
        backoff = strategy.backoff
        if backoff is not None and backoff.max_duration and node.started_at is not None:
            max_duration = parse_duration(
                self._render_lenient(as_param(backoff.max_duration), scope)
            )
            if self.now - node.started_at >= max_duration:
                return "Max duration limit exceeded"
        if strategy.expression:
            exit_code = last.outputs.exit_code if last.outputs else None
            duration = (last.finished_at or self.now) - (last.started_at or self.now)
            variables = {
                "lastRetry": {
                    "exitCode": exit_code if exit_code is not None else -1,
                    "status": last.phase,
                    "duration": duration,
                    "message": last.message,
                },
                **_nest(scope),
            }
            try:
                if not evaluate_bool(strategy.expression, variables):
                    return "retryStrategy.expression evaluated to false"
            except ExpressionError as e:
                return f"retryStrategy.expression: {e}"
        return None

    def _backoff_seconds(self, strategy: Any, failures: int, inputs: dict[str, str]) -> float:
        backoff = strategy.backoff
        if backoff is None or backoff.duration is None:
            return 0.0
        scope = {f"inputs.parameters.{k}": v for k, v in inputs.items()}
        duration = parse_duration(self._render_lenient(as_param(backoff.duration), scope))
        factor = (
            float(self._render_lenient(as_param(backoff.factor), scope)) if backoff.factor else 1.0
        )
        wait = duration * math.pow(factor, max(failures - 1, 0))
        if backoff.cap:
            wait = min(wait, parse_duration(self._render_lenient(as_param(backoff.cap), scope)))
        return wait

    # ------------------------------------------------------------------ steps

    def _execute_steps(
        self,
        name: str,
        tmpl: Template,
        template_name: str,
        inputs: dict[str, str],
        *,
        parent: NodeView | None,
        ctx: _Ctx,
        display_name: str,
    ) -> NodeView | None:
        node = self._running_node(
            name,
            STEPS,
            display_name=display_name,
            template_name=template_name,
            parent=parent,
            ctx=ctx,
            inputs=inputs,
        )
        child_ctx = _Ctx(node.id, ctx.role)
        group_parent = node
        for i, group in enumerate(tmpl.steps or []):
            gname = f"{name}[{i}]"
            gnode = self._execute_step_group(
                gname, i, group, tmpl, node, inputs, parent=group_parent, ctx=child_ctx
            )
            if not gnode.fulfilled:
                return node
            if gnode.phase in (FAILED, ERROR):
                self._finish(node, FAILED, gnode.message)
                return node
            group_parent = gnode
        outputs = None
        if tmpl.outputs is not None and tmpl.outputs.parameters:
            outputs = self._template_outputs(tmpl, self._steps_scope(node, tmpl, inputs))
        self._finish(node, SUCCEEDED, "", outputs)
        return node

    def _execute_step_group(
        self,
        gname: str,
        index: int,
        group: Sequence[Any],
        tmpl: Template,
        steps_node: NodeView,
        inputs: dict[str, str],
        *,
        parent: NodeView,
        ctx: _Ctx,
    ) -> NodeView:
        gnode = self.view.node(gname)
        if gnode is not None and gnode.fulfilled:
            return gnode
        if gnode is None:
            gnode = self._init_node(
                gname,
                STEP_GROUP,
                display_name=f"[{index}]",
                template_name="",
                parent=parent,
                ctx=ctx,
            )
            self._start(gnode)
        scope = (
            self._steps_scope(steps_node, tmpl, inputs)
            if any(_needs_scope(step) for step in group)
            else _NO_SCOPE
        )
        all_done = True
        failed: list[NodeView] = []
        fail_fast = tmpl.fail_fast is True
        stop_creating = False
        group_error: str | None = None
        # First pass: failures already known stop new work when failFast is asked for.
        for child_id in gnode.children:
            known = self.view.nodes[child_id]
            if known.phase in (FAILED, ERROR) and known.role == ctx.role:
                stop_creating = fail_fast
        for step in group:
            expanded = self._expand(step, scope)
            base = f"{gname}.{step.name}"
            if isinstance(expanded, str):  # an error while expanding
                if self.view.node(base) is None:
                    self._settle(
                        base,
                        ERROR,
                        expanded,
                        display_name=step.name,
                        template_name=step.template or "",
                        parent=gnode,
                        ctx=ctx,
                    )
                n = self.view.nodes_by_name[base]
                if not _continues_on(step, n.phase):
                    failed.append(n)
                continue
            if expanded is not None and not expanded:
                if self.view.node(base) is None:
                    self._settle(
                        base,
                        SKIPPED,
                        "Skipped, empty params",
                        display_name=step.name,
                        template_name=step.template or "",
                        parent=gnode,
                        ctx=ctx,
                    )
                continue
            items = expanded if expanded is not None else [_NO_ITEM]
            for j, item in enumerate(items):
                if item is _NO_ITEM:
                    cname, cdisplay = base, step.name
                    item_scope = scope
                else:
                    label = argo_item_label(item) if self.view.rules >= 2 else item_label(item)
                    cname = f"{base}({j}:{label})"
                    cdisplay = f"{step.name}({j}:{label})"
                    item_scope = _with_item(scope, item, self.view.rules)
                child = self.view.node(cname)
                if child is None:
                    if stop_creating:
                        continue
                    if step.when and self.view.rules >= 2:
                        # Argo: a `when` that cannot be evaluated errors the group itself
                        # (continueOn does not cover it); nothing more starts in it.
                        when_error = self._when_error(step.when, item_scope)
                        if when_error is not None:
                            group_error = group_error or when_error
                            stop_creating = True
                            continue
                    child = self._run_task_or_step(
                        cname, cdisplay, step, item_scope, parent=gnode, ctx=ctx
                    )
                    if child is None:
                        all_done = False
                        continue
                elif not child.fulfilled:
                    child = self._run_task_or_step(
                        cname, cdisplay, step, item_scope, parent=gnode, ctx=ctx
                    )
                    assert child is not None
                if not self._hooks_done(step, child, cname, "steps", item_scope, gnode, ctx):
                    all_done = False
                if not child.fulfilled:
                    all_done = False
                    continue
                if child.phase in (FAILED, ERROR) and not _continues_on(step, child.phase):
                    failed.append(child)
                    stop_creating = stop_creating or fail_fast
        if not all_done:
            return gnode
        if group_error is not None:
            self._finish(gnode, ERROR, group_error)
        elif failed:
            first = failed[0]
            message = f"child '{first.id}' failed"
            if fail_fast and tmpl.parallelism is not None:
                message = "template has failed or errored children and failFast enabled"
            self._finish(gnode, FAILED, message)
        else:
            self._finish(gnode, SUCCEEDED)
        return gnode

    def _run_task_or_step(
        self,
        name: str,
        display: str,
        step: Any,
        scope: Mapping[str, Any],
        *,
        parent: NodeView,
        ctx: _Ctx,
    ) -> NodeView | None:
        """Create (when/arguments) and execute one step or task instance."""
        node = self.view.node(name)
        tmpl, tname = self._step_template(step)
        if node is None:
            if tmpl is None:
                return self._settle(
                    name,
                    ERROR,
                    f"template {tname!r} not found",
                    display_name=display,
                    template_name=tname,
                    parent=parent,
                    ctx=ctx,
                )
            if step.when:
                try:
                    ok = evaluate_bool(self._render_strict(step.when, scope), _nest(scope))
                except ExpressionError as e:
                    return self._settle(
                        name,
                        ERROR,
                        str(e),
                        display_name=display,
                        template_name=tname,
                        parent=parent,
                        ctx=ctx,
                    )
                if not ok:
                    return self._settle(
                        name,
                        SKIPPED,
                        f"when '{step.when}' evaluated false",
                        display_name=display,
                        template_name=tname,
                        parent=parent,
                        ctx=ctx,
                    )
        if tmpl is None:
            return node
        try:
            args = self._resolve_arguments(step.arguments, scope)
        except ExpressionError as e:
            if node is None:
                return self._settle(
                    name,
                    ERROR,
                    str(e),
                    display_name=display,
                    template_name=tname,
                    parent=parent,
                    ctx=ctx,
                )
            self._finish(node, ERROR, str(e))
            return node
        return self._execute(name, tmpl, tname, args, parent=parent, ctx=ctx, display_name=display)

    def _when_error(self, when: str, scope: Mapping[str, Any]) -> str | None:
        """Why `when` cannot be evaluated to a boolean in `scope`, or None."""
        try:
            evaluate_bool(self._render_strict(when, scope), _nest(scope))
        except ExpressionError as e:
            return str(e)
        return None

    def _step_template(self, step: Any) -> tuple[Template | None, str]:
        if getattr(step, "inline", None) is not None:
            inline: Template = step.inline
            if self.view.rules >= 2 and has_defaults(self.spec):
                hit = self._inline.get(id(inline))
                if hit is None or hit[0] is not inline:
                    hit = (inline, effective_template(self.spec, inline))
                    self._inline[id(inline)] = hit
                inline = hit[1]
            return inline, inline.name or ""
        tname = step.template or ""
        return self.templates.get(tname), tname

    def _hooks_done(
        self,
        step: Any,
        child: NodeView,
        cname: str,
        kind: str,
        scope: Mapping[str, Any],
        parent: NodeView,
        ctx: _Ctx,
    ) -> bool:
        """Run a step's or task's hooks; True when every triggered hook is fulfilled."""
        if not step.hooks and not getattr(step, "on_exit", None):
            return True  # (most steps: no hooks to run)
        done = True
        hooks = dict(getattr(step, "hooks", None) or {})
        exit_hook: Any = hooks.pop("exit", None)
        on_exit = getattr(step, "on_exit", None)
        self_scope: dict[str, Any] = {}
        if hooks or exit_hook is not None:
            self_scope = dict(scope)
            self._add_node_vars(self_scope, f"{kind}.{step.name}", child)
        for hook_name, hook in hooks.items():
            if not hook.expression:
                continue
            hname = f"{cname}.hooks.{hook_name}"
            hnode = self.view.node(hname)
            if hnode is None:
                try:
                    fire = evaluate_bool(
                        self._render_lenient(hook.expression, self_scope), _nest(self_scope)
                    )
                except ExpressionError:
                    fire = False
                if not fire:
                    continue
            if hnode is None or not hnode.fulfilled:
                hnode = self._execute_hook(
                    hname,
                    f"{child.display_name}.hooks.{hook_name}",
                    hook,
                    self_scope,
                    parent=parent,
                    ctx=_Ctx(ctx.boundary_id, ROLE_HOOK),
                )
            if hnode is None or not hnode.fulfilled:
                done = False
        if child.completed and (exit_hook is not None or on_exit):
            hname = f"{cname}.onExit"
            hnode = self.view.node(hname)
            display = f"{child.display_name}.onExit"
            if hnode is None or not hnode.fulfilled:
                hctx = _Ctx(ctx.boundary_id, ROLE_EXIT)
                if on_exit:
                    tmpl = self.templates.get(on_exit)
                    if tmpl is None:
                        hnode = hnode or self._settle(
                            hname,
                            ERROR,
                            f"template {on_exit!r} not found",
                            display_name=display,
                            template_name=on_exit,
                            parent=parent,
                            ctx=hctx,
                        )
                    else:
                        hnode = self._execute(
                            hname,
                            tmpl,
                            on_exit,
                            self._exit_hook_default_args() or {},
                            parent=parent,
                            ctx=hctx,
                            display_name=display,
                        )
                else:
                    hnode = self._execute_hook(
                        hname,
                        display,
                        exit_hook,
                        self_scope,
                        parent=parent,
                        ctx=hctx,
                        default_args=self._exit_hook_default_args(),
                    )
            if hnode is None or not hnode.fulfilled:
                done = False
        return done

    def _exit_hook_default_args(self) -> dict[str, str] | None:
        """Argo `GetExitHook(wf.spec.arguments)`: a step's or task's exit hook without arguments
        of its own gets the workflow's (rules >= 2; None before)."""
        return dict(self.view.parameters) if self.view.rules >= 2 else None

    def _execute_hook(
        self,
        name: str,
        display: str,
        hook: Any,
        scope: Mapping[str, Any],
        *,
        parent: NodeView | None,
        ctx: _Ctx,
        default_args: Mapping[str, str] | None = None,
    ) -> NodeView | None:
        tname = hook.template or ""
        tmpl = self.templates.get(tname)
        node = self.view.node(name)
        if tmpl is None:
            if node is None:
                node = self._settle(
                    name,
                    ERROR,
                    f"template {tname!r} not found",
                    display_name=display,
                    template_name=tname,
                    parent=parent,
                    ctx=ctx,
                )
            return node
        try:
            args = self._resolve_arguments(hook.arguments, scope)
        except ExpressionError as e:
            if node is None:
                return self._settle(
                    name,
                    ERROR,
                    str(e),
                    display_name=display,
                    template_name=tname,
                    parent=parent,
                    ctx=ctx,
                )
            return node
        if default_args is not None and not _has_arguments(hook.arguments):
            args = dict(default_args)
        return self._execute(name, tmpl, tname, args, parent=parent, ctx=ctx, display_name=display)

    # ------------------------------------------------------------------ DAG

    def _execute_dag(
        self,
        name: str,
        tmpl: Template,
        template_name: str,
        inputs: dict[str, str],
        *,
        parent: NodeView | None,
        ctx: _Ctx,
        display_name: str,
    ) -> NodeView | None:
        dag = tmpl.dag
        assert dag is not None
        node = self._running_node(
            name,
            DAG,
            display_name=display_name,
            template_name=template_name,
            parent=parent,
            ctx=ctx,
            inputs=inputs,
        )
        child_ctx = _Ctx(node.id, ctx.role)
        tasks = {t.name: t for t in dag.tasks}
        graph, depends = self._dag_graph(dag)
        deps = graph.deps
        if dag.target:
            targets = self._render_lenient(dag.target, self._dag_scope(node, tmpl, inputs)).split()
        else:
            targets = graph.leaves()
        relevant = graph.ancestors(targets)
        fail_fast = dag.fail_fast is not False

        def settled(task_name: str) -> bool:
            tnode = self.view.node(f"{name}.{task_name}")
            if tnode is None or not tnode.fulfilled:
                return False
            return self._task_hooks_settled(tasks[task_name], tnode, name)

        base_scope: Mapping[str, Any] | None = None
        scope_seq = self.view.seq
        for task in dag.tasks:
            if task.name not in relevant:
                continue
            tname = f"{name}.{task.name}"
            tnode = self.view.node(tname)
            scope = _NO_SCOPE
            if _needs_scope(task):
                if base_scope is None or self.view.seq != scope_seq:
                    # Tasks decided earlier in this pass (e.g. a Skipped producer) are visible
                    # to the ones after them.
                    base_scope = self._dag_scope(node, tmpl, inputs)
                    scope_seq = self.view.seq
                scope = base_scope
            if tnode is None:
                if not all(settled(d) for d in deps[task.name]):
                    continue
                if task.depends or task.dependencies:
                    try:
                        if task.name not in depends:
                            # rules >= 2: a bare dependency on a task with continueOn accepts
                            # its Failed/Errored phase too (Argo `expandDependency`).
                            depends[task.name] = evaluation_depends(
                                task, tasks, continue_on=self.view.rules >= 2
                            )
                        expr = depends[task.name]
                        go = expr is None or expr.evaluate(
                            lambda t: _DepInfo(self, f"{name}.{t}")
                        )
                    except ExpressionError as e:
                        self._settle(
                            tname,
                            ERROR,
                            str(e),
                            display_name=task.name,
                            template_name=task.template or "",
                            parent=node,
                            ctx=child_ctx,
                        )
                        continue
                    if not go:
                        self._settle(
                            tname,
                            OMITTED,
                            "omitted: depends condition not met",
                            display_name=task.name,
                            template_name=task.template or "",
                            parent=node,
                            ctx=child_ctx,
                        )
                        continue
            if tnode is not None and tnode.fulfilled:
                self._hooks_done(task, tnode, tname, "tasks", scope, node, child_ctx)
                continue
            self._execute_task(tname, task, scope, parent=node, ctx=child_ctx)
            tnode = self.view.node(tname)
            if tnode is not None:
                self._hooks_done(task, tnode, tname, "tasks", scope, node, child_ctx)

        phase = self._assess_dag(name, targets, tasks, deps, fail_fast)
        if phase == RUNNING:
            return node
        if phase in (FAILED, ERROR):
            self._finish(node, phase, f"DAG {display_name} {phase.lower()}")
            return node
        outputs = None
        if tmpl.outputs is not None and tmpl.outputs.parameters:
            outputs = self._template_outputs(tmpl, self._dag_scope(node, tmpl, inputs))
        self._finish(node, SUCCEEDED, "", outputs)
        return node

    def _task_hooks_settled(self, task: Any, tnode: NodeView, dag_name: str) -> bool:
        tname = f"{dag_name}.{task.name}"
        has_exit = bool(getattr(task, "on_exit", None)) or "exit" in (task.hooks or {})
        if has_exit and tnode.completed:
            hnode = self.view.node(f"{tname}.onExit")
            if hnode is None or not hnode.fulfilled:
                return False
        for hook_name, hook in (task.hooks or {}).items():
            if hook_name == "exit" or not hook.expression:
                continue
            hnode = self.view.node(f"{tname}.hooks.{hook_name}")
            if hnode is not None and not hnode.fulfilled:
                return False
        return True

    def _execute_task(
        self, tname: str, task: Any, scope: Mapping[str, Any], *, parent: NodeView, ctx: _Ctx
    ) -> None:
        expanded = self._expand(task, scope)
        if isinstance(expanded, str):
            if self.view.node(tname) is None:
                self._settle(
                    tname,
                    ERROR,
                    expanded,
                    display_name=task.name,
                    template_name=task.template or "",
                    parent=parent,
                    ctx=ctx,
                )
            return
        if expanded is None:
            self._run_task_or_step(tname, task.name, task, scope, parent=parent, ctx=ctx)
            return
        group = self.view.node(tname)
        if group is None:
            if not expanded:
                self._settle(
                    tname,
                    SKIPPED,
                    "Skipped, empty params",
                    display_name=task.name,
                    template_name=task.template or "",
                    parent=parent,
                    ctx=ctx,
                )
                return
            group = self._init_node(
                tname,
                TASK_GROUP,
                display_name=task.name,
                template_name=task.template or "",
                parent=parent,
                ctx=ctx,
            )
            self._start(group)
        if group.fulfilled:
            return
        done = True
        worst = SUCCEEDED
        for j, item in enumerate(expanded):
            label = argo_item_label(item) if self.view.rules >= 2 else item_label(item)
            cname = f"{tname}({j}:{label})"
            child = self._run_task_or_step(
                cname,
                f"{task.name}({j}:{label})",
                task,
                _with_item(scope, item, self.view.rules),
                parent=group,
                ctx=ctx,
            )
            if child is None or not child.fulfilled:
                done = False
                continue
            if child.phase in (FAILED, ERROR):
                worst = child.phase
        if done:
            self._finish(group, worst)

    def _dag_graph(self, dag: DAGTemplate) -> tuple[DagGraph, dict[str, DependsExpr | None]]:
        """What each task depends on (`spec/graph.py`): under rules 1, only references in `when`
        and arguments implied a dependency; from rules 2, also those in loops and hooks."""
        hit = self._graphs.get(id(dag))
        if hit is None or hit[0] is not dag:
            fields = ALL_FIELDS if self.view.rules >= 2 else RULES1_FIELDS
            hit = (dag, dag_graph(dag, fields), {})
            self._graphs[id(dag)] = hit
        return hit[1], hit[2]

    def _assess_dag(
        self,
        name: str,
        targets: list[str],
        tasks: Mapping[str, Any],
        deps: Mapping[str, frozenset[str]],
        fail_fast: bool,
    ) -> str:
        """Argo's assessDAGPhase: Running while any created task is unfinished; then the branch
        phase of each target (an Omitted or Skipped task inherits its ancestors' failure)."""
        for tn in tasks:
            tnode = self.view.node(f"{name}.{tn}")
            if tnode is not None and (
                not tnode.fulfilled or not self._task_hooks_settled(tasks[tn], tnode, name)
            ):
                return RUNNING
        memo: dict[str, str | None] = {}

        def branch(tn: str) -> str | None:
            if tn in memo:
                return memo[tn]
            memo[tn] = None
            tnode = self.view.node(f"{name}.{tn}")
            if tnode is None:
                return None
            if tnode.completed:
                memo[tn] = tnode.phase
                return tnode.phase
            inherited = SUCCEEDED
            for d in deps.get(tn, ()):
                bp = branch(d)
                if bp in (FAILED, ERROR) and inherited not in (FAILED, ERROR):
                    inherited = bp
            memo[tn] = inherited
            return inherited

        result = SUCCEEDED
        for target in targets:
            if target not in tasks:
                continue
            bp = branch(target)
            if bp is None:
                result = RUNNING
                if not fail_fast:
                    break
            elif bp in (FAILED, ERROR):
                if _continues_on(tasks[target], bp):
                    continue
                result = bp
                if fail_fast:
                    break
        return result

    # ------------------------------------------------------------------ loops

    def _expand(self, step: Any, scope: Mapping[str, Any]) -> list[Any] | str | None:
        """Items of withItems/withParam/withSequence; None when the step has no loop; a str
        describing the problem when the loop cannot be expanded."""
        limited = self.view.rules >= 2
        if step.with_items is not None:
            if limited and len(step.with_items) > MAX_LOOP_ITEMS:
                return loop_exceeded("withItems", len(step.with_items))
            items: list[Any] = []
            for item in step.with_items:
                if isinstance(item, str):
                    items.append(self._render_lenient(item, scope))
                else:
                    items.append(item)
            return items
        if step.with_param is not None:
            try:
                text = self._render_strict(str(step.with_param), scope)
            except ExpressionError as e:
                return str(e)
            try:
                value = json.loads(text)
            except ValueError:
                return f"withParam value could not be parsed as a JSON list: {text[:200]}"
            if not isinstance(value, list):
                return f"withParam value could not be parsed as a JSON list: {text[:200]}"
            if limited and len(value) > MAX_LOOP_ITEMS:
                return loop_exceeded("withParam", len(value))
            return value
        seq = step.with_sequence
        if seq is not None:
            try:
                count = (
                    self._render_strict(as_param(seq.count), scope)
                    if seq.count is not None
                    else None
                )
                start = (
                    int(self._render_strict(as_param(seq.start), scope))
                    if seq.start is not None
                    else 0
                )
                if count is not None and int(count) == 0 and self.view.rules >= 2:
                    return []  # Argo expandSequence: `count: 0` is no items
                if count is not None:
                    end = start + int(count) - 1
                else:
                    end = (
                        int(self._render_strict(as_param(seq.end), scope))
                        if seq.end is not None
                        else 0
                    )
            except (ExpressionError, ValueError) as e:
                return f"withSequence: {e}"
            step_by = 1 if end >= start else -1
            if limited and abs(end - start) + 1 > MAX_LOOP_ITEMS:
                return loop_exceeded("withSequence", abs(end - start) + 1)
            fmt = seq.format
            values = []
            for v in range(start, end + step_by, step_by):
                values.append(_sprintf(fmt, v) if fmt else str(v))
            return values
        return None

    # ------------------------------------------------------------------ scopes and variables

    def _global_scope(self) -> dict[str, Any]:
        view = self.view
        scope: dict[str, Any] = {
            "workflow.name": view.name,
            "workflow.uid": view.uid,
            "workflow.namespace": "default",
            "workflow.serviceAccountName": "default",
            "workflow.mainEntrypoint": self.spec.entrypoint,
            "workflow.creationTimestamp": rfc3339(view.created_at) or "",
            "workflow.status": view.exit_status or (RUNNING if view.phase != PENDING else PENDING),
        }
        start = view.started_at if view.started_at is not None else self.now
        scope["workflow.duration"] = str(round(max(self.now - start, 0.0), 6))
        # Argo: `workflow.parameters` and `workflow.parameters.json` are the JSON list of
        # `{name, value}` (a parameter literally named "json" wins over the latter).
        as_list = json.dumps([{"name": k, "value": v} for k, v in view.parameters.items()])
        scope["workflow.parameters.json"] = as_list
        for k, v in view.parameters.items():
            scope[f"workflow.parameters.{k}"] = v
        scope["workflow.parameters"] = as_list
        if view.exit_status is not None:
            scope["workflow.failures"] = self._failures_json()
        return scope

    def _exit_scope(self) -> dict[str, Any]:
        """[ours] What a workflow-level exit handler can see: the workflow, the entrypoint's own
        tasks/steps (`tasks.X.phase`), and the handlers before it (`exitHandlers.NAME.status`)."""
        scope = self._global_scope()
        entry = self.view.node(self.view.name)
        if entry is not None and self.view.rules >= 2 and self.spec.entrypoint:
            # [ours] `steps.<entrypoint>` / `tasks.<entrypoint>` is the entrypoint node (its
            # own steps/tasks, added next, win a clash of names).
            for root in ("steps", "tasks"):
                self._add_node_vars(scope, f"{root}.{self.spec.entrypoint}", entry)
        if entry is not None and entry.type == RETRY and entry.children and self.view.rules >= 2:
            entry = self.view.nodes[entry.children[-1]]  # a retried entrypoint: its last attempt
        if entry is not None:
            prefix = "tasks" if entry.type == DAG else "steps"
            for n in self.view.nodes.values():
                if (
                    n.boundary_id == entry.id
                    and n.type not in (STEP_GROUP,)
                    and "(" not in n.display_name
                    and n.role == ""
                    and "." not in n.display_name
                ):
                    self._add_node_vars(scope, f"{prefix}.{n.display_name}", n)
        for handler in self.spec.exit_handlers or []:
            hnode = self.view.node(f"{self.view.name}.exitHandlers.{handler.name}")
            if hnode is not None:
                self._add_node_vars(scope, f"exitHandlers.{handler.name}", hnode)
        return scope

    def _failures_json(self) -> str:
        failures = [
            {
                "displayName": n.display_name,
                "message": n.message,
                "templateName": n.template_name,
                "phase": n.phase,
                "podName": n.id,
                "finishedAt": rfc3339(n.finished_at),
            }
            for n in self.view.nodes.values()
            if n.phase in (FAILED, ERROR) and not self._in_workflow_handler(n)
        ]
        return json.dumps(failures) if failures else "null"

    def _in_workflow_handler(self, node: NodeView) -> bool:
        """Whether `node` belongs to a workflow-level exit handler (left out of
        `workflow.failures`). Rules 1 also left out step/task exit hooks; from rules 2 they are
        listed, as in Argo (`workflow.failures` is taken before the handler starts)."""
        if node.role != ROLE_EXIT:
            return False
        if self.view.rules < 2:
            return True
        root = node
        while root.parent_id is not None:
            root = self.view.nodes[root.parent_id]
        return root.name != self.view.name

    def _add_node_vars(self, scope: dict[str, Any], prefix: str, node: NodeView) -> None:
        scope[f"{prefix}.status"] = node.phase
        scope[f"{prefix}.phase"] = node.phase
        scope[f"{prefix}.id"] = node.id
        scope[f"{prefix}.startedAt"] = rfc3339(node.started_at) or ""
        scope[f"{prefix}.finishedAt"] = rfc3339(node.finished_at) or ""
        outputs = node.outputs
        if node.phase in (SKIPPED, OMITTED) and (outputs is None or not outputs.parameters):
            # A node that never ran exposes its template's output defaults (Argo: a skipped
            # producer's `valueFrom.default` is what consumers see).
            defaults = self._output_defaults(node.template_name)
            if defaults:
                outputs = NodeOutputs(parameters=defaults)
        if outputs is not None:
            if outputs.result is not None:
                scope[f"{prefix}.outputs.result"] = outputs.result
            if outputs.exit_code is not None:
                scope[f"{prefix}.exitCode"] = str(outputs.exit_code)
            for k, v in outputs.parameters.items():
                scope[f"{prefix}.outputs.parameters.{k}"] = v
            if outputs.parameters:
                scope[f"{prefix}.outputs.parameters"] = json.dumps(outputs.parameters)

    def _output_defaults(self, template_name: str) -> dict[str, str]:
        tmpl = self.templates.get(template_name)
        if tmpl is None or tmpl.outputs is None:
            return {}
        return {
            out.name: as_param(out.value_from.default)
            for out in tmpl.outputs.parameters or []
            if out.value_from is not None and out.value_from.default is not None
        }

    def _add_aggregate_vars(
        self, scope: dict[str, Any], prefix: str, group: NodeView | None, children: list[NodeView]
    ) -> None:
        if group is not None:
            scope[f"{prefix}.status"] = group.phase
            scope[f"{prefix}.phase"] = group.phase
            scope[f"{prefix}.id"] = group.id
        results = [
            c.outputs.result
            for c in children
            if c.outputs is not None and c.outputs.result is not None
        ]
        scope[f"{prefix}.outputs.result"] = json.dumps([_jsonish(r) for r in results])
        param_maps = [
            dict(c.outputs.parameters)
            for c in children
            if c.outputs is not None and c.outputs.parameters
        ]
        scope[f"{prefix}.outputs.parameters"] = json.dumps(param_maps)
        keys: list[str] = []
        for m in param_maps:
            for k in m:
                if k not in keys:
                    keys.append(k)
        for k in keys:
            scope[f"{prefix}.outputs.parameters.{k}"] = json.dumps(
                [m[k] for m in param_maps if k in m]
            )

    def _steps_scope(
        self, steps_node: NodeView, tmpl: Template, inputs: dict[str, str]
    ) -> dict[str, Any]:
        scope = self._global_scope()
        for k, v in inputs.items():
            scope[f"inputs.parameters.{k}"] = v
        for i, group in enumerate(tmpl.steps or []):
            gnode = self.view.node(f"{steps_node.name}[{i}]")
            if gnode is None:
                break
            for step in group:
                base = f"{gnode.name}.{step.name}"
                node = self.view.node(base)
                if node is not None:
                    self._add_node_vars(scope, f"steps.{step.name}", node)
                elif (
                    step.with_items is not None
                    or step.with_param is not None
                    or step.with_sequence is not None
                ):
                    children = [
                        self.view.nodes[c]
                        for c in gnode.children
                        if self.view.nodes[c].name.startswith(base + "(")
                    ]
                    if children:
                        self._add_aggregate_vars(scope, f"steps.{step.name}", None, children)
        return scope

    def _dag_scope(
        self, dag_node: NodeView, tmpl: Template, inputs: dict[str, str]
    ) -> dict[str, Any]:
        scope = self._global_scope()
        for k, v in inputs.items():
            scope[f"inputs.parameters.{k}"] = v
        assert tmpl.dag is not None
        for task in tmpl.dag.tasks:
            tnode = self.view.node(f"{dag_node.name}.{task.name}")
            if tnode is None:
                continue
            if tnode.type == TASK_GROUP:
                children = [self.view.nodes[c] for c in tnode.children]
                self._add_aggregate_vars(scope, f"tasks.{task.name}", tnode, children)
            else:
                self._add_node_vars(scope, f"tasks.{task.name}", tnode)
        return scope

    def _template_outputs(self, tmpl: Template, scope: Mapping[str, Any]) -> NodeOutputs | None:
        outs = tmpl.outputs
        if outs is None or not outs.parameters:
            return None
        params: dict[str, str] = {}
        for out in outs.parameters:
            vf = out.value_from
            value: str | None = None
            try:
                if vf is not None and vf.parameter:
                    value = self._render_strict(vf.parameter, scope)
                elif vf is not None and vf.expression:
                    value = as_param(parse(vf.expression).evaluate(_nest(scope)))
                elif out.value is not None:
                    value = self._render_strict(as_param(out.value), scope)
            except ExpressionError:
                value = as_param(vf.default) if vf is not None and vf.default is not None else None
            if value is not None:
                params[out.name] = value
        return NodeOutputs(parameters=params)

    def _resolve_arguments(self, arguments: Any, scope: Mapping[str, Any]) -> dict[str, str]:
        args: dict[str, str] = {}
        if arguments is None:
            return args
        for p in arguments.parameters or []:
            if p.value is not None:
                try:
                    args[p.name] = self._render_strict(as_param(p.value), scope)
                except ExpressionError:
                    if self._refs_never_ran(as_param(p.value), scope):
                        # Argo: a reference to an output of a Skipped/Omitted node leaves the
                        # argument unset, so the consumer's input default applies (or the
                        # consumer errors for want of the parameter).
                        continue
                    raise
            elif getattr(p, "value_from", None) is not None and p.value_from.default is not None:
                args[p.name] = as_param(p.value_from.default)
        return args

    def _refs_never_ran(self, text: str, scope: Mapping[str, Any]) -> bool:
        """True when every unresolved `steps.X.outputs…`/`tasks.X.outputs…` reference in `text`
        names a node that was Skipped or Omitted."""
        missing = [
            r
            for r in template_references(text)
            if r.startswith(_REF_PREFIXES) and _lookup(scope, r) is None
        ]
        if not missing:
            return False
        for ref in missing:
            parts = ref.split(".")
            if len(parts) < 3 or parts[0] not in ("steps", "tasks") or parts[2] != "outputs":
                return False
            if scope.get(f"{parts[0]}.{parts[1]}.status") not in (SKIPPED, OMITTED):
                return False
        return True

    # ------------------------------------------------------------------ rendering

    def _render_strict(self, text: str, scope: Mapping[str, Any]) -> str:
        """Render `{{ }}` tags; a reference to steps/tasks/inputs/item/workflow that does not
        resolve is an error (Argo: "Unable to resolve")."""
        if "{{" not in text:
            return text
        for ref in template_references(text):
            if ref.startswith(_REF_PREFIXES) and _lookup(scope, ref) is None:
                raise ExpressionError(f"Unable to resolve: {{{{{ref}}}}}")
        return render(text, lambda p: _lookup(scope, p), variables=_nest(scope))

    def _render_lenient(self, text: str, scope: Mapping[str, Any]) -> str:
        if "{{" not in text:
            return text
        return render(text, lambda p: _lookup(scope, p), variables=_nest(scope))


# ---------------------------------------------------------------------- helpers


class _NoItem:
    pass


_NO_ITEM = _NoItem()


class _DepInfo:
    """What `depends` needs to know about a task: its phase and its loop children's phases."""

    def __init__(self, op: Operator, name: str) -> None:
        node = op.view.node(name)
        self.phase = node.phase if node is not None else PENDING
        self.children_phases = (
            [op.view.nodes[c].phase for c in node.children]
            if node is not None and node.type == TASK_GROUP
            else []
        )


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


def _needs_scope(step: Any) -> bool:
    """Whether executing this step or task reads the variables scope it is given: loops, `when`,
    argument parameters, hooks. Walks build a scope only when one of their steps does (an
    O(steps) rebuild on every reconcile otherwise); the others get `_NO_SCOPE`, never read."""
    return bool(
        step.with_items is not None
        or step.with_param is not None
        or step.with_sequence is not None
        or step.when
        or step.arguments.parameters
        or step.hooks
    )


def _continues_on(step: Any, phase: str) -> bool:
    co = getattr(step, "continue_on", None)
    if co is None:
        return False
    if phase == FAILED:
        return bool(co.failed)
    if phase == ERROR:
        return bool(co.error)
    return False


def _with_item(scope: Mapping[str, Any], item: Any, rules: int = 1) -> dict[str, Any]:
    out = dict(scope)
    out["item"] = argo_item_value(item) if rules >= 2 else as_param(item)
    if isinstance(item, dict):
        for k, v in item.items():
            out[f"item.{k}"] = as_param(v)
    out["__item__"] = item
    return out


def _has_arguments(arguments: Arguments | None) -> bool:
    return arguments is not None and not arguments.is_empty()


def _output_result(stdout: bytes) -> str:
    """`outputs.result` as Argo's executor captures it (CaptureScriptResult): one trailing
    newline dropped, then only the **last** 256 kB kept."""
    if stdout.endswith(b"\n"):
        stdout = stdout[:-1]
    if len(stdout) > MAX_OUTPUT_CHARS:
        stdout = stdout[-MAX_OUTPUT_CHARS:]
    return stdout.decode("utf-8", "replace")


def _lookup(scope: Mapping[str, Any], path: str) -> str | None:
    value = scope.get(path)
    if value is None:
        return None
    return value if isinstance(value, str) else as_param(value)


def _nest(scope: Mapping[str, Any]) -> dict[str, Any]:
    """Flat dotted keys plus a nested view of them, for the expression evaluator."""
    nested: dict[str, Any] = {}
    for key, value in scope.items():
        if key == "__item__":
            nested["item"] = value
            continue
        parts = key.split(".")
        cur = nested
        ok = True
        for part in parts[:-1]:
            nxt = cur.get(part)
            if nxt is None:
                nxt = {}
                cur[part] = nxt
            elif not isinstance(nxt, dict):
                ok = False
                break
            cur = nxt
        if ok and not isinstance(cur.get(parts[-1]), dict):
            cur[parts[-1]] = value
    out: dict[str, Any] = dict(scope)
    out.pop("__item__", None)
    out.update(nested)
    return out


def _jsonish(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


_PRINTF = re.compile(r"%(0?)(\d*)([dxXo])")


def _sprintf(fmt: str, value: int) -> str:
    def sub(m: re.Match[str]) -> str:
        zero, width, conv = m.groups()
        spec = f"{'0' if zero else ''}{width}{'d' if conv == 'd' else conv}"
        return format(value, spec)

    return _PRINTF.sub(sub, fmt)


def retry_index(name: str) -> int:
    m = _RETRY_CHILD.search(name)
    return int(m.group(1)) if m else 0


__all__ = ["Decision", "Operator", "retry_index"]
