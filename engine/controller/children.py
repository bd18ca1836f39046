"""Child workflows: a `resource` template with `action: create` of a `Workflow` manifest.

The node's work is to submit the manifest as a new run in the same log. The child's name and
uid derive from the node's idempotency key (`child_identity`), so a node re-run after a crash —
whether the child was created before the crash or not — ends with exactly one child: creating
it again finds it and succeeds. The child records its parent (`WorkflowSubmitted.parent_*`);
the parent node's message and `outputs.result` name the child.
"""

from __future__ import annotations

import hashlib
import uuid

import msgspec

from ..errors import ConflictError, ExitflowError, WorkflowNotFoundError
from ..events import ERROR, SUCCEEDED, WorkflowSubmitted
from ..executors.base import ChildWorkflow, Job, JobResult
from ..spec import ResourceTemplate, load_text
from ..spec.util import NAME_ALPHABET
from ..store.base import EventStore

__all__ = ["child_identity", "child_workflow", "children_of", "create_child"]

_NAMESPACE = uuid.UUID("6f1d2c1e-8a53-4a55-9d0e-3c1f0e1b7a11")


def child_identity(key: str, prefix: str) -> tuple[str, str]:
    """(name, uid) of the child created by the node with idempotency key `key`."""
    digest = hashlib.sha256(key.encode()).digest()
    suffix = "".join(NAME_ALPHABET[b % len(NAME_ALPHABET)] for b in digest[:5])
    return prefix + suffix, str(uuid.uuid5(_NAMESPACE, key))


def child_workflow(resource: ResourceTemplate, manifest: str, key: str) -> ChildWorkflow:
    """The child of a node: its rendered manifest and its derived name and uid."""
    prefix = "child-"
    try:
        meta = load_text(manifest).metadata
        prefix = meta.generate_name or (f"{meta.name}-" if meta.name else prefix)
    except ExitflowError:
        pass  # reported when the child is submitted
    name, uid = child_identity(key, prefix)
    return ChildWorkflow(manifest=manifest, name=name, uid=uid)


async def create_child(store: EventStore, job: Job, *, parent_name: str,
                       executor: str) -> JobResult:
    """Submit `job.child` into `store` unless it is there already (idempotent)."""
    from ..api import prepare

    child = job.child
    assert child is not None
    done = JobResult(phase=SUCCEEDED, message=f"created workflow {child.name}",
                     stdout=child.name.encode())
    try:
        await store.get_workflow(child.uid)
        return done
    except WorkflowNotFoundError:
        pass
    try:
        _, submitted = prepare(child.manifest, source=f"{parent_name}/{job.node_name}",
                               executor=executor)
    except ExitflowError as e:
        return JobResult(phase=ERROR, message=f"child workflow: {e}")
    submitted = msgspec.structs.replace(
        submitted, uid=child.uid, name=child.name, parent_uid=job.workflow_uid,
        parent_name=parent_name, parent_node=job.node_id,
    )
    try:
        await store.create_workflow(submitted)
    except ConflictError:
        try:
            await store.get_workflow(child.uid)
        except WorkflowNotFoundError:
            return JobResult(phase=ERROR, message=f"a workflow named {child.name} exists")
    return done


async def children_of(store: EventStore, uid: str) -> list[str]:
    """Uids of the workflows created by run `uid`'s resource nodes, in creation order."""
    out: list[str] = []
    for record in await store.list_workflows():
        if record.uid == uid:
            continue
        first = await store.read(record.uid, upto_seq=1)
        event = first[0].event if first else None
        if isinstance(event, WorkflowSubmitted) and event.parent_uid == uid:
            out.append(record.uid)
    return out
