"""What a DAG task or a step depends on: the one module that answers it.

Validation (`spec/validate.py`) and execution (`controller/operator.py`) both ask here, so `lint`
and `run` cannot disagree about an edge.

A DAG task depends on
- **explicitly**: the tasks named by its `depends` expression, or its legacy `dependencies` list
  (`[A, B]` means `A && B`; built without a string, so a fan-in of any width has no limit);
- **implied** (**[ours]**): every other task of the same DAG its fields reference, as
  `tasks.X...` / `tasks["X"]...`: in `when` (bare or in `{{ }}`), argument parameters,
  loops (`withParam`, `withItems`, `withSequence`) and hooks (`expression`, `arguments`).
  Argo instead rejects an argument reference to a task outside the ancestry ("missing
  dependency"); we add the edge, and a cycle made of such edges is a lint error.

A step depends on the earlier step groups of its template (structure); a reference to a step of
its own or a later group can never resolve (`forward_step_references`).

A bare dependency `A` means `(A.Succeeded || A.Skipped || A.Daemoned)`, plus `A.Errored` /
`A.Failed` when A has `continueOn.error` / `continueOn.failed` (Argo `expandDependency`,
`workflow/common/ancestry.go`); `evaluation_depends` builds that expression.

Pure: imports only the model and `engine.expr`.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from engine.errors import ExpressionError
from engine.expr import DependsExpr, parse, parse_depends, template_references
from engine.spec.loader import join_path, split_path
from engine.spec.model import (
    Arguments,
    DAGTask,
    DAGTemplate,
    LifecycleHook,
    Template,
    Workflow,
    _Call,
)

__all__ = [
    "ALL_FIELDS",
    "ARGUMENTS",
    "HOOKS",
    "LOOPS",
    "NODE_ROOTS",
    "RULES1_FIELDS",
    "WHEN",
    "DagGraph",
    "bare_results",
    "call_references",
    "call_texts",
    "closest_name",
    "dag_graph",
    "evaluation_depends",
    "explicit_depends",
    "find_cycle",
    "forward_step_references",
    "hook_texts",
    "implied_dependencies",
    "named_references",
    "reference_paths",
    "references_itself",
    "task_dependencies",
    "task_names",
    "unknown_references",
]

#: Which fields of a step/task are read for implied dependencies.
WHEN = "when"
ARGUMENTS = "arguments"
LOOPS = "loops"
HOOKS = "hooks"
ALL_FIELDS: frozenset[str] = frozenset({WHEN, ARGUMENTS, LOOPS, HOOKS})
#: What the reconciler read under rules 1 (runs recorded before RULES_VERSION 2).
RULES1_FIELDS: frozenset[str] = frozenset({WHEN, ARGUMENTS})

#: Roots of references that name a node: `steps.X`, `tasks.X`, `exitHandlers.X`.
NODE_ROOTS = ("steps", "tasks", "exitHandlers")

_TAG = re.compile(r"\{\{=?\s*([^}]*?)\s*\}\}")
#: A task name as the `depends` language reads it.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


# --------------------------------------------------------------------------- references


def reference_paths(text: str, *, bare: bool) -> list[str]:
    """Dotted reference paths in `text`: those of its `{{ }}` tags and, with `bare` (a `when`
    or a hook `expression`, where `tasks.X.status` may be written without braces), those of
    the whole text read as an expression. Text that does not parse contributes what could be
    read (syntax is reported by the expression checker, not here)."""
    seen: dict[str, None] = {}
    if "{{" in text:
        with contextlib.suppress(ExpressionError):
            seen.update(dict.fromkeys(template_references(text)))
    if bare:
        with contextlib.suppress(ExpressionError):
            seen.update(dict.fromkeys(sorted(parse(_TAG.sub(r"\1", text)).references())))
    return list(seen)


def named_references(text: str, *, bare: bool) -> list[tuple[str, str]]:
    """`(root, name)` for every `steps.X`, `tasks.X`, `exitHandlers.X` reference in `text`, in
    order, without repeats."""
    out: dict[tuple[str, str], None] = {}
    for ref in reference_paths(text, bare=bare):
        parts = ref.split(".")
        if len(parts) == 2 and parts[1] == "name" and parts[0] != "exitHandlers":
            continue  # `{{steps.name}}` / `{{tasks.name}}`: the current step's or task's name
        if len(parts) >= 2 and parts[0] in NODE_ROOTS:
            out.setdefault((parts[0], parts[1]))
    return list(out)


def _argument_texts(arguments: Arguments | None) -> Iterator[str]:
    if arguments is None:
        return
    for p in arguments.parameters:
        if p.value is not None:
            yield p.value


def hook_texts(hook: LifecycleHook) -> Iterator[tuple[str, bool]]:
    """(text, bare) of every field of a hook that may reference a node."""
    if hook.expression:
        yield hook.expression, True
    for text in _argument_texts(hook.arguments):
        yield text, False


def call_texts(call: _Call, fields: Collection[str] = ALL_FIELDS) -> Iterator[tuple[str, bool]]:
    """(text, bare) of every field of a step/task in `fields` that may reference a node."""
    if WHEN in fields and call.when:
        yield call.when, True
    if ARGUMENTS in fields:
        for text in _argument_texts(call.arguments):
            yield text, False
    if LOOPS in fields:
        if call.with_param is not None:
            yield str(call.with_param), False
        for item in call.with_items or []:
            if isinstance(item, str):
                yield item, False
        seq = call.with_sequence
        if seq is not None:
            for v in (seq.count, seq.start, seq.end):
                if isinstance(v, str):
                    yield v, False
    if HOOKS in fields:
        for hook in call.hooks.values():
            yield from hook_texts(hook)


def call_references(call: _Call, root: str, fields: Collection[str] = ALL_FIELDS) -> list[str]:
    """Names `X` of the `root.X` references (`root`: "tasks" or "steps") in `call`'s fields,
    in order of first appearance, the call's own name excluded (a hook may read its own node)."""
    out: dict[str, None] = {}
    for text, bare in call_texts(call, fields):
        for r, name in named_references(text, bare=bare):
            if r == root and name != call.name:
                out.setdefault(name)
    return list(out)


