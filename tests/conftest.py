"""Shared fixtures. `docker_available` is used by tests/integration (the Docker executor) and
tests/conformance (the Argo corpus under `--executor docker`)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
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


# --- PostgreSQL (.ci/setup-postgres.sh) -------------------------------------------------------

#: Where .ci/setup-postgres.sh writes the URL of the server it started.
PG_URL_FILE = os.path.join(os.environ.get("TMPDIR") or "/tmp", "exitflow-pg", "url")


def pg_test_url() -> str | None:
    """The test server's URL: $EXITFLOW_TEST_PG_URL, else the file setup-postgres.sh wrote."""
    url = os.environ.get("EXITFLOW_TEST_PG_URL", "").strip()
    if url:
        return url
    try:
        with open(PG_URL_FILE, encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


def _pg_unavailable(reason: str) -> None:
    message = f"{reason} (start one with: bash .ci/setup-postgres.sh)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The PostgreSQL test server's URL; skip (fail under CI=true) without one."""
    url = pg_test_url()
    if url is None:
        _pg_unavailable("no PostgreSQL test server ($EXITFLOW_TEST_PG_URL or " + PG_URL_FILE + ")")
        raise AssertionError("unreachable")
    parsed = urlparse(url)
    try:
        socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5432), 3).close()
    except OSError as exc:
        where = f"{parsed.hostname}:{parsed.port}"
        _pg_unavailable(f"the PostgreSQL test server at {where} is down: {exc}")
    return url


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[str]:
    """A fresh, empty database on the test server (dropped afterwards); its URL."""
    import uuid

    import anyio

    from engine.store.postgres_schema import create_database, drop_database

    url = anyio.run(create_database, pg_url, "exitflow_t_" + uuid.uuid4().hex[:12])
    yield url
    anyio.run(drop_database, url)

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
