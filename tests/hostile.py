"""Helpers for the hardening tests: run the CLI with raw (possibly non-UTF-8) arguments and check
that whatever went wrong was said in one line, with no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT, Result

HEADER = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  generateName: hard-\n"


def exitflow_raw(*args: str | bytes, env: dict[str, str] | None = None,
                 timeout: float = 60) -> Result:
    """Like tests.helpers.exitflow, but arguments may be bytes and output is decoded leniently."""
    full_env = dict(os.environ)
    full_env.pop("EXITFLOW_CRASH_AT", None)
    if env:
        full_env.update(env)
    proc = subprocess.run([sys.executable.encode(), b"-m", b"engine",
                           *(a if isinstance(a, bytes) else a.encode() for a in args)],
                          capture_output=True, env=full_env, timeout=timeout, cwd=ROOT)
    return Result(proc.returncode, proc.stdout.decode("utf-8", "replace"),
                  proc.stderr.decode("utf-8", "replace"))


def one_line(stderr: str) -> str:
    """The single non-empty stderr line (asserting there is exactly one and no traceback)."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def write(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.write_text(text)
    return str(path)
