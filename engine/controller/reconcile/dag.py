"""DAG templates: dependencies (`depends`/`dependencies`/implied), task groups of loops, and
Argo's assessDAGPhase.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...errors import ExpressionError
from ...events import (
    DAG,
    ERROR,
    FAILED,
    OMITTED,
    PENDING,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    TASK_GROUP,
)
from ...expr import DependsExpr
from ...naming import (
    argo_item_label,
    item_label,
)
from ...spec import DAGTemplate, Template
from ...spec.graph import ALL_FIELDS, RULES1_FIELDS, DagGraph, dag_graph, evaluation_depends
from ...state.view import NodeView
from .loops import _with_item
from .model import _continues_on, _Ctx
from .scopes import _NO_SCOPE, _needs_scope

if TYPE_CHECKING:
    from .driver import Operator


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


def _execute_dag(
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
                    go = expr is None or expr.evaluate(lambda t: _DepInfo(self, f"{name}.{t}"))
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


def _task_hooks_settled(self: Operator, task: Any, tnode: NodeView, dag_name: str) -> bool:
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
    self: Operator, tname: str, task: Any, scope: Mapping[str, Any], *, parent: NodeView, ctx: _Ctx
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


def _dag_graph(self: Operator, dag: DAGTemplate) -> tuple[DagGraph, dict[str, DependsExpr | None]]:
    """What each task depends on (`spec/graph.py`): under rules 1, only references in `when`
    and arguments implied a dependency; from rules 2, also those in loops and hooks."""
    hit = self._graphs.get(id(dag))
    if hit is None or hit[0] is not dag:
        fields = ALL_FIELDS if self.view.rules >= 2 else RULES1_FIELDS
        hit = (dag, dag_graph(dag, fields), {})
        self._graphs[id(dag)] = hit
    return hit[1], hit[2]


def _assess_dag(
    self: Operator,
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
