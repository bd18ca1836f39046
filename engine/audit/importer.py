"""`import`: accept a bundle's runs into a database only after they verify."""

from __future__ import annotations

from ..errors import DivergenceError, TamperedLogError
from ..store.base import ChainHead
from ..store.locate import AnyStore
from .bundle import read_bundle
from .verify import verify


async def import_bundle(path: str, store: AnyStore, *,
                        rederive_runs: bool = True) -> list[ChainHead]:
    """Read, verify (chains, logs, fold, re-derivation, bundle digest), then insert every run.

    BundleError for a file that is not a readable bundle; TamperedLogError / DivergenceError
    (naming the first problem) if it does not verify; ConflictError if a run exists."""
    bundle = read_bundle(path)
    report = await verify(bundle, rederive_runs=rederive_runs)
    if not report.ok:
        first = report.findings[0]
        error = DivergenceError if first.check == "rederive" else TamperedLogError
        raise error(f"{path} does not verify, not imported: {first.line()}")
    heads = await bundle.heads()
    for head in heads:
        uid = head.record.uid
        await store.import_workflow(head.record, head.head_hash, await bundle.events(uid),
                                    await bundle.logs(uid))
    return heads
