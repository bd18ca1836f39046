"""Runaway specs meet a named limit (engine.limits), never a hang, a traceback or a stuck run."""

from __future__ import annotations

from pathlib import Path

import pytest

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
