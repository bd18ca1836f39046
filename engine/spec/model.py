"""msgspec models of an Argo `Workflow` (argoproj.io/v1alpha1), parse-compatible with Argo v4.1.

Every struct is frozen, keyword-only, forbids unknown fields (typos are errors), maps snake_case
attributes to Argo's camelCase keys and omits defaults when encoded. Kubernetes sub-objects the
engine does not interpret (resources, probes, affinity, volumes, artifacts, ...) are kept as raw
JSON-like values (`Any`) so that every Argo example parses; `unsupported_features()` in
`engine.spec.validate` reports the ones the engine cannot run.

Parameter values (`value`, `default`, `enum`, `valueFrom.default`) are always `str`: YAML scalars
(int, float, bool) are normalised by the loader before conversion (bool -> "true"/"false").
"""

from __future__ import annotations

import functools
import types
from collections.abc import Mapping
from typing import Any

import msgspec

from engine.errors import SpecError

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
]

API_VERSION = "argoproj.io/v1alpha1"
KIND = "Workflow"

#: Template kinds, in Argo's order; exactly one of these fields must be set on a template.
TEMPLATE_KINDS: tuple[str, ...] = (
    "container",
    "script",
    "steps",
    "dag",
    "resource",
    "suspend",
    "containerSet",
    "http",
    "data",
    "plugin",
)

#: An Argo `IntOrString`.
IntOrStr = int | str


class _Base(
    msgspec.Struct,
    kw_only=True,
    frozen=True,
    forbid_unknown_fields=True,
    rename="camel",
    omit_defaults=True,
):
    """Common configuration of every spec struct."""


# --------------------------------------------------------------------------- parameters


class ValueFrom(_Base, kw_only=True, frozen=True):
    """`valueFrom` of a parameter: where an output (or input/argument) value comes from."""

    path: str | None = None
    json_path: str | None = None
    jq_filter: str | None = None
    parameter: str | None = None
    expression: str | None = None
    default: str | None = None
    supplied: dict[str, Any] | None = None
    event: str | None = None
    config_map_key_ref: dict[str, Any] | None = None


class Parameter(_Base, kw_only=True, frozen=True):
    """A parameter in `arguments`, `inputs` or `outputs` (Argo uses one type for all three)."""

    name: str
    value: str | None = None
    default: str | None = None
    value_from: ValueFrom | None = None
    enum: list[str] | None = None
    description: str | None = None
    global_name: str | None = None


class Arguments(_Base, kw_only=True, frozen=True):
    parameters: list[Parameter] = []
    #: Artifacts parse but are not supported by the engine.
    artifacts: list[dict[str, Any]] = []

    def parameter(self, name: str) -> Parameter | None:
        for p in self.parameters:
            if p.name == name:
                return p
        return None


class Inputs(_Base, kw_only=True, frozen=True):
    parameters: list[Parameter] = []
    artifacts: list[dict[str, Any]] = []


class Outputs(_Base, kw_only=True, frozen=True):
    parameters: list[Parameter] = []
    artifacts: list[dict[str, Any]] = []
    result: str | None = None
    exit_code: str | None = None


# --------------------------------------------------------------------------- containers


class EnvVar(_Base, kw_only=True, frozen=True):
    name: str
    value: str | None = None
    value_from: dict[str, Any] | None = None


class Container(_Base, kw_only=True, frozen=True):
    """A Kubernetes `Container` (the fields the engine uses are typed, the rest kept raw)."""

    name: str | None = None
    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    working_dir: str | None = None
    env: list[EnvVar] = []
    env_from: list[Any] | None = None
    resources: dict[str, Any] | None = None
    resize_policy: list[Any] | None = None
    restart_policy: str | None = None
    volume_mounts: list[dict[str, Any]] | None = None
    volume_devices: list[Any] | None = None
    image_pull_policy: str | None = None
    security_context: dict[str, Any] | None = None
    ports: list[Any] | None = None
    liveness_probe: dict[str, Any] | None = None
    readiness_probe: dict[str, Any] | None = None
    startup_probe: dict[str, Any] | None = None
    lifecycle: dict[str, Any] | None = None
    termination_message_path: str | None = None
    termination_message_policy: str | None = None
    stdin: bool | None = None
    stdin_once: bool | None = None
    tty: bool | None = None
    #: Argo `mirrorVolumeMounts` (sidecars/init containers only).
    mirror_volume_mounts: bool | None = None


