"""The crash test: run a workflow cleanly, then once per event boundary with a crash there followed
by recovery, and check that nothing the guarantee promises was broken.

Every run is a real controller process (`exitflow run`, then `exitflow recover`, each in its own
temporary database): a crash is `EXITFLOW_CRASH_AT=N[:before|after]`, the store's `os._exit`
right before/after the transaction holding the N-th event the process appends, or (`kill=True`)
a real SIGKILL from outside once the log has N events. Processes are forked from a pre-imported
fork server (`isolation="fork"`: a single-threaded process with no event loop; a controller starts
in about a millisecond) or started as `python -m engine` (`"subprocess"`).

A boundary passes when, after recovery:
- the workflow's final phase is the clean run's;
- every exit handler that is owed (completed in the clean run, or started in this one) completed;
- no node ran that the clean run did not run (or skipped);
- the log verifies (`verify_log`): seqs 1..n contiguous, hash chain intact, it folds, one
  NodeFinished per node, attempts 1, 2, ... each after a NodeAttemptLost, nothing after
  WorkflowCompleted, no Pod left unfinished; and a fresh fold of it gives the same `get` JSON as
  the recovering controller reported;
- (local executor) no process of the workflow is left running.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final, Literal

import anyio
import msgspec

from .errors import ExitflowError, InputError
from .events import (
    COMPLETED,
    OMITTED,
    SKIPPED,
    WORK_TYPES,
    NodeAttemptLost,
    NodeFinished,
    NodeInitialized,
    NodeStarted,
    WorkflowCompleted,
)
from .state.fold import fold
from .state.report import workflow_json
from .state.view import NodeView, WorkflowView
from .store import SqliteStore
from .store.base import GENESIS_HASH, RecordedEvent, chain_hash

__all__ = [
    "BoundaryResult",
    "CrashtestReport",
    "LogCheck",
    "RunOutcome",
    "default_workers",
    "run_crashtest",
    "verify_log",
]

Isolation = Literal["fork", "subprocess"]
CRASH_EXIT: Final = 137
_PROCESS_TIMEOUT: Final = 300.0
_KILL_POLL: Final = 0.002


# --- results ------------------------------------------------------------------------------------


class LogCheck(msgspec.Struct, frozen=True, kw_only=True):
    """What `verify_log` found in one workflow's log."""

    uid: str
    name: str
    events: int
    phase: str
    finished: bool
    problems: list[str] = []
    #: The `exitflow get -o json` document of a fresh fold (None if the log does not fold).
    report: dict[str, Any] | None = None


class RunOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """The facts of one run that the verdict compares (node names relative to the workflow)."""

    phase: str
    events: int
    #: relative node name -> phase
    nodes: dict[str, str]
    #: relative names of Pod nodes that were started at least once
    ran: list[str]
    #: exit handler display name -> deliveries (NodeStarted events of its Pod nodes, max)
    exit_runs: dict[str, int]
    #: exit handler display name -> its final phase
    exit_phases: dict[str, str]
    #: event seq -> "Type node" labels (the clean run's, to name boundaries)
    labels: list[str] = []


class BoundaryResult(msgspec.Struct, frozen=True, kw_only=True):
    boundary: str  # "7:after", or "kill@7"
    count: int
    when: str  # "after" | "before" | "kill"
    label: str  # what the clean run appended at that position
    crashed: bool  # the controller died there (False: the run ended first)
    committed: int = 0  # events in the log when the controller died
    phase: str  # final phase after recovery ("-" if the workflow was never submitted)
    exit_runs: dict[str, int]
    ok: bool
    reasons: list[str] = []
    seconds: float = 0.0
    kept: str | None = None  # the database, kept when the boundary failed


class CrashtestReport(msgspec.Struct, kw_only=True):
    file: str
    executor: str
    clean: RunOutcome
    boundaries: list[BoundaryResult]
    seconds: float
    workers: int

    @property
    def ok(self) -> bool:
        return all(b.ok for b in self.boundaries)

    @property
    def failed(self) -> list[BoundaryResult]:
        return [b for b in self.boundaries if not b.ok]

    def to_builtins(self) -> dict[str, Any]:
        out = msgspec.to_builtins(self)
        assert isinstance(out, dict)
        out["ok"] = self.ok
        out["boundaries_per_second"] = (
            round(len(self.boundaries) / self.seconds, 2) if self.seconds > 0 else None
        )
        return out


