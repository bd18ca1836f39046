"""`get`, `list`, `logs`, `lint`, `stop`, `terminate`, `suspend`, `resume`: look at runs and
steer them."""

from __future__ import annotations

import functools
import sys

import click
from rich.table import Table

from ..api import (
    check_expression,
    load_view,
    open_reader,
    open_store,
    read_workflow_file,
    store_exists,
)
from ..errors import ControllerBusyError, InputError, WorkflowNotFoundError
from ..events import RESUME, RUNNING, STOP, SUSPEND, SUSPEND_RUN, TERMINATE
from ..spec import load_text, unsupported_features, validate
from ..state.report import workflow_json
from ..store.locate import AnyStore
from ._app import PHASE_EXIT, db_option, parse_limit_options, resolve_db, run_async, terminal
from .terminal import plain


async def _open_existing(db: str | None, *, controller: bool = False) -> AnyStore:
    path = resolve_db(db)
    if not store_exists(path):
        raise WorkflowNotFoundError(f"{path}: no event log there (use --db or $EXITFLOW_DB)")
    return await open_store(path, controller=True) if controller else await open_reader(path)


@click.command()
@click.argument("name")
@db_option
@click.option("-o", "--output", type=click.Choice(["json"]), default=None)
@click.pass_context
@run_async
async def get(ctx: click.Context, name: str, db: str | None, output: str | None) -> None:
    """Show a workflow (by name or uid) as a tree, or as `argo get -o json`."""
    store = await _open_existing(db)
    try:
        view = await load_view(store, name)
    finally:
        await store.aclose()
    if output == "json":
        terminal.json(workflow_json(view))
    else:
        terminal.workflow(view)


@click.command("list")
@db_option
@click.option("--running", is_flag=True, help="Only unfinished workflows.")
@click.option("-o", "--output", type=click.Choice(["json", "name"]), default=None)
@run_async
async def list_(db: str | None, running: bool, output: str | None) -> None:
    """List the workflows in the log."""
    store = await _open_existing(db)
    try:
        records = await store.list_workflows(unfinished_only=running)
    finally:
        await store.aclose()
    if output == "json":
        terminal.json(
            [
                {
                    "name": r.name,
                    "uid": r.uid,
                    "phase": r.phase,
                    "createdAt": r.created_at,
                    "events": r.last_seq,
                }
                for r in records
            ]
        )
        return
    if output == "name":
        for r in records:
            terminal.line(r.name)
        return
    from datetime import UTC, datetime

    table = Table("NAME", "PHASE", "CREATED", "EVENTS", "UID", box=None, header_style="bold")
    for r in records:
        created = datetime.fromtimestamp(r.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(plain(r.name), r.phase, created, str(r.last_seq), plain(r.uid))
    terminal.table(table)


@click.command()
@click.argument("name")
@click.argument("node", required=False)
@db_option
@click.option("--stderr/--no-stderr", default=True, help="Include stderr.")
@run_async
async def logs(name: str, node: str | None, db: str | None, stderr: bool) -> None:
    """Print the stored stdout/stderr of a workflow's steps (optionally one NODE: id, name or
    display name)."""
    store = await _open_existing(db)
    try:
        view = await load_view(store, name)
        node_id = None
        if node is not None:
            matches = [n for n in view.nodes.values() if node in (n.id, n.name, n.display_name)]
            if not matches:
                raise WorkflowNotFoundError(f"workflow {view.name} has no node {node!r}")
            node_id = matches[0].id
        records = await store.read_logs(view.uid, node_id)
    finally:
        await store.aclose()
    for rec in records:
        if rec.stream == "stderr" and not stderr:
            continue
        if not rec.data:
            continue
        n = view.nodes.get(rec.node_id)
        label = n.display_name if n is not None else rec.node_id
        for line in rec.data.decode("utf-8", "replace").splitlines():
            suffix = " (stderr)" if rec.stream == "stderr" else ""
            sys.stdout.write(f"{label}{suffix}: {line}\n")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@db_option
@parse_limit_options
@click.pass_context
def lint(ctx: click.Context, file: str, db: str | None) -> None:
    """Check a workflow file without running it (exit 2 with the first problem).

    Also a WorkflowTemplate, ClusterWorkflowTemplate or CronWorkflow file. A workflow's template
    references are resolved against the templates stored in --db (when it exists)."""
    import anyio

    from ..library import object_kind, resolve_in_db
    from .objects import lint_object

    text = read_workflow_file(file)
    kind = object_kind(text, source=file)
    if lint_object(kind, text, file):
        return
    text = anyio.run(functools.partial(resolve_in_db, resolve_db(db), text, source=file))
    workflow = load_text(text, source=file)
    validate(workflow, check_expression=check_expression)
    unsupported = unsupported_features(workflow)
    if unsupported:
        terminal.note(f"{file}: parses, but Exitflow cannot run: {', '.join(unsupported)}")
        ctx.exit(2)
    terminal.line(f"{file}: ok")


_VERBS = {STOP: "stop", TERMINATE: "terminate", RESUME: "resume", SUSPEND_RUN: "suspend"}


async def _command(name: str, db: str | None, command: str) -> str:
    store = await _open_existing(db, controller=True)
    try:
        record = await store.get_workflow(name)
        if record.finished:
            if command in (RESUME, SUSPEND_RUN):
                verb = "resume" if command == RESUME else "suspend"
                raise InputError(f"{record.name}: nothing to {verb} (finished, {record.phase})")
            return f"{record.name} already finished ({record.phase})"
        if command in (RESUME, SUSPEND_RUN):
            view = await load_view(store, record.uid)
            held = view.held
            if held is None:
                held = bool(load_text(view.spec_yaml, source=view.source or view.name).spec.suspend)
            if command == SUSPEND_RUN and held:
                return f"{record.name} is already suspended"
            suspended = any(n.type == SUSPEND and n.phase == RUNNING for n in view.nodes.values())
            if command == RESUME and not held and not suspended:
                raise InputError(f"{record.name}: nothing to resume (no node is suspended)")
        try:
            await store.acquire_controller(wait=False)
        except ControllerBusyError:
            await store.add_command(record.uid, command)
            return f"{record.name}: {_VERBS[command]} requested from the running controller"
        from ..controller.controller import Controller
        from ..controller.pool import ExecutorPool

        pool = ExecutorPool()
        await Controller(store, pool).deliver(record.uid, command)
        await pool.aclose()
        return (
            f"{record.name}: {_VERBS[command]} recorded; "
            "`exitflow recover` or a daemon finishes it"
        )
    finally:
        await store.aclose()


@click.command()
@click.argument("name")
@db_option
@run_async
async def stop(name: str, db: str | None) -> None:
    """Fail running work, start no new work; exit handlers still run."""
    terminal.line(await _command(name, db, STOP))


@click.command()
@click.argument("name")
@db_option
@run_async
async def terminate(name: str, db: str | None) -> None:
    """Kill all work immediately; no exit handlers run (recorded in the log)."""
    terminal.line(await _command(name, db, TERMINATE))


@click.command()
@click.argument("name")
@db_option
@run_async
async def resume(name: str, db: str | None) -> None:
    """Resume a suspended run and every suspended node (`suspend` templates); exit 2 if
    nothing is suspended."""
    terminal.line(await _command(name, db, RESUME))


@click.command()
@click.argument("name")
@db_option
@run_async
async def suspend(name: str, db: str | None) -> None:
    """Suspend a whole run (Argo's `argo suspend`): nothing new starts until `exitflow resume`."""
    terminal.line(await _command(name, db, SUSPEND_RUN))


_ = PHASE_EXIT
