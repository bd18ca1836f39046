"""`exitflow crashtest`: crash a workflow at every event boundary and check the guarantee."""

from __future__ import annotations

import threading

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..crashtest import BoundaryResult, CrashtestReport, RunOutcome, default_workers, run_crashtest
from ..stepfaults import run_step_faults
from ._app import executor_option, param_option, terminal


def _handlers(runs: dict[str, int]) -> str:
    if not runs:
        return "-"
    return ", ".join(f"{name}×{n}" for name, n in runs.items())


def _render(report: CrashtestReport) -> Table:
    table = Table(
        "BOUNDARY", "CRASH AT", "LOG", "PHASE", "EXIT HANDLERS RAN", "VERDICT",
        box=None, header_style="bold", pad_edge=False,
    )
    clean = report.clean
    table.add_row("clean", "-", str(clean.events), clean.phase, _handlers(clean.exit_runs),
                  Text("reference", "dim"))
    for b in report.boundaries:
        crash = b.label if b.crashed or b.when == "before" else f"{b.label} (ended first)"
        if b.ok:
            verdict = Text("ok", "green")
        else:
            more = f" (+{len(b.reasons) - 1} more)" if len(b.reasons) > 1 else ""
            verdict = Text(f"FAIL: {b.reasons[0]}{more}", "red")
        table.add_row(b.boundary, crash, str(b.committed), b.phase, _handlers(b.exit_runs), verdict)
    return table


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@param_option
@executor_option
@click.option("-j", "--workers", type=click.IntRange(min=1), default=None,
              help=f"Boundaries tested in parallel (default {default_workers()}).")
@click.option("--when", "when", type=click.Choice(["after", "before", "both"]), default="after",
              show_default=True,
              help="Crash right after or right before the transaction holding event N.")
@click.option("--boundary", "boundaries", type=click.IntRange(min=1), multiple=True,
              metavar="N", help="Only these event boundaries (repeatable).")
@click.option("--kill", "kill", type=click.IntRange(min=1), multiple=True, metavar="N",
              help="Also SIGKILL the run from outside once its log has N events (repeatable).")
@click.option("--subprocess", "subprocess_", is_flag=True,
              help="Start every controller as `python -m engine` instead of from a fork server.")
@click.option("--keep-failed", is_flag=True, help="Keep the databases of failing boundaries.")
@click.option("--step-faults", is_flag=True,
              help="Instead of crashing: one run per Pod/HTTP node forced to fail (--fail), "
                   "showing the final phase and the exit handlers that ran.")
@click.option("-o", "--output", type=click.Choice(["json"]), default=None)
@click.pass_context
def crashtest(ctx: click.Context, file: str, parameters: tuple[str, ...], executor: str | None,
              simulate_fail: tuple[str, ...], workers: int | None, when: str,
              boundaries: tuple[int, ...], kill: tuple[int, ...], subprocess_: bool,
              keep_failed: bool, step_faults: bool, output: str | None) -> None:
    """Run FILE once cleanly, then once per event boundary with a controller crash there
    followed by `exitflow recover`, each in its own temporary database.

    A boundary fails if the final phase differs from the clean run, an owed exit handler never
    completed, a node ran that the clean run did not run, the log does not replay to the
    controller's state, or (local executor) a process of the run was left behind.
    Exit 0 only if every boundary passes.
    """
    chosen = executor or "local"
    if step_faults:
        _step_faults(ctx, file, parameters, chosen, workers, subprocess_, output)
        return
    progress = Progress(
        TextColumn("[bold]crashtest[/bold] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]}"),
        TimeElapsedColumn(),
        console=terminal.err,
        transient=True,
        disable=output == "json" or not terminal.err.is_terminal,
    )
    lock = threading.Lock()
    task_id = progress.add_task(f"{file}: clean run", total=None, failed="")
    failures = 0

    def on_clean(clean: RunOutcome, n: int) -> None:
        progress.update(task_id, total=n,
                        description=f"{file} ({chosen}): {clean.phase}, {clean.events} events")

    def on_result(result: BoundaryResult) -> None:
        nonlocal failures
        with lock:
            if not result.ok:
                failures += 1
            progress.update(task_id, advance=1,
                            failed=f"[red]{failures} failed[/red]" if failures else "")

    with progress:
        report = run_crashtest(
            file,
            parameters=parameters,
            executor=chosen,
            simulate_fail=simulate_fail,
            workers=workers,
            when=("after", "before") if when == "both" else (when,),
            boundaries=boundaries or None,
            kill=kill,
            isolation="subprocess" if subprocess_ else "fork",
            keep_failed=keep_failed,
            on_clean=on_clean,
            on_result=on_result,
        )
    if output == "json":
        terminal.json(report.to_builtins())
    else:
        terminal.table(_render(report))
        n = len(report.boundaries)
        rate = n / report.seconds if report.seconds else 0.0
        summary = (
            f"{n - len(report.failed)}/{n} boundaries passed in {report.seconds:.1f}s "
            f"({rate:.1f}/s, {report.workers} workers)"
        )
        terminal.out.print(Text(summary, style="green" if report.ok else "red"))
        for b in report.failed:
            terminal.out.print(Text(f"{b.boundary}:", style="bold red"))
            for reason in b.reasons:
                terminal.out.print(Text(f"  - {reason}"))
            if b.kept:
                terminal.out.print(Text(f"  database kept: {b.kept}", style="dim"))
    ctx.exit(0 if report.ok else 1)


def _step_faults(ctx: click.Context, file: str, parameters: tuple[str, ...], executor: str,
                 workers: int | None, subprocess_: bool, output: str | None) -> None:
    report = run_step_faults(file, parameters=parameters, executor=executor, workers=workers,
                             isolation="subprocess" if subprocess_ else "fork")
    if output == "json":
        terminal.json(report.to_builtins())
    else:
        table = Table("FORCED TO FAIL", "PHASE", "EXIT HANDLERS", "VERDICT", box=None,
                      header_style="bold", pad_edge=False)
        for case in [report.clean, *report.cases]:
            handlers = ", ".join(
                f"{name}×{case.handler_runs.get(name, 0)} {phase}"
                for name, phase in case.handlers.items()
            ) or "-"
            if case.ok:
                verdict = Text("reference" if case.node == "clean" else "ok",
                               "dim" if case.node == "clean" else "green")
            else:
                verdict = Text(f"FAIL: {'; '.join(case.reasons)}", "red")
            table.add_row("- (clean)" if case.node == "clean" else case.node, case.phase,
                          handlers, verdict)
        terminal.table(table)
        passed = sum(1 for c in report.cases if c.ok)
        summary = (f"{passed}/{len(report.cases)} forced failures reached every owed exit "
                   f"handler in {report.seconds:.1f}s")
        terminal.out.print(Text(summary, style="green" if report.ok else "red"))
    ctx.exit(0 if report.ok else 1)


COMMANDS = [crashtest]
