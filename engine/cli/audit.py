"""`history`, `replay`, `verify`, `export`, `import`, `diff`, `prune`: audit runs.

Every command that reads runs takes a database (`--db`, default $EXITFLOW_DB or ./exitflow.db)
or a bundle: `--db run.bundle`, or the bundle's path in place of NAME.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..audit import bundle as bundle_mod
from ..audit.diff import NodeDiff, NodeSide, diff_runs, summary
from ..audit.history import filter_rows, history_rows, rfc3339_precise
from ..audit.importer import import_bundle
from ..audit.prune import candidates
from ..audit.prune import prune as prune_runs
from ..audit.replay import parse_at, parse_time, view_at, walk
from ..audit.source import Source, decode_all, find, open_source, sniff
from ..audit.verify import Report
from ..audit.verify import verify as verify_source
from ..errors import InputError
from ..events import AnyEvent, event_type
from ..state.report import workflow_json
from ..state.view import WorkflowView
from ..store import SqliteStore
from ._app import db_option, resolve_db, run_async, terminal
from .terminal import render_workflow


async def _open(name: str | None, db: str | None) -> tuple[Source, str | None]:
    """The source to read and the run's name in it (None: a bundle's only run)."""
    if db is None and name is not None and os.path.isfile(name) and sniff(name) == "bundle":
        return bundle_mod.read_bundle(name), None
    return await open_source(resolve_db(db)), name


async def _load(name: str | None, db: str | None) -> tuple[str, list[Any], list[AnyEvent]]:
    source, wanted = await _open(name, db)
    try:
        head = await find(source, wanted)
        raw = await source.events(head.record.uid)
    finally:
        await source.aclose()
    return head.record.name, raw, decode_all(head.record.name, raw)


def _print_table(table: Table) -> None:
    """Tables go to a terminal at its width; piped, lines are not wrapped at 80 columns."""
    if terminal.interactive:
        _print_table(table)
    else:
        Console(width=200, highlight=False, soft_wrap=True).print(table)


# ------------------------------------------------------------------ history


@click.command()
@click.argument("name")
@db_option
@click.option("-o", "--output", type=click.Choice(["table", "json", "jsonl"]), default="table")
@click.option("--node", "nodes", multiple=True, metavar="NODE",
              help="Only events of this node (id, name, display name or last name part).")
@click.option("--kind", "kinds", multiple=True, metavar="KIND",
              help="Only events of this kind, e.g. NodeFinished (repeatable).")
@run_async
async def history(name: str, db: str | None, output: str, nodes: tuple[str, ...],
                  kinds: tuple[str, ...]) -> None:
    """Every event of a run in order: sequence number, time, kind, node and details."""
    _, raw, events = await _load(name, db)
    rows = filter_rows(history_rows(raw, events), nodes=nodes, kinds=kinds)
    if output == "json":
        terminal.json([r.as_json() for r in rows])
        return
    if output == "jsonl":
        for r in rows:
            sys.stdout.write(json.dumps(r.as_json()) + "\n")
        return
    table = Table(box=None, header_style="bold")
    table.add_column("SEQ", justify="right", no_wrap=True)
    table.add_column("TIME (UTC)", no_wrap=True)
    table.add_column("KIND", no_wrap=True)
    table.add_column("NODE", no_wrap=True, max_width=32, overflow="ellipsis")
    table.add_column("DETAILS", overflow="fold")
    for r in rows:
        table.add_row(str(r.seq), rfc3339_precise(r.ts)[11:-1], r.kind,
                      r.display_name or r.node_id, Text(r.details))
    _print_table(table)


# ------------------------------------------------------------------ replay


def _step_header(seq: int, total: int, event: AnyEvent, view: WorkflowView) -> str:
    node_id = getattr(event, "node_id", "")
    node = view.nodes.get(node_id) if node_id else None
    label = f" {node.display_name}" if node is not None else ""
    return f"── seq {seq}/{total}  {rfc3339_precise(event.ts)}  {event_type(event)}{label}"


@click.command()
@click.argument("name")
@db_option
@click.option("--at", "at", metavar="SEQ|TIME",
              help="After this event: a sequence number, or a time (last event at or before).")
@click.option("--step", is_flag=True, help="Walk through the run event by event (from --at).")
@click.option("-o", "--output", type=click.Choice(["json"]), default=None,
              help="The state as `get -o json` prints it (with --step: one JSON per line).")
@run_async
async def replay(name: str, db: str | None, at: str | None, step: bool,
                 output: str | None) -> None:
    """The workflow exactly as it stood after one event, computed by the same fold as live
    runs."""
    _, _, events = await _load(name, db)
    if at is None and not step:
        raise InputError("replay needs --at SEQ|TIME or --step")
    seq = parse_at(at, events) if at is not None else 1
    if not step:
        view = view_at(events, seq)
        if output == "json":
            terminal.json(workflow_json(view))
            return
        terminal.line(_step_header(seq, len(events), events[seq - 1], view))
        terminal.workflow(view, now=events[seq - 1].ts)
        return
    interactive = sys.stdin.isatty() and sys.stdout.isatty() and output is None
    for n, view in walk(events, seq):
        if output == "json":
            sys.stdout.write(json.dumps(workflow_json(view)) + "\n")
            continue
        terminal.line(_step_header(n, len(events), events[n - 1], view))
        terminal.out.print(render_workflow(view, now=events[n - 1].ts))
        if interactive and n < len(events):
            answer = click.prompt("Enter: next event, q: quit", default="",
                                  show_default=False)
            if answer.strip().lower().startswith("q"):
                return


# ------------------------------------------------------------------ verify


def _print_report(report: Report) -> None:
    for run in report.runs:
        if run.ok:
            extra = f" ({run.decisions} decisions re-derived)" if "rederive" in run.checks \
                else ""
            terminal.line(f"ok    {run.name}: {run.events} events; "
                          f"{', '.join(run.checks)}{extra}")
            if run.injected:
                terminal.line(f"      {run.name}: injected faults (--fail, not run): "
                              f"{', '.join(run.injected)}")
        else:
            terminal.line(f"FAIL  {run.name}: {run.events} events")
    for checked in report.checked:
        if checked == "global chain" and report.global_head is not None:
            checked += f" (head gseq {report.global_head[0]} {report.global_head[1][:16]}…)"
        terminal.line(f"ok    {checked}")
    for finding in report.findings:
        terminal.line(f"FAIL  {finding.line()}")
    verdict = "verifies" if report.ok else f"does NOT verify ({len(report.findings)} problems)"
    terminal.line(f"{report.source}: {report.kind} {verdict}")


def _report_json(report: Report) -> dict[str, Any]:
    return {
        "source": report.source, "kind": report.kind, "ok": report.ok,
        "runs": [{"name": r.name, "uid": r.uid, "events": r.events, "ok": r.ok,
                  "checks": r.checks, "decisions": r.decisions, "inputs": r.inputs,
                  "injected": r.injected}
                 for r in report.runs],
        "checked": report.checked,
        "globalHead": ({"gseq": report.global_head[0], "hash": report.global_head[1]}
                       if report.global_head else None),
        "findings": [{"check": f.check, "workflow": f.workflow or None, "seq": f.seq,
                      "gseq": f.gseq, "message": f.message} for f in report.findings],
    }


@click.command()
@click.argument("name", required=False)
@db_option
@click.option("--no-rederive", "no_rederive", is_flag=True,
              help="Check the chains only; do not re-run the engine's decisions.")
@click.option("-o", "--output", type=click.Choice(["json"]), default=None)
@click.pass_context
@run_async
async def verify(ctx: click.Context, name: str | None, db: str | None, no_rederive: bool,
                 output: str | None) -> None:
    """Check the hash chains and re-derive every run with this engine (exit 1 on a problem).

    Without NAME: every run and the database-wide global chain and checkpoints."""
    source, wanted = await _open(name, db)
    try:
        report = await verify_source(source, wanted, rederive_runs=not no_rederive)
    finally:
        await source.aclose()
    if output == "json":
        terminal.json(_report_json(report))
    else:
        _print_report(report)
    if not report.ok:
        ctx.exit(1)


# ------------------------------------------------------------------ export / import


@click.command()
@click.argument("name")
@db_option
@click.option("-o", "--output", "file", required=True, metavar="FILE",
              help="The bundle to write.")
@run_async
async def export(name: str, db: str | None, file: str) -> None:
    """Write one run (spec, parameters, events, logs, chain head) to a self-contained bundle."""
    source, wanted = await _open(name, db)
    try:
        head = await find(source, wanted)
        n_events, n_logs = await bundle_mod.write_bundle(source, [head], file)
    finally:
        await source.aclose()
    terminal.line(f"exported {head.record.name}: {n_events} events, {n_logs} log records"
                  f" -> {file}")


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@db_option
@click.option("--no-rederive", "no_rederive", is_flag=True,
              help="Accept after the chain checks, without re-deriving the runs.")
@run_async
async def import_(file: str, db: str | None, no_rederive: bool) -> None:
    """Verify a bundle, then add its runs to the database (refused if anything fails)."""
    store = await SqliteStore.open(resolve_db(db))
    try:
        heads = await import_bundle(file, store, rederive_runs=not no_rederive)
    finally:
        await store.aclose()
    for head in heads:
        terminal.line(f"imported {head.record.name} ({head.record.last_seq} events,"
                      f" {head.record.phase}) into {store.path}")


# ------------------------------------------------------------------ diff


def _short(text: str, limit: int = 24) -> str:
    text = text.replace("\n", "⏎")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _value(s: NodeSide | None, field: str) -> str:
    if s is None:
        return "-"
    value = getattr(s, field)
    if field == "duration":
        return "" if value is None else f"{value:.2f}s"
    return "" if value is None else str(value)


def _pair(a: str, b: str) -> Text:
    return Text(a) if a == b else Text(f"{a} | {b}", style="bold")


def _outputs(d: NodeDiff) -> Text:
    left = d.a.outputs if d.a is not None else {}
    right = d.b.outputs if d.b is not None else {}
    parts = []
    for key in list(left) + [k for k in right if k not in left]:
        va, vb = left.get(key), right.get(key)
        if va == vb:
            continue
        parts.append(f"{key}: {_short(va) if va is not None else '-'} |"
                     f" {_short(vb) if vb is not None else '-'}")
    return Text("; ".join(parts) or ("(same)" if left else ""))


@click.command()
@click.argument("name_a")
@click.argument("name_b")
@db_option
@click.option("--changed", is_flag=True, help="Only nodes that differ.")
@click.option("-o", "--output", type=click.Choice(["json"]), default=None)
@run_async
async def diff(name_a: str, name_b: str, db: str | None, changed: bool,
               output: str | None) -> None:
    """Two runs side by side, node by node: phase, attempts, duration, exit code, outputs.

    A cell shows `A | B` where the runs differ; OUTPUTS lists only the outputs that differ."""
    _, _, events_a = await _load(name_a, db)
    _, _, events_b = await _load(name_b, db)
    a, b = view_at(events_a, len(events_a)), view_at(events_b, len(events_b))
    rows = [d for d in diff_runs(a, b) if d.differs or not changed]
    if output == "json":
        import msgspec

        terminal.json({"a": summary(a), "b": summary(b),
                       "nodes": [msgspec.to_builtins(d) for d in rows]})
        return
    terminal.line(f"A: {a.name} ({a.phase})   B: {b.name} ({b.phase})")
    table = Table("", "NODE", "PHASE", "ATTEMPTS", "DURATION", "EXIT", "OUTPUTS (A | B)",
                  box=None, header_style="bold")
    for d in rows:
        mark = Text("≠", style="red") if d.differs else Text(" ")
        cells = [_pair(_value(d.a, f), _value(d.b, f))
                 for f in ("phase", "attempts", "duration", "exit_code")]
        table.add_row(mark, d.key, *cells, _outputs(d))
    _print_table(table)


# ------------------------------------------------------------------ prune


@click.command()
@click.option("--finished-before", "finished_before", required=True, metavar="DATE",
              help="Remove runs that finished before this time (e.g. 2024-05-01).")
@db_option
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@run_async
async def prune(finished_before: str, db: str | None, dry_run: bool) -> None:
    """Remove old finished runs; a checkpoint keeps the remaining log verifiable."""
    before = parse_time(finished_before, option="--finished-before")
    path = resolve_db(db)
    if sniff(path) != "database":
        raise InputError(f"{path}: no event log there (use --db or $EXITFLOW_DB)")
    store = await SqliteStore.open(path)
    try:
        heads = await candidates(store, before)
        for head in heads:
            terminal.line(f"{'would remove' if dry_run else 'remove'} {head.record.name}"
                          f" ({head.record.phase}, {head.record.last_seq} events)")
        if dry_run:
            return
        checkpoint = await prune_runs(store, heads)
    finally:
        await store.aclose()
    if checkpoint is None:
        terminal.line("nothing to prune")
    else:
        terminal.line(f"pruned {len(heads)} runs; checkpoint #{checkpoint.id} seals the rest"
                      f" at gseq {checkpoint.data()['gseq']} ({checkpoint.hash[:16]}…)")


COMMANDS = [history, replay, verify, export, import_, diff, prune]