def references_itself(call: _Call, root: str) -> bool:
    """Whether `call`'s `when`, arguments or loop read its own node (`root.<own name>`): it
    cannot, it has not run yet (its hooks may: they run after it)."""
    return any(
        r == root and name == call.name
        for text, bare in call_texts(call, {WHEN, ARGUMENTS, LOOPS})
        for r, name in named_references(text, bare=bare)
    )


# --------------------------------------------------------------------------- DAG tasks


def task_dependencies(
    depends: str | None, dependencies: Sequence[str] | None
) -> DependsExpr | None:
    """What the user wrote: `depends` parsed (ExpressionError if malformed or too long), else
    `dependencies` as `A && B && ...` (no length limit), else None."""
    if depends is not None and depends.strip():
        return parse_depends(depends)
    if dependencies:
        return DependsExpr.all_of(dependencies)
    return None


def explicit_depends(task: DAGTask) -> DependsExpr | None:
    """`task_dependencies` of a task."""
    return task_dependencies(task.depends, task.dependencies)


def task_names(expr: DependsExpr) -> list[str]:
    """The tasks a `depends` expression names, in order of first appearance (one pass over
    the source, so a fan-in of thousands costs what its text does)."""
    found = expr.tasks()
    order: dict[str, None] = {}
    for m in _NAME.finditer(expr.source):
        if m.group(0) in found:
            order.setdefault(m.group(0))
    return [*order, *sorted(found - order.keys())]


def implied_dependencies(
    task: DAGTask, names: Collection[str], fields: Collection[str] = ALL_FIELDS
) -> list[str]:
    """Tasks among `names` (the tasks of the same DAG) that `task`'s fields reference."""
    return [n for n in call_references(task, "tasks", fields) if n in names]


def bare_results(task: DAGTask | None, *, continue_on: bool = True) -> tuple[str, ...]:
    """The results a bare dependency on `task` accepts (Argo `expandDependency`)."""
    out = ["Succeeded", "Skipped", "Daemoned"]
    co = task.continue_on if task is not None and continue_on else None
    if co is not None:
        if co.error:
            out.append("Errored")
        if co.failed:
            out.append("Failed")
    return tuple(out)


def evaluation_depends(
    task: DAGTask, tasks: Mapping[str, DAGTask], *, continue_on: bool = True
) -> DependsExpr | None:
    """The expression that decides whether `task` runs once its dependencies are done: the
    explicit one with bare names expanded (`continue_on=False`: the rules-1 expansion, which
    ignores the dependency's `continueOn`)."""
    if not continue_on and task.depends:
        return parse_depends(task.depends)  # rules 1: a blank `depends` is an error
    expr = explicit_depends(task)
    if expr is None or not continue_on:
        return expr
    if not any(tasks[n].continue_on is not None for n in expr.tasks() if n in tasks):
        return expr
    return expr.expand_bare(lambda n: bare_results(tasks.get(n)))


