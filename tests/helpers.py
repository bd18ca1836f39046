"""Shared test helpers: run the real CLI in a subprocess and read its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SHARED = ROOT.parent / "shared"
ARGO_EXAMPLES = SHARED / "argo-examples"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def exitflow(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None
) -> Result:
    full_env = dict(os.environ)
    full_env.pop("EXITFLOW_CRASH_AT", None)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=cwd or ROOT,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def phases(wf: dict[str, Any]) -> dict[str, str]:
    """displayName -> phase of every node (later duplicates win). The root node is "@root" and
    workflow-level nodes named `<wf>.X` are "@X" (e.g. "@onExit", "@hooks.running")."""
    name = wf["metadata"]["name"]
    out: dict[str, str] = {}
    for n in wf["status"]["nodes"].values():
        display = n["displayName"]
        if display == name:
            display = "@root"
        elif display.startswith(name + "."):
            display = "@" + display[len(name) + 1 :]
        out[display] = n["phase"]
    return out


def by_name(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["name"]: n for n in wf["status"]["nodes"].values()}
