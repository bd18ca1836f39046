"""Every limit that keeps a runaway spec from hanging or exhausting the machine, in one place.

Two kinds (docs/limits.md lists each with its default, its flag and what a user sees):

- Reading a spec (`lint`, `run`, `submit`, and `import`/`verify` re-parsing a recorded spec): spec
  size, YAML nesting depth and the nodes YAML aliases may add. These only refuse input, so they
  are read from environment variables (`EXITFLOW_MAX_SPEC_BYTES`, ...), which the flags of
  `lint`/`run`/`submit` set.
- Running one (runs recorded under reconciler rules >= 2): template recursion depth (Argo's
  100), items of one loop and nodes of one workflow. They decide what a run records, so the
  values a run is submitted with (flags `--max-depth`..., else `EXITFLOW_MAX_DEPTH`..., else the
  defaults) are recorded in its first event (`WorkflowSubmitted.limits`) and the reconciler reads
  them from there: recovery, replay and `verify` re-derive with the run's own values on any
  machine, whatever its environment says. A log without them (older runs) has the defaults.

This module imports nothing of Exitflow but the errors: the spec reader, the fold and the
controller all use it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import InputError

#: Argo's maxAllowedStackDepth: nested template calls (steps/dag inside steps/dag...).
MAX_DEPTH = 100
#: Items of one withItems/withParam/withSequence loop.
MAX_LOOP_ITEMS = 10_000
#: Nodes of one workflow (every step, task, group, retry and hook node).
MAX_NODES = 50_000


def positive(text: str, given_by: str) -> int:
    """A limit's value: `text` as a positive integer, else InputError (one line, exit 2) naming
    where it was given (`--max-depth '0'`, `EXITFLOW_MAX_DEPTH='x'`)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise InputError(f"{given_by}: expected a positive integer")
    return value


def _from_env(env: str, default: int) -> int:
    """The environment variable `env` if set to a positive integer, else `default`."""
    text = os.environ.get(env, "").strip()
    return positive(text, f"{env}={text!r}") if text else default


@dataclass(frozen=True, slots=True)
class ParseLimit:
    name: str
    env: str
    default: int
    what: str
    #: The flag of `lint`/`run`/`submit` that sets `env` for that command.
    flag: str

    def value(self) -> int:
        """The limit now: `env` if set to a positive integer, else the default."""
        return _from_env(self.env, self.default)

    def exceeded(self, found: str) -> str:
        """The one-line message: what was found, the limit, and how to raise it."""
        return (f"{found}: over the {self.what} limit of {self.value()}"
                f" (raise it with {self.env})")


SPEC_BYTES = ParseLimit("spec size", "EXITFLOW_MAX_SPEC_BYTES", 4 * 1024 * 1024,
                        "spec size (bytes)", "--max-spec-bytes")
YAML_DEPTH = ParseLimit("YAML nesting depth", "EXITFLOW_MAX_YAML_DEPTH", 100,
                        "YAML nesting depth", "--max-yaml-depth")
YAML_ALIAS_NODES = ParseLimit("YAML alias expansion", "EXITFLOW_MAX_YAML_ALIAS_NODES", 10_000,
                              "YAML alias expansion (nodes added by aliases)",
                              "--max-yaml-alias-nodes")

PARSE_LIMITS = (SPEC_BYTES, YAML_DEPTH, YAML_ALIAS_NODES)


@dataclass(frozen=True, slots=True)
class RunLimit:
    """One run limit: its key in `WorkflowSubmitted.limits`, flag, variable and default."""

    key: str
    flag: str
    env: str
    default: int
    what: str
    #: The highest value allowed, if any (0: none).
    ceiling: int = 0
    why_ceiling: str = ""

    def from_env(self) -> int:
        """`env` if set to a positive integer, else the default."""
        return self.check(_from_env(self.env, self.default), self.env)

    def check(self, value: int, given_by: str) -> int:
        """`value`, or InputError (one line, exit 2) if it is over the ceiling."""
        if self.ceiling and value > self.ceiling:
            raise InputError(f"{given_by} {value}: over the highest {self.what} allowed,"
                             f" {self.ceiling} ({self.why_ceiling})")
        return value


