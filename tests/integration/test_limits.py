"""Runaway specs meet a named limit (engine.limits), never a hang, a traceback or a stuck run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from engine.events import WorkflowSubmitted
from engine.store import SqliteStore
from tests.hostile import HEADER, exitflow_raw, one_line, write

RECURSIVE = HEADER + """spec:
  entrypoint: main
  onExit: bye
  templates:
  - name: main
    steps:
    - - name: again
        template: main
  - name: bye
    container: {image: alpine, command: [sh, -c, "echo bye"]}
"""
HUGE_LOOP = RECURSIVE.replace("""        template: main
""", """        template: bye
        withSequence: {end: "99999999999999999999"}
""")


def _bomb(levels: int = 10) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return HEADER + "\n".join(lines) + "\nspec: {entrypoint: main}\n"


@pytest.mark.timeout(120)
def test_recursion_stops_at_depth_100_and_the_exit_handler_runs(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    result = exitflow_raw("run", write(tmp_path, "r.yaml", RECURSIVE), "--db", db, "-o", "json")
    assert result.code == 1, result.stderr
    assert "Traceback" not in result.stderr
    nodes = result.json()["status"]["nodes"].values()
    errors = [n for n in nodes if n["phase"] == "Error"]
    assert len(errors) == 1 and "maximum recursion depth" in errors[0]["message"]
    assert any(n["displayName"].endswith(".onExit") and n["phase"] == "Succeeded"
               for n in nodes)
    assert exitflow_raw("verify", "--db", db).code == 0


@pytest.mark.timeout(60)
def test_a_huge_loop_is_an_error_of_its_step(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    result = exitflow_raw("run", write(tmp_path, "l.yaml", HUGE_LOOP), "--db", db)
    assert result.code == 1, result.stderr
    assert "over the loop limit of 10000 items" in result.stdout


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", ["alias-bomb", "deep", "recursive-alias", "size"])
def test_hostile_yaml_is_one_line_naming_the_limit(tmp_path: Path, case: str) -> None:
    text, env, fragment = {
        "alias-bomb": (_bomb(), {}, "EXITFLOW_MAX_YAML_ALIAS_NODES"),
        "deep": (HEADER + "spec: {x: " + "[" * 5000 + "]" * 5000 + "}\n", {},
                 "EXITFLOW_MAX_YAML_DEPTH"),
        "recursive-alias": (HEADER + "a: &a [1, *a]\n", {}, "recursive alias"),
        "size": (RECURSIVE, {"EXITFLOW_MAX_SPEC_BYTES": "100"}, "EXITFLOW_MAX_SPEC_BYTES"),
    }[case]
    spec = write(tmp_path, "w.yaml", text)
    for args in (["lint", spec], ["run", spec, "--db", str(tmp_path / "t.db")]):
        result = exitflow_raw(*args, env=env, timeout=30)
        assert result.code == 2, result
        assert fragment in one_line(result.stderr)


LOOP = HEADER + """spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: each
        template: echo
        withItems: [a, b, c, d, e]
  - name: echo
    container: {image: alpine, command: [sh, -c, "echo {{inputs.parameters.x}}"]}
    inputs: {parameters: [{name: x, value: "{{item}}"}]}
