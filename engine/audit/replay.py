"""`replay`: a run exactly as it stood after one of its events, by the same fold as live runs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from ..errors import InputError
from ..events import AnyEvent
from ..state.fold import apply, fold
from ..state.view import WorkflowView


def parse_at(text: str, events: Sequence[AnyEvent]) -> int:
    """The seq named by `--at`: a sequence number (1..N), or a time (RFC 3339 / ISO 8601, or
    epoch seconds with a decimal point): the last event at or before it."""
    n = len(events)
    text = text.strip()
    if text.isdigit():
        seq = int(text)
        if not 1 <= seq <= n:
            raise InputError(f"--at {seq}: the run has events 1..{n}")
        return seq
    ts = parse_time(text, option="--at")
    seq = 0
    for i, event in enumerate(events, start=1):
        if event.ts <= ts:
            seq = i
    if seq == 0:
        raise InputError(f"--at {text}: the run was submitted after that time")
    return seq


def parse_time(text: str, *, option: str) -> float:
    """Epoch seconds from `2024-05-01`, `2024-05-01T12:00:00Z`, `...+02:00` or `1714560000.0`
    (a time without zone is UTC)."""
    try:
        return float(text) if "." in text and text.replace(".", "", 1).isdigit() else _iso(text)
    except ValueError:
        raise InputError(
            f"{option} {text!r}: expected a sequence number or a time like 2024-05-01T12:00:00Z"
        ) from None


def _iso(text: str) -> float:
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def view_at(events: Sequence[AnyEvent], seq: int) -> WorkflowView:
    """The folded state after event `seq` (1-based)."""
    return fold(events[:seq])


def walk(events: Sequence[AnyEvent], start: int = 1) -> Iterator[tuple[int, WorkflowView]]:
    """(seq, state after it) for seq = start..N; the same view object, advanced in place."""
    view = fold(events[: max(start - 1, 0)])
    for seq in range(max(start, 1), len(events) + 1):
        apply(view, events[seq - 1])
        yield seq, view