def default_workers() -> int:
    """Parallel boundaries: 2 per core, at least 2, at most 4 (each boundary is mostly fsyncs,
    process start-up and waiting)."""
    return max(2, min(4, 2 * (os.cpu_count() or 1)))


# --- verifying a log ----------------------------------------------------------------------------


async def verify_log(store: SqliteStore, uid: str) -> LogCheck:
    """Check one workflow's log replays cleanly (see the module docstring for the checks)."""
    problems: list[str] = []
    raw = await store.read_raw(uid)
    record = await store.get_workflow(uid)
    prev = GENESIS_HASH
    for i, r in enumerate(raw, start=1):
        if r.seq != i:
            problems.append(f"seq {r.seq} where {i} was expected (a gap or a duplicate)")
            break
        if chain_hash(prev, r.payload) != r.hash:
            problems.append(f"hash chain broken at seq {r.seq}")
            break
        prev = r.hash
    if record.last_seq != len(raw):
        problems.append(f"index says {record.last_seq} events, the log has {len(raw)}")
    events: list[RecordedEvent] = await store.read(uid)
    view: WorkflowView | None = None
    try:
        view = fold(r.event for r in events)
    except ExitflowError as e:
        problems.append(f"the log does not fold: {e}")
    problems.extend(_event_problems(events))
    report = None
    if view is not None:
        if view.finished:
            for node in view.nodes.values():
                if node.type in WORK_TYPES and not node.fulfilled:
                    problems.append(f"{node.name} is {node.phase} in a finished workflow")
        if record.phase != view.phase or record.finished != view.finished:
            problems.append(
                f"index says {record.phase}/{record.finished}, the log {view.phase}/"
                f"{view.finished}"
            )
        report = workflow_json(view)
    return LogCheck(
        uid=uid,
        name=record.name,
        events=len(raw),
        phase=view.phase if view is not None else record.phase,
        finished=view.finished if view is not None else record.finished,
        problems=problems,
        report=report,
    )


def _event_problems(events: Sequence[RecordedEvent]) -> list[str]:
    problems: list[str] = []
    finished: Counter[str] = Counter()
    attempts: dict[str, int] = {}
    lost: dict[str, int] = {}
    names: dict[str, str] = {}
    completed_at: int | None = None
    for rec in events:
        ev = rec.event
        if completed_at is not None:
            problems.append(f"seq {rec.seq} ({type(ev).__name__}) after WorkflowCompleted")
            break
        if isinstance(ev, NodeInitialized):
            names[ev.node_id] = ev.name
            if ev.phase in COMPLETED or ev.phase in (SKIPPED, OMITTED):
                finished[ev.node_id] += 1
        elif isinstance(ev, NodeStarted):
            previous = attempts.get(ev.node_id, 0)
            if ev.attempt != previous + 1:
                problems.append(
                    f"{names.get(ev.node_id, ev.node_id)}: attempt {ev.attempt} after {previous}"
                )
            elif previous and lost.get(ev.node_id) != previous:
                problems.append(
                    f"{names.get(ev.node_id, ev.node_id)}: attempt {ev.attempt} started without"
                    f" attempt {previous} being lost"
                )
            attempts[ev.node_id] = ev.attempt
        elif isinstance(ev, NodeAttemptLost):
            lost[ev.node_id] = ev.attempt
        elif isinstance(ev, NodeFinished):
            finished[ev.node_id] += 1
            if finished[ev.node_id] > 1:
                problems.append(f"{names.get(ev.node_id, ev.node_id)} finished twice")
        elif isinstance(ev, WorkflowCompleted):
            completed_at = rec.seq
    return problems


def outcome_of(view: WorkflowView, events: Sequence[RecordedEvent]) -> RunOutcome:
    """The facts of a run the verdict compares."""
    prefix = view.name
    starts: Counter[str] = Counter()
    labels: list[str] = []
    for rec in events:
        ev = rec.event
        node_id = getattr(ev, "node_id", None)
        node = view.nodes.get(node_id) if isinstance(node_id, str) else None
        labels.append(f"{type(ev).__name__} {_rel(node.name, prefix)}" if node is not None
                      else type(ev).__name__)
        if isinstance(ev, NodeStarted) and node is not None and node.type in WORK_TYPES:
            starts[node.id] += 1
    exit_runs: dict[str, int] = {}
    exit_phases: dict[str, str] = {}
    for handler in _exit_handlers(view):
        label = _rel(handler.name, prefix)
        pods = [n for n in _subtree(view, handler) if n.type in WORK_TYPES]
        exit_runs[label] = max((starts[p.id] for p in pods), default=0)
        exit_phases[label] = handler.phase
    return RunOutcome(
        phase=view.phase,
        events=len(events),
        nodes={_rel(n.name, prefix): n.phase for n in view.nodes.values()},
        ran=sorted(_rel(view.nodes[nid].name, prefix) for nid in starts),
        exit_runs=exit_runs,
        exit_phases=exit_phases,
        labels=labels,
    )


