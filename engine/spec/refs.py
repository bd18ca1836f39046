"""WorkflowTemplates and the references to them: `templateRef` (in steps, DAG tasks and hooks)
and `spec.workflowTemplateRef`, resolved into one self-contained Workflow at submission.

Pure: the caller hands in the stored templates (`Library`); nothing here reads a database.

    kind, name, data = read_template(text, source="lib.yaml")     # SpecError if invalid
    text = resolve_text(wf_text, source="wf.yaml", library=lib)   # unchanged without refs

Resolution follows Argo:
- `workflowTemplateRef: {name, clusterScope}`: the Workflow's spec is the template's spec with the
  Workflow's own fields laid over it (`arguments.parameters` and `templates` merged by name, the
  Workflow's winning).
- `templateRef: {name, template, clusterScope}`: that template of that WorkflowTemplate runs in
  place of `template:`. It is copied into the Workflow as `<name>/<template>` (`@cluster` added for
  a ClusterWorkflowTemplate), and the `template:` calls inside it are resolved within its own
  WorkflowTemplate, as Argo does; node names do not change (they come from step and task names).

The resolved Workflow is what the run's first event records, so replay and verify never depend
on a template edited or deleted later. An unknown WorkflowTemplate or template is a SpecError
naming the reference (exit 2, at lint and submit).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Mapping
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]

from engine.errors import ParameterError, SpecError
from engine.spec.loader import load_obj, read_object, read_objects
from engine.spec.model import KIND
from engine.spec.validate import ExpressionChecker, validate

__all__ = [
    "CLUSTER_TEMPLATE_KIND",
    "TEMPLATE_KIND",
    "TEMPLATE_KINDS",
    "Library",
    "dump_yaml",
    "has_refs",
    "read_template",
    "read_templates",
    "resolve",
    "resolve_text",
]

TEMPLATE_KIND = "WorkflowTemplate"
CLUSTER_TEMPLATE_KIND = "ClusterWorkflowTemplate"
TEMPLATE_KINDS = (TEMPLATE_KIND, CLUSTER_TEMPLATE_KIND)

#: (kind, name) -> the template object's data (as `read_template` returns it).
Library = Mapping[tuple[str, str], Mapping[str, Any]]


def has_refs(text: str) -> bool:
    """Cheap test: may this workflow text need the library? (Then call `resolve_text`.)"""
    return "templateRef" in text or "workflowTemplateRef" in text


def read_templates(
    text: str, *, source: str, check_expression: ExpressionChecker | None = None
) -> list[tuple[str, str, dict[str, Any]]]:
    """Every document of `text` (a file may hold several, as for `kubectl apply -f`), each a
    WorkflowTemplate or ClusterWorkflowTemplate, checked: [(kind, name, data)]."""
    docs = [d for d in read_objects(text, source=source) if d[0] is not None]
    if not docs:
        raise SpecError("no YAML document found", source=source)
    return [_check_template(data, locate, source, check_expression) for data, locate in docs]


def read_template(
    text: str, *, source: str, check_expression: ExpressionChecker | None = None
) -> tuple[str, str, dict[str, Any]]:
    """Parse and check a WorkflowTemplate or ClusterWorkflowTemplate: (kind, name, data).

    Checked as a Workflow would be (types, template kinds and references, expressions), except
    that a library without `entrypoint` is fine and parameters may be left for the caller."""
    data, locate = read_object(text, source=source, kinds=TEMPLATE_KINDS)
    return _check_template(data, locate, source, check_expression)


def _check_template(
    data: Any, locate: Any, source: str, check_expression: ExpressionChecker | None
) -> tuple[str, str, dict[str, Any]]:
    if not isinstance(data, dict) or data.get("kind") not in TEMPLATE_KINDS:
        got = data.get("kind") if isinstance(data, dict) else type(data).__name__
        raise SpecError(
            f"kind must be {TEMPLATE_KIND!r} or {CLUSTER_TEMPLATE_KIND!r}, got {got!r}",
            path="$.kind",
            line=locate("$.kind"),
            source=source,
        )
    kind = str(data["kind"])
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        raise SpecError(
            f"a {kind} needs metadata.name",
            path="$.metadata",
            line=locate("$.metadata"),
            source=source,
        )
    probe = copy.deepcopy(data)
    probe["kind"] = KIND
    spec = probe.get("spec")
    if isinstance(spec, dict) and not spec.get("entrypoint"):
        templates = spec.get("templates")
        if isinstance(templates, list) and templates and isinstance(templates[0], dict):
            spec["entrypoint"] = templates[0].get("name")
    _supply_entry_inputs(probe)
    workflow = load_obj(probe, source=source, locate=locate)
    # Parameter values are the business of the workflow that uses the template.
    with contextlib.suppress(ParameterError):
        validate(workflow, check_expression=check_expression)
    return kind, name, data


def _supply_entry_inputs(probe: dict[str, Any]) -> None:
    """A template is checked like a Workflow whose caller supplies the entrypoint's inputs."""
    spec = probe.get("spec")
    if not isinstance(spec, dict):
        return
    entry = spec.get("entrypoint")
    for t in spec.get("templates") or []:
        if not isinstance(t, dict) or t.get("name") != entry:
            continue
        inputs = t.get("inputs")
        params = inputs.get("parameters") if isinstance(inputs, dict) else None
        args = spec.get("arguments")
        if not isinstance(args, dict):
            args = spec["arguments"] = {}
        given = args.get("parameters")
        if not isinstance(given, list):
            given = args["parameters"] = []
        names = {p.get("name") for p in given if isinstance(p, dict)}
        for p in params if isinstance(params, list) else []:
            if isinstance(p, dict) and p.get("name") not in names:
                given.append({"name": p.get("name"), "value": "supplied-by-the-caller"})
        return


