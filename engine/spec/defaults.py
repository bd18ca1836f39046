"""The template a call actually runs: `spec.templateDefaults` merged in, `spec.retryStrategy` as
the fallback retry strategy. One rule, used by the reconciler (runs with `rules >= 2`) and by lint.

Argo (`workflow/controller/operator.go`):

- `mergedTemplateDefaultsInto`: every executed template is a Kubernetes strategic merge patch of
  the template over `templateDefaults`, after the defaults' template-kind fields that are not the
  template's own kind are cleared. Objects merge key by key, the template winning; lists are
  replaced, except lists with a `patchMergeKey` (parameters and artifacts by `name`, container
  `env` by `name`, ...), merged item by item on that key (defaults' items first).
- `retryStrategy(tmpl)`: the template's `retryStrategy` (after the merge), else the workflow's
  `spec.retryStrategy`. It applies to every template, steps and DAGs included (Argo's e2e
  `parameter-aggregation-dag-with-retry`: the entry node is a Retry node, its child `<wf>(0)`).

What cannot be honoured is listed by `unsupported_defaults` (lint refuses it, exit 2).
"""

from __future__ import annotations

from typing import Any

import msgspec

from engine.spec.model import TEMPLATE_KINDS, Template, WorkflowSpec
from engine.spec.util import template_kinds

__all__ = ["effective_template", "has_defaults", "unsupported_defaults"]

#: List fields (encoded names) that Kubernetes merges item by item, and their merge key
#: (`patchMergeKey` in Argo's and Kubernetes' Go types).
_MERGE_KEYS: dict[str, str] = {
    "parameters": "name",
    "artifacts": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
    "sidecars": "name",
    "initContainers": "name",
    "tolerations": "key",
    "hostAliases": "ip",
}

#: Default template bodies the engine cannot honour: a steps/DAG template always has its own
#: body (a default `steps` list is replaced whole, a default DAG's tasks would run inside every
#: DAG). Defaults for `container` and `script` (image, command, env...) are honoured.
_NEVER_DEFAULTED = ("steps", "dag")


def has_defaults(spec: WorkflowSpec) -> bool:
    """True when `effective_template` may change a template of this workflow."""
    return spec.template_defaults is not None or spec.retry_strategy is not None


def effective_template(spec: WorkflowSpec, tmpl: Template) -> Template:
    """`tmpl` with `spec.templateDefaults` merged under it and `spec.retryStrategy` as its retry
    strategy when it has none of its own (the same object when neither applies)."""
    out = tmpl
    defaults = spec.template_defaults
    if defaults is not None:
        kinds = template_kinds(tmpl)
        base = msgspec.to_builtins(defaults)
        for kind in TEMPLATE_KINDS:
            if kind not in kinds:
                base.pop(kind, None)
        base.pop("name", None)  # a template keeps its own name (an inline one has none)
        merged = _merge(base, msgspec.to_builtins(tmpl))
        out = msgspec.convert(merged, Template)
    if out.retry_strategy is None and spec.retry_strategy is not None:
        out = msgspec.structs.replace(out, retry_strategy=spec.retry_strategy)
    return out


def unsupported_defaults(spec: WorkflowSpec) -> list[str]:
    """Parts of `spec.templateDefaults` the engine cannot honour (lint lists them as unsupported).
    Other kinds (`resource`, `http`...) are listed as unsupported features by their own name."""
    defaults = spec.template_defaults
    if defaults is None:
        return []
    found = [
        f"templateDefaults.{kind}" for kind in template_kinds(defaults) if kind in _NEVER_DEFAULTED
    ]
    if defaults.name:
        found.append("templateDefaults.name")  # a name is not a default: it would be ignored
    return found


def _merge(base: Any, patch: Any, key: str = "") -> Any:
    """Strategic merge of `patch` over `base` (JSON values, camelCase keys)."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = _merge(base[k], v, k) if k in base else v
        return out
    merge_key = _MERGE_KEYS.get(key)
    if merge_key is not None and isinstance(base, list) and isinstance(patch, list):
        items = list(base)
        index = {
            item[merge_key]: i
            for i, item in enumerate(items)
            if isinstance(item, dict) and merge_key in item
        }
        for item in patch:
            at = index.get(item[merge_key]) if isinstance(item, dict) else None
            if at is None:
                items.append(item)
            else:
                items[at] = _merge(items[at], item)
        return items
    return patch
