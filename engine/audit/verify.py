"""`verify`: the hash chains, the recorded heads, the logs, and a re-derivation of every run.

Per run (database or bundle):
1. chain  - seq 1..N contiguous; hash_i == sha256(hash_{i-1} || canonical bytes_i) from the
            genesis hash; the last hash and seq equal the head recorded for the run.
2. logs   - every NodeLogged digest and size equals the stored stdout/stderr; no stored log
            chunk lacks a NodeLogged.
3. fold   - every event is a legal transition of the state machines.
4. rederive - the current Operator, fed the log's inputs, decides every other event
            (see `rederive.py`); and the workflow index's phase equals the folded phase.
Database-wide (no NAME given): the global chain (ghash_i = sha256(ghash_{i-1} || hash_i) in
gseq order, from the newest prune checkpoint's seal) and its recorded head; the checkpoints'
own chain; and that the runs sealed by the newest checkpoint are exactly the runs with events
at or before its position. Bundle-wide: its record counts and its sha256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import ReplayError
from ..events import AnyEvent, NodeFinished, NodeLogged, WorkflowSubmitted, decode
from ..state.fold import apply
from ..state.view import WorkflowView
from ..store.base import GENESIS_HASH, ChainHead, Checkpoint, LogRecord
from .chain import check_chain, link
from .rederive import rederive
from .source import DatabaseSource, Source


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    message: str
    workflow: str = ""
    seq: int | None = None
    gseq: int | None = None

    def line(self) -> str:
        where = f"workflow {self.workflow}: " if self.workflow else ""
        return f"[{self.check}] {where}{self.message}"


@dataclass(slots=True)
class RunReport:
    name: str
    uid: str
    events: int
    decisions: int = 0
    inputs: int = 0
    checks: list[str] = field(default_factory=list)
    ok: bool = True
    #: Display names of nodes whose outcome was injected (`exitflow run --fail`), not run.
    injected: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Report:
    source: str
    kind: str
    runs: list[RunReport] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    #: Database-wide checks that ran ("global chain", "checkpoints", "bundle").
    checked: list[str] = field(default_factory=list)
    #: The database's global chain head as (gseq, hash) once it verified (keep it elsewhere).
    global_head: tuple[int, str] | None = None

    @property
    def ok(self) -> bool:
        return not self.findings


async def verify(source: Source, name: str | None = None, *,
                 rederive_runs: bool = True) -> Report:
    from .source import find

    report = Report(source=source.path, kind=source.kind)
    heads = [await find(source, name)] if name is not None else await source.heads()
    for head in heads:
        report.runs.append(await _verify_run(source, head, report.findings, rederive_runs))
    if name is None and isinstance(source, DatabaseSource):
        await _verify_global(source, report)
    if source.kind == "bundle":
        _verify_bundle(source, report)
    return report


def injected_nodes(view: WorkflowView, events: Sequence[AnyEvent]) -> list[str]:
    """Display names of the nodes a run's log records as injected (`--fail`)."""
    return [view.nodes[e.node_id].display_name for e in events
            if isinstance(e, NodeFinished) and e.injected and e.node_id in view.nodes]


async def _verify_run(source: Source, head: ChainHead, findings: list[Finding],
                      rederive_runs: bool) -> RunReport:
    name = head.record.name
    raw = await source.events(head.record.uid)
    run = RunReport(name=name, uid=head.record.uid, events=len(raw))

    def bad(check: str, seq: int | None, message: str) -> RunReport:
        findings.append(Finding(check, message, workflow=name, seq=seq))
        run.ok = False
        return run

    problem = check_chain(raw, head)
    if problem is not None:
        return bad("chain", *problem)
    run.checks.append("chain")
    events: list[AnyEvent] = []
    for r in raw:
        try:
            events.append(decode(r.payload))
        except Exception as e:  # chained bytes that no longer decode: an engine problem
            return bad("decode", r.seq, f"seq {r.seq} does not decode with this engine: {e}")
    logs = await source.logs(head.record.uid)
    problem = check_logs(events, logs)
    if problem is not None:
        return bad("logs", *problem)
    run.checks.append("logs")
    view = WorkflowView()
    for seq, event in enumerate(events, start=1):
        try:
            apply(view, event)
        except ReplayError as e:
            return bad("fold", seq, f"seq {seq} is not a legal transition: {e}")
    run.checks.append("fold")
    run.injected = injected_nodes(view, events)
    if view.phase != head.record.phase or view.finished != head.record.finished:
        return bad("projection", None,
                   f"the workflow index records phase {head.record.phase}"
                   f" (finished={head.record.finished}), the events fold to {view.phase}"
                   f" (finished={view.finished})")
    if rederive_runs:
        result = rederive(events, logs)
        run.decisions, run.inputs = result.decisions, result.inputs
        if result.divergence is not None:
            return bad("rederive", result.divergence.seq,
                       f"seq {result.divergence.seq}: {result.divergence.message}")
        run.checks.append("rederive")
    return run


def check_logs(events: Sequence[AnyEvent], logs: Sequence[LogRecord]) -> tuple[int, str] | None:
    streams: dict[tuple[str, int, str], bytes] = {}
    for rec in logs:
        key = (rec.node_id, rec.attempt, rec.stream)
        streams[key] = streams.get(key, b"") + rec.data
    announced: set[tuple[str, int]] = set()
    for seq, event in enumerate(events, start=1):
        if not isinstance(event, NodeLogged):
            continue
        announced.add((event.node_id, event.attempt))
        for stream, digest, size in (("stdout", event.stdout_sha256, event.stdout_bytes),
                                     ("stderr", event.stderr_sha256, event.stderr_bytes)):
            data = streams.get((event.node_id, event.attempt, stream), b"")
            if hashlib.sha256(data).hexdigest() != digest or len(data) != size:
                return seq, (f"the stored {stream} of node {event.node_id} attempt"
                             f" {event.attempt} does not match seq {seq} (NodeLogged)")
    for node_id, attempt, stream in streams:
        if (node_id, attempt) not in announced:
            return 0, (f"stored {stream} of node {node_id} attempt {attempt} is not announced"
                       " by any NodeLogged event (inserted)")
    return None


