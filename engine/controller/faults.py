"""Injected faults (`exitflow run FILE --fail NODE[=Failed|Error|EXITCODE]`): the one rule of
which nodes they hit and how those nodes end.

A run records its faults in `WorkflowSubmitted.faults` (pattern -> outcome), so recovery, replay
and `verify` decide exactly as the run did. A Pod or HTTP node whose display name matches a
pattern (exactly or as a glob; a retry child `step(1)` also matches as `step`; the node named
after the workflow also as `@root`, `<workflow>.X` also as `@X`) ends with the
outcome without running: `NodeFinished(injected=True)`, never a `NodeStarted`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping

from ..errors import InputError
from ..events import ERROR, FAILED, SUCCEEDED

__all__ = ["fault_outcome", "match_fault", "parse_fault", "stable_name", "without_retry"]

_RETRY_SUFFIX = re.compile(r"\(\d+\)$")


def parse_fault(text: str) -> tuple[str, str]:
    """`NODE[=Failed|Error|EXITCODE]` -> (pattern, outcome); InputError (exit 2) when invalid."""
    pattern, _, outcome = text.partition("=")
    pattern, outcome = pattern.strip(), outcome.strip() or FAILED
    if not pattern:
        raise InputError(f"--fail {text!r}: give a node display name or glob")
    for word in (FAILED, ERROR):
        if outcome.lower() == word.lower():
            return pattern, word
    try:
        code = int(outcome)
    except ValueError:
        raise InputError(
            f"--fail {text!r}: the outcome must be Failed, Error or an exit code"
        ) from None
    if not 0 <= code <= 255:
        raise InputError(f"--fail {text!r}: an exit code is 0..255")
    return pattern, str(code)


def without_retry(name: str) -> str:
    """`step(1)` -> `step`: the name a retry child shares with its step."""
    return _RETRY_SUFFIX.sub("", name)


def stable_name(display_name: str, workflow_name: str) -> str:
    """A node's display name that does not change between runs of one file: a node named after
    the workflow (whose name may be generated) is `@root`, and `<workflow>.X` is `@X`."""
    if display_name == workflow_name:
        return "@root"
    if display_name.startswith(workflow_name + "."):
        return "@" + display_name[len(workflow_name) + 1:]
    return display_name


def match_fault(faults: Mapping[str, str], display_name: str, workflow_name: str) -> str | None:
    """The outcome injected into the node called `display_name`, or None. A pattern matches
    the display name or its `stable_name`, each also without a retry suffix `(n)`."""
    stable = stable_name(display_name, workflow_name)
    names = {display_name, stable, without_retry(display_name), without_retry(stable)}
    for pattern, outcome in faults.items():
        if any(n == pattern or fnmatch.fnmatchcase(n, pattern) for n in names):
            return outcome
    return None


def fault_outcome(outcome: str) -> tuple[str, str, int | None]:
    """(phase, message, exit code) of an injected outcome."""
    if outcome == ERROR:
        return ERROR, "injected fault (--fail): Error", None
    code = 1 if outcome == FAILED else int(outcome)
    phase = SUCCEEDED if code == 0 else FAILED
    return phase, f"injected fault (--fail): exit code {code}", code
