"""Exit handlers and hooks: workflow `onExit`/`exitHandlers`, workflow and step/task `hooks`,
step/task `onExit`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...errors import ExpressionError
from ...events import (
    ERROR,
    FAILED,
    ROLE_EXIT,
    ROLE_HOOK,
    SKIPPED,
    WorkflowCompleted,
)
from ...expr import evaluate_bool
from ...spec import Arguments
from ...state.view import NodeView
from .model import _Ctx
from .scopes import _NO_SCOPE, _nest

if TYPE_CHECKING:
    from .driver import Operator


def _has_arguments(arguments: Arguments | None) -> bool:
    return arguments is not None and not arguments.is_empty()


def _workflow_hooks(self: Operator) -> dict[str, Any]:
    return dict(self.spec.hooks or {})


def _fire_workflow_hooks(self: Operator, *, final: bool) -> bool:
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


def _run_exit_handlers(self: Operator) -> None:
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
    self: Operator, name: str, display: str, template_name: str, when: str | None, arguments: Any
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


def _hooks_done(
    self: Operator,
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


def _exit_hook_default_args(self: Operator) -> dict[str, str] | None:
    """Argo `GetExitHook(wf.spec.arguments)`: a step's or task's exit hook without arguments
    of its own gets the workflow's (rules >= 2; None before)."""
    return dict(self.view.parameters) if self.view.rules >= 2 else None


def _execute_hook(
    self: Operator,
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


def _in_workflow_handler(self: Operator, node: NodeView) -> bool:
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