class Script(Container, kw_only=True, frozen=True):
    """A `script` template: a container whose `source` is written to a file and run."""

    source: str = ""


# --------------------------------------------------------------------------- http


class HTTPHeader(_Base, kw_only=True, frozen=True):
    """A header of an `http` template. `valueFrom.secretKeyRef` parses but is unsupported (there
    are no Kubernetes secrets here; `unsupported_features` reports it)."""

    name: str
    value: str = ""
    value_from: dict[str, Any] | None = None


class HTTP(_Base, kw_only=True, frozen=True):
    """An Argo `http` template: one request sent by the controller (Argo's agent)."""

    url: str
    method: str = "GET"
    headers: list[HTTPHeader] = []
    #: Request timeout in seconds (Argo's default: 30).
    timeout_seconds: IntOrStr | None = None
    #: An expression over `response.statusCode|body|headers` (and `request.*`); without it a
    #: 2xx status succeeds.
    success_condition: str | None = None
    body: str = ""
    #: `bodyFrom.bytes`: parses but is unsupported.
    body_from: dict[str, Any] | None = None
    insecure_skip_verify: bool = False


# --------------------------------------------------------------------------- resource


class ResourceTemplate(_Base, kw_only=True, frozen=True):
    """An Argo `resource` template. Exitflow runs only `action: create` of a `Workflow`
    manifest (a child workflow in the same log, see `creates_workflow`); anything else parses
    and is reported by `unsupported_features`."""

    action: str = ""
    manifest: str | None = None
    manifest_from: dict[str, Any] | None = None
    merge_strategy: str | None = None
    set_owner_reference: bool | None = None
    success_condition: str | None = None
    failure_condition: str | None = None
    flags: list[str] | None = None

    def creates_workflow(self) -> bool:
        """`action: create` of an `argoproj.io/v1alpha1` `Workflow` manifest (read shallowly:
        the manifest is parsed for real when the child is submitted)."""
        if self.action != "create" or not self.manifest or self.manifest_from is not None:
            return False
        head = {}
        for line in self.manifest.splitlines():
            key, sep, value = line.partition(":")
            if sep and key in ("apiVersion", "kind"):
                head[key] = value.strip().strip("'\"")
        return head.get("kind") == KIND and head.get("apiVersion") == API_VERSION


# --------------------------------------------------------------------------- retries


class Backoff(_Base, kw_only=True, frozen=True):
    duration: IntOrStr | None = None
    factor: IntOrStr | None = None
    cap: IntOrStr | None = None
    max_duration: IntOrStr | None = None


class RetryStrategy(_Base, kw_only=True, frozen=True):
    #: Attempts = limit + 1; None means unlimited.
    limit: IntOrStr | None = None
    #: Always | OnFailure (default) | OnError | OnTransientError
    retry_policy: str | None = None
    backoff: Backoff | None = None
    expression: str | None = None
    affinity: dict[str, Any] | None = None


# --------------------------------------------------------------------------- steps and DAGs


class ContinueOn(_Base, kw_only=True, frozen=True):
    failed: bool = False
    error: bool = False


class Sequence(_Base, kw_only=True, frozen=True):
    count: IntOrStr | None = None
    start: IntOrStr | None = None
    end: IntOrStr | None = None
    format: str | None = None


class LifecycleHook(_Base, kw_only=True, frozen=True):
    template: str | None = None
    template_ref: dict[str, Any] | None = None
    arguments: Arguments | None = None
    expression: str | None = None