"""


async def _first_event(db: str, name: str) -> WorkflowSubmitted:
    store = await SqliteStore.open(db, read_only=True)
    try:
        record = await store.get_workflow(name)
        first = (await store.read(record.uid, upto_seq=1))[0].event
        assert isinstance(first, WorkflowSubmitted)
        return first
    finally:
        await store.aclose()


@pytest.mark.timeout(120)
def test_max_depth_flag_is_recorded_and_verify_uses_it(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    result = exitflow_raw("run", write(tmp_path, "r.yaml", RECURSIVE), "--db", db,
                          "--max-depth", "5", "-o", "json")
    assert result.code == 1, result.stderr
    wf = result.json()
    errors = [n for n in wf["status"]["nodes"].values() if n["phase"] == "Error"]
    assert len(errors) == 1, errors
    assert "nested more than 5 deep" in errors[0]["message"]
    assert "--max-depth" in errors[0]["message"]
    first = anyio.run(_first_event, db, wf["metadata"]["name"])
    assert first.limits == {"max_depth": 5, "max_loop_items": 10_000, "max_nodes": 50_000}
    history = exitflow_raw("history", wf["metadata"]["name"], "--db", db).stdout
    assert "limits --max-depth=5" in history and "--max-nodes" not in history
    # verify re-derives with the recorded value, whatever this environment says
    assert exitflow_raw("verify", "--db", db, env={"EXITFLOW_MAX_DEPTH": "3"}).code == 0


@pytest.mark.timeout(120)
def test_recover_decides_with_each_runs_recorded_loop_limit(tmp_path: Path) -> None:
    """Three runs submitted with no controller: a flag (3), the environment (4), and a flag (10)
    that wins over the environment (2). `recover`, under an environment whose limit (1) would
    refuse all three, decides each by its own recorded value."""
    db = str(tmp_path / "t.db")
    spec = write(tmp_path, "l.yaml", LOOP)
    names = []
    for args, env in ((["--max-loop-items", "3"], {}), ([], {"EXITFLOW_MAX_LOOP_ITEMS": "4"}),
                      (["--max-loop-items", "10"], {"EXITFLOW_MAX_LOOP_ITEMS": "2"})):
        submitted = exitflow_raw("submit", spec, "--db", db, "-o", "name", *args, env=env)
        assert submitted.code == 0, submitted.stderr
        names.append(submitted.stdout.strip())
    recovered = exitflow_raw("recover", "--db", db, env={"EXITFLOW_MAX_LOOP_ITEMS": "1"},
                             timeout=90)
    assert "Traceback" not in recovered.stderr
    assert recovered.code == 1, recovered
    outcome = {}
    for name in names:
        wf = exitflow_raw("get", name, "--db", db, "-o", "json").json()
        each = [(n["phase"], n.get("message", "")) for n in wf["status"]["nodes"].values()
                if n["displayName"] == "each"]  # the loop's own node, only when not expanded
        outcome[name] = (wf["status"]["phase"], *(each[0] if each else ("", "")))
    limited, from_env, flag_wins = (outcome[n] for n in names)
    assert limited[:2] == ("Failed", "Error") and "loop limit of 3 items" in limited[2]
    assert "--max-loop-items" in limited[2]
    assert from_env[:2] == ("Failed", "Error") and "loop limit of 4 items" in from_env[2]
    assert flag_wins[0] == "Succeeded", flag_wins
    assert exitflow_raw("verify", "--db", db).code == 0


@pytest.mark.timeout(120)
def test_max_nodes_from_the_environment_errors_new_nodes(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    result = exitflow_raw("run", write(tmp_path, "l.yaml", LOOP), "--db", db, "-o", "json",
                          env={"EXITFLOW_MAX_NODES": "4"})
    assert result.code == 1, result.stderr
    nodes = result.json()["status"]["nodes"].values()
    errors = [n for n in nodes if n["phase"] == "Error"]
    assert errors and all("limit of 4 nodes" in n["message"] for n in errors)
    assert sum(n["phase"] == "Succeeded" and n["type"] == "Pod" for n in nodes) == 2
    assert exitflow_raw("verify", "--db", db).code == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("setting", [["--max-depth", "0"], ["--max-nodes", "x"],
                                     {"EXITFLOW_MAX_LOOP_ITEMS": "-1"},
                                     {"EXITFLOW_MAX_DEPTH": "many"},
                                     ["--max-depth", "400"], {"EXITFLOW_MAX_DEPTH": "101"}])
def test_a_bad_run_limit_is_one_line_and_nothing_is_recorded(
        tmp_path: Path, setting: list[str] | dict[str, str]) -> None:
    db = tmp_path / "t.db"
    args, env = (setting, {}) if isinstance(setting, list) else ([], setting)
    for command in ("run", "submit"):
        result = exitflow_raw(command, write(tmp_path, "l.yaml", LOOP), "--db", str(db), *args,
                              env=env)
        assert result.code == 2, result
        line = one_line(result.stderr)
        assert (args[0] if args else next(iter(env))) in line, line
    assert not db.exists() or sqlite3.connect(db).execute(
        "SELECT count(*) FROM workflows").fetchone() == (0,)


@pytest.mark.timeout(60)
def test_parse_limit_flags_lower_and_raise_the_limits(tmp_path: Path) -> None:
    deep = "[" * 150 + "1" + "]" * 150
    spec = write(tmp_path, "d.yaml", LOOP.replace("[a, b, c, d, e]", f"[{deep}]"))
    db = str(tmp_path / "t.db")
    assert "EXITFLOW_MAX_YAML_DEPTH" in one_line(exitflow_raw("lint", spec).stderr)
    assert exitflow_raw("lint", spec, "--max-yaml-depth", "200").code == 0
    small = write(tmp_path, "s.yaml", LOOP)
    for command in (["lint", small], ["run", small, "--db", db], ["submit", small, "--db", db]):
        result = exitflow_raw(*command, "--max-spec-bytes", "100")
        assert result.code == 2, result
        assert "over the spec size (bytes) limit of 100" in one_line(result.stderr)
        result = exitflow_raw(*command, "--max-yaml-depth", "3")
        assert result.code == 2, result
        assert "over the YAML nesting depth limit of 3" in one_line(result.stderr)