def _rel(name: str, prefix: str) -> str:
    if name == prefix:
        return "@root"
    if name.startswith(prefix + "."):
        return name[len(prefix) + 1 :]
    if name.startswith(prefix):
        return name[len(prefix) :]
    return name


def _exit_handlers(view: WorkflowView) -> list[NodeView]:
    """Top nodes of exit handlers and exit hooks (role "exit", parent not an exit node)."""
    out = []
    for node in view.nodes.values():
        if node.role != "exit":
            continue
        parent = view.nodes.get(node.parent_id) if node.parent_id else None
        if parent is None or parent.role != "exit":
            out.append(node)
    return out


def _subtree(view: WorkflowView, top: NodeView) -> list[NodeView]:
    out, stack = [], [top]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(view.nodes[c] for c in node.children if c in view.nodes)
    return out


def verdict(clean: RunOutcome, got: RunOutcome | None, problems: Sequence[str]) -> list[str]:
    """Why a recovered run breaks the guarantee (empty: it does not)."""
    reasons = list(problems)
    if got is None:
        return reasons
    if got.phase != clean.phase:
        reasons.append(f"final phase {got.phase}, the clean run {clean.phase}")
    for handler, phase in clean.exit_phases.items():
        if phase in COMPLETED and got.exit_phases.get(handler) not in COMPLETED:
            reasons.append(f"exit handler {handler} owed but never completed")
    for handler, runs in got.exit_runs.items():
        if runs and got.exit_phases.get(handler) not in COMPLETED:
            reasons.append(f"exit handler {handler} started but never completed")
    clean_ran = set(clean.ran)
    for name in got.ran:
        if name not in clean_ran:
            was = clean.nodes.get(name)
            reasons.append(
                f"{name} ran; the clean run " + (f"had it {was}" if was else "never created it")
            )
    return reasons


# --- processes ----------------------------------------------------------------------------------