class _Call(_Base, kw_only=True, frozen=True):
    """What a step and a DAG task share: a call of a template."""

    name: str
    template: str | None = None
    template_ref: dict[str, Any] | None = None
    inline: Template | None = None
    arguments: Arguments = msgspec.field(default_factory=Arguments)
    when: str | None = None
    continue_on: ContinueOn | None = None
    with_items: list[Any] | None = None
    with_param: str | None = None
    with_sequence: Sequence | None = None
    #: Deprecated form of `hooks: {exit: {template: ...}}`.
    on_exit: str | None = None
    hooks: dict[str, LifecycleHook] = {}

    def exit_hook(self) -> LifecycleHook | None:
        """The exit hook: `onExit` (converted) or `hooks.exit`."""
        if self.on_exit:
            return LifecycleHook(template=self.on_exit)
        return self.hooks.get("exit")


class WorkflowStep(_Call, kw_only=True, frozen=True):
    """One step of a `steps` template."""


class DAGTask(_Call, kw_only=True, frozen=True):
    """One task of a `dag` template."""

    depends: str | None = None
    dependencies: list[str] | None = None


class DAGTemplate(_Base, kw_only=True, frozen=True):
    tasks: list[DAGTask] = []
    target: str | None = None
    fail_fast: bool | None = None


# --------------------------------------------------------------------------- templates


class Metadata(_Base, kw_only=True, frozen=True):
    """Kubernetes `ObjectMeta` (also used for template and pod metadata)."""

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    # Server-set fields, present in dumped workflows (e.g. Argo's controller test data).
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: Any = None
    deletion_timestamp: Any = None
    deletion_grace_period_seconds: int | None = None
    self_link: str | None = None
    owner_references: list[Any] | None = None
    finalizers: list[str] | None = None
    managed_fields: list[Any] | None = None


class Template(_Base, kw_only=True, frozen=True):
    """An Argo template. Exactly one of the kinds in `TEMPLATE_KINDS` must be set."""

    #: Required for templates in `spec.templates`, absent for `inline` templates.
    name: str = ""
    inputs: Inputs = msgspec.field(default_factory=Inputs)
    outputs: Outputs = msgspec.field(default_factory=Outputs)
    # --- kinds
    container: Container | None = None
    script: Script | None = None
    steps: list[list[WorkflowStep]] | None = None
    dag: DAGTemplate | None = None
    resource: ResourceTemplate | None = None
    suspend: dict[str, Any] | None = None
    container_set: dict[str, Any] | None = None
    http: HTTP | None = None
    data: dict[str, Any] | None = None
    plugin: dict[str, Any] | None = None
    # --- execution controls
    retry_strategy: RetryStrategy | None = None
    timeout: IntOrStr | None = None
    active_deadline_seconds: IntOrStr | None = None
    parallelism: int | None = None
    fail_fast: bool | None = None
    # --- parsed, not interpreted (see unsupported_features / ignored_features)
    metadata: Metadata | None = None
    #: Not an Argo field (Argo ignores it without --strict), but used by Argo's own examples.
    annotations: dict[str, str] = {}
    node_selector: dict[str, str] | None = None
    affinity: dict[str, Any] | None = None
    tolerations: list[Any] | None = None
    daemon: bool | None = None
    sidecars: list[Any] | None = None
    init_containers: list[Any] | None = None
    volumes: list[Any] | None = None
    archive_location: dict[str, Any] | None = None
    service_account_name: str | None = None
    automount_service_account_token: bool | None = None
    executor: dict[str, Any] | None = None
    host_aliases: list[Any] | None = None
    security_context: dict[str, Any] | None = None
    pod_spec_patch: str | None = None
    priority_class_name: str | None = None
    priority: int | None = None
    scheduler_name: str | None = None
    metrics: dict[str, Any] | None = None
    synchronization: dict[str, Any] | None = None
    memoize: dict[str, Any] | None = None


# --------------------------------------------------------------------------- workflow


class ExitHandler(_Base, kw_only=True, frozen=True):
    """**[ours]** An entry of `spec.exitHandlers`: runs in list order after the entrypoint."""

    name: str = ""
    template: str = ""
    when: str | None = None
    arguments: Arguments | None = None