def resolve_text(text: str, *, source: str, library: Library) -> str:
    """The workflow text with every reference resolved (the text itself when it has none)."""
    if not has_refs(text):
        return text
    data, locate = read_object(text, source=source, kinds=(KIND,))
    resolved, used = resolve(data, library, source=source, locate=locate)
    if not used:
        return text
    header = "".join(f"# resolved by exitflow from {kind} {name}\n" for kind, name in used)
    return header + dump_yaml(resolved)


def resolve(
    data: Mapping[str, Any],
    library: Library,
    *,
    source: str | None = None,
    locate: Any = None,
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A copy of the Workflow `data` with its references resolved; and the (kind, name) of the
    templates used, in first-use order."""
    return _Resolver(library, source, locate).run(data)


class _Resolver:
    def __init__(self, library: Library, source: str | None, locate: Any) -> None:
        self.library = library
        self.source = source
        self.locate = locate
        self.used: list[tuple[str, str]] = []
        self.copied: dict[tuple[str, str, str], str] = {}
        self.templates: list[Any] = []
        self.merged = False

    def error(self, message: str, path: str | None) -> SpecError:
        line = self.locate(path) if self.locate is not None and path and not self.merged else None
        return SpecError(message, path=path, line=line, source=self.source)

    def lookup(self, ref: Any, path: str) -> tuple[str, str, Mapping[str, Any]]:
        if not isinstance(ref, dict) or not isinstance(ref.get("name"), str) or not ref["name"]:
            raise self.error("a template reference needs a name", path)
        kind = CLUSTER_TEMPLATE_KIND if ref.get("clusterScope") is True else TEMPLATE_KIND
        name = ref["name"]
        found = self.library.get((kind, name))
        if found is None:
            raise self.error(
                f"unknown {kind} {name!r} (store it with: exitflow template create FILE)", path
            )
        if (kind, name) not in self.used:
            self.used.append((kind, name))
        return kind, name, found

    def run(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        out = copy.deepcopy(dict(data))
        spec = out.get("spec")
        if not isinstance(spec, dict):
            return out, []
        if "workflowTemplateRef" in spec:
            _, _, found = self.lookup(spec["workflowTemplateRef"], "$.spec.workflowTemplateRef")
            own = {k: v for k, v in spec.items() if k != "workflowTemplateRef"}
            spec = _merge_spec(copy.deepcopy(dict(found.get("spec") or {})), own)
            out["spec"] = spec
            self.merged = True
        templates = spec.get("templates")
        if not isinstance(templates, list):
            templates = []
            spec["templates"] = templates
        self.templates = templates
        self.walk(spec, "$.spec", None)
        return out, self.used

    def walk(self, node: Any, path: str, scope: tuple[str, str] | None) -> None:
        """Rewrite calls in `node`: `templateRef` everywhere; in a copied template (`scope` is its
        WorkflowTemplate), also `template:` and the deprecated `onExit:` of steps and tasks."""
        if isinstance(node, list):
            for i, item in enumerate(node):
                self.walk(item, f"{path}[{i}]", scope)
            return
        if not isinstance(node, dict):
            return
        if "templateRef" in node:
            ref = node["templateRef"]
            where = f"{path}.templateRef"
            kind, name, found = self.lookup(ref, where)
            template = ref.get("template")
            if not isinstance(template, str) or not template:
                raise self.error("templateRef needs a template", where)
            node.pop("templateRef")
            node["template"] = self.copy_template(kind, name, found, template, where)
        elif scope is not None and isinstance(node.get("template"), str) and "name" in node:
            node["template"] = self.copy_in_scope(scope, node["template"], path)
        if scope is not None and isinstance(node.get("onExit"), str) and "name" in node:
            node["onExit"] = self.copy_in_scope(scope, node["onExit"], path)
        for key, value in list(node.items()):
            if isinstance(value, (dict, list)):
                self.walk(value, f"{path}.{key}", scope)

    def walk_hooks(self, node: Any, scope: tuple[str, str]) -> None:
        """`hooks: {name: {template: x}}` inside a copied template (hook dicts have no name)."""
        if isinstance(node, list):
            for item in node:
                self.walk_hooks(item, scope)
        elif isinstance(node, dict):
            hooks = node.get("hooks")
            if isinstance(hooks, dict):
                for hook in hooks.values():
                    if isinstance(hook, dict) and isinstance(hook.get("template"), str):
                        hook["template"] = self.copy_in_scope(scope, hook["template"], None)
            for value in node.values():
                self.walk_hooks(value, scope)

    def copy_in_scope(self, scope: tuple[str, str], template: str, path: str | None) -> str:
        kind, name = scope
        found = self.library[(kind, name)]
        return self.copy_template(kind, name, found, template, path)

    def copy_template(
        self, kind: str, name: str, found: Mapping[str, Any], template: str, path: str | None
    ) -> str:
        key = (kind, name, template)
        if key in self.copied:
            return self.copied[key]
        spec = found.get("spec") or {}
        body = next(
            (
                t
                for t in spec.get("templates") or []
                if isinstance(t, dict) and t.get("name") == template
            ),
            None,
        )
        if body is None:
            raise self.error(f"{kind} {name!r} has no template {template!r}", path)
        new_name = f"{name}/{template}" + ("@cluster" if kind == CLUSTER_TEMPLATE_KIND else "")
        self.copied[key] = new_name
        body = copy.deepcopy(body)
        body["name"] = new_name
        self.templates.append(body)
        scope = (kind, name)
        self.walk_hooks(body, scope)
        self.walk(body, f"$.spec.templates[{len(self.templates) - 1}]", scope)
        return new_name


def _merge_spec(base: dict[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """Argo's JoinWorkflowSpec: the Workflow's fields over the template's."""
    for key, value in own.items():
        if key == "templates" and isinstance(value, list):
            _merge_named(base.setdefault("templates", []), value)
        elif key == "arguments" and isinstance(value, dict):
            args = base.setdefault("arguments", {})
            for sub, items in value.items():
                if sub in ("parameters", "artifacts") and isinstance(items, list):
                    _merge_named(args.setdefault(sub, []), items)
                else:
                    args[sub] = items
        else:
            base[key] = value
    return base


def _merge_named(base: list[Any], own: list[Any]) -> None:
    index = {t.get("name"): i for i, t in enumerate(base) if isinstance(t, dict)}
    for item in own:
        name = item.get("name") if isinstance(item, dict) else None
        if name in index:
            base[index[name]] = item
        else:
            base.append(item)


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    """Block style for multi-line strings (scripts stay readable in the event log)."""


def _str(dumper: Any, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(data: Any) -> str:
    return str(yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100))
