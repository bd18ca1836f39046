"""The `exitflow` command line: parse, call the API, render through one terminal object."""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from .. import __version__
from ._app import ExitflowGroup
from .inspect import get, lint, list_, logs, resume, stop, suspend, terminate
from .run import daemon, recover, run, submit

#: Modules that contribute a `COMMANDS` list of click commands (one per feature area).
_FEATURE_MODULES = (
    "crashtest", "audit", "doctor", "server", "objects", "status"
)


@click.group(cls=ExitflowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="exitflow")
def cli() -> None:
    """Exitflow: Argo-style workflows whose exit handlers run at least once, even when the
    controller crashes. Every transition is an event in one SQLite file."""


for _command in (
    run, submit, recover, daemon, get, list_, logs, lint, stop, terminate, suspend, resume
):
    cli.add_command(_command)

for _name in _FEATURE_MODULES:
    if (Path(__file__).parent / f"{_name}.py").exists():
        for _command in importlib.import_module(f"{__name__}.{_name}").COMMANDS:
            cli.add_command(_command)


def main() -> None:
    cli(prog_name="exitflow")


__all__ = ["cli", "main"]
