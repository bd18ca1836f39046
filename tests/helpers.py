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
#: Argo's example corpus: `$EXITFLOW_ARGO_EXAMPLES`, else `../shared/argo-examples` beside the
#: repository. Tests that read it carry `@pytest.mark.corpus` (tests/conftest.py skips them with
#: one line when it is absent, and fails them under CI=true).
ARGO_EXAMPLES = Path(
    os.environ.get("EXITFLOW_ARGO_EXAMPLES") or ROOT.parent / "shared" / "argo-examples"
)
FETCH_HINT = "set EXITFLOW_ARGO_EXAMPLES or run scripts/fetch-argo-examples.sh"


def corpus_missing(*, index: bool = False) -> str | None:
    """Why the corpus cannot be used (one line), or None. `index`: the test also needs the
    curated snapshot's INDEX.md (expected phases), which Argo's own repository does not have."""
    if not ARGO_EXAMPLES.is_dir():
        return f"Argo example corpus not found at {ARGO_EXAMPLES}: {FETCH_HINT}"
    if index and not (ARGO_EXAMPLES / "INDEX.md").is_file():
        return (
            f"Argo example corpus at {ARGO_EXAMPLES} has no INDEX.md (the expected phases of the"
            " curated snapshot in ../shared/argo-examples): conformance tests need it"
        )
    return None


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
