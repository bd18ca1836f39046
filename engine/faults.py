"""Fault injection for crash tests: a commit hook the caller hands to a store.

The store knows nothing of crashing: it calls `before_commit(n)` right before it commits a
transaction holding `n` events and `after_commit(n)` right after. `CrashHook` ends the process
(`os._exit`, no cleanup) at the transaction holding the N-th event this process appends.
"""

from __future__ import annotations

import os
from typing import Final

import msgspec

from .errors import InputError

__all__ = [
    "CRASH_ENV",
    "CRASH_EXIT_CODE",
    "CrashHook",
    "CrashPoint",
    "crash_hook_from_env",
    "crash_point_from_env",
]

#: Environment variable read by `crash_point_from_env` (`N[:before|after]`).
CRASH_ENV: Final = "EXITFLOW_CRASH_AT"
#: The exit status of an injected crash (what a SIGKILL'd process reports).
CRASH_EXIT_CODE: Final = 137


class CrashPoint(msgspec.Struct, frozen=True):
    """Where to crash: right before or after the transaction holding the N-th event this
    process appends (1-based, counted over all workflows)."""

    count: int
    when: str = "after"  # "before" | "after"

    @classmethod
    def parse(cls, text: str) -> CrashPoint:
        count, _, when = text.partition(":")
        when = when or "after"
        if when not in ("before", "after") or not count.isdigit() or int(count) < 1:
            raise ValueError(f"{CRASH_ENV} must be N[:before|after], got {text!r}")
        return cls(int(count), when)


def crash_point_from_env() -> CrashPoint | None:
    """The crash point in `EXITFLOW_CRASH_AT` (`N[:before|after]`), or None when unset/empty."""
    text = os.environ.get(CRASH_ENV, "").strip()
    if not text:
        return None
    try:
        return CrashPoint.parse(text)
    except ValueError as e:
        raise InputError(str(e)) from e


class CrashHook:
    """A store commit hook that kills the process at a `CrashPoint` (see the module doc)."""

    def __init__(self, point: CrashPoint) -> None:
        self.point = point
        self.appended = 0  # events committed so far by the store this hook is given to
        self._armed = False

    def before_commit(self, events: int) -> None:
        self._armed = self.appended < self.point.count <= self.appended + events
        if self._armed and self.point.when == "before":
            os._exit(CRASH_EXIT_CODE)

    def after_commit(self, events: int) -> None:
        self.appended += events
        if self._armed:
            os._exit(CRASH_EXIT_CODE)


def crash_hook_from_env() -> CrashHook | None:
    """A `CrashHook` for `EXITFLOW_CRASH_AT`, or None when it is unset."""
    point = crash_point_from_env()
    return CrashHook(point) if point is not None else None