async def _verify_global(source: DatabaseSource, report: Report) -> None:
    store = source.store
    findings = report.findings
    checkpoints = await store.checkpoints()
    prev = GENESIS_HASH
    for cp in checkpoints:
        if cp.prev_hash != prev or link(cp.prev_hash, cp.body.encode()) != cp.hash:
            findings.append(Finding("checkpoint", f"checkpoint #{cp.id} was modified, removed or"
                                    " reordered (its hash chain breaks)"))
            return
        prev = cp.hash
    report.checked.append(f"checkpoints ({len(checkpoints)})")
    anchor_gseq, anchor = 0, GENESIS_HASH
    sealed: dict[str, tuple[int, str]] = {}
    if checkpoints:
        data = checkpoints[-1].data()
        anchor_gseq, anchor = int(data["gseq"]), str(data["ghash"])
        sealed = {str(u): (int(s), str(h)) for u, s, h in data["heads"]}
    names = {h.record.uid: h.record.name for h in await store.workflow_heads()}
    before: dict[str, tuple[int, str]] = {}
    prev, last, after = anchor, anchor_gseq, 0
    broken = False
    while True:
        links = await store.read_links(after_gseq=after)
        if not links:
            break
        for lk in links:
            after = lk.gseq
            if lk.gseq <= anchor_gseq:
                if lk.uid is not None:
                    before[lk.uid] = (lk.seq, lk.hash)
                continue
            if broken:
                continue
            expected = link(prev, bytes.fromhex(lk.hash)) if _is_hex(lk.hash) else None
            if lk.uid is None or expected is None or lk.ghash != expected:
                who = f"workflow {names.get(lk.uid or '', lk.uid)} seq {lk.seq}" if lk.uid \
                    else f"seq {lk.seq} of a workflow whose row is gone"
                findings.append(Finding(
                    "global", f"the global chain breaks at gseq {lk.gseq} ({who}, {lk.type}):"
                    " an event before it was removed or inserted, or this one was",
                    workflow=names.get(lk.uid or "", ""), seq=lk.seq, gseq=lk.gseq))
                broken = True
                continue
            prev, last = expected, lk.gseq
    if broken:
        return
    head_gseq, head = await store.global_head()
    if head != prev:
        what = (f"events after gseq {last} removed (log truncated): the recorded global head is"
                f" gseq {head_gseq}") if head_gseq > last else \
            f"the global chain does not end at its recorded head (gseq {head_gseq})"
        findings.append(Finding("global", what, gseq=last + 1))
        return
    report.checked.append("global chain")
    report.global_head = (head_gseq, head)
    if checkpoints:
        _check_sealed(checkpoints[-1], sealed, before, names, findings)
        report.checked.append("checkpoint seal")


def _check_sealed(cp: Checkpoint, sealed: dict[str, tuple[int, str]],
                  before: dict[str, tuple[int, str]], names: dict[str, str],
                  findings: list[Finding]) -> None:
    for uid, (seq, hash_) in sealed.items():
        now = before.get(uid)
        if now is None:
            findings.append(Finding("checkpoint", f"workflow {uid} (seq 1..{seq}), sealed by"
                                    f" checkpoint #{cp.id}, was removed"))
            return
        if now != (seq, hash_):
            findings.append(Finding("checkpoint", f"its events up to seq {seq} differ from"
                                    f" checkpoint #{cp.id} (now seq {now[0]})",
                                    workflow=names.get(uid, uid), seq=min(seq, now[0]) + 1))
            return
    for uid in before.keys() - sealed.keys():
        findings.append(Finding("checkpoint", f"workflow {names.get(uid, uid)} has events before"
                                f" checkpoint #{cp.id} that it does not seal (inserted)",
                                workflow=names.get(uid, uid)))
        return


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return len(text) == 64


def _verify_bundle(source: Source, report: Report) -> None:
    from .bundle import Bundle

    assert isinstance(source, Bundle)
    end = source.end
    assert end is not None
    if (end.workflows, end.events, end.logs) != source.counts:
        report.findings.append(Finding(
            "bundle", f"the bundle holds {source.counts[1]} events and {source.counts[2]} logs"
            f" in {source.counts[0]} runs, its end record says {end.events}, {end.logs} and"
            f" {end.workflows}: records were removed or inserted"))
    elif end.sha256 != source.digest:
        report.findings.append(Finding("bundle", "the bundle's sha256 does not match its"
                                       " content: it was modified after export"))
    for w in source.workflows:
        events = source.raw.get(w.uid, [])
        try:
            first = decode(events[0].payload) if events else None
        except Exception:
            continue  # reported by the chain check
        if isinstance(first, WorkflowSubmitted) and (
            first.spec_yaml != w.spec_yaml or dict(first.parameters) != w.parameters
        ):
            report.findings.append(Finding("bundle", "the spec or parameters in the workflow"
                                           " record differ from its WorkflowSubmitted event",
                                           workflow=w.name, seq=1))
    report.checked.append("bundle")