class _ForkServer:
    """A process that has imported the engine and forks a controller process per request.

    A fork of a single-threaded process with no event loop starts a controller in about a
    millisecond instead of ~0.5 s of imports. Requests and replies are JSON lines on its
    stdin/stdout; it reaps its children and reports their exit codes (negative: signal).
    """

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", "from engine.crashtest import _fork_server; _fork_server()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True,
        )
        self._lock = threading.Lock()
        self._cond = threading.Condition()
        self._next = 0
        self._pids: dict[int, int] = {}
        self._exits: dict[int, int] = {}
        self._dead = False
        self._reader = threading.Thread(target=self._read, name="crashtest-forkserver",
                                        daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            msg = json.loads(line)
            with self._cond:
                if "pid" in msg:
                    self._pids[int(msg["id"])] = int(msg["pid"])
                else:
                    self._exits[int(msg["exit"])] = int(msg["code"])
                self._cond.notify_all()
        with self._cond:
            self._dead = True
            self._cond.notify_all()

    @property
    def alive(self) -> bool:
        return not self._dead and self._proc.poll() is None

    def start(self, argv: list[str], env: dict[str, str | None], out: str, err: str) -> int:
        with self._lock:
            self._next += 1
            rid = self._next
            assert self._proc.stdin is not None
            request = {"id": rid, "argv": argv, "env": env, "out": out, "err": err}
            self._proc.stdin.write(json.dumps(request).encode() + b"\n")
            self._proc.stdin.flush()
        with self._cond:
            while rid not in self._pids:
                if self._dead:
                    raise RuntimeError("the crashtest fork server died")
                self._cond.wait(1.0)
            return self._pids.pop(rid)

    def poll(self, pid: int) -> int | None:
        with self._cond:
            return self._exits.get(pid)

    def wait(self, pid: int, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while pid not in self._exits:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._dead:
                    return None
                self._cond.wait(remaining)
            return self._exits.pop(pid)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


_server_lock = threading.Lock()
_server: _ForkServer | None = None


def _fork_server_client() -> _ForkServer:
    global _server
    with _server_lock:
        if _server is None or not _server.alive:
            _server = _ForkServer()
            atexit.register(_server.close)
        return _server


def _fork_server() -> None:
    """The fork server's main loop (runs in its own process; see `_ForkServer`)."""
    import importlib
    import select

    # Imported once here, shared by every fork (what `run`/`recover` would import lazily).
    for module in ("engine.cli", "engine.executors.local", "engine.executors.simulate",
                   "anyio._backends._asyncio", "rich.live", "rich.tree"):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    from .executors.local import _setpriv_path

    _setpriv_path()  # probes util-linux once (cached for every fork)

    stdin, stdout = 0, 1
    buffer = b""
    open_input = True
    children: set[int] = set()
    while open_input or children:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                children.clear()
                break
            if pid == 0:
                break
            children.discard(pid)
            code = os.waitstatus_to_exitcode(status)
            os.write(stdout, json.dumps({"exit": pid, "code": code}).encode() + b"\n")
        if not open_input:
            time.sleep(0.005)
            continue
        ready, _, _ = select.select([stdin], [], [], 0.005)
        if not ready:
            continue
        chunk = os.read(stdin, 65536)
        if not chunk:
            open_input = False
            continue
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.close(devnull)
                _child_main(request["argv"], request["env"], request["out"], request["err"])
            children.add(pid)
            os.write(stdout, json.dumps({"id": request["id"], "pid": pid}).encode() + b"\n")


def _child_main(argv: list[str], env: dict[str, str | None], out: str, err: str) -> None:
    """Runs in a forked controller process: the `exitflow` CLI with stdout/stderr to files."""
    for key, value in env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    out_fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err_fd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    os.close(out_fd)
    os.close(err_fd)
    os.setsid()  # its own session: a kill of the process group reaches only this controller
    code = 0
    try:
        from .cli import cli

        cli.main(args=argv, prog_name="exitflow", standalone_mode=True)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 70
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
    os._exit(code)


class _Proc:
    """A started controller process (forked or a subprocess)."""

    def __init__(self, argv: list[str], env: dict[str, str | None], workdir: str, tag: str,
                 isolation: str) -> None:
        self.out = os.path.join(workdir, f"{tag}.out")
        self.err = os.path.join(workdir, f"{tag}.err")
        self._popen: subprocess.Popen[bytes] | None = None
        self._server: _ForkServer | None = None
        if isolation == "subprocess":
            full = dict(os.environ)
            for key, value in env.items():
                if value is None:
                    full.pop(key, None)
                else:
                    full[key] = value
            with open(self.out, "wb") as out, open(self.err, "wb") as err:
                self._popen = subprocess.Popen(
                    [sys.executable, "-m", "engine", *argv], stdout=out, stderr=err, env=full,
                    start_new_session=True,
                )
            self.pid = self._popen.pid
        else:
            self._server = _fork_server_client()
            self.pid = self._server.start(argv, env, self.out, self.err)

    def poll(self) -> int | None:
        if self._popen is not None:
            return self._popen.poll()
        assert self._server is not None
        return self._server.poll(self.pid)

    def wait(self, timeout: float = _PROCESS_TIMEOUT) -> int:
        if self._popen is not None:
            try:
                code = self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                code = self._popen.wait()
                return -1
            return CRASH_EXIT if code == -signal.SIGKILL else code
        assert self._server is not None
        status = self._server.wait(self.pid, timeout)
        if status is None:
            self.kill()
            self._server.wait(self.pid, 10)
            return -1
        return CRASH_EXIT if status == -signal.SIGKILL else status

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def stdout(self) -> str:
        try:
            return Path(self.out).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stderr_tail(self) -> str:
        try:
            lines = Path(self.err).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""


# --- one boundary -------------------------------------------------------------------------------


class _Plan(msgspec.Struct, frozen=True, kw_only=True):
    file: str
    parameters: list[str]
    executor: str
    simulate_fail: list[str]
    isolation: str
    timeout: float


def _run_argv(plan: _Plan, db: str) -> list[str]:
    argv = ["run", plan.file, "--db", db, "-o", "json", "--executor", plan.executor]
    for p in plan.parameters:
        argv += ["-p", p]
    for f in plan.simulate_fail:
        argv += ["--simulate-fail", f]
    return argv


def _recover_argv(plan: _Plan, db: str) -> list[str]:
    argv = ["recover", "--db", db, "-o", "json", "--executor", plan.executor]
    for f in plan.simulate_fail:
        argv += ["--simulate-fail", f]
    return argv


async def _read_outcome(db: str) -> tuple[list[LogCheck], list[RunOutcome]]:
    if not os.path.exists(db):
        return [], []
    store = await SqliteStore.open(db, read_only=True)
    try:
        checks, outcomes = [], []
        for record in await store.list_workflows():
            check = await verify_log(store, record.uid)
            checks.append(check)
            events = await store.read(record.uid)
            try:
                view = fold(r.event for r in events)
            except ExitflowError:
                continue
            if view.parent is None:  # child workflows (resource templates) are not the run
                outcomes.append(outcome_of(view, events))
        return checks, outcomes
    finally:
        await store.aclose()


def _leftovers(checks: Iterable[LogCheck]) -> list[str]:
    from .executors.local import find_processes

    out = []
    for check in checks:
        pids = find_processes(check.uid)
        if pids:
            out.append(f"processes of the workflow still running after recovery: {pids}")
    return out


def _reported(text: str) -> list[dict[str, Any]]:
    """The workflow JSON documents a `run -o json` / `recover -o json` printed."""
    text = text.strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return []
    if isinstance(data, dict):
        return [data]
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def _clean_run(plan: _Plan, workdir: str) -> tuple[RunOutcome, list[str]]:
    db = os.path.join(workdir, "clean.db")
    proc = _Proc(_run_argv(plan, db), {"EXITFLOW_CRASH_AT": None}, workdir, "clean",
                 plan.isolation)
    code = proc.wait(plan.timeout)
    checks, outcomes = anyio.run(_read_outcome, db)
    if code not in (0, 1, 3) or len(outcomes) != 1:
        raise InputError(
            f"{plan.file}: the clean run did not finish (exit {code}): {proc.stderr_tail()}"
        )
    problems = [p for c in checks for p in c.problems]
    return outcomes[0], problems


def _boundary(plan: _Plan, clean: RunOutcome, count: int, when: str, workdir: str,
              keep: bool) -> BoundaryResult:
    started = time.monotonic()
    tag = f"b{count}-{when}"
    db = os.path.join(workdir, f"{tag}.db")
    label = clean.labels[count - 1] if 0 < count <= len(clean.labels) else "(past the end)"
    reasons: list[str] = []
    if when == "kill":
        run = _Proc(_run_argv(plan, db), {"EXITFLOW_CRASH_AT": None}, workdir, tag,
                    plan.isolation)
        anyio.run(_kill_when, run, db, count, plan.timeout)
        code = run.wait(plan.timeout)
    else:
        run = _Proc(_run_argv(plan, db), {"EXITFLOW_CRASH_AT": f"{count}:{when}"}, workdir, tag,
                    plan.isolation)
        code = run.wait(plan.timeout)
    crashed = code == CRASH_EXIT
    if code == -1:
        reasons.append(f"the run did not end within {plan.timeout:g}s")
    elif not crashed and code not in (0, 1, 3):
        reasons.append(f"the run exited {code}: {run.stderr_tail()}")
    reported = _reported(run.stdout())
    committed = anyio.run(_last_seq, db)
    rec = _Proc(_recover_argv(plan, db), {"EXITFLOW_CRASH_AT": None}, workdir, tag + "-recover",
                plan.isolation)
    rcode = rec.wait(plan.timeout)
    if rcode == -1:
        reasons.append(f"recovery did not end within {plan.timeout:g}s")
    elif rcode not in (0, 1, 3):
        reasons.append(f"recovery exited {rcode}: {rec.stderr_tail()}")
    reported += _reported(rec.stdout())
    checks, outcomes = anyio.run(_read_outcome, db)
    got: RunOutcome | None = None
    if not checks:
        if not (when == "before" and count == 1) and not (when == "kill" and not crashed):
            reasons.append("the workflow is not in the log")
        phase = "-"
    else:
        check = checks[0]
        phase = check.phase
        reasons.extend(check.problems)
        if not check.finished:
            reasons.append(f"recovery left the workflow {check.phase}")
        for doc in reported:
            if doc.get("metadata", {}).get("uid") == check.uid and doc != check.report:
                reasons.append("a fresh fold of the log differs from the controller's state")
        got = outcomes[0] if outcomes else None
        if plan.executor == "local":
            reasons.extend(_leftovers(checks))
    reasons = verdict(clean, got, reasons)
    kept = None
    if reasons and keep:
        kept = db
    elif not keep or not reasons:
        for suffix in ("", "-wal", "-shm", ".lock"):
            with contextlib.suppress(OSError):
                os.unlink(db + suffix)
    return BoundaryResult(
        boundary=f"kill@{count}" if when == "kill" else f"{count}:{when}",
        count=count,
        when=when,
        label=label,
        crashed=crashed,
        committed=committed,
        phase=phase,
        exit_runs=got.exit_runs if got is not None else {},
        ok=not reasons,
        reasons=reasons,
        seconds=round(time.monotonic() - started, 3),
        kept=kept,
    )


async def _last_seq(db: str) -> int:
    if not os.path.exists(db):
        return 0
    try:
        store = await SqliteStore.open(db, read_only=True)
    except ExitflowError:
        return 0
    try:
        records = await store.list_workflows()
        return records[0].last_seq if records else 0
    finally:
        await store.aclose()


async def _kill_when(proc: _Proc, db: str, count: int, timeout: float) -> None:
    """SIGKILL `proc` from outside as soon as the workflow's log has `count` events."""
    deadline = time.monotonic() + timeout
    store: SqliteStore | None = None
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if store is None:
                with contextlib.suppress(ExitflowError):
                    store = await SqliteStore.open(db, read_only=True)
            if store is not None:
                with contextlib.suppress(ExitflowError):
                    records = await store.list_workflows()
                    if records and records[0].last_seq >= count:
                        proc.kill()
                        return
            await anyio.sleep(_KILL_POLL)
    finally:
        if store is not None:
            await store.aclose()


# --- the whole test -----------------------------------------------------------------------------


def run_crashtest(
    file: str,
    *,
    parameters: Sequence[str] = (),
    executor: str = "local",
    simulate_fail: Sequence[str] = (),
    workers: int | None = None,
    when: Sequence[str] = ("after",),
    boundaries: Iterable[int] | None = None,
    kill: Iterable[int] = (),
    isolation: Isolation = "fork",
    timeout: float = _PROCESS_TIMEOUT,
    keep_failed: bool = False,
    workdir: str | None = None,
    on_clean: Callable[[RunOutcome, int], None] | None = None,
    on_result: Callable[[BoundaryResult], None] | None = None,
) -> CrashtestReport:
    """Run `file` cleanly, then crash it at every event boundary (or the given ones) and recover.

    `when`: crash "after" (default) and/or "before" the transaction holding the N-th event.
    `kill`: event counts at which to SIGKILL the run from outside (in addition). Returns the
    report; `on_clean(outcome, n_boundaries)` and `on_result(result)` report progress (the latter
    from worker threads).
    """
    started = time.monotonic()
    if not os.path.isfile(file):
        raise InputError(f"{file}: no such file")
    for w in when:
        if w not in ("after", "before"):
            raise InputError(f"crash point {w!r}: expected after or before")
    plan = _Plan(
        file=os.path.abspath(file),
        parameters=list(parameters),
        executor=executor,
        simulate_fail=list(simulate_fail),
        isolation=isolation,
        timeout=timeout,
    )
    workers = workers or default_workers()
    own_dir = workdir is None
    base = workdir or tempfile.mkdtemp(prefix="exitflow-crashtest-")
    failed_any = False
    try:
        clean, clean_problems = _clean_run(plan, base)
        if clean_problems:
            raise InputError(f"{file}: the clean run's log does not verify: {clean_problems[0]}")
        counts = list(boundaries) if boundaries is not None else list(range(1, clean.events + 1))
        points = [(n, w) for n in counts for w in when] + [(n, "kill") for n in kill]
        if on_clean is not None:
            on_clean(clean, len(points))
        results: list[BoundaryResult] = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [
                pool.submit(_boundary, plan, clean, n, w, base, keep_failed) for n, w in points
            ]
            for future in concurrent.futures.as_completed(futures):
                result = future.result()
                results.append(result)
                failed_any = failed_any or not result.ok
                if on_result is not None:
                    on_result(result)
        order = {"before": 0, "after": 1, "kill": 2}
        results.sort(key=lambda r: (r.count, order.get(r.when, 3)))
        return CrashtestReport(
            file=file,
            executor=executor,
            clean=clean,
            boundaries=results,
            seconds=round(time.monotonic() - started, 3),
            workers=workers,
        )
    finally:
        if own_dir and not (keep_failed and failed_any):
            shutil.rmtree(base, ignore_errors=True)
