"""`template` and `cron`: the objects stored beside the runs (WorkflowTemplates,
ClusterWorkflowTemplates, CronWorkflows)."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import click
from rich.table import Table

from ..api import open_store, read_workflow_file
from ..errors import InputError, WorkflowNotFoundError
from ..library import CRON_KIND, create_cron, create_templates
from ..scheduler import RUN, tick_source
from ..spec.cron import read_cron
from ..spec.refs import CLUSTER_TEMPLATE_KIND, TEMPLATE_KIND, TEMPLATE_KINDS, read_template
from ..store import CronRecord, ObjectStore, SqliteStore, TickRecord
from ..store.locate import describe
from ._app import db_option, resolve_db, run_async, terminal


def lint_object(kind: str, text: str, source: str) -> bool:
    """`exitflow lint` of a stored-object file: True when handled (it printed "ok")."""
    from ..api import check_expression

    if kind in TEMPLATE_KINDS:
        read_template(text, source=source, check_expression=check_expression)
    elif kind == CRON_KIND:
        read_cron(text, source=source)
    else:
        return False
    terminal.line(f"{source}: ok ({kind})")
    return True


async def _store(db: str | None, *, create: bool = False) -> SqliteStore:
    path = resolve_db(db)
    if not create and not os.path.exists(path):
        raise WorkflowNotFoundError(f"{path}: no event log there (use --db or $EXITFLOW_DB)")
    store = await open_store(path)
    if not isinstance(store, SqliteStore):
        await store.aclose()
        raise InputError(f"{describe(path)}: WorkflowTemplates and CronWorkflows are stored in"
                         " SQLite databases only, for now")
    return store


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _template_kind(cluster: bool) -> str:
    return CLUSTER_TEMPLATE_KIND if cluster else TEMPLATE_KIND


_cluster_option = click.option(
    "--cluster", is_flag=True, help="A ClusterWorkflowTemplate (else a WorkflowTemplate)."
)


# ------------------------------------------------------------------------------- templates


@click.group("template")
def template() -> None:
    """Store WorkflowTemplates and ClusterWorkflowTemplates for `templateRef` and
    `workflowTemplateRef` (resolved when a workflow is submitted)."""


@template.command("create")
@click.argument("file", type=click.Path(dir_okay=False))
@db_option
@click.option("--replace", is_flag=True, help="Replace a stored template of the same name.")
@run_async
async def template_create(file: str, db: str | None, replace: bool) -> None:
    """Check and store the templates in FILE (runs already submitted keep their copy)."""
    text = read_workflow_file(file)
    store = await _store(db, create=True)
    try:
        created = await create_templates(store, text, source=file, replace=replace)
    finally:
        await store.aclose()
    for kind, name, replaced in created:
        terminal.line(f"{kind.lower()}/{name} {'replaced' if replaced else 'created'}")


@template.command("list")
@db_option
@click.option("-o", "--output", type=click.Choice(["json", "name"]), default=None)
@run_async
async def template_list(db: str | None, output: str | None) -> None:
    """List the stored templates."""
    store = await _store(db)
    objects = ObjectStore(store.path)
    try:
        records = await objects.list_templates()
    finally:
        await objects.aclose()
        await store.aclose()
    if output == "json":
        terminal.json(
            [
                {
                    "kind": r.kind,
                    "name": r.name,
                    "created": _when(r.created),
                    "updated": _when(r.updated),
                }
                for r in records
            ]
        )
        return
    if output == "name":
        for r in records:
            terminal.line(r.name)
        return
    table = Table("KIND", "NAME", "UPDATED", box=None)
    for r in records:
        table.add_row(r.kind, r.name, _when(r.updated))
    terminal.table(table)


@template.command("get")
@click.argument("name")
@_cluster_option
@db_option
@run_async
async def template_get(name: str, cluster: bool, db: str | None) -> None:
    """Print a stored template as it was created."""
    store = await _store(db)
    objects = ObjectStore(store.path)
    try:
        record = await objects.get_template(_template_kind(cluster), name)
    finally:
        await objects.aclose()
        await store.aclose()
    terminal.document(record.yaml.rstrip("\n"))


@template.command("delete")
@click.argument("name")
@_cluster_option
@db_option
@run_async
async def template_delete(name: str, cluster: bool, db: str | None) -> None:
    """Delete a stored template (runs already submitted keep their resolved copy)."""
    store = await _store(db)
    objects = ObjectStore(store.path)
    try:
        await objects.delete_template(_template_kind(cluster), name)
    finally:
        await objects.aclose()
        await store.aclose()
    terminal.line(f"{_template_kind(cluster).lower()}/{name} deleted")


# ----------------------------------------------------------------------------------- crons


@click.group("cron")
def cron() -> None:
    """CronWorkflows: the daemon (`exitflow daemon`) starts their workflows on schedule."""


@cron.command("create")
@click.argument("file", type=click.Path(dir_okay=False))
@db_option
@click.option("--replace", is_flag=True, help="Replace a stored CronWorkflow of the same name.")
@run_async
async def cron_create(file: str, db: str | None, replace: bool) -> None:
    """Check and store the CronWorkflow in FILE; a daemon runs it from now on."""
    text = read_workflow_file(file)
    store = await _store(db, create=True)
    try:
        spec, replaced = await create_cron(store, text, source=file, replace=replace)
    finally:
        await store.aclose()
    terminal.line(f"cronworkflow/{spec.name} {'replaced' if replaced else 'created'}")


def _cron_status(record: CronRecord, ticks: list[TickRecord], now: float) -> dict[str, Any]:
    spec = read_cron(record.yaml, source=tick_source(record.name))
    ran = [t for t in ticks if t.outcome == RUN]
    since = max(ticks[-1].scheduled, record.updated) if ticks else record.updated
    return {
        "name": record.name,
        "schedules": [s.text for s in spec.schedules],
        "concurrencyPolicy": spec.concurrency_policy,
        "startingDeadlineSeconds": spec.starting_deadline,
        "suspended": record.suspended,
        "lastScheduledTime": _when(ran[-1].scheduled) if ran else None,
        "nextScheduledTime": None if record.suspended else _when(spec.next_after(max(since, now))),
        "ticks": [
            {
                "scheduled": _when(t.scheduled),
                "outcome": t.outcome,
                "workflow": t.workflow or None,
                "uid": t.uid if t.outcome == RUN else None,
                "phase": t.phase or None,
                "pruned": t.pruned,
            }
            for t in ticks
        ],
    }


@cron.command("list")
@db_option
@click.option("-o", "--output", type=click.Choice(["json", "name"]), default=None)
@run_async
async def cron_list(db: str | None, output: str | None) -> None:
    """List the stored CronWorkflows."""
    store = await _store(db)
    objects = ObjectStore(store.path)
    try:
        records = await objects.list_crons()
        status = [_cron_status(r, await objects.ticks(r.name), time.time()) for r in records]
    finally:
        await objects.aclose()
        await store.aclose()
    if output == "json":
        terminal.json([{k: v for k, v in s.items() if k != "ticks"} for s in status])
        return
    if output == "name":
        for s in status:
            terminal.line(s["name"])
        return
    table = Table("NAME", "SCHEDULE", "SUSPENDED", "LAST", "NEXT", box=None)
    for s in status:
        table.add_row(
            s["name"],
            ", ".join(s["schedules"]),
            "yes" if s["suspended"] else "no",
            s["lastScheduledTime"] or "-",
            s["nextScheduledTime"] or "-",
        )
    terminal.table(table)


@cron.command("get")
@click.argument("name")
@db_option
@click.option(
    "-o",
    "--output",
    type=click.Choice(["json", "yaml"]),
    default=None,
    help="json: status and every tick; yaml: the CronWorkflow as stored.",
)
@run_async
async def cron_get(name: str, db: str | None, output: str | None) -> None:
    """Show a CronWorkflow: its schedule, last and next time, and its ticks."""
    store = await _store(db)
    objects = ObjectStore(store.path)
    try:
        record = await objects.get_cron(name)
        ticks = await objects.ticks(name)
    finally:
        await objects.aclose()
        await store.aclose()
    if output == "yaml":
        terminal.document(record.yaml.rstrip("\n"))
        return
    status = _cron_status(record, ticks, time.time())
    if output == "json":
        terminal.json(status)
        return
    for key in (
        "name",
        "schedules",
        "concurrencyPolicy",
        "suspended",
        "lastScheduledTime",
        "nextScheduledTime",
    ):
        value = status[key]
        terminal.line(f"{key}: {', '.join(value) if isinstance(value, list) else value}")
    table = Table("SCHEDULED", "OUTCOME", "WORKFLOW", "PHASE", box=None)
    for t in status["ticks"]:
        table.add_row(t["scheduled"], t["outcome"], t["workflow"] or "-", t["phase"] or "-")
    terminal.table(table)


@cron.command("delete")
@click.argument("name")
@db_option
@run_async
async def cron_delete(name: str, db: str | None) -> None:
    """Delete a CronWorkflow and its tick records (its runs stay in the log)."""
    await _cron_change(db, name, lambda o: o.delete_cron(name))
    terminal.line(f"cronworkflow/{name} deleted")


@cron.command("suspend")
@click.argument("name")
@db_option
@run_async
async def cron_suspend(name: str, db: str | None) -> None:
    """Start no more workflows for NAME until `exitflow cron resume`."""
    await _cron_change(db, name, lambda o: o.set_cron_suspended(name, True))
    terminal.line(f"cronworkflow/{name} suspended")


@cron.command("resume")
@click.argument("name")
@db_option
@run_async
async def cron_resume(name: str, db: str | None) -> None:
    """Schedule NAME again (a tick missed while suspended runs if within its deadline)."""
    await _cron_change(db, name, lambda o: o.set_cron_suspended(name, False))
    terminal.line(f"cronworkflow/{name} resumed")


async def _cron_change(
    db: str | None, name: str, change: Callable[[ObjectStore], Awaitable[None]]
) -> None:
    store = await _store(db)
    objects = ObjectStore(store.path)
    try:
        await change(objects)
    finally:
        await objects.aclose()
        await store.aclose()


COMMANDS: list[Any] = [template, cron]