DEPTH = RunLimit("max_depth", "--max-depth", "EXITFLOW_MAX_DEPTH", MAX_DEPTH,
                 "template recursion depth", ceiling=MAX_DEPTH,
                 why_ceiling="Argo's maxAllowedStackDepth; deeper nesting would exhaust the"
                             " reconciler's stack, so it can only be lowered")
LOOP_ITEMS = RunLimit("max_loop_items", "--max-loop-items", "EXITFLOW_MAX_LOOP_ITEMS",
                      MAX_LOOP_ITEMS, "items of one loop")
NODES = RunLimit("max_nodes", "--max-nodes", "EXITFLOW_MAX_NODES", MAX_NODES,
                 "nodes of one workflow")

RUN_LIMITS = (DEPTH, LOOP_ITEMS, NODES)


@dataclass(frozen=True, slots=True)
class RunLimits:
    """The run limits one run is decided by. `recorded` is False for a run whose first event
    carries none (recorded before they were configurable): it has the defaults and the messages
    of that time, word for word, so its log re-derives byte for byte."""

    max_depth: int = MAX_DEPTH
    max_loop_items: int = MAX_LOOP_ITEMS
    max_nodes: int = MAX_NODES
    recorded: bool = False

    @classmethod
    def from_record(cls, recorded: Mapping[str, int]) -> RunLimits:
        """The limits of `WorkflowSubmitted.limits` (a key missing there: its default)."""
        if not recorded:
            return cls()

        def get(lim: RunLimit) -> int:  # a foreign log cannot lift a ceiling either
            value = int(recorded.get(lim.key, lim.default))
            return min(value, lim.ceiling) if lim.ceiling else value

        return cls(max_depth=get(DEPTH), max_loop_items=get(LOOP_ITEMS), max_nodes=get(NODES),
                   recorded=True)

    @classmethod
    def resolve(cls, given: Mapping[str, int | None] | None = None) -> RunLimits:
        """The limits of a new run: each given value (a flag), else its environment variable,
        else its default. InputError for a malformed variable or a value below 1."""
        given = given or {}

        def get(lim: RunLimit) -> int:
            value = given.get(lim.key)
            if value is None:
                return lim.from_env()
            if value <= 0:
                raise InputError(f"{lim.flag} {value}: expected a positive integer")
            return lim.check(value, lim.flag)

        return cls(max_depth=get(DEPTH), max_loop_items=get(LOOP_ITEMS), max_nodes=get(NODES),
                   recorded=True)

    def record(self) -> dict[str, int]:
        """What `WorkflowSubmitted.limits` records: every run limit's effective value."""
        return {lim.key: getattr(self, lim.key) for lim in RUN_LIMITS}

    def _hint(self, lim: RunLimit) -> str:
        return f" (set by {lim.flag} or {lim.env})" if self.recorded else ""

    def depth_exceeded(self) -> str:
        if not self.recorded:  # the message of that time, word for word
            return (f"maximum recursion depth exceeded: templates nested more than {MAX_DEPTH}"
                    " deep (the limit of Argo's maxAllowedStackDepth)")
        return (f"maximum recursion depth exceeded: templates nested more than {self.max_depth}"
                f" deep (the limit set by {DEPTH.flag} or {DEPTH.env}; Argo's is {MAX_DEPTH})")

    def loop_exceeded(self, kind: str, count: int) -> str:
        return (f"{kind}: {count} items, over the loop limit of {self.max_loop_items} items"
                f"{self._hint(LOOP_ITEMS)}")

    def nodes_exceeded(self) -> str:
        return (f"the workflow has reached the limit of {self.max_nodes} nodes: no more nodes"
                f" are created{self._hint(NODES)}")
