"""SIGTERM and SIGHUP stop a one-shot `run` as SIGINT does: one line, exit 143/129, the step's
processes killed, the run left in the log for `recover` to finish."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.hostile import HEADER, exitflow_raw, one_line, write

SPEC = HEADER + """spec:
  entrypoint: main
  arguments:
    parameters: [{name: marker, value: ""}]
  onExit: bye
  templates:
  - name: main
    container:
      image: alpine
      command: [sh, -c, 'if [ -e "$0.done" ]; then exit 0; fi; echo $$ > "$0"; sleep 60',
                "{{workflow.parameters.marker}}"]
  - name: bye
    container: {image: alpine, command: [sh, -c, "echo bye"]}
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_signal_stops_run_kills_steps_and_stays_recoverable(tmp_path: Path,
                                                            signum: signal.Signals) -> None:
    db = str(tmp_path / "t.db")
    marker = tmp_path / "pid"
    env = dict(os.environ)
    env.pop("EXITFLOW_CRASH_AT", None)
    proc = subprocess.Popen([sys.executable, "-m", "engine", "run",
                             write(tmp_path, "w.yaml", SPEC), "--db", db, "-p",
                             f"marker={marker}"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (marker.exists() and marker.read_text().strip()):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    step = int(marker.read_text())
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum
    assert signal.Signals(signum).name in one_line(err)
    deadline = time.monotonic() + 10
    while _alive(step):
        assert time.monotonic() < deadline, "the step's process outlived the run"
        time.sleep(0.05)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT finished FROM workflows").fetchone() == (0,)
    Path(f"{marker}.done").touch()
    recovered = exitflow_raw("recover", "--db", db)
    assert recovered.code == 0, recovered.stderr
