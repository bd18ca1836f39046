"""The click group, shared options, and the one place errors become exit codes."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import anyio
import click

from ..errors import ExitflowError
from ..events import ERROR, FAILED, SUCCEEDED
from ..limits import PARSE_LIMITS, RUN_LIMITS, ParseLimit, RunLimit, RunLimits, positive
from .terminal import Terminal

T = TypeVar("T")

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ERROR = 3
PHASE_EXIT = {SUCCEEDED: EXIT_SUCCEEDED, FAILED: EXIT_FAILED, ERROR: EXIT_ERROR}

terminal = Terminal()


class ExitflowGroup(click.Group):
    """Maps every ExitflowError to one line on stderr and its exit code; no tracebacks unless
    EXITFLOW_DEBUG is set."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        for arg in args:
            bad = _not_utf8(arg)
            if bad is not None:
                terminal.error(f"argument {bad} is not valid UTF-8")
                ctx.exit(EXIT_USAGE)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ExitflowError as e:
            if os.environ.get("EXITFLOW_DEBUG"):
                raise
            terminal.error(str(e).splitlines()[0] if str(e) else type(e).__name__)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            terminal.error("interrupted")
            ctx.exit(130)
        except Terminated as e:
            terminal.error(f"{e}: stopped; what ran is recorded and the steps started were"
                           " killed (`exitflow recover` finishes unfinished runs)")
            ctx.exit(128 + e.signum)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as e:  # a bug: one line and exit 3 (EXITFLOW_DEBUG=1 shows the trace)
            if os.environ.get("EXITFLOW_DEBUG"):
                raise
            first = str(e).splitlines()[0] if str(e) else ""
            terminal.error(f"internal error: {type(e).__name__}: {first}"
                           " (EXITFLOW_DEBUG=1 shows the traceback)")
            ctx.exit(EXIT_ERROR)


def _not_utf8(arg: str) -> str | None:
    """None for a UTF-8 argument (or the path of an existing file); else the argument shown with
    its undecodable bytes escaped. Python decodes argv with surrogateescape: a byte that is not
    UTF-8 arrives as a lone surrogate, which no store, JSON or terminal can carry."""
    try:
        arg.encode("utf-8")
        return None
    except UnicodeEncodeError:
        pass
    raw = arg.encode("utf-8", "surrogateescape")
    if os.path.exists(raw):
        return None
    return repr(raw)[1:]


class Terminated(Exception):
    """SIGTERM or SIGHUP stopped a command (exit 128 + the signal number)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


async def _stoppable(fn: Callable[..., Coroutine[Any, Any, T]], args: Any, kwargs: Any) -> T:
    """Run `fn`; SIGTERM/SIGHUP cancel it as SIGINT does (no new work starts, the steps it
    started are killed by their cancellation cleanup, everything appended stays) and then
    raise Terminated."""
    loop = asyncio.get_running_loop()
    received: list[int] = []
    with anyio.CancelScope() as scope:

        def on_signal(signum: int) -> None:
            if not received:
                received.append(signum)
                scope.cancel()

        for signum in _STOP_SIGNALS:
            loop.add_signal_handler(signum, on_signal, signum)
        try:
            result = await fn(*args, **kwargs)
        finally:
            for signum in _STOP_SIGNALS:
                loop.remove_signal_handler(signum)
    if received:
        raise Terminated(received[0])
    return result


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def run_stoppable(fn: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """`run_async` for one-shot commands that SIGTERM and SIGHUP stop like SIGINT."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return anyio.run(_stoppable, fn, args, kwargs, backend="asyncio")

    return wrapper


def run_async(fn: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return anyio.run(functools.partial(fn, *args, **kwargs), backend="asyncio")

    return wrapper


def db_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        "db",
        default=None,
        metavar="PATH|URL",
        help="Event log: a SQLite file, or postgresql://user@host:port/db."
        " Default: $EXITFLOW_DB, else ./exitflow.db.",
    )(fn)


def resolve_db(db: str | None) -> str:
    from ..api import default_db

    return db or default_db()


def param_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "-p",
        "--parameter",
        "parameters",
        multiple=True,
        metavar="NAME=VALUE",
        help="Override a spec.arguments parameter (repeatable).",
    )(fn)


def _set_http_allow(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """`--http-allow` is handed to every controller of this command (and the ones crashtest
    starts) through the environment variable the HTTP executor reads."""
    from ..executors.http import ALLOW_ENV, parse_allow

    if value is None:
        return
    if parse_allow(value) is None:
        raise click.BadParameter("give at least one host", param_hint="--http-allow")
    os.environ[ALLOW_ENV] = value


def executor_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--http-allow",
        metavar="HOST[,HOST]",
        default=None,
        expose_value=False,
        callback=_set_http_allow,
        help="Hosts that http templates may call (default: $EXITFLOW_HTTP_ALLOW, else any host).",
    )(fn)
    fn = click.option(
        "--simulate-fail",
        "simulate_fail",
        multiple=True,
        metavar="NODE[=CODE]",
        help="With --executor simulate: make NODE exit with CODE (default 1).",
    )(fn)
    return click.option(
        "--executor",
        type=click.Choice(["local", "docker", "simulate"]),
        default=None,
        help="Where Pod steps run (default: the workflow's own choice, else local).",
    )(fn)


def executor_options(simulate_fail: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    fail: dict[str, int] = {}
    for item in simulate_fail:
        node, _, code = item.partition("=")
        try:
            fail[node] = int(code) if code else 1
        except ValueError:
            raise click.BadParameter(
                f"{item!r}: CODE must be an integer", param_hint="--simulate-fail"
            ) from None
    return {"simulate": {"fail": fail}} if fail else {}


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def parse_limit_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--max-spec-bytes`, `--max-yaml-depth`, `--max-yaml-alias-nodes`: each sets its
    environment variable (engine.limits.PARSE_LIMITS) for this command."""
    for lim in reversed(PARSE_LIMITS):
        fn = click.option(
            lim.flag, default=None, expose_value=False, metavar="N",
            callback=functools.partial(_set_parse_limit, lim),
            help=f"Refuse a spec over this {lim.name} (default ${lim.env}, else"
                 f" {lim.default}).",
        )(fn)
    return fn


def _set_parse_limit(lim: ParseLimit, ctx: click.Context, param: click.Parameter,
                     value: str | None) -> None:
    if value is not None:
        os.environ[lim.env] = str(positive(value, f"{lim.flag} {value!r}"))


def run_limit_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--max-depth`, `--max-loop-items`, `--max-nodes` (engine.limits.RUN_LIMITS), recorded
    with the run; read them back with `run_limits(ctx)`."""
    for lim in reversed(RUN_LIMITS):
        fn = click.option(
            lim.flag, default=None, expose_value=False, metavar="N",
            callback=functools.partial(_keep_run_limit, lim),
            help=f"Limit on the {lim.what}, recorded with the run (default ${lim.env}, else"
                 f" {lim.default}).",
        )(fn)
    return fn


def _keep_run_limit(lim: RunLimit, ctx: click.Context, param: click.Parameter,
                    value: str | None) -> None:
    if value is not None:
        limits = ctx.meta.setdefault("exitflow.run_limits", {})
        limits[lim.key] = positive(value, f"{lim.flag} {value!r}")


def run_limits(ctx: click.Context) -> RunLimits:
    """The run limits of a new run: the flags, else the environment, else the defaults."""
    return RunLimits.resolve(ctx.meta.get("exitflow.run_limits", {}))
