"""Every limit that keeps a runaway spec from hanging or exhausting the machine, in one place.

Two kinds (docs/limits.md lists each with its default and what a user sees):

- Reading a spec (`lint`, `run`, `submit`, and `import`/`verify` re-parsing a recorded spec): spec
  size, YAML nesting depth and the nodes YAML aliases may add. These only refuse input, so they
  can be raised through environment variables (`EXITFLOW_MAX_SPEC_BYTES`, ...).
- Running one (runs recorded under reconciler rules >= 2): template recursion depth (Argo's
  100), items of one loop and nodes of one workflow. They decide what a run records, so they are
  part of the rules, fixed like Argo's maximum stack depth: a log must re-derive to the same
  events on any machine, whatever its environment says.

This module imports nothing of Exitflow but the errors: the spec reader and the controller both
use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import InputError

#: Argo's maxAllowedStackDepth: nested template calls (steps/dag inside steps/dag...).
MAX_DEPTH = 100
#: Items of one withItems/withParam/withSequence loop.
MAX_LOOP_ITEMS = 10_000
#: Nodes of one workflow (every step, task, group, retry and hook node).
MAX_NODES = 50_000


@dataclass(frozen=True, slots=True)
class ParseLimit:
    name: str
    env: str
    default: int
    what: str

    def value(self) -> int:
        """The limit now: `env` if set to a positive integer, else the default."""
        text = os.environ.get(self.env, "").strip()
        if not text:
            return self.default
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value <= 0:
            raise InputError(f"{self.env}={text!r}: expected a positive integer")
        return value

    def exceeded(self, found: str) -> str:
        """The one-line message: what was found, the limit, and how to raise it."""
        return (f"{found}: over the {self.what} limit of {self.value()}"
                f" (raise it with {self.env})")


SPEC_BYTES = ParseLimit("spec size", "EXITFLOW_MAX_SPEC_BYTES", 4 * 1024 * 1024,
                        "spec size (bytes)")
YAML_DEPTH = ParseLimit("YAML nesting depth", "EXITFLOW_MAX_YAML_DEPTH", 100,
                        "YAML nesting depth")
YAML_ALIAS_NODES = ParseLimit("YAML alias expansion", "EXITFLOW_MAX_YAML_ALIAS_NODES", 10_000,
                              "YAML alias expansion (nodes added by aliases)")

PARSE_LIMITS = (SPEC_BYTES, YAML_DEPTH, YAML_ALIAS_NODES)


def depth_exceeded() -> str:
    return (f"maximum recursion depth exceeded: templates nested more than {MAX_DEPTH} deep"
            " (the limit of Argo's maxAllowedStackDepth)")


def loop_exceeded(kind: str, count: int) -> str:
    return f"{kind}: {count} items, over the loop limit of {MAX_LOOP_ITEMS} items"


def nodes_exceeded() -> str:
    return f"the workflow has reached the limit of {MAX_NODES} nodes: no more nodes are created"
