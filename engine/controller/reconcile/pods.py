"""Pod nodes: creating them, the job they run, recording their result (outputs, logs), lost attempts
and parallelism limits.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from ...errors import ExpressionError
from ...events import (
    DAG,
    ERROR,
    HTTP_TYPE,
    PENDING,
    ROLE_EXIT,
    RUNNING,
    STEPS,
    SUCCEEDED,
    WORK_TYPES,
    NodeAttemptLost,
    NodeFinished,
    NodeLogged,
    NodeOutputs,
)
from ...executors.base import Job, JobResult
from ...expr import parse
from ...naming import (
    as_param,
    idempotency_key,
)
from ...spec import Template, parse_duration
from ...state.view import NodeView
from ...store.base import LogRecord
from ..children import child_workflow
from ..faults import fault_outcome, match_fault
from ..http_call import http_request
from .model import POD, _Ctx, _kind, _PodWork, _runs_as_work
from .retries import retry_index
from .scopes import _nest

if TYPE_CHECKING:
    from .driver import Operator


#: Argo's node type of an `http` template (run by the HTTP executor; see http_call).
HTTP = HTTP_TYPE


MAX_OUTPUT_CHARS = 256 * 1024


NETWORK_ANNOTATION = "exitflow.io/network"


def _output_result(stdout: bytes) -> str:
    """`outputs.result` as Argo's executor captures it (CaptureScriptResult): one trailing
    newline dropped, then only the **last** 256 kB kept."""
    if stdout.endswith(b"\n"):
        stdout = stdout[:-1]
    if len(stdout) > MAX_OUTPUT_CHARS:
        stdout = stdout[-MAX_OUTPUT_CHARS:]
    return stdout.decode("utf-8", "replace")


def complete(self: Operator, node_id_: str, result: JobResult) -> None:
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


def lose_attempt(self: Operator, node: NodeView, reason: str) -> None:
    """Recovery: the attempt of `node` died with its controller; start the next delivery."""
    self._emit(NodeAttemptLost(ts=self.now, node_id=node.id, attempt=node.attempt, reason=reason))
    self._start(node, node.attempt + 1)
    self.decision.start.append(node.id)


def running_pods(self: Operator) -> list[NodeView]:
    """Pod nodes that are Running in the state (for recovery)."""
    return [n for n in self.view.nodes.values() if n.type in WORK_TYPES and n.phase == RUNNING]


def job_for(self: Operator, node: NodeView) -> Job | None:
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


def _execute_pod(
    self: Operator,
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


def _inject_fault(self: Operator, node: NodeView) -> bool:
    """`exitflow run --fail`: end a matching node as injected, without running it."""
    outcome = match_fault(self.view.faults, node.display_name, self.view.name)
    if outcome is None:
        return False
    phase, message, code = fault_outcome(outcome)
    outputs = NodeOutputs(exit_code=code)
    self._emit(
        NodeFinished(
            ts=self.now,
            node_id=node.id,
            phase=phase,
            message=message,
            outputs=outputs,
            injected=True,
        )
    )
    self.decision.wake(self.now)  # its parent (e.g. a retry) may decide more at once
    return True


def _pod_problem(self: Operator, node: NodeView, work: _PodWork) -> str | None:
    try:
        self._build_job(node, work)
    except ExpressionError as e:
        return str(e)
    return None


def _may_start_pod(self: Operator, ctx: _Ctx) -> bool:
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


def _boundary_allows(self: Operator, ctx: _Ctx) -> bool:
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


def _job_deadline(self: Operator, node: NodeView, work: _PodWork) -> float | None:
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


def _build_job(self: Operator, node: NodeView, work: _PodWork) -> Job:
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


def _make_job(self: Operator, node: NodeView, work: _PodWork) -> Job:
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
        manifest = self._render_lenient(tmpl.resource.manifest or "", self._pod_scope(work, node))
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


def _network_mode(self: Operator, tmpl: Template) -> str:
    """Containers get no network unless the template asks (annotation
    `exitflow.io/network: bridge|host|<network>`) or the workflow sets `hostNetwork`."""
    annotations = tmpl.metadata.annotations if tmpl.metadata is not None else {}
    asked = annotations.get(NETWORK_ANNOTATION)
    if asked:
        return asked
    return "host" if self.spec.host_network else "none"


def _pod_scope(self: Operator, work: _PodWork, node: NodeView) -> dict[str, Any]:
    scope = self._global_scope()
    for k, v in work.inputs.items():
        scope[f"inputs.parameters.{k}"] = v
    scope["inputs.parameters"] = json.dumps(work.inputs)
    scope["retries"] = str(work.retry)
    scope["pod.name"] = node.id
    scope["node.name"] = node.name
    return scope


def _store_logs(self: Operator, node: NodeView, result: JobResult) -> None:
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
