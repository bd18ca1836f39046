"""The HTTP API against a real `exitflow daemon --listen` on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import os
import socket
import stat
import time
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import EXAMPLES, exitflow

from .conftest import TOKEN, Served, submit

ONEXIT = yaml.safe_load((EXAMPLES / "onexit-cleanup.yaml").read_text())

SLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: slow-}
spec:
  entrypoint: main
  onExit: cleanup
  arguments: {parameters: [{name: seconds, value: "30"}]}
  templates:
    - name: main
      container: {image: alpine:latest, command: [sh, -c],
                  args: ["echo started; sleep {{workflow.parameters.seconds}}"]}
    - name: cleanup
      container: {image: alpine:latest, command: [sh, -c],
                  args: ["echo cleanup {{workflow.status}}"]}
"""


def _sse_until(server: Served, name: str, phase: str, timeout: float = 60) -> list[str]:
    """Watch the live stream until the run reaches `phase`; the phases seen, in order."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    conn.request("GET", f"/api/v1/workflow-events/default?name={name}")
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Content-Type", "").startswith("text/event-stream")
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            line = resp.readline().decode()
            if not line.startswith("data: "):
                continue
            result = json.loads(line[6:])["result"]
            assert result["object"]["metadata"]["name"] == name
            seen.append(result["object"]["status"]["phase"])
            if seen[-1] == phase:
                return seen
        raise AssertionError(f"stream never showed {phase}: {seen}")
    finally:
        conn.close()


def test_submit_watch_get_logs_events_verify(daemon: Served) -> None:
    created = submit(daemon, ONEXIT)
    name = created["metadata"]["name"]
    assert created["status"]["phase"] == "Pending"
    seen = _sse_until(daemon, name, "Failed")
    assert seen[-1] == "Failed"

    wf = daemon.get(f"/api/v1/workflows/default/{name}")
    assert wf.status == 200
    cli = exitflow("get", name, "--db", str(daemon.db), "-o", "json")
    assert cli.code == 0, cli.stderr
    assert wf.json() == cli.json()  # exactly `exitflow get -o json`
    nodes = {n["displayName"]: n for n in wf.json()["status"]["nodes"].values()}
    assert nodes[name]["phase"] == "Failed"
    assert nodes[f"{name}.onExit"]["phase"] == "Succeeded"

    listed = daemon.get("/api/v1/workflows/default?phase=Failed").json()
    assert [i["metadata"]["name"] for i in listed["items"]] == [name]
    assert daemon.get("/api/v1/workflows/default?phase=Succeeded").json()["items"] == []
    assert daemon.get("/api/v1/workflows/elsewhere").json()["items"] == []
    assert daemon.get(f"/api/v1/workflows/elsewhere/{name}").status == 404

    log = daemon.get(f"/api/v1/workflows/default/{name}/log?nodeId={name}.onExit")
    lines = [json.loads(x)["result"]["content"] for x in log.body.decode().splitlines()]
    assert lines == [f"cleanup for {name}: workflow status is Failed"]

    history = daemon.get(f"/api/v1/workflows/default/{name}/events").json()
    total = history["total"]
    assert [e["seq"] for e in history["events"]] == list(range(1, total + 1))
    early = daemon.get(f"/api/v1/workflows/default/{name}/events?at=3").json()
    assert early["at"] == 3
    assert early["workflow"]["status"]["phase"] == "Running"
    assert early["workflow"]["status"]["finishedAt"] is None
    assert f"{name}.onExit" not in {n["displayName"] for n in
                                    early["workflow"]["status"]["nodes"].values()}
    late = daemon.get(f"/api/v1/workflows/default/{name}/events?at={total}").json()
    assert late["workflow"] == wf.json()
    exit_id = next(i for i, n in late["workflow"]["status"]["nodes"].items()
                   if n["displayName"].endswith(".onExit"))
    assert late["nodes"][exit_id]["role"] == "exit"
    bad_at = daemon.get(f"/api/v1/workflows/default/{name}/events?at={total + 1}")
    assert bad_at.status == 400 and b"\n" not in bad_at.body.strip()

    verified = daemon.get(f"/api/v1/workflows/default/{name}/verify").json()
    assert verified["ok"] is True
    assert verified["checks"] == ["chain", "logs", "fold", "rederive"]

    # daemon --listen times its controller's appends: every event but the submission
    deadline = time.monotonic() + 30
    while _metric(text := daemon.get("/metrics").body.decode(),
                  "exitflow_events_read_total") < total:
        assert time.monotonic() < deadline, "the server never read the whole log"
        time.sleep(0.05)
    assert _metric(text, "exitflow_append_batch_events_sum") == total - 1
    assert _metric(text, "exitflow_append_latency_seconds_count") >= 1
    assert _metric(text, "exitflow_runs", phase="Failed") == 1
    assert _metric(text, "exitflow_nodes_started_total", type="Pod") == 2
    assert _metric(text, "exitflow_nodes_finished_total", type="Pod", phase="Failed") == 1
    assert _metric(text, "exitflow_exit_handlers_completed_total", phase="Succeeded") == 1


def test_yaml_submission_with_parameters_and_bad_input(daemon: Served) -> None:
    reply = daemon.request("POST", "/api/v1/workflows/default?parameter=seconds=0", SLOW,
                           headers={"Content-Type": "application/yaml"})
    assert reply.status == 200, reply.body
    wf = reply.json()
    assert wf["spec"]["arguments"]["parameters"] == [{"name": "seconds", "value": "0"}]
    done = daemon.wait_phase(wf["metadata"]["name"], {"Succeeded"})
    assert done["status"]["phase"] == "Succeeded"

    for body, ctype, fragment in [
        ("kind: Nope\n", "application/yaml", "kind must be 'Workflow'"),
        ("{not json", "application/json", "invalid JSON"),
        ('{"workflow": 3}', "application/json", "expected"),
        ("", "application/yaml", "empty"),
    ]:
        bad = daemon.request("POST", "/api/v1/workflows/default", body,
                             headers={"Content-Type": ctype})
        assert bad.status == 400, (body, bad.body)
        assert fragment in bad.json()["message"]
        assert bad.body.count(b"\n") == 0  # one line
    before = exitflow("list", "--db", str(daemon.db), "-o", "name").stdout.split()
    assert len(before) == 1  # nothing recorded for bad input


def test_stop_a_running_run_still_runs_its_exit_handler(daemon: Served) -> None:
    name = submit(daemon, SLOW)["metadata"]["name"]
    deadline = time.monotonic() + 30
    while True:
        wf = daemon.get(f"/api/v1/workflows/default/{name}").json()
        if any(n["phase"] == "Running" and n["type"] == "Pod"
               for n in wf["status"]["nodes"].values()):
            break
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.05)
    assert daemon.request("PUT", f"/api/v1/workflows/default/{name}/stop",
                          token=None).status == 401
    reply = daemon.request("PUT", f"/api/v1/workflows/default/{name}/stop")
    assert reply.status == 200, reply.body
    wf = daemon.wait_phase(name, {"Failed", "Error"})
    nodes = {n["displayName"]: n["phase"] for n in wf["status"]["nodes"].values()}
    assert nodes[f"{name}.onExit"] == "Succeeded"
    again = daemon.request("PUT", f"/api/v1/workflows/default/{name}/terminate")
    assert again.status == 409


def test_missing_or_wrong_token_is_401_one_line_json(daemon: Served) -> None:
    body = json.dumps({"workflow": ONEXIT})
    for token, why in [(None, "missing"), ("nope", "wrong"), ("", "missing")]:
        reply = daemon.request("POST", "/api/v1/workflows/default", body,
                               token=token if token != "" else None,
                               headers={"Authorization": "Basic abc"} if token == "" else None)
        assert reply.status == 401
        assert reply.headers["content-type"].startswith("application/json")
        assert reply.body.count(b"\n") == 0
        data = reply.json()
        assert data["code"] == 401 and (why in data["message"] or "Bearer" in data["message"])
    assert exitflow("list", "--db", str(daemon.db), "-o", "name").stdout == ""
    # reads on a loopback listen need no token
    assert daemon.get("/api/v1/workflows/default", token=None).status == 200
    assert daemon.get("/metrics", token=None).status == 200


def test_a_10_mb_body_is_refused_with_413(daemon: Served) -> None:
    big = b"x" * (10 * 1024 * 1024)
    reply = daemon.request("POST", "/api/v1/workflows/default", big)
    assert reply.status == 413
    assert reply.json()["code"] == 413
    # without a Content-Length (chunked), the limit holds while reading
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=30)
    try:
        conn.putrequest("POST", "/api/v1/workflows/default")
        conn.putheader("Authorization", f"Bearer {TOKEN}")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        try:
            for _ in range(10):
                chunk = b"y" * (1024 * 1024)
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert conn.getresponse().status == 413
    finally:
        conn.close()
    assert exitflow("list", "--db", str(daemon.db), "-o", "name").stdout == ""


def test_security_headers_static_confinement_and_openapi(daemon: Served) -> None:
    index = daemon.get("/", token=None)
    assert index.status == 200 and b"/static/app.js" in index.body
    csp = index.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert index.headers["x-content-type-options"] == "nosniff"
    assert daemon.get("/workflows/default/anything", token=None).body == index.body
    assert daemon.get("/static/app.js").status == 200
    for path in ["/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py",
                 "/static/%2e%2e%2f%2e%2e%2fapi.py", "/static//etc/passwd",
                 "/static/..%5capp.py", "/static/../../../../etc/passwd"]:
        reply = daemon.get(path)
        assert reply.status == 404, path
        assert b"import" not in reply.body and b"root:" not in reply.body
    for host in ["evil.example", f"evil.example:{daemon.port}", "10.0.0.1"]:
        rebound = daemon.get("/api/v1/workflows/default", headers={"Host": host})
        assert rebound.status == 403, host  # DNS rebinding: only loopback names are answered
    for host in [f"localhost:{daemon.port}", f"[::1]:{daemon.port}", "127.0.0.1"]:
        assert daemon.get("/api/v1/workflows/default", headers={"Host": host}).status == 200
    doc = daemon.get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/workflows/{ns}/{name}/events" in doc["paths"]
    assert daemon.get("/api/v1/workflows/default/nope").json()["code"] == 404


def test_port_in_use_is_one_line_exit_2(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        for command in ("server", "daemon"):
            result = exitflow(command, "--db", str(tmp_path / "x.db"), "--listen",
                              f"127.0.0.1:{port}", env={"EXITFLOW_TOKEN": TOKEN}, timeout=30)
            assert result.code == 2, result.stderr
            assert result.stderr.strip().count("\n") == 0
            assert "address already in use" in result.stderr
            assert "Traceback" not in result.stderr
    bad = exitflow("server", "--db", str(tmp_path / "x.db"), "--listen", "nonsense", timeout=30)
    assert bad.code == 2 and "HOST:PORT" in bad.stderr


def test_generated_token_is_0600_and_printed_once(tmp_path: Path, served: list[Served]) -> None:
    db = tmp_path / "tok.db"
    first = Served(db, "server", env={})
    served.append(first)
    first.ready()
    token_file = Path(f"{db}.token")
    token = token_file.read_text().strip()
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    assert first.stderr.count(token) == 1
    first.stop()
    assert first.proc.returncode == 0 and "stopped" in first.stderr  # SIGTERM: a clean stop
    second = Served(db, "server", env={})
    served.append(second)
    second.ready()
    assert token not in second.stderr
    wf = json.dumps({"workflow": ONEXIT})
    assert second.request("POST", "/api/v1/workflows/default", wf, token="x").status == 401
    assert second.request("POST", "/api/v1/workflows/default", wf, token=token).status == 200


def test_a_non_loopback_listen_needs_the_token_for_reads(tmp_path: Path,
                                                          served: list[Served]) -> None:
    server = Served(tmp_path / "wide.db", "server", listen="0.0.0.0:0")
    served.append(server)
    server.port = int(server.wait_for(r"at http://0\.0\.0\.0:(\d+)").group(1))
    assert server.get("/api/v1/workflows/default", token=None).status == 401
    assert server.get("/metrics", token=None).status == 401
    assert server.get("/api/v1/workflows/default").status == 200
    assert server.get("/", token=None).status == 200  # the page itself holds no data


def _metric(text: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def _exit_nodes(wf: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in wf["status"]["nodes"].values() if n["displayName"].endswith(".onExit")]


def test_metrics_match_the_database_after_crash_and_recover(tmp_path: Path,
                                                            served: list[Served]) -> None:
    """Crash the controller around the exit handler's start, recover, then /metrics (parsed
    with prometheus_client.parser) counts exactly the exit handlers the database holds."""
    db = tmp_path / "crash.db"
    example = str(EXAMPLES / "onexit-cleanup.yaml")
    for point in range(5, 12):  # every event boundary from the failed step to the end
        result = exitflow("run", example, "--db", str(db), env={"EXITFLOW_CRASH_AT": str(point)})
        assert result.code != 0
    recovered = exitflow("recover", "--db", str(db), "-o", "json")
    assert recovered.code in (0, 1), recovered.stderr
    server = Served(db, "server")
    served.append(server)
    server.ready()
    text = server.get("/metrics").body.decode()
    runs = server.get("/api/v1/workflows/default").json()["items"]
    assert len(runs) == 7 and all(r["status"]["finishedAt"] for r in runs)
    handlers = [n for r in runs for n in _exit_nodes(r)]
    assert _metric(text, "exitflow_exit_handlers_owed_total") == len(handlers) == 7
    assert _metric(text, "exitflow_exit_handlers_completed_total", phase="Succeeded") == len(
        [n for n in handlers if n["phase"] == "Succeeded"]) == 7
    assert _metric(text, "exitflow_exit_handlers_outstanding") == 0
    lost_exit = 0
    lost_all = 0
    for r in runs:
        name = r["metadata"]["name"]
        events = server.get(f"/api/v1/workflows/default/{name}/events").json()["events"]
        exit_ids = {n["id"] for n in _exit_nodes(r)}
        for e in events:
            if e["type"] == "NodeAttemptLost":
                lost_all += 1
                lost_exit += e["data"]["node_id"] in exit_ids
    assert lost_exit >= 1, "no crash point left an exit handler in flight"
    assert _metric(text, "exitflow_exit_handlers_rerun_after_crash_total") == lost_exit
    assert _metric(text, "exitflow_lost_attempts_total") == lost_all
    assert _metric(text, "exitflow_recoveries_total") >= 1
    assert _metric(text, "exitflow_runs", phase="Failed") == 7
    assert _metric(text, "exitflow_exit_handler_latency_seconds_count") == 7


def test_list_pages_newest_first_with_argo_options(tmp_path: Path, served: list[Served]) -> None:
    server = Served(tmp_path / "pages.db", "server")  # no controller: the runs stay Pending
    served.append(server)
    server.ready()
    names = [submit(server, SLOW)["metadata"]["name"] for _ in range(5)]
    seen: list[str] = []
    cont = ""
    for expected in (2, 2, 1):
        page = server.get(f"/api/v1/workflows/default?listOptions.limit=2{cont}").json()
        assert len(page["items"]) == expected
        seen += [i["metadata"]["name"] for i in page["items"]]
        cont = f"&listOptions.continue={page['metadata']['continue']}" if expected == 2 else ""
        assert ("continue" in page["metadata"]) == (expected == 2)
    assert seen == names[::-1]
    selector = "listOptions.labelSelector=workflows.argoproj.io/phase%20in%20(Pending,Failed)"
    assert len(server.get(f"/api/v1/workflows/default?{selector}").json()["items"]) == 5
    assert server.get("/api/v1/workflows/default?phase=Running").json()["items"] == []
    assert server.get("/api/v1/workflows/default?limit=x").status == 400
    # a stop for a run no controller runs yet is recorded for the next one
    assert server.request("PUT", f"/api/v1/workflows/default/{names[0]}/stop").status == 200


def test_namespaces_are_labels_from_the_workflow(tmp_path: Path, served: list[Served]) -> None:
    server = Served(tmp_path / "ns.db", "server")
    served.append(server)
    server.ready()
    reply = server.request("POST", "/api/v1/workflows/team-a", json.dumps({"workflow": ONEXIT}),
                           headers={"Content-Type": "application/json"})
    assert reply.status == 200, reply.body
    name = reply.json()["metadata"]["name"]
    assert server.get(f"/api/v1/workflows/team-a/{name}").status == 200
    assert server.get(f"/api/v1/workflows/default/{name}").status == 404
    assert [i["metadata"]["name"] for i in
            server.get("/api/v1/workflows/team-a").json()["items"]] == [name]
    assert server.get("/api/v1/workflows/default").json()["items"] == []
    # YAML naming no namespace is `default`: refused for another path, nothing recorded
    wrong = server.request("POST", "/api/v1/workflows/team-a", SLOW,
                           headers={"Content-Type": "application/yaml"})
    assert wrong.status == 400 and "namespace" in wrong.json()["message"]
    assert exitflow("list", "--db", str(server.db), "-o", "name").stdout.split() == [name]