@dataclass(frozen=True, slots=True)
class DagGraph:
    """The dependency graph of one DAG template: `deps[task]` = explicit + implied edges.

    `leaves()` and `ancestors()` are memoised: the reconciler asks them on every pass over a
    DAG with the same answer (the graph is immutable), and recomputing them is O(tasks) each."""

    order: tuple[str, ...]
    explicit: Mapping[str, tuple[str, ...]]
    implied: Mapping[str, tuple[str, ...]]
    deps: Mapping[str, frozenset[str]]
    _leaves: list[tuple[str, ...]] = field(default_factory=list, compare=False, repr=False)
    _ancestors: dict[tuple[str, ...], frozenset[str]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def leaves(self) -> list[str]:
        """Tasks nothing depends on, in spec order (the DAG's default targets)."""
        if not self._leaves:
            depended = {d for ds in self.deps.values() for d in ds}
            self._leaves.append(tuple(t for t in self.order if t not in depended))
        return list(self._leaves[0])

    def ancestors(self, targets: Iterable[str]) -> frozenset[str]:
        """`targets` (those that are tasks) and everything they depend on."""
        key = tuple(targets)
        hit = self._ancestors.get(key)
        if hit is not None:
            return hit
        seen: set[str] = set()
        stack = [t for t in key if t in self.deps]
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            stack.extend(d for d in self.deps[t] if d in self.deps)
        result = self._ancestors[key] = frozenset(seen)
        return result


def dag_graph(dag: DAGTemplate, fields: Collection[str] = ALL_FIELDS) -> DagGraph:
    """The graph of `dag`. Explicit names that are not tasks are kept (validation reports them;
    the reconciler errors the task). ExpressionError if a `depends` is malformed."""
    names = {t.name for t in dag.tasks}
    explicit: dict[str, tuple[str, ...]] = {}
    implied: dict[str, tuple[str, ...]] = {}
    deps: dict[str, frozenset[str]] = {}
    for t in dag.tasks:
        expr = explicit_depends(t)
        ex = tuple(task_names(expr)) if expr is not None else ()
        im = tuple(n for n in implied_dependencies(t, names, fields) if n not in ex)
        explicit[t.name], implied[t.name] = ex, im
        deps[t.name] = frozenset(ex) | frozenset(im)
    return DagGraph(tuple(t.name for t in dag.tasks), explicit, implied, deps)


# --------------------------------------------------------------------------- steps


def forward_step_references(
    groups: Sequence[Sequence[_Call]],
) -> Iterator[tuple[int, int, str, int]]:
    """`(group, index, referenced step, its group)` for each reference from a step's `when`,
    arguments or loop to a step of the same template in the same or a later group: it can
    never resolve (the referenced step has not run when this one starts)."""
    where: dict[str, int] = {}
    for g, group in enumerate(groups):
        for step in group:
            where.setdefault(step.name, g)
    for g, group in enumerate(groups):
        for j, step in enumerate(group):
            if references_itself(step, "steps"):
                yield g, j, step.name, g
            for name in call_references(step, "steps", {WHEN, ARGUMENTS, LOOPS}):
                if name in where and where[name] >= g:
                    yield g, j, name, where[name]


# --------------------------------------------------------------------------- references to nodes


def unknown_references(wf: Workflow) -> Iterator[tuple[str, str]]:
    """(message, JSON path) for each read of `steps.X`, `tasks.X` or `exitHandlers.X` that can
    never resolve (**[ours]**: a lint error, never a runtime surprise): X is no step or task of
    any template; in a workflow-level exit handler or hook X may also be the entrypoint template
    (it means the entrypoint node); an exit handler may read only the handlers listed before it.
    Read: steps'/tasks' `when`, arguments and loops, every hook's `expression` and arguments,
    and exit handlers' `when` and arguments. `{{steps.name}}` (the current name) is no read."""
    spec = wf.spec
    calls = [
        (cpath, call)
        for i, t in enumerate(spec.templates)
        for cpath, call in _call_paths(t, f"$.spec.templates[{i}]")
    ]
    nodes = {call.name for _, call in calls}
    handlers = [h.name for h in spec.exit_handlers]
    top = nodes | ({spec.entrypoint} if spec.entrypoint else set())
    for i, h in enumerate(spec.exit_handlers):
        path = f"$.spec.exitHandlers[{i}]"
        texts: list[tuple[str, bool, str]] = []
        if h.when:
            texts.append((h.when, True, f"{path}.when"))
        for k, p in enumerate(h.arguments.parameters if h.arguments is not None else []):
            if p.value is not None:
                texts.append((p.value, False, f"{path}.arguments.parameters[{k}].value"))
        yield from _unknown(texts, top, handlers[:i], handlers, f"exit handler {h.name!r}")
    yield from _unknown(_hook_texts(spec.hooks, "$.spec.hooks"), top, handlers, handlers, "hook")
    for cpath, call in calls:
        yield from _unknown(_call_texts(call, cpath), nodes, handlers, handlers, repr(call.name))
        yield from _unknown(
            _hook_texts(call.hooks, f"{cpath}.hooks"), nodes, handlers, handlers, "hook"
        )


def _unknown(
    texts: Iterable[tuple[str, bool, str]],
    nodes: Collection[str],
    before: Sequence[str],
    handlers: Sequence[str],
    who: str,
) -> Iterator[tuple[str, str]]:
    for text, bare, path in texts:
        for root, name in named_references(text, bare=bare):
            if root == "exitHandlers":
                if name in before:
                    continue
                if name in handlers:
                    problem = "which does not run before it"
                else:
                    problem = "but there is no exit handler of that name"
            elif name in nodes:
                continue
            else:
                kind = "step" if root == "steps" else "task"
                problem = f"but no {kind} or template of that name exists"
            hint = closest_name(name, [*nodes, *handlers])
            yield (
                f"{who} reads {root}.{name}, {problem}"
                + (f" (did you mean {hint!r}?)" if hint else ""),
                path,
            )


def closest_name(name: str, candidates: Sequence[str]) -> str | None:
    """The candidate most like `name` (a likely typo), or None."""
    matches = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    return matches[0] if matches else None


def _hook_texts(hooks: Mapping[str, LifecycleHook], path: str) -> list[tuple[str, bool, str]]:
    out: list[tuple[str, bool, str]] = []
    for name, hook in hooks.items():
        hpath = join_path([*split_path(path), name])
        for text, bare in hook_texts(hook):
            out.append((text, bare, f"{hpath}.expression" if bare else f"{hpath}.arguments"))
    return out


def _call_paths(t: Template, path: str) -> Iterator[tuple[str, _Call]]:
    """(JSON path, call) of every step and task of `t` and of its inline templates."""
    for g, group in enumerate(t.steps or []):
        for j, step in enumerate(group):
            yield f"{path}.steps[{g}][{j}]", step
            if step.inline is not None:
                yield from _call_paths(step.inline, f"{path}.steps[{g}][{j}].inline")
    if t.dag is not None:
        for j, task in enumerate(t.dag.tasks):
            yield f"{path}.dag.tasks[{j}]", task
            if task.inline is not None:
                yield from _call_paths(task.inline, f"{path}.dag.tasks[{j}].inline")


def _call_texts(call: _Call, path: str) -> list[tuple[str, bool, str]]:
    """(text, bare, JSON path) of a step's/task's own fields that may read a node."""
    texts: list[tuple[str, bool, str]] = []
    if call.when:
        texts.append((call.when, True, f"{path}.when"))
    for k, p in enumerate(call.arguments.parameters):
        if p.value is not None:
            texts.append((p.value, False, f"{path}.arguments.parameters[{k}].value"))
    if call.with_param is not None:
        texts.append((str(call.with_param), False, f"{path}.withParam"))
    for k, item in enumerate(call.with_items or []):
        if isinstance(item, str):
            texts.append((item, False, f"{path}.withItems[{k}]"))
    return texts


# --------------------------------------------------------------------------- cycles


def find_cycle(nodes: Iterable[str], edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle as `[a, b, ..., a]` in execution order (each runs after the one before it), or
    None. `edges[n]` are what `n` depends on. Iterative: a 10,000-task chain is fine."""
    white, grey, black = 0, 1, 2
    color: dict[str, int] = {}
    for root in nodes:
        if color.get(root, white) != white:
            continue
        path: list[str] = [root]
        color[root] = grey
        iters: list[Iterator[str]] = [iter(edges.get(root, ()))]
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                iters.pop()
                color[path.pop()] = black
                continue
            c = color.get(nxt, white)
            if c == grey:
                cyc = [*path[path.index(nxt) :], nxt]
                return list(reversed(cyc))
            if c == white and nxt in edges:
                color[nxt] = grey
                path.append(nxt)
                iters.append(iter(edges.get(nxt, ())))
    return None
