"""The HTTP executor: sends the request of an HTTP node (Argo's `http` template).

One pooled `aiohttp.ClientSession` per executor (created on first use, in the running loop) sends
every request. Each request carries the node's identity so the receiving service can de-duplicate
deliveries: `Idempotency-Key: <workflow uid>:<node id>` (stable across crash re-sends) and
`X-Exitflow-Workflow`, `X-Exitflow-Uid`, `X-Exitflow-Attempt` (the delivery count).

The result follows Argo's agent (`workflow/executor/agent.go`): the response body is the node's
`outputs.result` (stdout); without `successCondition` a 2xx status succeeds, else the node Fails
("received non-2xx response code: N"); with it, the condition is evaluated by Exitflow's own
expression engine over `response.statusCode`, `response.body`, `response.headers` (canonical
names -> list of values) and `request.method|url|body|headers`. A request that cannot be sent or
times out Fails the node (Argo: the agent's error becomes a Failed node), so `retryStrategy`'s
default `OnFailure` retries it.

Allow-list: when `allow` is given (`--http-allow`, `EXITFLOW_HTTP_ALLOW`), a request to any other
host is not sent and the node ends in Error naming the host. The default is no allow-list: any
host may be called, as in Argo.

A request does not survive its controller: `reattach` reports it gone, so after a crash the
controller records the attempt as lost and sends it again under the same Idempotency-Key.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from engine.errors import ExpressionError
from engine.executors.base import HttpRequest, Job, JobResult
from engine.expr import evaluate_bool

__all__ = ["ALLOW_ENV", "HttpExecutor", "parse_allow"]

#: The environment variable read when `--http-allow` is not given (comma-separated hosts).
ALLOW_ENV = "EXITFLOW_HTTP_ALLOW"
_MIB = 1024 * 1024


def parse_allow(text: str | None) -> frozenset[str] | None:
    """Hosts of an allow-list text ("a.example,127.0.0.1"); None (no list) when empty."""
    if not text:
        return None
    hosts = frozenset(h.strip().lower() for h in text.split(",") if h.strip())
    return hosts or None


def canonical_header(name: str) -> str:
    """Go's `CanonicalMIMEHeaderKey`: `content-type` -> `Content-Type`."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def request_headers(job: Job, request: HttpRequest) -> list[tuple[str, str]]:
    """The template's headers plus the identity headers of this delivery."""
    own = {"idempotency-key", "x-exitflow-workflow", "x-exitflow-uid", "x-exitflow-attempt"}
    headers = [(k, v) for k, v in request.headers if k.lower() not in own]
    headers += [
        ("Idempotency-Key", job.idempotency_key),
        ("X-Exitflow-Workflow", job.workflow_name),
        ("X-Exitflow-Uid", job.workflow_uid),
        ("X-Exitflow-Attempt", str(job.attempt)),
    ]
    return headers


class HttpExecutor:
    """Sends HTTP nodes' requests through one pooled client session."""

    name = "http"
    retains_work = False

    def __init__(
        self, *, allow: Collection[str] | None = None, body_limit: int = 16 * _MIB
    ) -> None:
        """
        Args:
            allow: hosts that may be called (None: any host; the default).
            body_limit: bytes of the response body kept (the rest is not read).
        """
        self.allow = frozenset(h.lower() for h in allow) if allow is not None else None
        self._body_limit = body_limit
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_env(cls, allow: str | None = None) -> HttpExecutor:
        """`allow` ("host,host"), else `$EXITFLOW_HTTP_ALLOW`, else no allow-list."""
        text = allow if allow is not None else os.environ.get(ALLOW_ENV)
        return cls(allow=parse_allow(text))

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100),
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
                headers={"User-Agent": "exitflow"},
            )
        return self._session

    async def run(self, job: Job) -> JobResult:
        request = job.http
        if request is None:
            return JobResult(phase="Error", message="not an HTTP node")
        host = (urlsplit(request.url).hostname or "").lower()
        if not host:
            return JobResult(phase="Error", message=f"invalid URL {request.url!r}")
        if self.allow is not None and host not in self.allow:
            return JobResult(
                phase="Error",
                message=f"host {host!r} is not in the HTTP allow-list (--http-allow)",
            )
        timeout = request.timeout_seconds
        deadline_hit = False
        if job.deadline is not None:
            left = job.deadline - time.time()
            if left <= 0:
                return JobResult(phase="Failed", message=job.deadline_message)
            if left < timeout:
                timeout, deadline_hit = left, True
        line = f"{request.method} {request.url}"
        try:
            status, headers, body = await asyncio.wait_for(
                self._send(job, request), timeout=timeout
            )
        except TimeoutError:
            if deadline_hit:
                return JobResult(phase="Failed", message=job.deadline_message)
            return JobResult(
                phase="Failed",
                message=f"{line}: no response within {request.timeout_seconds:g}s",
                stderr=f"{line} -> timeout\n".encode(),
            )
        except (aiohttp.ClientError, OSError, ValueError) as e:
            reason = str(e) or type(e).__name__
            return JobResult(
                phase="Failed", message=f"{line}: {reason}", stderr=f"{line} -> {reason}\n".encode()
            )
        phase, message = _judge(request, status, headers, body)
        return JobResult(
            phase=phase, message=message, stdout=body, stderr=f"{line} -> {status}\n".encode()
        )

    async def _send(
        self, job: Job, request: HttpRequest
    ) -> tuple[int, dict[str, list[str]], bytes]:
        kwargs: dict[str, Any] = {"headers": request_headers(job, request)}
        if request.body:
            kwargs["data"] = request.body.encode()
        if request.insecure_skip_verify:
            kwargs["ssl"] = False
        async with self._client().request(request.method, request.url, **kwargs) as response:
            body = await response.content.read(self._body_limit)
            headers: dict[str, list[str]] = {}
            for k, v in response.headers.items():
                headers.setdefault(canonical_header(k), []).append(v)
            return response.status, headers, body

    async def reattach(self, job: Job) -> JobResult | None:
        return None  # a request dies with its controller: it is sent again (same key)

    async def release(self, job: Job) -> None:
        return None

    async def sweep(self, workflow_uid: str, keep: Collection[str]) -> int:
        return 0

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _judge(
    request: HttpRequest, status: int, headers: Mapping[str, list[str]], body: bytes
) -> tuple[str, str]:
    """(phase, message) of a response, as Argo's agent decides it."""
    if not request.success_condition:
        if 200 <= status < 300:
            return "Succeeded", ""
        return "Failed", f"received non-2xx response code: {status}"
    scope = {
        "request": {
            "method": request.method,
            "url": request.url,
            "body": request.body,
            "headers": {canonical_header(k): [v] for k, v in request.headers},
        },
        "response": {
            "statusCode": status,
            "body": body.decode("utf-8", "replace"),
            "headers": dict(headers),
        },
    }
    try:
        ok = evaluate_bool(request.success_condition, scope)
    except ExpressionError as e:
        return "Failed", f"successCondition: {e}"
    if not ok:
        return "Failed", f"successCondition '{request.success_condition}' evaluated false"
    return "Succeeded", ""
