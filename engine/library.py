"""The application layer for WorkflowTemplates: store them, and resolve the references of a
workflow against them (what `exitflow template ...`, `submit`, `run`, `lint` and the cron
scheduler call). Knows no SQL (engine/store/sqlite_objects.py) and prints nothing."""

from __future__ import annotations

from .errors import InputError, SpecError
from .spec.cron import CRON_KIND, CronSpec, read_cron
from .spec.loader import read_object
from .spec.refs import TEMPLATE_KINDS, Library, dump_yaml, has_refs, read_templates, resolve_text
from .store import ObjectStore, SqliteStore, TemplateRecord
from .store.locate import AnyStore

__all__ = [
    "CRON_KIND",
    "create_cron",
    "create_templates",
    "library_of",
    "object_kind",
    "resolve_in_db",
    "resolve_workflow_text",
]


async def create_templates(
    store: SqliteStore, text: str, *, source: str, replace: bool = False
) -> list[tuple[str, str, bool]]:
    """Check and store every WorkflowTemplate or ClusterWorkflowTemplate in `text` (all are
    checked before any is stored): [(kind, name, replaced)]."""
    from .api import check_expression

    found = read_templates(text, source=source, check_expression=check_expression)
    out: list[tuple[str, str, bool]] = []
    objects = ObjectStore(store.path)
    try:
        for kind, name, data in found:
            stored = text if len(found) == 1 else dump_yaml(data)
            replaced = await objects.put_template(kind, name, stored, replace=replace)
            out.append((kind, name, replaced))
    finally:
        await objects.aclose()
    return out


async def create_cron(
    store: SqliteStore, text: str, *, source: str, replace: bool = False
) -> tuple[CronSpec, bool]:
    """Check a CronWorkflow (its workflowSpec too, template references resolved now) and store
    it: (spec, replaced). Its schedule counts from now."""
    from .api import prepare

    spec = read_cron(text, source=source)
    workflow = await resolve_workflow_text(
        store, dump_yaml(spec.workflow_data(0.0)), source=f"{source} (spec.workflowSpec)"
    )
    prepare(workflow, source=f"{source} (spec.workflowSpec)")
    objects = ObjectStore(store.path)
    try:
        replaced = await objects.put_cron(spec.name, text, suspended=spec.suspend, replace=replace)
    finally:
        await objects.aclose()
    return spec, replaced


def library_from(records: list[TemplateRecord]) -> Library:
    return {
        (r.kind, r.name): read_object(r.yaml, source=f"{r.kind} {r.name}", kinds=TEMPLATE_KINDS)[0]
        for r in records
    }


async def library_of(store: SqliteStore) -> Library:
    """Every stored template, parsed."""
    objects = ObjectStore(store.path)
    try:
        return library_from(await objects.list_templates())
    finally:
        await objects.aclose()


async def resolve_in_db(path: str, text: str, *, source: str) -> str:
    """`resolve_workflow_text` against the database at `path`, if there is one (for `lint`)."""
    import os

    from .api import open_store

    if not has_refs(text) or not os.path.exists(path):
        return await resolve_workflow_text(None, text, source=source)
    store = await open_store(path)
    try:
        return await resolve_workflow_text(store, text, source=source)
    finally:
        await store.aclose()


def object_kind(text: str, *, source: str) -> str:
    """The kind of the (first Exitflow-readable) object in `text`."""
    from .spec.model import KIND

    kinds = (KIND, *TEMPLATE_KINDS, CRON_KIND)
    try:
        data, _ = read_object(text, source=source, kinds=kinds)
    except SpecError:
        return KIND  # let the Workflow loader report it
    return str(data["kind"])


async def resolve_workflow_text(store: AnyStore | None, text: str, *, source: str) -> str:
    """`text` with its template references resolved from `store`'s templates (none without a
    store: then any reference is unknown, a SpecError)."""
    if not has_refs(text):
        return text
    if store is not None and not isinstance(store, SqliteStore):
        raise InputError(f"{source}: templateRef and workflowTemplateRef need a SQLite database"
                         " (WorkflowTemplates are not stored on PostgreSQL yet)")
    library = await library_of(store) if store is not None else {}
    return resolve_text(text, source=source, library=library)
