"""Steps templates: the Steps node, its step groups, and running one step (`when`, arguments)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...errors import ExpressionError
from ...events import (
    ERROR,
    FAILED,
    SKIPPED,
    STEP_GROUP,
    STEPS,
    SUCCEEDED,
)
from ...expr import evaluate_bool
from ...naming import (
    argo_item_label,
    item_label,
)
from ...spec import Template
from ...spec.defaults import effective_template, has_defaults
from ...state.view import NodeView
from .loops import _NO_ITEM, _with_item
from .model import _continues_on, _Ctx
from .scopes import _NO_SCOPE, _needs_scope, _nest

if TYPE_CHECKING:
    from .driver import Operator


def _execute_steps(
    self: Operator,
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
    self: Operator,
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
    self: Operator,
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


def _when_error(self: Operator, when: str, scope: Mapping[str, Any]) -> str | None:
    """Why `when` cannot be evaluated to a boolean in `scope`, or None."""
    try:
        evaluate_bool(self._render_strict(when, scope), _nest(scope))
    except ExpressionError as e:
        return str(e)
    return None


def _step_template(self: Operator, step: Any) -> tuple[Template | None, str]:
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
