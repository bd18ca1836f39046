"""The workflow spec: msgspec models of an Argo `Workflow`, loading with line-accurate errors,
static validation, and helpers for the controller.

    wf = load_file("wf.yaml")                 # SpecError: "wf.yaml:12 at $.spec...: message"
    validate(wf, parameters={"x": "1"})       # SpecError / ParameterError
    unsupported_features(wf)                  # e.g. ["artifacts"]: the engine cannot run it
    wf.template("main"); template_kind(t); parse_duration("1h30m")
    effective_parameters(wf, {"x": "1"}); generate_name(wf); dump_json(wf) / load_json(...)

A loaded `Workflow` remembers its `source` and maps JSON paths to YAML lines: `wf.line_of(path)`.
"""

from __future__ import annotations

from engine.spec.graph import implied_dependencies, task_dependencies, task_names
from engine.spec.loader import load_file, load_json, load_obj, load_text
from engine.spec.model import (
    API_VERSION,
    HTTP,
    KIND,
    TEMPLATE_KINDS,
    Arguments,
    Backoff,
    Container,
    ContinueOn,
    DAGTask,
    DAGTemplate,
    EnvVar,
    ExitHandler,
    HTTPHeader,
    Inputs,
    LifecycleHook,
    Metadata,
    Outputs,
    Parameter,
    ResourceTemplate,
    RetryStrategy,
    Script,
    Sequence,
    Template,
    ValueFrom,
    Workflow,
    WorkflowSpec,
    WorkflowStep,
)
from engine.spec.util import (
    dump_json,
    effective_parameters,
    generate_name,
    parse_duration,
    template_kind,
    template_kinds,
)
from engine.spec.validate import (
    ExpressionChecker,
    ignored_features,
    unsupported_features,
    validate,
)

__all__ = [
    "API_VERSION",
    "HTTP",
    "KIND",
    "TEMPLATE_KINDS",
    "Arguments",
    "Backoff",
    "Container",
    "ContinueOn",
    "DAGTask",
    "DAGTemplate",
    "EnvVar",
    "ExitHandler",
    "ExpressionChecker",
    "HTTPHeader",
    "Inputs",
    "LifecycleHook",
    "Metadata",
    "Outputs",
    "Parameter",
    "ResourceTemplate",
    "RetryStrategy",
    "Script",
    "Sequence",
    "Template",
    "ValueFrom",
    "Workflow",
    "WorkflowSpec",
    "WorkflowStep",
    "dump_json",
    "effective_parameters",
    "generate_name",
    "ignored_features",
    "implied_dependencies",
    "load_file",
    "load_json",
    "load_obj",
    "load_text",
    "parse_duration",
    "task_dependencies",
    "task_names",
    "template_kind",
    "template_kinds",
    "unsupported_features",
    "validate",
]
