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
from .errors import InputError, SpecError
from .events import RULES_VERSION, WorkflowSubmitted
from .expr import parse, validate_template
from .spec import Workflow, effective_parameters, generate_name, load_text, validate
from .state.fold import fold
from .state.view import WorkflowView
from .store import SqliteStore, crash_point_from_env

DEFAULT_DB = "exitflow.db"
EXECUTOR_ANNOTATION = "exitflow.io/executor"
EXECUTORS = ("local", "docker", "simulate")


def default_db() -> str:
    return os.environ.get("EXITFLOW_DB") or DEFAULT_DB


async def open_store(
    path: str, *, controller: bool = False, read_only: bool = False
) -> SqliteStore:
    """Open the event store; a controller honours EXITFLOW_CRASH_AT (fault injection)."""
    crash_at = crash_point_from_env() if controller else None
    return await SqliteStore.open(path, crash_at=crash_at, read_only=read_only)


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
) -> tuple[Workflow, WorkflowSubmitted]:
    """Parse and validate a workflow file; the first event of its run. Raises InputError."""
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
    )
    return workflow, submitted


def submission(
    text: str,
    *,
    source: str,
    parameters: Mapping[str, str] | None = None,
    executor: str | None = None,
    faults: Mapping[str, str] | None = None,
) -> WorkflowSubmitted:
    """Validate and parameterise a workflow; its first event, with the executor chosen (the
    flag, else the workflow's `exitflow.io/executor` annotation) and injected faults (`--fail`)
    recorded. `exitflow submit`, `run` and the HTTP API's POST all go through here. Raises
    InputError."""
    workflow, submitted = prepare(text, source=source, parameters=parameters)
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
    store: SqliteStore,
    text: str,
    *,
    source: str,
    parameters: Mapping[str, str] | None = None,
    executor: str | None = None,
) -> WorkflowSubmitted:
    """Record a new run for a controller to pick up (the database is the queue)."""
    submitted = submission(text, source=source, parameters=parameters, executor=executor)
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
    store: SqliteStore, name_or_uid: str, *, upto_seq: int | None = None
) -> WorkflowView:
    record = await store.get_workflow(name_or_uid)
    records = await store.read(record.uid, upto_seq=upto_seq)
    return fold(r.event for r in records)
