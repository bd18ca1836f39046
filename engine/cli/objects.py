"""`template` and `cron`: the objects stored beside the runs (WorkflowTemplates,
ClusterWorkflowTemplates, CronWorkflows)."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import click
from rich.table import Table

from ..api import open_store, read_workflow_file
from ..errors import WorkflowNotFoundError
from ..library import CRON_KIND, create_templates
from ..spec.cron import read_cron
from ..spec.refs import CLUSTER_TEMPLATE_KIND, TEMPLATE_KIND, TEMPLATE_KINDS, read_template
from ..store import ObjectStore, SqliteStore
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
    return await open_store(path)


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
    terminal.line(record.yaml.rstrip("\n"))


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


COMMANDS: list[Any] = [template]
