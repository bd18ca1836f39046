"""Static validation of a Workflow, and the list of features the engine cannot run.

`validate()` raises the first problem found as a one-line SpecError carrying the JSON path and,
when the workflow came from `load_text`/`load_file`, the YAML line (`Workflow.line_of`).
Problems with `-p` parameters raise ParameterError.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import msgspec

from engine.errors import SpecError
from engine.expr.depends import DependsExpr
from engine.spec.defaults import effective_template, has_defaults, unsupported_defaults
from engine.spec.graph import (
    closest_name,
    find_cycle,
    forward_step_references,
    implied_dependencies,
    references_itself,
    task_dependencies,
    task_names,
    unknown_references,
)
from engine.spec.loader import Segment, join_path, split_path
from engine.spec.model import (
    API_VERSION,
    KIND,
    Arguments,
    DAGTask,
    LifecycleHook,
    Parameter,
    Template,
    Workflow,
    WorkflowStep,
    _Call,
)
from engine.spec.util import _kind_problem, effective_parameters, parse_duration, template_kinds

__all__ = [
    "ExpressionChecker",
    "ignored_features",
    "unsupported_features",
    "validate",
]

#: `check_expression(text, path)`; raise SpecError/ExpressionError if `text` is invalid.
ExpressionChecker = Callable[[str, str], None]

#: Step, task and exit-handler names (must be usable in `depends` and `steps.X` references).
NAME_RE = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_]*")
#: Kubernetes object names (DNS subdomain); a generateName may end with "-".
#: Workflow names (Kubernetes would also refuse upper case; Argo's own e2e inputs use it).
_K8S_NAME_RE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?")
_K8S_PREFIX_RE = re.compile(r"[A-Za-z0-9][-A-Za-z0-9.]*")

class _Validator:
    def __init__(self, wf: Workflow, check_expression: ExpressionChecker | None) -> None:
        self.wf = wf
        self.check_expression = check_expression
        self.templates = wf.templates_by_name

    # ---- errors

    def error(self, message: str, path: str) -> SpecError:
        return SpecError(message, path=path, line=self.wf.line_of(path), source=self.wf.source)

    # ---- entry

    def run(self, parameters: Mapping[str, str]) -> None:
        wf = self.wf
        if wf.kind != KIND:
            raise self.error(f"kind must be {KIND!r}, got {wf.kind!r}", "$.kind")
        if wf.api_version != API_VERSION:
            raise self.error(
                f"apiVersion must be {API_VERSION!r}, got {wf.api_version!r}", "$.apiVersion"
            )
        self.check_metadata()
        self.check_templates()
        self.check_workflow_calls()
        self.check_unique_params(wf.spec.arguments.parameters, "$.spec.arguments.parameters")
        self.check_node_references()
        if self.check_expression is not None:
            self.check_expressions(self.check_expression)
        effective_parameters(wf, parameters)

    def check_metadata(self) -> None:
        md = self.wf.metadata
        if md.name:
            if len(md.name) > 253 or not _K8S_NAME_RE.fullmatch(md.name):
                raise self.error(
                    f"metadata.name {md.name!r} is invalid: use letters, digits, '-' and '.',"
                    " starting and ending with a letter or digit",
                    "$.metadata.name",
                )
        elif md.generate_name:
            if len(md.generate_name) > 247 or not _K8S_PREFIX_RE.fullmatch(md.generate_name):
                raise self.error(
                    f"metadata.generateName {md.generate_name!r} is invalid: use letters,"
                    " digits, '-' and '.', starting with a letter or digit",
                    "$.metadata.generateName",
                )
        else:
            raise self.error("metadata.name or metadata.generateName is required", "$.metadata")

    # ---- templates

    def check_templates(self) -> None:
        seen: dict[str, int] = {}
        for i, t in enumerate(self.wf.spec.templates):
            path = f"$.spec.templates[{i}]"
            if not t.name:
                raise self.error("template has no name", path)
            if t.name in seen:
                raise self.error(
                    f"duplicate template name {t.name!r} (also $.spec.templates[{seen[t.name]}])",
                    f"{path}.name",
                )
            seen[t.name] = i
        if self.wf.spec.template_defaults is not None:
            t = self.wf.spec.template_defaults
            self.check_template_body(t, "$.spec.templateDefaults")
        if self.wf.spec.retry_strategy is not None:
            # The workflow's retryStrategy is every template's default: the same checks.
            self.check_durations(Template(retry_strategy=self.wf.spec.retry_strategy), "$.spec")
        for i, t in enumerate(self.wf.spec.templates):
            self.check_template(t, f"$.spec.templates[{i}]")

    def check_template(self, t: Template, path: str) -> None:
        kinds = template_kinds(t)
        if len(kinds) != 1:
            raise self.error(_kind_problem(t, kinds), path)
        self.check_template_body(t, path)

    def check_template_body(self, t: Template, path: str) -> None:
        self.check_unique_params(t.inputs.parameters, f"{path}.inputs.parameters")
        self.check_unique_params(t.outputs.parameters, f"{path}.outputs.parameters")
        self.check_durations(t, path)
        if t.steps is not None:
            self.check_steps(t.steps, f"{path}.steps")
        if t.dag is not None:
            self.check_dag(t, f"{path}.dag")
        if t.resource is not None and t.resource.creates_workflow():
            self.check_child_manifest(t.resource.manifest or "", f"{path}.resource.manifest")

    def check_child_manifest(self, manifest: str, path: str) -> None:
        """A child Workflow manifest must itself load (its `{{ }}` are the parent's to fill)."""
        from engine.spec.loader import load_text

        try:
            load_text(manifest, source=f"{self.wf.source or '<string>'} {path}")
        except SpecError as e:
            raise self.error(f"child workflow manifest: {e.message}", path) from None

    def check_unique_params(self, params: Sequence[Parameter], path: str) -> None:
        seen: set[str] = set()
        for j, p in enumerate(params):
            if not p.name:
                raise self.error("parameter has no name", f"{path}[{j}].name")
            if p.name in seen:
                raise self.error(f"duplicate parameter name {p.name!r}", f"{path}[{j}].name")
            seen.add(p.name)

    def check_durations(self, t: Template, path: str) -> None:
        if isinstance(t.timeout, str) and "{{" not in t.timeout:
            self.parse_duration_at(t.timeout, f"{path}.timeout")
        ads = t.active_deadline_seconds
        if isinstance(ads, str) and "{{" not in ads:
            self.parse_duration_at(ads, f"{path}.activeDeadlineSeconds")
        rs = t.retry_strategy
        if rs is None:
            return
        rpath = f"{path}.retryStrategy"
        self.int_or_template(rs.limit, f"{rpath}.limit")
        if rs.retry_policy is not None and rs.retry_policy not in _RETRY_POLICIES:
            raise self.error(
                f"unknown retryPolicy {rs.retry_policy!r} (expected one of"
                f" {', '.join(_RETRY_POLICIES)})",
                f"{rpath}.retryPolicy",
            )
        if rs.backoff is not None:
            b = rs.backoff
            for name, val in (
                ("duration", b.duration),
                ("cap", b.cap),
                ("maxDuration", b.max_duration),
            ):
                if val is not None and not (isinstance(val, str) and "{{" in val):
                    self.parse_duration_at(val, f"{rpath}.backoff.{name}")
            self.int_or_template(b.factor, f"{rpath}.backoff.factor", number=True)

    def parse_duration_at(self, value: str | int, path: str) -> None:
        try:
            parse_duration(value)
        except SpecError as e:
            raise self.error(e.message, path) from None

    def int_or_template(self, value: int | str | None, path: str, *, number: bool = False) -> None:
        if not isinstance(value, str) or "{{" in value:
            return
        try:
            float(value) if number else int(value)
        except ValueError:
            what = "a number" if number else "an integer"
            raise self.error(f"{value!r} is not {what}", path) from None

    # ---- steps and DAGs

    def check_steps(self, groups: list[list[WorkflowStep]], path: str) -> None:
        seen: dict[str, str] = {}
        for g, group in enumerate(groups):
            for j, step in enumerate(group):
                spath = f"{path}[{g}][{j}]"
                self.check_call_name(step.name, f"{spath}.name", "step")
                if step.name in seen:
                    raise self.error(
                        f"duplicate step name {step.name!r} (also {seen[step.name]})",
                        f"{spath}.name",
                    )
                seen[step.name] = spath
                self.check_call(step, spath)
        for g, j, name, at in forward_step_references(groups):
            reader = groups[g][j].name
            when = "before it has run" if name == reader else f"which runs in group [{at}]"
            raise self.error(
                f"step {reader!r} in group [{g}] reads steps.{name}, {when}: a step can only"
                " read steps of earlier groups",
                f"{path}[{g}][{j}]",
            )

    def check_dag(self, t: Template, path: str) -> None:
        assert t.dag is not None
        tasks = t.dag.tasks
        index: dict[str, int] = {}
        for j, task in enumerate(tasks):
            tpath = f"{path}.tasks[{j}]"
            self.check_call_name(task.name, f"{tpath}.name", "task")
            if task.name in index:
                raise self.error(
                    f"duplicate task name {task.name!r} (also {path}.tasks[{index[task.name]}])",
                    f"{tpath}.name",
                )
            index[task.name] = j
        edges: dict[str, list[str]] = {}
        implied: dict[str, list[str]] = {}
        for j, task in enumerate(tasks):
            tpath = f"{path}.tasks[{j}]"
            self.check_call(task, tpath)
            edges[task.name], implied[task.name] = self.task_edges(task, tpath, index)
        if t.dag.target and "{{" not in t.dag.target:
            for name in t.dag.target.split():
                if name not in index:
                    raise self.error(f"target refers to unknown task {name!r}", f"{path}.target")
        cycle = find_cycle([task.name for task in tasks], edges)
        if cycle:
            first = index[cycle[0]]
            # cycle[i + 1] runs after cycle[i]; say which of those edges only a reference makes
            refs = [
                f"{b} reads tasks.{a}"
                for a, b in itertools.pairwise(cycle)
                if a in implied[b]
            ]
            raise self.error(
                f"dependency cycle in DAG {t.name or 'inline'!r}: {' -> '.join(cycle)}"
                + (f" ({'; '.join(refs)})" if refs else ""),
                f"{path}.tasks[{first}]",
            )

    def task_edges(
        self, task: DAGTask, tpath: str, index: Mapping[str, int]
    ) -> tuple[list[str], list[str]]:
        """(all dependencies, those only implied by references) of a task (`spec/graph.py`)."""
        if task.depends is not None and task.dependencies:
            raise self.error("use either depends or dependencies, not both", f"{tpath}.depends")
        expr: DependsExpr | None
        try:
            expr = task_dependencies(task.depends, task.dependencies)
        except SpecError as e:
            raise self.error(e.message, f"{tpath}.depends") from None
        deps: list[str] = []
        if expr is not None:
            if task.depends is not None and task.depends.strip():
                named = task_names(expr)
            else:
                named = list(dict.fromkeys(task.dependencies or []))
            for name in named:
                if name not in index:
                    if task.depends is not None and task.depends.strip():
                        where = f"{tpath}.depends"
                    else:
                        where = f"{tpath}.dependencies[{(task.dependencies or []).index(name)}]"
                    raise self.error(f"depends on unknown task {name!r}", where)
                deps.append(name)
        # [ours] a task that reads another task of this DAG (when, arguments, loops, hooks)
        # depends on it; one that reads itself before it has run is a cycle of one.
        if references_itself(task, "tasks"):
            raise self.error(
                f"dependency cycle: {task.name} -> {task.name} ({task.name} reads"
                f" tasks.{task.name} before it has run)",
                tpath,
            )
        implied = [n for n in implied_dependencies(task, index) if n not in deps]
        return deps + implied, implied

    def check_call_name(self, name: str, path: str, what: str) -> None:
        if not NAME_RE.fullmatch(name):
            raise self.error(
                f"{what} name {name!r} is invalid: use letters, digits, '-' and '_', starting with"
                " a letter or digit",
                path,
            )

    def check_call(self, call: _Call, path: str) -> None:
        given = [
            k
            for k, v in (
                ("template", call.template),
                ("templateRef", call.template_ref),
                ("inline", call.inline),
            )
            if v is not None
        ]
        if len(given) != 1:
            problem = "none" if not given else " and ".join(given)
            raise self.error(
                f"set exactly one of template, templateRef or inline (got {problem})", path
            )
        loops = [
            k
            for k, v in (
                ("withItems", call.with_items),
                ("withParam", call.with_param),
                ("withSequence", call.with_sequence),
            )
            if v is not None
        ]
        if len(loops) > 1:
            raise self.error(f"set at most one of {', '.join(loops)}", path)
        seq = call.with_sequence
        if seq is not None:
            if seq.count is not None and seq.end is not None:
                raise self.error("withSequence: set count or end, not both", f"{path}.withSequence")
            for name, val in (("count", seq.count), ("start", seq.start), ("end", seq.end)):
                self.int_or_template(val, f"{path}.withSequence.{name}")
        if call.inline is not None:
            self.check_template(call.inline, f"{path}.inline")
            self.check_inputs_supplied(call.inline, call.arguments, "<inline>", path)
        elif call.template is not None:
            target = self.resolve(call.template, f"{path}.template")
            self.check_inputs_supplied(target, call.arguments, call.template, path)
        # Argo GetExitHook(wf args): an exit hook without arguments gets the workflow's.
        wf_args = self.wf.spec.arguments
        if call.on_exit is not None:
            target = self.resolve(call.on_exit, f"{path}.onExit")
            self.check_inputs_supplied(target, wf_args, call.on_exit, f"{path}.onExit")
        self.check_hooks(call.hooks, f"{path}.hooks", default_args=None, exit_args=wf_args)

    def check_hooks(
        self,
        hooks: Mapping[str, LifecycleHook],
        path: str,
        *,
        default_args: Arguments | None,
        exit_args: Arguments | None = None,
    ) -> None:
        for name, hook in hooks.items():
            hpath = join_path([*split_path(path), name])
            if name != "exit" and not (hook.expression and hook.expression.strip()):
                raise self.error(
                    f"hook {name!r}: Expression required (only 'exit' may omit it)", hpath
                )
            if (hook.template is None) == (hook.template_ref is None):
                raise self.error(
                    f"hook {name!r}: set exactly one of template or templateRef", hpath
                )
            if hook.template is not None:
                target = self.resolve(hook.template, f"{hpath}.template")
                args = hook.arguments if hook.arguments is not None else default_args
                if name == "exit" and not _given(hook.arguments):
                    args = exit_args if exit_args is not None else default_args
                self.check_inputs_supplied(target, args or Arguments(), hook.template, hpath)

    def resolve(self, name: str, path: str) -> Template:
        t = self.templates.get(name)
        if t is None:
            hint = closest_name(name, list(self.templates))
            raise self.error(
                f"unknown template {name!r}" + (f" (did you mean {hint!r}?)" if hint else ""),
                path,
            )
        return t

    def check_inputs_supplied(
        self, target: Template, args: Arguments, target_name: str, path: str
    ) -> None:
        supplied = {p.name for p in args.parameters}
        if has_defaults(self.wf.spec):
            target = effective_template(self.wf.spec, target)  # what the call will run
        for p in target.inputs.parameters:
            if (
                p.value is None
                and p.default is None
                and p.value_from is None
                and p.name not in supplied
            ):
                raise self.error(
                    f"input parameter {p.name!r} of template {target_name!r} is required but not"
                    " supplied by arguments",
                    path,
                )

    # ---- workflow-level calls

    def check_workflow_calls(self) -> None:
        spec = self.wf.spec
        if not spec.entrypoint:
            raise self.error("spec.entrypoint is required", "$.spec")
        entry = self.resolve(spec.entrypoint, "$.spec.entrypoint")
        self.check_inputs_supplied(entry, spec.arguments, spec.entrypoint, "$.spec.entrypoint")
        if spec.on_exit is not None:
            target = self.resolve(spec.on_exit, "$.spec.onExit")
            self.check_inputs_supplied(target, spec.arguments, spec.on_exit, "$.spec.onExit")
        self.check_hooks(spec.hooks, "$.spec.hooks", default_args=spec.arguments)
        seen: dict[str, int] = {}
        for i, h in enumerate(spec.exit_handlers):
            path = f"$.spec.exitHandlers[{i}]"
            if not h.name:
                raise self.error("exit handler has no name", path)
            self.check_call_name(h.name, f"{path}.name", "exit handler")
            if h.name in seen:
                raise self.error(
                    f"duplicate exit handler name {h.name!r} (also $.spec.exitHandlers"
                    f"[{seen[h.name]}])",
                    f"{path}.name",
                )
            seen[h.name] = i
            if not h.template:
                raise self.error(f"exit handler {h.name!r} has no template", path)
            target = self.resolve(h.template, f"{path}.template")
            args = spec.arguments if h.arguments is None or h.arguments.is_empty() else h.arguments
            self.check_inputs_supplied(target, args, h.template, path)

    # ---- references to nodes

    def check_node_references(self) -> None:
        """[ours] Reads of `steps.X`, `tasks.X`, `exitHandlers.X` that can never resolve."""
        for message, path in unknown_references(self.wf):
            raise self.error(message, path)

    # ---- expressions

    def check_expressions(self, check: ExpressionChecker) -> None:
        for text, segs in _expressions(self.wf.spec, ["spec"]):
            path = join_path(segs)
            try:
                check(text, path)
            except SpecError as e:
                if e.line is not None and e.source is not None:
                    raise
                raise type(e)(
                    e.message,
                    path=e.path or path,
                    line=e.line or self.wf.line_of(e.path or path),
                    source=e.source or self.wf.source,
                ) from e


_RETRY_POLICIES = ("Always", "OnFailure", "OnError", "OnTransientError")


def _given(arguments: Arguments | None) -> bool:
    return arguments is not None and not arguments.is_empty()

#: Struct fields (encoded names) whose strings are expressions, passed whole to the checker.
_EXPRESSION_FIELDS = frozenset({"when", "expression", "successCondition"})


@functools.cache
def _field_names(cls: type[msgspec.Struct]) -> tuple[tuple[str, str], ...]:
    """(attribute, encoded name) of a struct type's fields. `msgspec.structs.fields` resolves
    the type hints on every call (most of `validate`'s time, measured): once per type here."""
    return tuple((f.name, f.encode_name) for f in msgspec.structs.fields(cls))


def _expressions(obj: Any, segs: list[Segment]) -> Iterator[tuple[str, list[Segment]]]:
    """(text, path) of every `when`/`expression` field and every other string containing `{{=`."""
    if isinstance(obj, msgspec.Struct):
        for name, encode_name in _field_names(type(obj)):
            value = getattr(obj, name)
            if value is None:
                continue
            if encode_name in _EXPRESSION_FIELDS and isinstance(value, str):
                yield value, [*segs, encode_name]
            else:
                yield from _expressions(value, [*segs, encode_name])
    elif isinstance(obj, str):
        if "{{=" in obj:
            yield obj, segs
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _expressions(v, [*segs, i])
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _expressions(v, [*segs, str(k)])


def validate(
    wf: Workflow,
    *,
    parameters: Mapping[str, str] | None = None,
    check_expression: ExpressionChecker | None = None,
) -> None:
    """Raise the first problem of `wf` as SpecError (path + line), or ParameterError for `-p`.

    Checks: apiVersion/kind; metadata name; template names (present, unique) and kinds (exactly
    one); entrypoint; every template reference in steps, tasks, onExit, hooks and exitHandlers;
    unique step/task/exit-handler names; `depends`/`dependencies` syntax, unknown tasks and
    cycles; hooks other than `exit` need `expression`; required inputs supplied at every call
    site; durations, retry limits and sequences that are not templated; `-p` parameters declared,
    every workflow parameter has a value and matches its enum.

    `check_expression(text, path)` is called for every `when`, `expression` (hooks,
    retryStrategy, outputs `valueFrom`) and every other string containing `{{=` (then `text` is
    the whole string). Tell them apart by the end of `path`: `.when` (govaluate-style condition,
    may contain `{{...}}`), `.expression` (expr-lang), anything else (a template string with
    `{{= ...}}` tags). A SpecError it raises gets the path/line/source filled in when missing.
    """
    _Validator(wf, check_expression).run(parameters or {})


# --------------------------------------------------------------------------- features


def _walk_templates(wf: Workflow) -> Iterator[Template]:
    todo: list[Template] = list(wf.spec.templates)
    if wf.spec.template_defaults is not None:
        todo.append(wf.spec.template_defaults)
    while todo:
        t = todo.pop(0)
        yield t
        for call in _calls(t):
            if call.inline is not None:
                todo.append(call.inline)


def _calls(t: Template) -> Iterator[_Call]:
    for group in t.steps or []:
        yield from group
    if t.dag is not None:
        yield from t.dag.tasks


def _all_hooks(wf: Workflow) -> Iterator[LifecycleHook]:
    yield from wf.spec.hooks.values()
    for t in _walk_templates(wf):
        for call in _calls(t):
            yield from call.hooks.values()


def _all_arguments(wf: Workflow) -> Iterator[Arguments]:
    yield wf.spec.arguments
    for h in _all_hooks(wf):
        if h.arguments is not None:
            yield h.arguments
    for eh in wf.spec.exit_handlers:
        if eh.arguments is not None:
            yield eh.arguments
    for t in _walk_templates(wf):
        for call in _calls(t):
            yield call.arguments


def unsupported_features(wf: Workflow) -> list[str]:
    """Sorted names of features used by `wf` that the engine cannot run (empty: runnable).

    Names: artifacts, configMapKeyRef, containerSet, daemon, data, envFrom, env.valueFrom,
    http.bodyFrom, http.headers.valueFrom, initContainers, memoize, plugin, resource, sidecars,
    synchronization, templateDefaults.dag, templateDefaults.name,
    templateDefaults.steps, templateRef, valueFrom.event, valueFrom.jqFilter, valueFrom.jsonPath,
    valueFrom.supplied, volumes, workflowTemplateRef.
    """
    found: set[str] = set()
    spec = wf.spec
    if spec.workflow_template_ref is not None:
        found.add("workflowTemplateRef")
    if spec.volumes or spec.volume_claim_templates:
        found.add("volumes")
    if spec.synchronization is not None:
        found.add("synchronization")
    found.update(unsupported_defaults(spec))
    if any(a.artifacts for a in _all_arguments(wf)):
        found.add("artifacts")
    if any(h.template_ref is not None for h in _all_hooks(wf)):
        found.add("templateRef")
    params: list[Parameter] = [p for a in _all_arguments(wf) for p in a.parameters]
    for t in _walk_templates(wf):
        for kind in template_kinds(t):
            if kind not in ("container", "script", "steps", "dag", "http", "resource", "suspend"):
                found.add(kind)
        if t.resource is not None and not t.resource.creates_workflow():
            found.add("resource")
        if t.http is not None:
            if any(h.value_from is not None for h in t.http.headers):
                found.add("http.headers.valueFrom")
            if t.http.body_from is not None:
                found.add("http.bodyFrom")
        if t.inputs.artifacts or t.outputs.artifacts:
            found.add("artifacts")
        for attr, label in (
            ("daemon", "daemon"),
            ("sidecars", "sidecars"),
            ("init_containers", "initContainers"),
            ("volumes", "volumes"),
            ("memoize", "memoize"),
            ("synchronization", "synchronization"),
        ):
            if getattr(t, attr):
                found.add(label)
        for c in (t.container, t.script):
            if c is None:
                continue
            if c.volume_mounts:
                found.add("volumes")
            if c.env_from:
                found.add("envFrom")
            if any(e.value_from is not None for e in c.env):
                found.add("env.valueFrom")
        for call in _calls(t):
            if call.template_ref is not None:
                found.add("templateRef")
        params.extend(t.inputs.parameters)
        params.extend(t.outputs.parameters)
    for p in params:
        vf = p.value_from
        if vf is None:
            continue
        for attr, label in (
            ("config_map_key_ref", "configMapKeyRef"),
            ("json_path", "valueFrom.jsonPath"),
            ("jq_filter", "valueFrom.jqFilter"),
            ("event", "valueFrom.event"),
            ("supplied", "valueFrom.supplied"),
        ):
            if getattr(vf, attr) is not None:
                found.add(label)
    return sorted(found)


def ignored_features(wf: Workflow) -> list[str]:
    """Sorted names of Kubernetes-only settings present in `wf` that the engine parses and ignores
    (scheduling, pod and service-account settings, metrics, GC/TTL...)."""
    found: set[str] = set()
    spec = wf.spec
    for attr in (
        "service_account_name",
        "automount_service_account_token",
        "executor",
        "ttl_strategy",
        "pod_gc",
        "volume_claim_gc",
        "node_selector",
        "security_context",
        "pod_metadata",
        "workflow_metadata",
        "pod_disruption_budget",
        "pod_priority_class_name",
        "pod_priority",
        "pod_spec_patch",
        "priority",
        "scheduler_name",
        "archive_logs",
        "artifact_repository_ref",
        "artifact_gc",
        "image_pull_secrets",
        "host_aliases",
        "dns_policy",
        "dns_config",
        "tolerations",
        "affinity",
        "metrics",
    ):
        if getattr(spec, attr) is not None:
            found.add(_encode_name(type(spec), attr))
    for t in _walk_templates(wf):
        for attr in (
            "node_selector",
            "affinity",
            "tolerations",
            "archive_location",
            "service_account_name",
            "automount_service_account_token",
            "executor",
            "host_aliases",
            "security_context",
            "pod_spec_patch",
            "priority_class_name",
            "priority",
            "scheduler_name",
            "metrics",
        ):
            if getattr(t, attr) is not None:
                found.add("templates." + _encode_name(Template, attr))
        if t.retry_strategy is not None and t.retry_strategy.affinity is not None:
            found.add("retryStrategy.affinity")
        for c in (t.container, t.script):
            if c is None:
                continue
            for attr in (
                "resources",
                "security_context",
                "ports",
                "liveness_probe",
                "readiness_probe",
                "startup_probe",
                "lifecycle",
                "image_pull_policy",
            ):
                if getattr(c, attr) is not None:
                    found.add("container." + _encode_name(type(c), attr))
    if spec.retry_strategy is not None and spec.retry_strategy.affinity is not None:
        found.add("retryStrategy.affinity")
    return sorted(found)


def _encode_name(cls: type[msgspec.Struct], attr: str) -> str:
    for name, encode_name in _field_names(cls):
        if name == attr:
            return encode_name
    return attr
