"""Variables and rendering: the scopes steps, tasks, pods and exit handlers see, template outputs,
arguments and inputs, strict and lenient `{{ }}` rendering.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...errors import ExpressionError
from ...events import (
    DAG,
    ERROR,
    FAILED,
    OMITTED,
    PENDING,
    RETRY,
    RUNNING,
    SKIPPED,
    STEP_GROUP,
    TASK_GROUP,
    NodeOutputs,
)
from ...expr import parse, render, template_references
from ...naming import (
    as_param,
)
from ...naming import rfc3339 as _rfc3339
from ...spec import Template
from ...state.view import NodeView

if TYPE_CHECKING:
    from .driver import Operator


_REF_PREFIXES = ("steps.", "tasks.", "inputs.", "item", "workflow.", "retries", "exitHandlers.")


#: An empty scope, for walks whose steps/tasks read no variables (see `_needs_scope`).
_NO_SCOPE: Mapping[str, Any] = {}


@functools.lru_cache(maxsize=4096)
def rfc3339(ts: float | None) -> str | None:
    """`naming.rfc3339`, memoised: a steps scope formats the times of every earlier step."""
    return _rfc3339(ts)


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


def _resolve_inputs(self: Operator, tmpl: Template, args: Mapping[str, str]) -> dict[str, str]:
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


def _global_scope(self: Operator) -> dict[str, Any]:
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


def _exit_scope(self: Operator) -> dict[str, Any]:
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


def _failures_json(self: Operator) -> str:
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


def _add_node_vars(self: Operator, scope: dict[str, Any], prefix: str, node: NodeView) -> None:
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


def _output_defaults(self: Operator, template_name: str) -> dict[str, str]:
    tmpl = self.templates.get(template_name)
    if tmpl is None or tmpl.outputs is None:
        return {}
    return {
        out.name: as_param(out.value_from.default)
        for out in tmpl.outputs.parameters or []
        if out.value_from is not None and out.value_from.default is not None
    }


def _add_aggregate_vars(
    self: Operator,
    scope: dict[str, Any],
    prefix: str,
    group: NodeView | None,
    children: list[NodeView],
) -> None:
    if group is not None:
        scope[f"{prefix}.status"] = group.phase
        scope[f"{prefix}.phase"] = group.phase
        scope[f"{prefix}.id"] = group.id
    results = [
        c.outputs.result for c in children if c.outputs is not None and c.outputs.result is not None
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
        scope[f"{prefix}.outputs.parameters.{k}"] = json.dumps([m[k] for m in param_maps if k in m])


def _steps_scope(
    self: Operator, steps_node: NodeView, tmpl: Template, inputs: dict[str, str]
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
    self: Operator, dag_node: NodeView, tmpl: Template, inputs: dict[str, str]
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


def _template_outputs(
    self: Operator, tmpl: Template, scope: Mapping[str, Any]
) -> NodeOutputs | None:
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


def _resolve_arguments(self: Operator, arguments: Any, scope: Mapping[str, Any]) -> dict[str, str]:
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


def _refs_never_ran(self: Operator, text: str, scope: Mapping[str, Any]) -> bool:
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


def _render_strict(self: Operator, text: str, scope: Mapping[str, Any]) -> str:
    """Render `{{ }}` tags; a reference to steps/tasks/inputs/item/workflow that does not
    resolve is an error (Argo: "Unable to resolve")."""
    if "{{" not in text:
        return text
    for ref in template_references(text):
        if ref.startswith(_REF_PREFIXES) and _lookup(scope, ref) is None:
            raise ExpressionError(f"Unable to resolve: {{{{{ref}}}}}")
    return render(text, lambda p: _lookup(scope, p), variables=_nest(scope))


def _render_lenient(self: Operator, text: str, scope: Mapping[str, Any]) -> str:
    if "{{" not in text:
        return text
    return render(text, lambda p: _lookup(scope, p), variables=_nest(scope))