class WorkflowSpec(_Base, kw_only=True, frozen=True):
    entrypoint: str | None = None
    arguments: Arguments = msgspec.field(default_factory=Arguments)
    templates: list[Template] = []
    on_exit: str | None = None
    hooks: dict[str, LifecycleHook] = {}
    #: [ours] ordered exit handlers with `when` conditions.
    exit_handlers: list[ExitHandler] = []
    active_deadline_seconds: int | None = None
    parallelism: int | None = None
    shutdown: str | None = None
    retry_strategy: RetryStrategy | None = None
    template_defaults: Template | None = None
    # --- parsed, not interpreted
    service_account_name: str | None = None
    automount_service_account_token: bool | None = None
    executor: dict[str, Any] | None = None
    ttl_strategy: dict[str, Any] | None = None
    pod_gc: dict[str, Any] | None = msgspec.field(default=None, name="podGC")
    volume_claim_templates: list[Any] | None = None
    volume_claim_gc: dict[str, Any] | None = msgspec.field(default=None, name="volumeClaimGC")
    volumes: list[Any] | None = None
    node_selector: dict[str, str] | None = None
    security_context: dict[str, Any] | None = None
    pod_metadata: Metadata | None = None
    workflow_metadata: dict[str, Any] | None = None
    pod_disruption_budget: dict[str, Any] | None = None
    pod_priority_class_name: str | None = None
    pod_priority: int | None = None
    pod_spec_patch: str | None = None
    priority: int | None = None
    scheduler_name: str | None = None
    archive_logs: bool | None = None
    artifact_repository_ref: dict[str, Any] | None = None
    artifact_gc: dict[str, Any] | None = msgspec.field(default=None, name="artifactGC")
    image_pull_secrets: list[Any] | None = None
    host_network: bool | None = None
    host_aliases: list[Any] | None = None
    dns_policy: str | None = None
    dns_config: dict[str, Any] | None = None
    tolerations: list[Any] | None = None
    affinity: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    synchronization: dict[str, Any] | None = None
    suspend: bool | None = None
    workflow_template_ref: dict[str, Any] | None = None


class Workflow(_Base, kw_only=True, frozen=True, dict=True):
    """An Argo `Workflow`.

    Besides its fields it remembers where it was loaded from: `source` (file name or
    "<string>") and `line_of(path)`, the 1-based YAML line of a JSON path such as
    `$.spec.templates[1].name` (None when unknown, e.g. for a workflow built in code).
    """

    api_version: str
    kind: str
    metadata: Metadata = msgspec.field(default_factory=Metadata)
    spec: WorkflowSpec
    #: A dumped workflow may carry its status; kept raw and ignored.
    status: Any = None

    # ---- template lookup

    @functools.cached_property
    def templates_by_name(self) -> Mapping[str, Template]:
        """Read-only index of `spec.templates` by name (the first of duplicate names wins)."""
        index: dict[str, Template] = {}
        for t in self.spec.templates:
            index.setdefault(t.name, t)
        return types.MappingProxyType(index)

    def template(self, name: str) -> Template:
        """The template called `name`; SpecError if there is none."""
        try:
            return self.templates_by_name[name]
        except KeyError:
            raise SpecError(
                f"unknown template {name!r}", path="$.spec.templates", source=self.source
            ) from None

    def find_template(self, name: str) -> Template | None:
        return self.templates_by_name.get(name)

    # ---- load origin (set by the loader; not fields, so not encoded or compared)

    @property
    def source(self) -> str | None:
        """File name (or "<string>") the workflow was loaded from; None if built in code."""
        src = self.__dict__.get("_source")
        return src if isinstance(src, str) else None

    def line_of(self, path: str) -> int | None:
        """1-based YAML line of `path` (or of its deepest existing prefix); None if unknown."""
        locate = self.__dict__.get("_locate")
        if locate is None:
            return None
        line = locate(path)
        return line if isinstance(line, int) else None

    def _set_origin(self, source: str | None, locate: Any) -> None:
        self.__dict__["_source"] = source
        self.__dict__["_locate"] = locate
