"""The Docker executor end to end: the real CLI, a real daemon, real containers, real crashes.

Every test here runs `python -m engine ...` in a subprocess and looks at the containers with the
`docker` client (`ps`, `events`, `kill`). Containers are found by the labels the executor puts on
them (exitflow.workflow-uid, exitflow.node-id, ...), so tests never touch containers they did not
make. `bash .ci/setup-docker.sh` starts a daemon and builds the stand-in images.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.helpers import ARGO_EXAMPLES, EXAMPLES, ROOT, Result, by_name, exitflow, phases
from tests.integration.test_examples import EXPECTED

pytestmark = pytest.mark.docker

T = TypeVar("T")

#: A container or node must reach the state a test waits for within this many seconds.
WAIT = 30.0

# --------------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _needs_docker(docker_available: None) -> None:
    """Every test here needs the daemon (skipped without one; CI=true makes that a failure)."""


def docker(*args: str) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, f"docker {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def containers(uid: str) -> list[dict[str, str]]:
    """Every container (running or not) of workflow `uid`: Names, State, node-id, attempt."""
    fmt = (
        '{"name": "{{.Names}}", "state": "{{.State}}", '
        '"node": "{{.Label "exitflow.node-id"}}", "attempt": "{{.Label "exitflow.attempt"}}"}'
    )
    out = docker("ps", "-a", "--filter", f"label=exitflow.workflow-uid={uid}", "--format", fmt)
    return [json.loads(line) for line in out.splitlines()]


def container_events(uid: str, since: float, event: str) -> list[str]:
    """The node ids of the `event` (create, start, die, ...) events of workflow `uid`'s
    containers since `since` (what the daemon recorded, even for removed containers)."""
    out = docker(
        "events", "--since", f"{since:.3f}", "--until", f"{time.time() + 0.5:.3f}",
        "--filter", "type=container", "--filter", f"event={event}",
        "--filter", f"label=exitflow.workflow-uid={uid}",
        "--format", '{{index .Actor.Attributes "exitflow.node-id"}}',
    )
    return out.split()


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = WAIT) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def get_json(name: str, db: Path) -> dict[str, Any] | None:
    res = exitflow("get", name, "--db", str(db), "-o", "json")
    return res.json() if res.code == 0 else None


def node_by_display(wf: dict[str, Any], display: str) -> dict[str, Any] | None:
    for node in wf["status"]["nodes"].values():
        if node["displayName"] == display:
            found: dict[str, Any] = node
            return found
    return None


def write(tmp_path: Path, text: str) -> tuple[str, Path]:
    """A workflow file whose metadata.name is unique: returns (name, path)."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.yaml"
    path.write_text(text.replace("NAME", name))
    return name, path


def run_docker(file: Path, db: Path, *args: str, timeout: float = 60) -> Result:
    return exitflow("run", str(file), "--db", str(db), "--executor", "docker", "-o", "json",
                    *args, timeout=timeout)


