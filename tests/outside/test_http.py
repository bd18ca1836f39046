"""`http` templates against a real recording aiohttp server on 127.0.0.1: the request carries the
node's idempotency key and identity headers, `successCondition` decides the phase, a 5xx is
retried by `retryStrategy`, `timeoutSeconds` ends a request that never answers, the allow-list
refuses other hosts, and a `kill -9` of the controller while the request is in flight is
recovered by sending it again under the same key."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from engine.crashtest import verify_log
from engine.events import NodeFinished, NodeInitialized, NodeStarted
from engine.store import SqliteStore
from tests.helpers import EXAMPLES, ROOT, by_name, exitflow, phases
from tests.outside.server import Recorder, serve

NOTIFIER = EXAMPLES / "notify-on-failure.yaml"


@pytest.fixture
def server() -> Iterator[Recorder]:
    with serve() as recorder:
        yield recorder


def _spec(tmp_path: Path, http: str, *, extra: str = "") -> Path:
    """A workflow whose entrypoint is one http template (body indented under `http:`)."""
    body = "\n".join("        " + line for line in http.strip().splitlines())
    text = f"""\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: http-test-
spec:
  entrypoint: call
  arguments:
    parameters: [{{name: base, value: "http://127.0.0.1:9"}}]
  templates:
    - name: call
{extra}      http:
{body}
"""
    path = tmp_path / "wf.yaml"
    path.write_text(text)
    return path


def _run(spec: Path, tmp_path: Path, server: Recorder, *args: str) -> tuple[int, dict, str]:
    res = exitflow(
        "run", str(spec), "--db", str(tmp_path / "x.db"), "-o", "json",
        "-p", f"base={server.url}", *args,
    )
    return res.code, res.json() if res.stdout.strip() else {}, res.stderr


async def _events(db: Path) -> tuple[str, list[object], list[str]]:
    store = await SqliteStore.open(str(db), read_only=True)
    try:
        (record,) = await store.list_workflows()
        events = [r.event for r in await store.read(record.uid)]
        check = await verify_log(store, record.uid)
        return record.uid, events, check.problems
    finally:
        await store.aclose()


def test_notifier_posts_once_on_failure_with_key_and_identity(
    tmp_path: Path, server: Recorder
) -> None:
    res = exitflow(
        "run", str(NOTIFIER), "--db", str(tmp_path / "x.db"), "-o", "json",
        "-p", "should-fail=true", "-p", f"webhook-url={server.url}/ok",
    )
    assert res.code == 1, res.stderr
    wf = res.json()
    got = phases(wf)
    assert got["@root"] == "Failed" and got["@onExit"] == "Succeeded", got
    (seen,) = server.seen("/ok")
    name, uid = wf["metadata"]["name"], wf["metadata"]["uid"]
    assert seen.method == "POST"
    assert seen.body == f'{{"text": "Workflow {name} ended Failed ({uid})"}}'
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["Idempotency-Key"].startswith(f"{uid}:")
    assert seen.headers["X-Exitflow-Workflow"] == name
    assert seen.headers["X-Exitflow-Uid"] == uid
    assert seen.headers["X-Exitflow-Attempt"] == "1"
    (node,) = [n for n in wf["status"]["nodes"].values() if n["type"] == "HTTP"]
    assert seen.headers["Idempotency-Key"] == f"{uid}:{node['id']}"
    assert node["outputs"]["result"] == "ok"
    # The same workflow succeeding posts nothing.
    ok = exitflow(
        "run", str(NOTIFIER), "--db", str(tmp_path / "y.db"), "-p", f"webhook-url={server.url}/ok"
    )
    assert ok.code == 0, ok.stderr
    assert len(server.seen("/ok")) == 1


def test_success_condition_over_status_body_and_headers(tmp_path: Path, server: Recorder) -> None:
    spec = _spec(tmp_path, """
url: "{{workflow.parameters.base}}/json"
successCondition: >-
  response.statusCode == 200 && response.body contains "answer"
  && response.headers["X-Answer"][0] == "42"
""")
    code, wf, err = _run(spec, tmp_path, server)
    assert code == 0, err
    assert by_name(wf)[wf["metadata"]["name"]]["outputs"]["result"] == '{"answer": 42}'


def test_success_condition_false_fails_the_node(tmp_path: Path, server: Recorder) -> None:
    spec = _spec(tmp_path, """
url: "{{workflow.parameters.base}}/json"
successCondition: response.statusCode == 201
""")
    code, wf, err = _run(spec, tmp_path, server)
    assert code == 1, err
    node = by_name(wf)[wf["metadata"]["name"]]
    assert node["phase"] == "Failed"
    assert node["message"] == "successCondition 'response.statusCode == 201' evaluated false"
    assert len(server.seen("/json")) == 1


def test_without_success_condition_a_non_2xx_fails(tmp_path: Path, server: Recorder) -> None:
    spec = _spec(tmp_path, 'url: "{{workflow.parameters.base}}/status/404"')
    code, wf, err = _run(spec, tmp_path, server)
    assert code == 1, err
    assert by_name(wf)[wf["metadata"]["name"]]["message"] == "received non-2xx response code: 404"


def test_500_then_200_follows_retry_strategy(tmp_path: Path, server: Recorder) -> None:
    extra = "      retryStrategy: {limit: 3, backoff: {duration: '1', factor: 1}}\n"
    spec = _spec(tmp_path, 'url: "{{workflow.parameters.base}}/flaky/2"', extra=extra)
    code, wf, err = _run(spec, tmp_path, server)
    assert code == 0, err
    name = wf["metadata"]["name"]
    got = {n["name"][len(name):]: n["phase"] for n in wf["status"]["nodes"].values()}
    assert got == {"": "Succeeded", "(0)": "Failed", "(1)": "Failed", "(2)": "Succeeded"}
    seen = server.seen("/flaky/2")
    assert len(seen) == 3
    # Each retry is its own node: its own key; every one is a first delivery.
    assert len({s.headers["Idempotency-Key"] for s in seen}) == 3
    assert {s.headers["X-Exitflow-Attempt"] for s in seen} == {"1"}


def test_timeout_seconds_ends_a_request_that_never_answers(
    tmp_path: Path, server: Recorder
) -> None:
    spec = _spec(tmp_path, """
