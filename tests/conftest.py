"""Shared fixtures. `docker_available` is used by tests/integration (the Docker executor) and
tests/conformance (the Argo corpus under `--executor docker`)."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

from tests.helpers import corpus_missing


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


#: The images the Docker tests run (test_docker_executor.py, test_docker_e2e.py with the examples
#: and the Argo sample it runs; the conformance corpus needs more of them); .ci/setup-docker.sh
#: makes them all.
DOCKER_TEST_IMAGES = (
    "alpine:3.7",
    "alpine:latest",
    "alpine:3.23",
    "busybox:latest",
    "python:alpine3.23",
    "argoproj/argosay:v2",
)


def _docker_socket() -> str:
    url = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    parsed = urlparse(url)
    if parsed.scheme != "unix":
        raise OSError(f"only unix sockets are supported by the test fixture, not {url}")
    return parsed.path


def _http_get(path: str) -> tuple[int, bytes]:
    """A bare HTTP/1.0 GET on the daemon's socket (no event loop: usable from any fixture)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(3)
        sock.connect(_docker_socket())
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


def _unavailable(reason: str) -> None:
    message = f"{reason} (start one with: bash .ci/setup-docker.sh)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def docker_available() -> None:
    """Skip (fail under CI=true) when no Docker daemon or test image is there."""
    try:
        status, _ = _http_get("/_ping")
    except OSError as exc:
        url = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        _unavailable(f"no Docker daemon reachable at {url}: {exc}")
        return
    if status != 200:
        _unavailable(f"the Docker daemon answered /_ping with HTTP {status}")
        return
    for image in DOCKER_TEST_IMAGES:
        status, _ = _http_get(f"/images/{image}/json")
        if status != 200:
            _unavailable(f"the Docker image {image} is not present")
            return


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked `corpus` (`corpus(index=True)`: also needs INDEX.md) skips with one line
    when Argo's example corpus is absent, and fails under CI=true. It runs before the fixtures
    and before `skipif`, so an empty parameter set computed from the corpus skips the same way."""
    marker = item.get_closest_marker("corpus")
    if marker is None:
        return
    reason = corpus_missing(index=bool(marker.kwargs.get("index", False)))
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)
