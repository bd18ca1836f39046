"""The benchmark suite runs end to end on tiny sizes (so its code cannot rot). No timings are
asserted: only that every figure is produced (or says why not) and the JSON has the keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

KEYS = (
    "append_events_per_s",
    "append_ratio_vs_sqlite",
    "wf_per_s_simulate",
    "dbos_wf_per_s",
    "ratio_vs_dbos",
    "wf_per_s_local",
    "spawn_true_per_s",
    "replay_events_per_s",
    "replay_ratio_vs_decode",
    "recovery_s",
    "recovery_first_step_ms",
    "exit_handler_latency_p50_ms",
    "exit_handler_latency_p99_ms",
    "node_cost_ratio_chain",
    "node_cost_ratio_steps",
    "node_cost_ratio_fanin",
)


def test_benchmarks_run_on_tiny_sizes(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--sizes",
            "tiny",
            "--json",
            str(out),
            # crashtest is exercised by its own tests; here it would only add seconds.
            "--only",
            "append",
            "simulate",
            "local",
            "replay",
            "recovery",
            "latency",
            "rss",
            "growth",
            "nodes",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    for key in KEYS:
        assert key in data, key
        figure = data["figures"][key]
        # A figure has a value, or a note saying why not (e.g. DBOS not installed).
        assert figure["median"] is not None or figure["note"], key
    assert "rss_mb_5_running" in data
    assert "wf_per_s_simulate_100" in data
    assert "append_events_per_s" in proc.stdout  # the table


def test_crashtest_row_is_present_or_says_why(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--sizes",
            "tiny",
            "--json",
            str(out),
            "--only",
            "crashtest",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figure = json.loads(out.read_text())["figures"]["crashtest_boundaries_per_s"]
    assert figure["median"] is not None or figure["note"].startswith("not available")
