"""The one object that writes to the terminal: trees, tables, live progress, errors."""

from __future__ import annotations

import json
import re
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ..events import (
    ERROR,
    EXIT_PHASE,
    FAILED,
    OMITTED,
    PENDING,
    POD,
    RUNNING,
    SKIPPED,
    SKIPPED_TYPE,
    STEP_GROUP,
    SUCCEEDED,
    TASK_GROUP,
)
from ..state.view import NodeView, WorkflowView

PHASE_STYLE = {
    SUCCEEDED: ("✔", "green"),
    FAILED: ("✖", "red"),
    ERROR: ("⚠", "red"),
    SKIPPED: ("○", "dim"),
    OMITTED: ("-", "dim"),
    RUNNING: ("●", "cyan"),
    PENDING: ("◷", "yellow"),
    EXIT_PHASE: ("●", "magenta"),
}
#: Node types shown only through their children (as `argo get` does).
_HIDDEN = {STEP_GROUP, TASK_GROUP}

#: C0/C1 controls, DEL, and the Unicode line separators and bidirectional overrides: text from
#: users and steps that could move the cursor, retitle the terminal (OSC) or reorder what is shown.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """`text` with every control character shown as an escape (`\\x1b`, `\\n`); the terminal
    never interprets what users or steps wrote. (`logs` prints step output raw, as `argo logs`.)"""
    return _CONTROL.sub(_escape_one, text)


#: The same, but keeping the line breaks and tabs of a multi-line document (YAML as stored).
_CONTROL_IN_DOCUMENT = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def escape_document(text: str) -> str:
    """`escape_controls` for a document printed whole: its lines and tabs stay as they are."""
    return _CONTROL_IN_DOCUMENT.sub(_escape_one, text)


def plain(text: str, style: str = "") -> Text:
    """User or step text as rich Text: never markup, control characters escaped."""
    return Text(escape_controls(text), style=style)


class Terminal:
    def __init__(self) -> None:
        # markup=False: a string is never read as rich markup (`[/x]` in a parameter is text).
        self.out = Console(highlight=False, soft_wrap=True, markup=False)
        if not self.out.is_terminal:
            # Piped output is read by programs and people alike: never cut names to 80 columns.
            self.out = Console(highlight=False, soft_wrap=True, width=240, markup=False)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

    @property
    def interactive(self) -> bool:
        return self.out.is_terminal

    def json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        sys.stdout.flush()

    def line(self, text: str) -> None:
        sys.stdout.write(escape_controls(text) + "\n")
        sys.stdout.flush()

    def document(self, text: str) -> None:
        """A multi-line document (a stored template or CronWorkflow), lines kept."""
        sys.stdout.write(escape_document(text) + "\n")
        sys.stdout.flush()

    def error(self, message: str) -> None:
        # One line, no markup interpretation: messages carry user text ([...] included).
        self.err.print(plain(f"exitflow: {message}", style="red"))

    def note(self, message: str) -> None:
        self.err.print(plain(message, style="dim"))

    def workflow(self, view: WorkflowView, *, now: float | None = None) -> None:
        self.out.print(render_workflow(view, now=now))

    def table(self, table: Table) -> None:
        self.out.print(table)

    def live(self) -> LiveProgress:
        return LiveProgress(self)


class LiveProgress:
    """Redraws the node tree as a run moves; a no-op when stdout is not a terminal."""

    def __init__(self, terminal: Terminal) -> None:
        self._terminal = terminal
        self._live: Live | None = None
        self._last = 0.0

    def __enter__(self) -> LiveProgress:
        if self._terminal.interactive:
            self._live = Live(console=self._terminal.out, refresh_per_second=8, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def update(self, view: WorkflowView) -> None:
        if self._live is None:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and not view.finished:
            return
        self._last = now
        self._live.update(render_workflow(view))


def _duration(start: float | None, end: float | None, now: float | None = None) -> str:
    if start is None:
        return ""
    if end is None:
        end = now if now is not None else time.time()
    seconds = end - start
    if seconds < 1:
        return f"{max(seconds, 0.0) * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _label(node: NodeView, now: float | None = None) -> Text:
    icon, style = PHASE_STYLE.get(node.phase, ("?", ""))
    text = Text()
    text.append(f"{icon} ", style=style)
    text.append(escape_controls(node.display_name), style="bold" if node.type != POD else "")
    if node.template_name and node.type != SKIPPED_TYPE:
        text.append(f"  {escape_controls(node.template_name)}", style="dim")
    text.append(f"  {node.phase}", style=style)
    dur = _duration(node.started_at, node.finished_at, now)
    if dur:
        text.append(f"  {dur}", style="dim")
    if node.attempt > 1:
        text.append(f"  attempt {node.attempt}", style="yellow")
    if node.message:
        text.append(f"  {escape_controls(node.message)}", style="dim")
    return text


def render_workflow(view: WorkflowView, *, now: float | None = None) -> Group:
    """The run as a header and a tree; unfinished durations run to `now` (default: the wall
    clock; a replay passes the time of the event it stands at)."""
    icon, style = PHASE_STYLE.get(view.phase, ("?", ""))
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    header.add_row("Name:", plain(view.name))
    header.add_row("UID:", plain(view.uid))
    header.add_row("Status:", Text(f"{icon} {view.phase}", style=style))
    if view.parent is not None:
        header.add_row("Parent:", f"{view.parent[1]} (node {view.parent[2]})")
    if view.message:
        header.add_row("Message:", plain(view.message))
    if view.parameters:
        header.add_row(
            "Parameters:", plain(", ".join(f"{k}={v}" for k, v in view.parameters.items()))
        )
    header.add_row("Duration:", _duration(view.started_at, view.finished_at, now))

    roots = [n for n in view.nodes.values() if n.parent_id is None]
    tree = Tree(Text("STEP", style="bold"), guide_style="dim")

    def add(branch: Tree, node: NodeView) -> None:
        if node.type in _HIDDEN:
            for cid in node.children:
                add(branch, view.nodes[cid])
            return
        sub = branch.add(_label(node, now))
        for cid in node.children:
            add(sub, view.nodes[cid])

    for root in roots:
        add(tree, root)
    return Group(header, Text(""), tree)


def maybe_live(terminal: Terminal, enabled: bool) -> AbstractContextManager[Any]:
    return terminal.live() if enabled else nullcontext(None)
