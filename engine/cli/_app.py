"""The click group, shared options, and the one place errors become exit codes."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import anyio
import click

from ..errors import ExitflowError
from ..events import ERROR, FAILED, SUCCEEDED
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
        metavar="PATH",
        help="Event log (SQLite). Default: $EXITFLOW_DB, else ./exitflow.db.",
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
