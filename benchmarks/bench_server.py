"""The HTTP server: API latencies, submit → live-stream latency, and the metrics catch-up.

    python -m benchmarks.bench_server [--runs 200] [--json out.json]

Starts `exitflow daemon --executor simulate --listen 127.0.0.1:0` on a fresh database, submits
`--runs` ten-step workflows through the API, and measures: POST latency; the time from a POST
returning to the run's first and final (Succeeded) events on the SSE stream; GET of one run, of a
page of the list, of `events?at=` and of `/metrics`. Then a separate `exitflow server` on the same
database: the time until its first `/metrics` answer (the whole log read). Figures only, never
asserted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .common import ROOT
from .workloads import sequential_yaml

TOKEN = "bench-token"


def _start(db: Path, *argv: str) -> tuple[subprocess.Popen[bytes], int, Path]:
    err = db.with_suffix(f".{argv[0]}.err")
    env = {**os.environ, "EXITFLOW_TOKEN": TOKEN, "PYTHONPATH": ROOT}
    with open(err, "wb") as f:
        proc = subprocess.Popen([sys.executable, "-m", "engine", *argv, "--db", str(db),
                                 "--listen", "127.0.0.1:0"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=f)
    deadline = time.monotonic() + 60
    while True:
        found = re.search(r"at http://127\.0\.0\.1:(\d+)", err.read_text(errors="replace"))
        if found:
            return proc, int(found.group(1)), err
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{argv[0]} did not start: {err.read_text()}")
        time.sleep(0.01)


def _req(port: int, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if body is not None:
        headers["Content-Type"] = "application/yaml"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def _timed(port: int, path: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        status, _ = _req(port, "GET", path)
        out.append(time.perf_counter() - t)
        assert status == 200, path
    return out


def _ms(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return {"p50_ms": round(statistics.median(values) * 1000, 2), "p99_ms": round(p99 * 1000, 2)}


class _Stream(threading.Thread):
    """Reads the SSE stream; records when each run was first seen and seen Succeeded."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.first: dict[str, float] = {}
        self.done: dict[str, float] = {}
        self.ready = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        conn.request("GET", "/api/v1/workflow-events/default")
        resp = conn.getresponse()
        self.ready.set()
        while True:
            line = resp.readline()
            if not line:
                return
            if not line.startswith(b"data: "):
                continue
            now = time.perf_counter()
            obj = json.loads(line[6:])["result"]["object"]
            name = obj["metadata"]["name"]
            self.first.setdefault(name, now)
            if obj["status"]["phase"] == "Succeeded":
                self.done.setdefault(name, now)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    yaml_text = sequential_yaml()
    out: dict[str, Any] = {"runs": args.runs}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        daemon, port, _ = _start(db, "daemon", "--executor", "simulate")
        try:
            stream = _Stream(port)
            stream.start()
            stream.ready.wait(10)
            posted: dict[str, float] = {}
            post_lat = []
            for _ in range(args.runs):
                t = time.perf_counter()
                status, body = _req(port, "POST", "/api/v1/workflows/default", yaml_text)
                end = time.perf_counter()
                assert status == 200, body
                post_lat.append(end - t)
                posted[json.loads(body)["metadata"]["name"]] = end
            deadline = time.monotonic() + 600
            while len(stream.done) < args.runs and time.monotonic() < deadline:
                time.sleep(0.05)
            out["post"] = _ms(post_lat)
            out["sse_first_seen"] = _ms([max(stream.first[n] - t, 0) for n, t in posted.items()
                                         if n in stream.first])
            out["sse_succeeded_seen"] = _ms([stream.done[n] - t for n, t in posted.items()
                                             if n in stream.done])
            name = next(iter(posted))
            base = f"/api/v1/workflows/default/{name}"
            out["get_run"] = _ms(_timed(port, base, 200))
            out["list_page_100"] = _ms(_timed(port, "/api/v1/workflows/default?limit=100", 20))
            out["events_at_10"] = _ms(_timed(port, f"{base}/events?at=10", 100))
            out["metrics"] = _ms(_timed(port, "/metrics", 50))
        finally:
            daemon.terminate()
            daemon.wait(30)
        t = time.perf_counter()
        server, sport, _ = _start(db, "server")
        try:
            _req(sport, "GET", "/metrics")
            out["fresh_server_first_metrics_s"] = round(time.perf_counter() - t, 3)
            _, text = _req(sport, "GET", "/metrics")
            events = re.search(rb"(?m)^exitflow_events_read_total (\S+)$", text)
            out["events_in_log"] = int(float(events.group(1))) if events else None
        finally:
            server.terminate()
            server.wait(30)
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