@pytest.fixture
def controller() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start `python -m engine ARGS` in the background; killed at the end if still alive."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        env = dict(os.environ)
        env.pop("EXITFLOW_CRASH_AT", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", *args], cwd=ROOT, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def running_container_of(name: str, db: Path, display: str) -> tuple[str, str]:
    """Wait until node `display` of workflow `name` runs in a container: (uid, node id)."""

    def probe() -> tuple[str, str] | None:
        wf = get_json(name, db)
        node = node_by_display(wf, display) if wf is not None else None
        if wf is None or node is None or node["phase"] != "Running":
            return None
        uid = wf["metadata"]["uid"]
        boxes = containers(uid)
        running = [c for c in boxes if c["node"] == node["id"] and c["state"] == "running"]
        return (uid, node["id"]) if running else None

    return wait_for(f"a running container of {display}", probe)


# ------------------------------------------------- (a) every example, same phases as local


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_example_under_docker(key: str, tmp_path: Path) -> None:
    args, code, wf_phase, node_phases = EXPECTED[key]
    res = run_docker(EXAMPLES / key.split("#")[0], tmp_path / "x.db", *args)
    assert res.code == code, res.stderr
    wf = res.json()
    assert wf["status"]["phase"] == wf_phase
    got = phases(wf)
    for name, phase in node_phases.items():
        assert got.get(name) == phase, (name, got)
    # Every container the run made is gone.
    assert containers(wf["metadata"]["uid"]) == []


# --------------------------------------------------- (b) a sample of Argo's own examples

#: Argo example -> (final phase Argo documents for it, compare every node phase with local?).
#: The random example (coinflip) is compared on the final phase only. argosay and
#: cowsay exist only as images, so those examples cannot run under the local executor: there
#: the Argo phase is the reference.
ARGO_SAMPLE: dict[str, tuple[str, bool]] = {
    "hello-world.yaml": ("Succeeded", True),  # busybox
    "steps.yaml": ("Succeeded", True),
    "dag-diamond.yaml": ("Succeeded", True),
    "exit-handlers.yaml": ("Failed", True),  # onExit with `when` on workflow.status
    "exit-handler-with-param.yaml": ("Succeeded", True),  # python, valueFrom.path outputs
    "scripts-python.yaml": ("Succeeded", True),
    "scripts-bash.yaml": ("Succeeded", True),  # `command: [sh, -c]` + the script file
    "coinflip.yaml": ("Succeeded", False),  # python result + `when`: heads or tails at random
    "steps-inline-workflow.yaml": ("Succeeded", False),  # argoproj/argosay:v2
    "dag-inline-workflow.yaml": ("Succeeded", False),  # argoproj/argosay:v2
}
#: Examples the local executor cannot run (their image's program is not on the host).
IMAGE_ONLY = {"steps-inline-workflow.yaml", "dag-inline-workflow.yaml"}


@pytest.mark.corpus
@pytest.mark.parametrize("example", sorted(ARGO_SAMPLE))
def test_argo_example_under_docker_matches_local(example: str, tmp_path: Path) -> None:
    argo_phase, compare_nodes = ARGO_SAMPLE[example]
    file = ARGO_EXAMPLES / example
    res = run_docker(file, tmp_path / "docker.db")
    wf = res.json()
    assert wf["status"]["phase"] == argo_phase, (res.stderr, wf["status"])
    assert containers(wf["metadata"]["uid"]) == []
    if example in IMAGE_ONLY:
        return
    local = exitflow("run", str(file), "--db", str(tmp_path / "local.db"), "-o", "json")
    assert local.code == res.code, local.stderr
    assert local.json()["status"]["phase"] == argo_phase
    if compare_nodes:
        assert phases(local.json()) == phases(wf)


# ------------------------------------ the executor choice: annotation, daemon, in a container

IN_CONTAINER = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: NAME
  annotations:
    exitflow.io/executor: docker
spec:
  entrypoint: main
  templates:
  - name: main
    container:
      image: alpine:3.7
      command: [sh, -c]
      args: ["grep '^ID=' /etc/os-release; hostname"]
"""
#: /etc/os-release of the stand-in images (.ci/setup-docker.sh); the host's says otherwise.
CONTAINER_OS = "ID=exitflow-busybox"


def test_annotation_chooses_docker(tmp_path: Path) -> None:
    name, file = write(tmp_path, IN_CONTAINER)
    res = exitflow("run", str(file), "--db", str(tmp_path / "x.db"), "-o", "json")
    assert res.code == 0, res.stderr
    result = by_name(res.json())[name]["outputs"]["result"]
    assert result.splitlines()[0] == CONTAINER_OS
    # Without the annotation the same workflow runs on the host.
    _, plain = write(tmp_path, IN_CONTAINER.replace("exitflow.io/executor: docker", "x: y"))
    res = exitflow("run", str(plain), "--db", str(tmp_path / "y.db"), "-o", "json")
    assert res.code == 0, res.stderr
    [node] = res.json()["status"]["nodes"].values()
    assert CONTAINER_OS not in node["outputs"]["result"]


def test_daemon_with_docker_executor(
    tmp_path: Path, controller: Callable[..., subprocess.Popen[str]]
) -> None:
    db = tmp_path / "x.db"
    name, file = write(tmp_path, IN_CONTAINER.replace("exitflow.io/executor: docker", "x: y"))
    daemon = controller("daemon", "--db", str(db), "--executor", "docker")
    res = exitflow("submit", str(file), "--db", str(db), "--wait", "-o", "json", timeout=60)
    assert res.code == 0, res.stderr
    assert by_name(res.json())[name]["outputs"]["result"].splitlines()[0] == CONTAINER_OS
    daemon.send_signal(signal.SIGTERM)
    _, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err


# ------------------------------------------- (c), (d) kill -9 of the controller, then recover

#: The steps below sleep long enough that a loaded machine still kills the controller while they
#: run (the probe that sees them running is itself a few subprocesses).
ONE_STEP = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: NAME
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: work
        template: work
  - name: work
    container:
      image: alpine:3.7
      command: [sh, -c]
      args: ["echo started attempt=$EXITFLOW_ATTEMPT; sleep 6; echo finished"]
"""

EXIT_HANDLER = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: NAME
spec:
  entrypoint: main
  onExit: cleanup
  templates:
  - name: main
    container:
      image: alpine:3.7
      command: [sh, -c]
      args: ["echo main; exit 1"]
  - name: cleanup
    container:
      image: alpine:3.7
      command: [sh, -c]
      args: ["echo cleanup started attempt=$EXITFLOW_ATTEMPT status={{workflow.status}};
              sleep 6; echo cleanup finished"]
"""


def crash_and_recover(
    tmp_path: Path, text: str, display: str,
    controller: Callable[..., subprocess.Popen[str]], *recover_args: str,
) -> tuple[dict[str, Any], Result, str, str]:
    """Run under docker, kill -9 the controller while node `display` ("{name}" is replaced by
    the workflow's name) runs in its container, then `recover *recover_args`.

    Checks that the container outlived the controller and that recovery left no container
    behind. Returns (the workflow before the crash, recover's result, uid, the node's id).
    """
    db = tmp_path / "x.db"
    name, file = write(tmp_path, text)
    run = controller("run", str(file), "--db", str(db), "--executor", "docker", "-o", "json")
    uid, node_id = running_container_of(name, db, display.format(name=name))
    before = get_json(name, db)
    run.kill()  # SIGKILL: no cleanup of any kind
    run.communicate(timeout=30)
    # The controller is gone, its container is not: exactly one, still running, attempt 1.
    [box] = [c for c in containers(uid) if c["node"] == node_id]
    assert (box["state"], box["attempt"]) == ("running", "1"), box
    assert box["name"].endswith("-a1")
    res = exitflow("recover", "--db", str(db), *recover_args, "-o", "json", timeout=60)
    assert containers(uid) == []
    assert before is not None
    return before, res, uid, node_id


def test_kill_controller_then_recover_reattaches_the_running_container(
    tmp_path: Path, controller: Callable[..., subprocess.Popen[str]]
) -> None:
    since = time.time() - 1
    _, res, uid, node_id = crash_and_recover(
        tmp_path, ONE_STEP, "work", controller, "--executor", "docker"
    )
    assert res.code == 0, res.stderr
    [wf] = res.json()
    assert wf["status"]["phase"] == "Succeeded"
    node = wf["status"]["nodes"][node_id]
    assert node["phase"] == "Succeeded"
    # Re-attached, not re-run: the output of the one container (its log would hold every
    # start), the node's attempt count (absent means 1), and the daemon's own event history.
    assert node["outputs"]["result"] == "started attempt=1\nfinished"
    assert "attempts" not in node
    assert container_events(uid, since, "create") == [node_id]
    assert container_events(uid, since, "start") == [node_id]


def test_kill_controller_during_exit_handler_then_recover(
    tmp_path: Path, controller: Callable[..., subprocess.Popen[str]]
) -> None:
    since = time.time() - 1
    # A plain `recover`: the run recorded its executor (docker), and recovery uses it.
    before, res, uid, handler_id = crash_and_recover(
        tmp_path, EXIT_HANDLER, "{name}.onExit", controller
    )
    assert res.code == 1, res.stderr
    [wf] = res.json()
    assert wf["status"]["phase"] == "Failed"
    assert phases(wf) == {"@root": "Failed", "@onExit": "Succeeded"}
    handler = wf["status"]["nodes"][handler_id]
    assert handler["outputs"]["result"] == (
        "cleanup started attempt=1 status=Failed\ncleanup finished"
    )
    assert "attempts" not in handler
    # One container per Pod node, each created and started once.
    main_id = before["metadata"]["name"]  # the root node's id is the workflow's name
    assert sorted(container_events(uid, since, "start")) == sorted([main_id, handler_id])
    assert sorted(container_events(uid, since, "create")) == sorted([main_id, handler_id])


# ------------------------------------------------------------------ (e) a missing image

MISSING_IMAGE = "exitflow-test/no-such-image:never"

MISSING = f"""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: NAME
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: pull
        template: pull
  - name: pull
    container:
      image: {MISSING_IMAGE}
      command: [sh, -c]
      args: ["echo never"]
"""


def test_missing_image_is_a_node_error_naming_the_image(tmp_path: Path) -> None:
    # A hang would hit the subprocess timeout; nothing is pulled, so the answer is immediate.
    name, file = write(tmp_path, MISSING)
    res = run_docker(file, tmp_path / "x.db", timeout=30)
    # As Argo: the Pod node is Error, its steps parent Failed ("child ... failed"), and the
    # workflow takes the root node's phase.
    assert res.code == 1, res.stderr
    wf = res.json()
    assert wf["status"]["phase"] == "Failed"
    pull = by_name(wf)[f"{name}[0].pull"]
    assert pull["phase"] == "Error"
    assert pull["message"].startswith(f"image {MISSING_IMAGE} not found locally")
    assert containers(wf["metadata"]["uid"]) == []
    # With the Pod as the root node, the workflow itself is Error (exit 3).
    name, file = write(tmp_path, MISSING.replace("entrypoint: main", "entrypoint: pull"))
    res = run_docker(file, tmp_path / "y.db", timeout=30)
    assert res.code == 3, res.stderr
    wf = res.json()
    assert wf["status"]["phase"] == "Error"
    assert MISSING_IMAGE in wf["status"]["message"]


# ------------------------------------------------- (f) a container killed from outside

KILLABLE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: NAME
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: victim
        template: sleep
  - name: sleep
    container:
      image: alpine:3.7
      command: [sh, -c]
      args: ["echo up; sleep 60"]
"""


def test_docker_kill_from_outside_fails_the_node_with_137(
    tmp_path: Path, controller: Callable[..., subprocess.Popen[str]]
) -> None:
    db = tmp_path / "x.db"
    name, file = write(tmp_path, KILLABLE)
    run = controller("run", str(file), "--db", str(db), "--executor", "docker", "-o", "json")
    uid, node_id = running_container_of(name, db, "victim")
    [box] = [c for c in containers(uid) if c["node"] == node_id]
    docker("kill", box["name"])  # SIGKILL, as `docker kill` sends by default
    out, err = run.communicate(timeout=WAIT)
    assert run.returncode == 1, err
    wf = json.loads(out)
    assert wf["status"]["phase"] == "Failed"
    victim = wf["status"]["nodes"][node_id]
    assert victim["phase"] == "Failed"
    assert victim["message"] == "exit code 137"
    assert victim["outputs"]["exitCode"] == "137"
    assert containers(uid) == []


# ------------------------------------------------- (g) timeouts and deadlines stop containers

TEMPLATE_DEADLINE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: NAME
spec:
  entrypoint: main
  onExit: after
  templates:
  - name: main
    steps:
    - - name: slow
        template: slow
  - name: slow
    activeDeadlineSeconds: 1
    container:
      image: alpine:3.7
      command: [sh, -c]
      args: ["echo slow-started; sleep 60"]
  - name: after
    container:
      image: alpine:3.7
      command: [sh, -c]
      args: ["echo after {{workflow.status}}"]
"""

WORKFLOW_DEADLINE = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: NAME
spec:
  entrypoint: main
  activeDeadlineSeconds: 1
  templates:
  - name: main
    steps:
    - - name: slow
        template: slow
  - name: slow
    container:
      image: alpine:3.7
      command: [sh, -c]
      args: ["echo slow-started; sleep 60"]
"""


def test_template_deadline_stops_the_container(tmp_path: Path) -> None:
    # `sleep 60` outlives the subprocess timeout: finishing at all means the container stopped.
    name, file = write(tmp_path, TEMPLATE_DEADLINE)
    res = run_docker(file, tmp_path / "x.db", timeout=40)
    assert res.code == 1, res.stderr
    wf = res.json()
    slow = by_name(wf)[f"{name}[0].slow"]
    assert slow["phase"] == "Failed"
    assert slow["message"] == "Pod was active on the node longer than the specified deadline"
    assert phases(wf)["@onExit"] == "Succeeded"
    assert containers(wf["metadata"]["uid"]) == []


def test_workflow_deadline_stops_the_container(tmp_path: Path) -> None:
    name, file = write(tmp_path, WORKFLOW_DEADLINE)
    res = run_docker(file, tmp_path / "x.db", timeout=40)
    assert res.code == 1, res.stderr
    wf = res.json()
    assert wf["status"]["phase"] == "Failed"
    slow = by_name(wf)[f"{name}[0].slow"]
    assert (slow["phase"], slow["message"]) == ("Failed", "Step exceeded its deadline")
    assert containers(wf["metadata"]["uid"]) == []


# ------------------------------------------------------------ crashtest --executor docker

CRASH_WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: NAME
spec:
  entrypoint: main
  onExit: cleanup
  templates:
  - name: main
    container:
      image: alpine:3.7
      command: [sh, -c]
      args: ["echo main; exit 1"]
  - name: cleanup
    container:
      image: alpine:3.7
      command: [sh, -c]
      args: ["echo cleanup {{workflow.status}}"]
"""


def test_crashtest_under_docker(tmp_path: Path) -> None:
    name, file = write(tmp_path, CRASH_WORKFLOW)
    res = exitflow("crashtest", str(file), "--executor", "docker", "-j", "2", "-o", "json",
                   timeout=120)
    assert res.code == 0, res.stdout + res.stderr
    report = res.json()
    assert report["executor"] == "docker"
    assert report["clean"]["phase"] == "Failed"
    assert len(report["boundaries"]) >= 10
    assert all(b["ok"] for b in report["boundaries"])
    # Container names carry the node id, and the root node's id is the workflow's name: no
    # container of any of the runs is left behind. A removal the Docker daemon accepted but has
    # not finished (it is busy under load) gets a few seconds; the message names what is left.
    fmt = "{{.Names}} {{.State}} {{.Label \"exitflow.node-id\"}} a{{.Label \"exitflow.attempt\"}}"
    deadline = time.monotonic() + 15
    while (left := docker("ps", "-a", "--filter", f"name={name}", "--format", fmt).strip()):
        assert time.monotonic() < deadline, f"containers left behind:\n{left}"
        time.sleep(0.25)


# ---------------------------------------------------------------------- exitflow doctor


@pytest.mark.corpus
def test_doctor(tmp_path: Path) -> None:
    # The examples: every image present.
    res = exitflow("doctor", "-o", "json")
    assert res.code == 0, res.stdout + res.stderr
    report = res.json()
    assert report["ok"] and report["daemon"]["reachable"] and report["daemon"]["server_version"]
    assert set(report["images"]) == {"alpine:latest"}
    assert report["daemon"]["images_missing"] == []
    # Given files (a directory, a file): a missing image makes it exit 1; `{{ }}` images are
    # listed, not checked.
    _, missing = write(tmp_path, MISSING)
    res = exitflow("doctor", "--images", str(EXAMPLES), "--images", str(missing), "-o", "json",
                   "--images", str(ARGO_EXAMPLES / "loops-param-argument.yaml"))
    assert res.code == 1, res.stdout + res.stderr
    report = res.json()
    assert report["daemon"]["images_missing"] == [MISSING_IMAGE]
    assert "alpine:latest" in report["daemon"]["images_present"]
    assert report["images"][MISSING_IMAGE] == [str(missing)]
    assert list(report["templated"]) == ["{{inputs.parameters.image}}:{{inputs.parameters.tag}}"]
    text = exitflow("doctor", "--images", str(missing))
    assert text.code == 1
    assert MISSING_IMAGE in text.stdout and "missing" in text.stdout
    # No daemon there.
    res = exitflow("doctor", "--url", f"unix://{tmp_path}/no.sock")
    assert res.code == 1
    assert "no Docker daemon" in res.stdout
    # A workflow file that does not exist is bad input.
    assert exitflow("doctor", "--images", str(tmp_path / "nope.yaml")).code == 2


NETWORK_WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: NAME
  annotations:
    exitflow.io/executor: docker
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: isolated, template: isolated}
      - {name: host, template: host}
  - name: isolated
    container:
      image: alpine:3.7
      command: [sh, -c, "ls /sys/class/net"]
  - name: host
    metadata:
      annotations:
        exitflow.io/network: host
    container:
      image: alpine:3.7
      command: [sh, -c, "ls /sys/class/net"]
"""


def test_network_mode_from_template_annotation(tmp_path: Path) -> None:
    _name, file = write(tmp_path, NETWORK_WORKFLOW)
    res = exitflow("run", str(file), "--db", str(tmp_path / "x.db"), "-o", "json")
    assert res.code == 0, res.stderr
    outputs = {n["displayName"]: n.get("outputs", {}).get("result", "")
               for n in res.json()["status"]["nodes"].values()}
    assert outputs["isolated"].split() == ["lo"]
    assert set(outputs["host"].split()) > {"lo"}
