"""`run`, `submit`, `recover`, `daemon`: the commands that make workflows move."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import anyio
import click

from ..api import open_store, parse_parameters, read_workflow_file, submission
from ..api import submit as submit_run
from ..controller.children import children_of
from ..controller.controller import DEFAULT_GRACE, Controller, unwrap
from ..controller.faults import parse_fault
from ..controller.pool import ExecutorPool
from ..errors import ControllerBusyError
from ..events import WorkflowSubmitted
from ..library import resolve_workflow_text
from ..limits import RunLimits
from ..scheduler import CronScheduler
from ..state.report import workflow_json
from ..state.view import WorkflowView
from ..store import SqliteStore
from ..store.locate import AnyStore
from ..store.postgres import PostgresStore
from ._app import (
    EXIT_ERROR,
    PHASE_EXIT,
    db_option,
    executor_option,
    executor_options,
    param_option,
    parse_limit_options,
    resolve_db,
    run_async,
    run_limit_options,
    run_limits,
    run_stoppable,
    terminal,
)
from .terminal import maybe_live


def _finish(ctx: click.Context, view: WorkflowView, output: str | None) -> None:
    if output == "json":
        terminal.json(workflow_json(view))
    elif output == "name":
        terminal.line(view.name)
    else:
        terminal.workflow(view)
    ctx.exit(PHASE_EXIT.get(view.phase, 3))


def allow_unsupported_option(fn: Any) -> Any:
    return click.option(
        "--allow-unsupported", "allow_unsupported", is_flag=True,
        help="Run even if the spec uses features Exitflow cannot honour (`lint` lists them);"
             " they are ignored.")(fn)


async def _submission(file: str, parameters: tuple[str, ...], executor: str | None,
                      store: AnyStore, faults: tuple[str, ...] = (),
                      allow_unsupported: bool = False,
                      limits: RunLimits | None = None) -> WorkflowSubmitted:
    """Read, resolve (template references, from `store`), validate and parameterise a workflow
    file; its first event, executor chosen, injected faults (`--fail`) and run limits
    recorded."""
    injected = dict(parse_fault(f) for f in faults)
    text = await resolve_workflow_text(store, read_workflow_file(file), source=file)
    return submission(text, source=file, parameters=parse_parameters(parameters),
                      executor=executor, faults=injected, allow_unsupported=allow_unsupported,
                      limits=limits)


async def _submit(file: str, parameters: tuple[str, ...], executor: str | None,
                  store: AnyStore, allow_unsupported: bool = False,
                  limits: RunLimits | None = None) -> tuple[str, str]:
    submitted = await submit_run(store, read_workflow_file(file), source=file,
                                 parameters=parse_parameters(parameters), executor=executor,
                                 allow_unsupported=allow_unsupported, limits=limits)
    return submitted.uid, submitted.name


async def wait_finished(store: AnyStore, uid: str, *, interval: float = 0.1) -> WorkflowView:
    """Wait for another controller to finish a run; returns its final view."""
    from ..api import load_view

    while True:
        record = await store.get_workflow(uid)
        if record.finished:
            return await load_view(store, uid)
        await anyio.sleep(interval)


async def wait_or_take_over(store: AnyStore, uid: str, *, interval: float = 0.1) -> bool:
    """While another process holds the controller role: False once it has finished our run (a
    daemon does), True once this process holds the role itself (the holder, e.g. another
    one-shot `run` that runs only its own workflow, exited): then we run it."""
    while True:
        record = await store.get_workflow(uid)
        if record.finished:
            return False
        try:
            await store.acquire_controller(wait=False)
            return True
        except ControllerBusyError:
            await anyio.sleep(interval)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@param_option
@db_option
@executor_option
@click.option("--fail", "faults", multiple=True, metavar="NODE[=Failed|Error|EXITCODE]",
              help="End the Pod/HTTP nodes whose display name is NODE (or matches the glob) "
                   "that way without running them, recorded as injected (repeatable).")
@click.option("--wait-children", is_flag=True,
              help="Also run the child workflows the run created (resource templates) to "
                   "their end; without it they wait in the log for a daemon or `recover`.")
@click.option("-o", "--output", type=click.Choice(["json"]), default=None,
              help="Print the workflow as JSON.")
@allow_unsupported_option
@run_limit_options
@parse_limit_options
@click.pass_context
@run_stoppable
async def run(ctx: click.Context, file: str, parameters: tuple[str, ...], db: str | None,
              executor: str | None, simulate_fail: tuple[str, ...], faults: tuple[str, ...],
              wait_children: bool, output: str | None, allow_unsupported: bool) -> None:
    """Run a workflow to completion (exit 0 Succeeded, 1 Failed, 3 Error, 2 bad input)."""
    path = resolve_db(db)
    options = executor_options(simulate_fail)
    pool = ExecutorPool("local", options)
    store = await open_store(path, controller=True)
    try:
        busy = False
        try:
            await store.acquire_controller(wait=False)
        except ControllerBusyError as e:
            busy = True
            terminal.note(f"{e}; submitting to it and waiting")
        submitted = await _submission(file, parameters, executor, store, faults,
                                      allow_unsupported, run_limits(ctx))
        if not busy:
            # Open the executor first: a missing Docker daemon must not leave a submitted run.
            await pool.get(submitted.executor)
        await store.create_workflow(submitted)
        uid = submitted.uid
        if busy and not await wait_or_take_over(store, uid):
            view = await wait_finished(store, uid)
        else:
            if busy:
                await pool.get(submitted.executor)
            with maybe_live(terminal, output is None) as live:
                controller = Controller(
                    store, pool, on_change=live.update if live is not None else None
                )
                view = await controller.run_one(uid)
            await _children(store, controller, uid, wait_children)
    finally:
        await pool.aclose()
        await store.aclose()
    _finish(ctx, view, output)


async def _children(store: AnyStore, controller: Controller, uid: str, wait: bool) -> None:
    """Report the child workflows a run created; with `wait`, run them (and theirs) to the end."""
    pending = await children_of(store, uid)
    while pending:
        child = pending.pop(0)
        record = await store.get_workflow(child)
        if not wait:
            terminal.note(f"created workflow {record.name} (run it with --wait-children, "
                          "`exitflow recover` or a daemon)")
            continue
        view = await controller.run_one(child)
        terminal.note(f"child workflow {view.name}: {view.phase}")
        pending.extend(await children_of(store, child))


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@param_option
@db_option
@click.option("--executor", type=click.Choice(["local", "docker", "simulate"]), default=None,
              help="Executor recorded with the run (default: the controller's).")
@click.option("--wait", is_flag=True, help="Wait for the final phase and exit like `run`.")
@click.option("-o", "--output", type=click.Choice(["name", "json"]), default=None)
@allow_unsupported_option
@run_limit_options
@parse_limit_options
@click.pass_context
@run_stoppable
async def submit(ctx: click.Context, file: str, parameters: tuple[str, ...], db: str | None,
                 executor: str | None, wait: bool, output: str | None,
                 allow_unsupported: bool) -> None:
    """Append a workflow to the log for a daemon to run (the database is the queue)."""
    path = resolve_db(db)
    store = await open_store(path)
    try:
        uid, name = await _submit(file, parameters, executor, store, allow_unsupported,
                                  run_limits(ctx))
        if not wait:
            if output == "json":
                from ..api import load_view

                terminal.json(workflow_json(await load_view(store, uid)))
            else:
                terminal.line(name)
            return
        view = await wait_finished(store, uid)
    finally:
        await store.aclose()
    _finish(ctx, view, output)


@click.command()
@db_option
@executor_option
@click.option("--max-parallel", type=click.IntRange(min=1), default=None,
              help="At most N workflows at once.")
@click.option("-o", "--output", type=click.Choice(["json"]), default=None)
@click.pass_context
@run_stoppable
async def recover(ctx: click.Context, db: str | None, executor: str | None,
                  simulate_fail: tuple[str, ...], max_parallel: int | None,
                  output: str | None) -> None:
    """Replay the log and finish every unfinished workflow, then exit."""
    path = resolve_db(db)
    pool = ExecutorPool(executor or "local", executor_options(simulate_fail))
    store = await open_store(path, controller=True)
    try:
        await store.acquire_controller(wait=False)
        controller = Controller(store, pool, max_parallel=max_parallel)
        views = await controller.recover()
    finally:
        await pool.aclose()
        await store.aclose()
    if output == "json":
        terminal.json([workflow_json(v) for v in views])
    else:
        for v in views:
            terminal.line(f"{v.name}\t{v.phase}")
        lost = f"; {len(controller.problems)} could not be recovered" \
            if controller.problems else ""
        terminal.note(f"recovered {len(views)} workflow(s){lost}")
    worst = max((PHASE_EXIT.get(v.phase, 3) for v in views), default=0)
    # A run left unfinished (its problem was printed above) is never a success.
    ctx.exit(max(worst, EXIT_ERROR) if controller.problems else worst)


@click.command()
@db_option
@executor_option
@click.option("--max-parallel", type=click.IntRange(min=1), default=None,
              help="At most N workflows at once.")
@click.option("--standby/--no-standby", default=True,
              help="Wait while another controller holds the database (default) or refuse.")
@click.option("--grace", type=click.FloatRange(min=0), default=DEFAULT_GRACE, show_default=True,
              metavar="SECONDS",
              help="On SIGTERM/SIGINT/SIGHUP, how long running steps may take to finish.")
@click.option("--listen", default=None, metavar="HOST:PORT",
              help="Also serve the HTTP API, web UI and /metrics (see `exitflow server`).")
@click.option("--lease-seconds", type=click.FloatRange(min=0.5), default=10.0, show_default=True,
              envvar="EXITFLOW_LEASE_SECONDS", metavar="SECONDS",
              help="PostgreSQL: how long a run's lease lasts unless renewed (a dead "
                   "daemon's runs are adopted by the others within it).")
@run_async
async def daemon(db: str | None, executor: str | None, simulate_fail: tuple[str, ...],
                 max_parallel: int | None, standby: bool, grace: float,
                 listen: str | None, lease_seconds: float) -> None:
    """Run as the long-lived controller of a database.

    On start it recovers every unfinished workflow, then runs new submissions (polling the
    database every 20 ms) and the ticks of the stored CronWorkflows (`exitflow cron`). Exactly
    one controller acts on a database: a second daemon waits as a standby (or, with
    --no-standby, refuses); a daemon replaced by a newer controller generation stops at its
    next write with a clear error (exit 1).

    SIGTERM/SIGINT/SIGHUP: takes no new workflows or commands; steps already running get
    --grace seconds to finish and their results are recorded; steps still running then are
    stopped and handed to the next start, which re-runs them under the same idempotency key
    (EXITFLOW_ATTEMPT + 1). Then the database is closed and the daemon exits 0 (129 after
    SIGHUP, with one line). A second signal hands over at once. SIGKILL at any moment loses
    nothing committed: the next start finishes it.
    """
    path = resolve_db(db)
    pool = ExecutorPool(executor or "local", executor_options(simulate_fail))
    store = await open_store(path, controller=True)
    state: dict[str, Any] = {}
    http = None
    try:
        if listen is not None:
            from .server import start_server

            http = await start_server(store, listen, path)
        async with anyio.create_task_group() as tg:
            tg.start_soon(_signals, tg.cancel_scope, state, grace)
            if http is not None:
                tg.start_soon(http.run)
            generation: int | str
            if isinstance(store, PostgresStore):
                # Many daemons share a PostgreSQL database: runs are leased (scale-out.md).
                generation = await store.join_controllers(lease_seconds)
            else:
                try:
                    generation = await store.acquire_controller(wait=False)
                except ControllerBusyError as e:
                    if not standby:
                        raise
                    terminal.note(f"exitflow daemon: {e}; waiting as standby")
                    generation = await store.acquire_controller(wait=True)
            controller = Controller(store, pool, max_parallel=max_parallel)
            state["controller"] = controller
            if state.get("signals"):
                controller.shutdown(grace)

            def ready() -> None:
                terminal.note(
                    f"exitflow daemon: controlling {store.path} (generation {generation}, pid "
                    f"{os.getpid()})"
                )

            # CronWorkflows (stored in SQLite databases only, for now): ticks become
            # submissions in the log, which `serve` picks up.
            if isinstance(store, SqliteStore):
                tg.start_soon(CronScheduler(store, note=terminal.note).run)
            await controller.serve(ready=ready)
            tg.cancel_scope.cancel()
    except BaseException as e:
        raise unwrap(e) from None
    finally:
        with anyio.CancelScope(shield=True):
            if http is not None:
                await http.aclose()
            await pool.aclose()
            await store.aclose()
    if state.get("first") == signal.SIGHUP:  # the terminal went away: said as a signal exit
        terminal.note("exitflow daemon: SIGHUP: stopped (unfinished runs are recorded; the next"
                      " daemon or `exitflow recover` finishes them)")
        sys.exit(128 + signal.SIGHUP)
    terminal.note("exitflow daemon: stopped")
    sys.exit(0)


async def _signals(scope: anyio.CancelScope, state: dict[str, Any], grace: float) -> None:
    """First SIGTERM/SIGINT/SIGHUP: drain gracefully; the second: stop at once (hand over)."""
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for signum in signals:
            state.setdefault("first", signum)
            state["signals"] = state.get("signals", 0) + 1
            controller: Controller | None = state.get("controller")
            if controller is None:  # still a standby: nothing to drain
                scope.cancel()
                return
            if state["signals"] == 1:
                terminal.note(
                    f"exitflow daemon: {signal.Signals(signum).name}: taking no new work; "
                    f"running steps have {grace:g}s to finish"
                )
                controller.shutdown(grace)
            else:
                scope.cancel()
                return
