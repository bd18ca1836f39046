"""N one-shot `exitflow run` on one database at once all finish, each printing its own result:
a waiter takes the controller role over when the holder exits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.hostile import HEADER, write

SPEC = HEADER + """spec:
  entrypoint: main
  arguments:
    parameters: [{name: n, value: "0"}]
  onExit: bye
  templates:
  - name: main
    container: {image: alpine, command: [sh, -c, "sleep 0.3; echo run {{workflow.parameters.n}}"]}
  - name: bye
    container: {image: alpine, command: [sh, -c, "echo bye"]}
"""


@pytest.mark.timeout(180)
def test_concurrent_runs_all_finish(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    spec = write(tmp_path, "w.yaml", SPEC)
    env = dict(os.environ)
    env.pop("EXITFLOW_CRASH_AT", None)
    procs = [subprocess.Popen([sys.executable, "-m", "engine", "run", spec, "--db", db,
                               "-p", f"n={i}", "-o", "json"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(4)]
    outs = [p.communicate(timeout=150) for p in procs]
    seen = []
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        wf = json.loads(out)
        assert wf["status"]["phase"] == "Succeeded"
        seen.append(wf["spec"]["arguments"]["parameters"][0]["value"])
    assert sorted(seen) == ["0", "1", "2", "3"]
