"""A real `exitflow daemon --listen` / `exitflow server` on 127.0.0.1 (port chosen by the OS),
and a small HTTP client for it (stdlib http.client: nothing but 127.0.0.1 is contacted)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT

TOKEN = "test-token-0123456789"
URL = re.compile(r"at http://127\.0\.0\.1:(\d+)")


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class Served:
    """An exitflow process serving HTTP; stderr goes to a file the test can read."""

    def __init__(self, db: Path, command: str, *args: str, env: dict[str, str] | None = None,
                 listen: str = "127.0.0.1:0") -> None:
        self.db = db
        self.err_path = db.with_suffix(f".{command}-{time.monotonic_ns()}.err")
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ("EXITFLOW_CRASH_AT", "EXITFLOW_TOKEN")}
        full_env.update(env if env is not None else {"EXITFLOW_TOKEN": TOKEN})
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "engine", command, "--db", str(db), "--listen", listen,
                 *args],
                cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=err,
            )
        self.port = 0

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.stderr)
            if found:
                return found
            if self.proc.poll() is not None:
                raise AssertionError(f"exited {self.proc.returncode}: {self.stderr}")
            if time.monotonic() > deadline:
                raise AssertionError(f"never said {pattern!r}: {self.stderr}")
            time.sleep(0.02)

    def ready(self) -> Served:
        self.port = int(self.wait_for(URL.pattern).group(1))
        return self

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, body: bytes | str | None = None, *,
                token: str | None = TOKEN, headers: dict[str, str] | None = None,
                timeout: float = 30) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        data = body.encode() if isinstance(body, str) else body
        try:
            # the server may answer before reading everything (413): then read its answer
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                conn.request(method, path, body=data, headers=h)
            resp = conn.getresponse()
            return Reply(resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()})
        finally:
            conn.close()

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def wait_phase(self, name: str, phases: set[str], timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            wf = self.get(f"/api/v1/workflows/default/{name}").json()
            if wf["status"]["phase"] in phases and (
                wf["status"]["finishedAt"] or phases & {"Running", "Pending"}
            ):
                return dict(wf)
            assert time.monotonic() < deadline, f"{name} stuck in {wf['status']['phase']}"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def served() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for s in started:
        s.stop()


@pytest.fixture
def daemon(tmp_path: Path, served: list[Served]) -> Served:
    """`exitflow daemon --listen 127.0.0.1:0` on a fresh database, token $EXITFLOW_TOKEN."""
    d = Served(tmp_path / "ui.db", "daemon")
    served.append(d)
    d.ready()
    d.wait_for("controlling")
    return d


def submit(server: Served, workflow: dict[str, Any] | str, **extra: Any) -> dict[str, Any]:
    if isinstance(workflow, str):
        reply = server.request("POST", "/api/v1/workflows/default", workflow,
                               headers={"Content-Type": "application/yaml"})
    else:
        reply = server.request("POST", "/api/v1/workflows/default",
                               json.dumps({"workflow": workflow, **extra}),
                               headers={"Content-Type": "application/json"})
    assert reply.status == 200, reply.body
    return dict(reply.json())
