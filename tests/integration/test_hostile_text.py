"""Text from users and steps is printed as text: never rich markup, never raw terminal control
sequences (except `logs`, raw like `argo logs`); a non-UTF-8 argument is one line, exit 2."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tests.hostile import HEADER, exitflow_raw, one_line, write

#: Rich markup that does not balance, a terminal retitle (OSC), a colour (CSI) and a bidi override.
HOSTILE = "[/x] [bold]b \x1b]0;pwned\x07 \x1b[31mred \u202e"

SPEC = HEADER + """spec:
  entrypoint: main
  arguments:
    parameters:
    - name: msg
      value: plain
  templates:
  - name: main
    steps:
    - - name: each
        template: echo
        arguments:
          parameters: [{name: msg, value: "{{item}}"}]
        withItems: ["{{workflow.parameters.msg}}"]
  - name: echo
    inputs:
      parameters: [{name: msg}]
    container:
      image: alpine
      command:
      - sh
      - -c
      - 'printf "%s" "$0" > /tmp/out; printf "%s\\n" "$0"'
      - "{{inputs.parameters.msg}}"
    outputs:
      parameters:
      - name: out
        valueFrom: {path: /tmp/out}
"""


def _clean(out: str) -> None:
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out, repr(out)


@pytest.mark.timeout(120)
def test_markup_and_escapes_are_printed_as_text(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    spec = write(tmp_path, "hostile.yaml", SPEC)
    ran = exitflow_raw("run", spec, "--db", db, "-p", f"msg={HOSTILE}")
    assert ran.code == 0, ran.stderr
    assert "Traceback" not in ran.stderr
    _clean(ran.stdout)
    assert "[/x] [bold]b \\x1b]0;pwned\\x07 \\x1b[31mred \\u202e" in ran.stdout
    name = exitflow_raw("list", "--db", db, "-o", "name").stdout.strip()
    for args in (["get", name], ["list"], ["history", name], ["replay", name, "--at", "5"],
                 ["replay", name, "--step"], ["diff", name, name], ["verify"]):
        result = exitflow_raw(*args, "--db", db)
        assert result.code == 0, (args, result.stderr)
        assert "Traceback" not in result.stderr
        _clean(result.stdout)
    shown = exitflow_raw("get", name, "--db", db).stdout
    assert "[/x] [bold]b" in shown and "\\x1b[31mred" in shown
    assert "\\x1b]0;pwned" in exitflow_raw("history", name, "--db", db).stdout
    # `logs` is the step's own output, raw, as `argo logs` prints it.
    assert HOSTILE in exitflow_raw("logs", name, "--db", db).stdout


@pytest.mark.timeout(60)
def test_non_utf8_parameter_or_name_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    spec = write(tmp_path, "w.yaml", SPEC)
    bad = exitflow_raw("run", spec, "--db", str(db), "-p", b"msg=\xff\xfe")
    assert bad.code == 2
    assert "not valid UTF-8" in one_line(bad.stderr)
    assert not db.exists() or sqlite3.connect(db).execute(
        "SELECT count(*) FROM workflows").fetchone() == (0,)
    assert exitflow_raw("run", spec, "--db", str(db)).code == 0
    for args in (["get", b"\xff"], ["history", b"hard-\xff"], ["logs", b"\x80"]):
        result = exitflow_raw(*args, "--db", str(db))
        assert result.code == 2, result
        assert "not valid UTF-8" in one_line(result.stderr)


@pytest.mark.timeout(90)
def test_non_utf8_file_or_database_name_is_one_line_or_works(tmp_path: Path) -> None:
    """A workflow file whose name is not UTF-8 (the name is recorded with the run) is refused by
    `run` and `submit` in one line, exit 2, nothing recorded; `lint` only reads it. A `--db` path
    that is not UTF-8: refused in one line when it does not exist, used as it is when it does."""
    raw_tmp = os.fsencode(tmp_path)
    bad_file = raw_tmp + b"/w\xff.yaml"
    with open(bad_file, "w") as f:
        f.write(SPEC)
    db = tmp_path / "t.db"
    for command in ("run", "submit"):
        result = exitflow_raw(command, bad_file, "--db", str(db))
        assert result.code == 2, result
        assert "not valid UTF-8" in one_line(result.stderr)
    assert not db.exists() or sqlite3.connect(db).execute(
        "SELECT count(*) FROM workflows").fetchone() == (0,)
    assert exitflow_raw("lint", bad_file).code == 0
    spec = write(tmp_path, "w.yaml", SPEC)
    missing = raw_tmp + b"/d\xfe.db"
    for args in (["run", spec], ["submit", spec], ["list"], ["verify"], ["daemon"]):
        result = exitflow_raw(*args, "--db", missing, timeout=30)
        assert result.code == 2, result
        assert "not valid UTF-8" in one_line(result.stderr)
    assert not os.path.exists(missing)
    existing = raw_tmp + b"/e\xfe.db"  # made by a run that names it in $EXITFLOW_DB
    assert exitflow_raw("run", spec, env={"EXITFLOW_DB": os.fsdecode(existing)}).code == 0
    assert exitflow_raw("run", spec, "--db", existing).code == 0
    listed = exitflow_raw("list", "--db", existing)
    assert listed.code == 0 and listed.stdout.count("hard-") == 2, listed
    assert exitflow_raw("verify", "--db", existing).code == 0
