"""`exitflow doctor`: is a Docker daemon reachable, and are the images the workflows need there?

    exitflow doctor                          # the images of every examples/*.yaml
    exitflow doctor --images wf.yaml ...     # the images of these workflow files (or directories)
    exitflow doctor -o json

Exit 0 when the daemon answers and every image is present locally (nothing is ever pulled), 1
otherwise, 2 for an unreadable workflow file. An image written with `{{ }}` (chosen at run time)
cannot be checked; it is listed as "templated" and does not count against the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click
import msgspec
from rich.table import Table
from rich.text import Text

from ..errors import InputError
from ..spec import Template, load_file
from ._app import run_async, terminal

if TYPE_CHECKING:
    # Imported inside `doctor`: aiodocker/aiohttp cost ~120 ms, on every CLI start otherwise.
    # (msgspec resolves DoctorResult's annotations only to decode, never done here.)
    from ..executors.docker import DoctorReport

__all__ = ["COMMANDS", "DoctorResult", "doctor", "images_of", "workflow_images"]

#: The examples shipped with the project (what `doctor` checks by default).
EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"


class DoctorResult(msgspec.Struct, frozen=True, kw_only=True):
    """What `exitflow doctor -o json` prints."""

    ok: bool
    daemon: DoctorReport
    #: image -> the workflow files that use it (images that can be checked).
    images: dict[str, list[str]]
    #: image written with `{{ }}` -> the workflow files that use it (not checked).
    templated: dict[str, list[str]]


def _templates(templates: Iterable[Template]) -> Iterator[Template]:
    """Every template, including the `inline` ones of steps and DAG tasks, depth first."""
    for tmpl in templates:
        yield tmpl
        inline = [step.inline for group in tmpl.steps or [] for step in group]
        inline += [task.inline for task in (tmpl.dag.tasks if tmpl.dag is not None else [])]
        yield from _templates(t for t in inline if t is not None)


def images_of(path: str | Path) -> list[str]:
    """The images of one workflow file's container and script templates, in first-use order.

    Raises SpecError (an InputError) when the file cannot be read or parsed.
    """
    workflow = load_file(path)
    found: dict[str, None] = {}
    for tmpl in _templates(workflow.spec.templates):
        for body in (tmpl.container, tmpl.script):
            if body is not None and body.image:
                found.setdefault(body.image, None)
    return list(found)


def _workflow_files(paths: Iterable[str]) -> list[Path]:
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files += sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"{name}: no such workflow file or directory")
    return files


def workflow_images(paths: Iterable[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(image -> files, templated image -> files) for workflow files and directories."""
    images: dict[str, list[str]] = {}
    templated: dict[str, list[str]] = {}
    for file in _workflow_files(paths):
        for image in images_of(file):
            target = templated if "{{" in image else images
            target.setdefault(image, []).append(str(file))
    return images, templated


@click.command()
@click.option(
    "--images",
    "files",
    multiple=True,
    metavar="FILE",
    help="A workflow file or directory whose images to check (repeatable). "
    "Default: the project's examples/.",
)
@click.option("--url", default=None, metavar="URL",
              help="Docker daemon URL. Default: $DOCKER_HOST, else unix:///var/run/docker.sock.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds to wait for each answer of the daemon.")
@click.option("-o", "--output", type=click.Choice(["json"]), default=None)
@click.pass_context
@run_async
async def doctor(ctx: click.Context, files: tuple[str, ...], url: str | None, timeout: float,
                 output: str | None) -> None:
    """Check the Docker executor can run: daemon reachable, images present (exit 0 / 1)."""
    from ..executors.docker import default_url
    from ..executors.docker import doctor as check_daemon

    paths = list(files) or ([str(EXAMPLES_DIR)] if EXAMPLES_DIR.is_dir() else [])
    images, templated = workflow_images(paths)
    report = await check_daemon(sorted(images), url=url or default_url(), timeout=timeout)
    ok = report.reachable and not report.images_missing
    if output == "json":
        result = DoctorResult(ok=ok, daemon=report, images=images, templated=templated)
        terminal.json(msgspec.to_builtins(result))
    else:
        _render(report, images, templated)
    ctx.exit(0 if ok else 1)


def _render(report: DoctorReport, images: dict[str, list[str]],
            templated: dict[str, list[str]]) -> None:
    if report.reachable:
        terminal.out.print(Text.assemble(
            ("✔ ", "green"), f"Docker daemon at {report.url}: server {report.server_version} "
            f"(API {report.api_version})"))
    else:
        terminal.out.print(Text.assemble(
            ("✖ ", "red"), f"no Docker daemon at {report.url}: {report.error}"))
        terminal.out.print(Text("  start one with: bash .ci/setup-docker.sh", style="dim"))
    if not images and not templated:
        terminal.out.print(Text("no images to check", style="dim"))
        return
    table = Table(show_edge=False, box=None, pad_edge=False)
    table.add_column("IMAGE", no_wrap=True)
    table.add_column("STATUS", no_wrap=True)
    table.add_column("USED BY", style="dim", no_wrap=True, overflow="ellipsis")
    present = set(report.images_present)
    for image in sorted(images):
        if not report.reachable:
            status = Text("unknown", style="yellow")
        elif image in present:
            status = Text("present", style="green")
        else:
            status = Text("missing", style="red")
        table.add_row(image, status, _used_by(images[image]))
    for image in sorted(templated):
        table.add_row(image, Text("templated (not checked)", style="dim"),
                      _used_by(templated[image]))
    terminal.table(table)
    if report.reachable and report.images_missing:
        terminal.out.print(Text(
            f"{len(report.images_missing)} image(s) missing; nothing is pulled: build or load "
            "them (bash .ci/setup-docker.sh makes offline stand-ins)", style="red"))


def _used_by(files: list[str]) -> str:
    first = Path(files[0]).name
    return first if len(files) == 1 else f"{first} (+{len(files) - 1})"


COMMANDS = [doctor]
