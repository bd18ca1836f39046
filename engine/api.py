"""The application layer: what the CLI (and library users) call.

Combines spec → store → controller; knows no SQL and prints nothing.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from . import __version__
from .errors import InputError, ReadOnlyStoreError, SpecError
from .events import RULES_VERSION, WorkflowSubmitted
from .expr import parse, validate_template
from .faults import crash_hook_from_env
from .limits import RunLimits
from .spec import (
    Workflow,
    effective_parameters,
    generate_name,
    load_text,
    unsupported_features,
    validate,
)
from .state.fold import fold
from .state.view import WorkflowView
from .store.files import writable
from .store.locate import AnyStore, is_url, log_exists
from .store.locate import open_store as _open_store

DEFAULT_DB = "exitflow.db"
EXECUTOR_ANNOTATION = "exitflow.io/executor"
EXECUTORS = ("local", "docker", "simulate")


def default_db() -> str:
    return os.environ.get("EXITFLOW_DB") or DEFAULT_DB


async def open_store(
    path: str, *, controller: bool = False, read_only: bool = False
) -> AnyStore:
    """Open the event store `path` names (a SQLite file, or a `postgresql://` URL); a
    controller honours EXITFLOW_CRASH_AT (fault injection)."""
    hooks = crash_hook_from_env() if controller else None
    return await _open_store(path, hooks=hooks, read_only=read_only)


def store_exists(path: str) -> bool:
    """Whether there may be an event log at `path` (a URL: always; ask the server)."""
    return log_exists(path)


async def open_reader(path: str) -> AnyStore:
    """Open the event store for a read command: read-only, so an archived copy, a read-only
    directory or another user's file can be audited; a SQLite log that first needs a migration
    is opened read-write (which migrates it) when it can be."""
    try:
        return await open_store(path, read_only=True)
    except ReadOnlyStoreError:
        if is_url(path) or not writable(path):
            raise
        return await open_store(path)


def check_expression(text: str, path: str) -> None:
    """Expression syntax check used by validation: `{{= }}` tags and plain expressions."""
    if "{{" in text:
        validate_template(text)
        return
    parse(text)


def read_workflow_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise SpecError(f"not UTF-8 text ({e.reason} at byte {e.start})", source=path) from None
    except OSError as e:
        raise InputError(f"{path}: {e.strerror}") from None


def prepare(
    text: str,
    *,
    source: str,
    parameters: Mapping[str, str] | None = None,
    executor: str = "local",
    limits: RunLimits | None = None,
) -> tuple[Workflow, WorkflowSubmitted]:
    """Parse and validate a workflow file; the first event of its run, with the run limits
    recorded (`limits`, else the environment's, else the defaults). Raises InputError."""
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:  # a file name with a byte that is not UTF-8 (recorded below)
        shown = repr(source.encode("utf-8", "surrogateescape"))[1:]
        raise InputError(f"{shown}: the file name is not valid UTF-8 (it is recorded with the"
                         " run; rename the file)") from None
    run_limits = limits if limits is not None else RunLimits.resolve()
    workflow = load_text(text, source=source)
    validate(workflow, parameters=dict(parameters or {}), check_expression=check_expression)
    params = effective_parameters(workflow, parameters)
    submitted = WorkflowSubmitted(
        ts=time.time(),
        uid=str(uuid.uuid4()),
        name=generate_name(workflow),
        spec_yaml=text,
        parameters=params,
        executor=executor,
        engine_version=__version__,
        source=source,
        rules=RULES_VERSION,
        limits=run_limits.record(),
    )
    return workflow, submitted


def submission(
    text: str,
    *,
    source: str,
    parameters: Mapping[str, str] | None = None,
    executor: str | None = None,
    faults: Mapping[str, str] | None = None,
    allow_unsupported: bool = False,
    limits: RunLimits | None = None,
) -> WorkflowSubmitted:
    """Validate and parameterise a workflow; its first event, with the executor chosen (the
    flag, else the workflow's `exitflow.io/executor` annotation) and injected faults (`--fail`)
    recorded. `exitflow submit`, `run` and the HTTP API's POST all go through here. A feature
    Exitflow cannot honour (a secret ref, a volume...) is refused with `lint`'s line unless the
    caller allows it explicitly. Run limits: `limits`, else the environment's (engine.limits).
    Raises InputError."""
    workflow, submitted = prepare(text, source=source, parameters=parameters, limits=limits)
    unsupported = unsupported_features(workflow)
    if unsupported and not allow_unsupported:
        raise InputError(f"{source}: parses, but Exitflow cannot run: {', '.join(unsupported)}"
                         " (--allow-unsupported runs it without them)")
    chosen = executor or workflow.metadata.annotations.get(EXECUTOR_ANNOTATION, "")
    if chosen and chosen not in EXECUTORS:
        raise InputError(
            f"{source}: annotation {EXECUTOR_ANNOTATION}={chosen!r} is not local, docker or"
            " simulate"
        )
    if chosen != submitted.executor or faults:
        import msgspec

        submitted = msgspec.structs.replace(submitted, executor=chosen, faults=dict(faults or {}))
    return submitted


async def submit(
    store: AnyStore,
    text: str,
    *,
    source: str,
    parameters: Mapping[str, str] | None = None,
    executor: str | None = None,
    allow_unsupported: bool = False,
    limits: RunLimits | None = None,
) -> WorkflowSubmitted:
    """Record a new run for a controller to pick up (the database is the queue); template
    references are resolved from `store`'s WorkflowTemplates first."""
    from .library import resolve_workflow_text

    text = await resolve_workflow_text(store, text, source=source)
    submitted = submission(text, source=source, parameters=parameters, executor=executor,
                           allow_unsupported=allow_unsupported, limits=limits)
    await store.create_workflow(submitted)
    return submitted


def parse_parameters(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            from .errors import ParameterError

            raise ParameterError(f"-p {pair!r}: expected name=value")
        out[name] = value
    return out


async def load_view(
    store: AnyStore, name_or_uid: str, *, upto_seq: int | None = None
) -> WorkflowView:
    record = await store.get_workflow(name_or_uid)
    records = await store.read(record.uid, upto_seq=upto_seq)
    return fold(r.event for r in records)