url: "{{workflow.parameters.base}}/hang"
timeoutSeconds: 1
""")
    code, wf, err = _run(spec, tmp_path, server)
    assert code == 1, err
    node = by_name(wf)[wf["metadata"]["name"]]
    assert node["phase"] == "Failed"
    assert node["message"].endswith("no response within 1s"), node["message"]
    assert len(server.seen("/hang")) == 1


def test_allow_list_refuses_other_hosts(tmp_path: Path, server: Recorder) -> None:
    spec = _spec(tmp_path, 'url: "{{workflow.parameters.base}}/ok"')
    code, wf, err = _run(spec, tmp_path, server, "--http-allow", "hooks.example.com")
    assert code == 3, err
    assert "not in the HTTP allow-list" in by_name(wf)[wf["metadata"]["name"]]["message"]
    assert server.seen("/ok") == []
    # The environment variable is the default; an allowed host is called.
    res = exitflow(
        "run", str(spec), "--db", str(tmp_path / "y.db"), "-p", f"base={server.url}",
        env={"EXITFLOW_HTTP_ALLOW": "hooks.example.com, 127.0.0.1"},
    )
    assert res.code == 0, res.stderr
    assert len(server.seen("/ok")) == 1


def test_http_nodes_run_under_the_simulate_executor(tmp_path: Path, server: Recorder) -> None:
    spec = _spec(tmp_path, 'url: "{{workflow.parameters.base}}/ok"')
    code, _wf, err = _run(spec, tmp_path, server, "--executor", "simulate")
    assert code == 0, err
    assert len(server.seen("/ok")) == 1


def test_bad_http_templates_are_one_line_exit_2(tmp_path: Path) -> None:
    spec = _spec(tmp_path, """
url: http://127.0.0.1:9/
successCondition: response.statusCode ==
""")
    res = exitflow("run", str(spec), "--db", str(tmp_path / "x.db"), "-p", "base=x")
    assert res.code == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "successCondition" in res.stderr
    assert not (tmp_path / "x.db").exists() or "http-test" not in exitflow(
        "list", "--db", str(tmp_path / "x.db")
    ).stdout
    secret = _spec(tmp_path, """
url: http://127.0.0.1:9/
headers:
  - name: Authorization
    valueFrom: {secretKeyRef: {name: s, key: k}}
""")
    lint = exitflow("lint", str(secret))
    assert lint.code == 2 and "http.headers.valueFrom" in lint.stderr, lint


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "EXITFLOW_CRASH_AT"}


@pytest.mark.slow
def test_kill_9_while_the_request_is_in_flight_resends_under_the_same_key(
    tmp_path: Path, server: Recorder
) -> None:
    """The exit handler's request hangs (the server holds the first delivery of each key); the
    controller is killed with SIGKILL; `exitflow recover` sends it again under the same key and
    the handler completes once, recorded."""
    spec = tmp_path / "wf.yaml"
    spec.write_text("""\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: http-crash-
spec:
  entrypoint: work
  onExit: notify
  arguments:
    parameters: [{name: base}]
  templates:
    - name: work
      container: {image: alpine:latest, command: [sh, -c], args: ["exit 1"]}
    - name: notify
      http:
        url: "{{workflow.parameters.base}}/hold"
        method: POST
        body: "{{workflow.status}}"
""")
    db = tmp_path / "x.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "run", str(spec), "--db", str(db),
         "-p", f"base={server.url}"],
        cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        server.wait_for("/hold", 1)
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    uid, events, _ = anyio.run(_events, db)
    names = {e.node_id: e.name for e in events if isinstance(e, NodeInitialized)}
    onexit = next(i for i, n in names.items() if n.endswith(".onExit"))
    assert [e for e in events if isinstance(e, NodeStarted) and e.node_id == onexit]
    assert not [e for e in events if isinstance(e, NodeFinished) and e.node_id == onexit]

    result = exitflow("recover", "--db", str(db), timeout=120)
    assert result.code == 1, result.stderr  # Failed, like a clean run
    first, second = server.wait_for("/hold", 2)
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == (
        f"{uid}:{onexit}"
    )
    assert [first.headers["X-Exitflow-Attempt"], second.headers["X-Exitflow-Attempt"]] == ["1", "2"]
    assert first.body == second.body == "Failed"
    _, events, problems = anyio.run(_events, db)
    finished = [e for e in events if isinstance(e, NodeFinished) and e.node_id == onexit]
    assert [f.phase for f in finished] == ["Succeeded"] and not problems
    assert exitflow("verify", "--db", str(db)).code == 0
