"""Bad input gets one line on stderr naming what and where, exit code 2, and loses nothing."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import EXAMPLES, exitflow

HEADER = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  generateName: bad-\n"
OK_BODY = (
    "spec:\n  entrypoint: main\n  templates:\n  - name: main\n"
    "    container:\n      image: alpine\n      command: [echo, hi]\n"
)

CASES: dict[str, tuple[str, list[str], str]] = {
    # name: (file text, extra args, fragment the one-line message must contain)
    "malformed-yaml": (HEADER + "spec:\n  entrypoint: [main\n", [], "invalid YAML"),
    "wrong-type": (HEADER + "spec:\n  entrypoint: main\n  templates: 3\n", [], "$.spec.templates"),
    "unknown-field": (HEADER + OK_BODY + "      imagee: x\n", [], "imagee"),
    "missing-template": (
        HEADER + "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps:\n"
        "    - - name: a\n        template: nope\n",
        [],
        "nope",
    ),
    "cycle": (
        HEADER + "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    dag:\n      tasks:\n"
        "      - {name: A, template: t, depends: B}\n      - {name: B, template: t, depends: A}\n"
        "  - name: t\n    container: {image: alpine, command: [echo]}\n",
        [],
        "cycle",
    ),
    "bad-expression": (
        HEADER + "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps:\n"
        "    - - name: a\n        template: t\n        when: '1 == == 2'\n"
        "  - name: t\n    container: {image: alpine, command: [echo]}\n",
        [],
        "when",
    ),
    "kind-not-workflow": (
        HEADER.replace("kind: Workflow", "kind: CronWorkflow") + OK_BODY,
        [],
        "kind",
    ),
    "missing-entrypoint": (
        HEADER + OK_BODY.replace("entrypoint: main", "entrypoint: other"),
        [],
        "other",
    ),
    "undeclared-parameter": (HEADER + OK_BODY, ["-p", "nope=1"], "nope"),
    "malformed-parameter": (HEADER + OK_BODY, ["-p", "novalue"], "novalue"),
    "hook-without-expression": (
        HEADER
        + "spec:\n  entrypoint: main\n  hooks:\n    running:\n      template: main\n"
        + OK_BODY.replace("spec:\n  entrypoint: main\n", ""),
        [],
        "xpression",
    ),
    "missing-required-input": (
        HEADER + "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    inputs:\n"
        "      parameters:\n      - name: msg\n    container: {image: alpine, command: [echo]}\n",
        [],
        "msg",
    ),
}


def _assert_one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_workflow_file(case: str, tmp_path: Path) -> None:
    text, args, fragment = CASES[case]
    wf = tmp_path / "wf.yaml"
    wf.write_text(text)
    db = tmp_path / "x.db"
    # A run recorded before the bad input: it must survive untouched.
    good = exitflow("run", str(EXAMPLES / "onexit-cleanup.yaml"), "--db", str(db), "-o", "json")
    assert good.code == 1
    before = exitflow("list", "--db", str(db), "-o", "json").json()
    res = exitflow("run", str(wf), "--db", str(db), *args)
    assert res.code == 2, res.stderr
    line = _assert_one_line(res.stderr)
    assert fragment in line, line
    assert exitflow("list", "--db", str(db), "-o", "json").json() == before
    lint = exitflow("lint", str(wf))
    if not args:
        assert lint.code == 2
        _assert_one_line(lint.stderr)


def test_missing_file(tmp_path: Path) -> None:
    res = exitflow("run", str(tmp_path / "nope.yaml"), "--db", str(tmp_path / "x.db"))
    assert res.code == 2
    assert "nope.yaml" in _assert_one_line(res.stderr)


@pytest.mark.parametrize(
    "content", [b"this is not a database\n" * 10, b"SQLite format 3\x00" + b"\xff" * 600]
)
def test_unreadable_database(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "x.db"
    db.write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    res = exitflow("run", str(EXAMPLES / "onexit-cleanup.yaml"), "--db", str(db))
    assert res.code == 2
    assert "x.db" in _assert_one_line(res.stderr)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest


def test_foreign_database(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers(name) VALUES ('ada')")
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    for args in (["run", str(EXAMPLES / "onexit-cleanup.yaml")], ["list"], ["get", "x"]):
        res = exitflow(*args, "--db", str(db))
        assert res.code == 2, (args, res.stderr)
        assert "other.db" in _assert_one_line(res.stderr)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest


def test_unknown_workflow(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    exitflow("run", str(EXAMPLES / "onexit-cleanup.yaml"), "--db", str(db))
    res = exitflow("get", "no-such-workflow", "--db", str(db))
    assert res.code == 2
    assert "no-such-workflow" in _assert_one_line(res.stderr)


@pytest.mark.parametrize("how", ["flag", "annotation"])
def test_missing_docker_daemon(tmp_path: Path, how: str) -> None:
    wf = tmp_path / "wf.yaml"
    text = HEADER + OK_BODY
    args: list[str] = ["--executor", "docker"]
    if how == "annotation":
        text = text.replace(
            "  generateName: bad-\n",
            "  generateName: bad-\n  annotations:\n    exitflow.io/executor: docker\n",
        )
        args = []
    wf.write_text(text)
    db = tmp_path / "x.db"
    env = {"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    res = exitflow("run", str(wf), "--db", str(db), *args, env=env)
    assert res.code == 2, res.stderr
    assert "Docker daemon" in _assert_one_line(res.stderr)
    # Nothing was recorded for a run that could not start.
    assert exitflow("list", "--db", str(db), "-o", "json").json() == []
